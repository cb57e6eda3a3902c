//! What the settlement layer reads: faults with their evidence, and relayed receipts.

use kiln_protocol::{Digest, PublicKey, SignedReceipt};
use sqlx::{AnyConnection, Row as _};

use super::{Store, key, u32_col, u64_col};
use crate::error::{Result, SchedulerError};
use crate::model::{Fault, ReceiptRecord};

impl Store {
    /// Records a fault.
    pub async fn record_fault(&self, conn: &mut AnyConnection, fault: &Fault) -> Result<()> {
        sqlx::query(
            "INSERT INTO faults (node_id, job_id, attempt, kind, evidence, detail, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(fault.node.0.to_vec())
        .bind(fault.job.0.to_vec())
        .bind(i64::from(fault.attempt))
        .bind(fault.kind.clone())
        .bind(fault.evidence.0.to_vec())
        .bind(fault.detail.clone())
        .bind(fault.at_ms)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Faults, of one node or all, oldest first.
    pub async fn faults(&self, node: Option<&PublicKey>) -> Result<Vec<Fault>> {
        let mut conn = self.acquire().await?;
        let columns = "node_id, job_id, attempt, kind, evidence, detail, at_ms";
        let rows = match node {
            Some(node) => {
                let sql = format!("SELECT {columns} FROM faults WHERE node_id = $1 ORDER BY id");
                sqlx::query(&sql)
                    .bind(node.0.to_vec())
                    .fetch_all(&mut *conn)
                    .await?
            }
            None => {
                let sql = format!("SELECT {columns} FROM faults ORDER BY id");
                sqlx::query(&sql).fetch_all(&mut *conn).await?
            }
        };
        rows.iter()
            .map(|row| {
                Ok(Fault {
                    node: key(row, "node_id")?,
                    job: key(row, "job_id")?,
                    attempt: u32_col(row, "attempt")?,
                    kind: row.try_get("kind")?,
                    evidence: Digest(key(row, "evidence")?.0),
                    detail: row.try_get("detail")?,
                    at_ms: row.try_get("at_ms")?,
                })
            })
            .collect()
    }

    /// Stores a receipt, or upgrades a stored node-signed one to co-signed.
    /// A co-signed receipt is never replaced by a node-signed copy: that
    /// copy (a node sending again what the renter has counter-signed, whose
    /// counter-signature it never got) returns the stored co-signed one.
    pub async fn put_receipt(
        &self,
        conn: &mut AnyConnection,
        receipt: &SignedReceipt,
        co_signed: bool,
        now_ms: i64,
    ) -> Result<Option<SignedReceipt>> {
        let r = &receipt.receipt;
        let written = sqlx::query(
            "INSERT INTO receipts (job_id, node, seq, receipt, co_signed, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (job_id, node, seq) DO UPDATE SET receipt = excluded.receipt, \
                 co_signed = excluded.co_signed, at_ms = excluded.at_ms \
             WHERE receipts.co_signed = 0",
        )
        .bind(r.job.0.to_vec())
        .bind(r.node.0.to_vec())
        .bind(r.seq.cast_signed())
        .bind(receipt.to_bytes())
        .bind(i64::from(co_signed))
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        if co_signed || written.rows_affected() > 0 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT receipt FROM receipts WHERE job_id = $1 AND node = $2 AND seq = $3",
        )
        .bind(r.job.0.to_vec())
        .bind(r.node.0.to_vec())
        .bind(r.seq.cast_signed())
        .fetch_one(&mut *conn)
        .await?;
        receipt_from_row(&row).map(Some)
    }

    /// A job's receipts, by node then sequence.
    pub async fn receipts(&self, job: &PublicKey) -> Result<Vec<ReceiptRecord>> {
        let mut conn = self.acquire().await?;
        let rows = sqlx::query(
            "SELECT node, seq, receipt, co_signed FROM receipts WHERE job_id = $1 \
             ORDER BY node, seq",
        )
        .bind(job.0.to_vec())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                let receipt = receipt_from_row(row)?;
                let co_signed: i64 = row.try_get("co_signed")?;
                Ok(ReceiptRecord {
                    node: key(row, "node")?,
                    seq: u64_col(row, "seq")?,
                    receipt,
                    co_signed: co_signed != 0,
                })
            })
            .collect()
    }
}

/// The signed receipt in a row's `receipt` column.
fn receipt_from_row(row: &sqlx::any::AnyRow) -> Result<SignedReceipt> {
    let bytes: Vec<u8> = row.try_get("receipt")?;
    SignedReceipt::from_bytes(&bytes).map_err(|e| SchedulerError::Corrupt(format!("receipt: {e}")))
}
