//! Tables of what the scheduler relays without reading: components by
//! digest, sealed inputs and the nodes' acceptances of on-chain terms.

use sqlx::Row as _;

use super::{Store, u32_col, u64_col};
use crate::error::{Result, SchedulerError};
use kiln_protocol::{Digest, PublicKey};

/// A renter's sealed input for one attempt, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInput {
    /// The attempt (node) it is sealed to.
    pub attempt: u32,
    /// The `kiln-seal` envelope.
    pub sealed: Vec<u8>,
    /// X25519 key the node seals the result to.
    pub result_key: [u8; 32],
    /// The renter's signature over `model::input_message`.
    pub signature: [u8; 64],
}

/// A node's acceptance of one attempt's on-chain terms, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredTerms {
    /// The attempt.
    pub attempt: u32,
    /// Lamports the renter escrows.
    pub escrow: u64,
    /// Unix seconds.
    pub deadline: i64,
    /// The node's receipt-key signature over the settlement acceptance message.
    pub signature: [u8; 64],
}

fn array<const N: usize>(row: &sqlx::any::AnyRow, column: &str) -> Result<[u8; N]> {
    let bytes: Vec<u8> = row.try_get(column)?;
    bytes
        .try_into()
        .map_err(|_| SchedulerError::Corrupt(format!("{column} is not {N} bytes")))
}

impl Store {
    /// Stores a component under its digest; storing the same bytes twice is a no-op.
    pub async fn put_component(&self, digest: &Digest, bytes: &[u8], now_ms: i64) -> Result<()> {
        let mut conn = self.acquire().await?;
        sqlx::query(
            "INSERT INTO components (digest, bytes, stored_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.0.to_vec())
        .bind(bytes.to_vec())
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The component with `digest`, if stored.
    pub async fn component(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        let mut conn = self.acquire().await?;
        let row = sqlx::query("SELECT bytes FROM components WHERE digest = $1")
            .bind(digest.0.to_vec())
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|row| Ok(row.try_get("bytes")?)).transpose()
    }

    /// Stores (or replaces, before the node fetched it) the input of `job`'s attempt.
    pub async fn put_input(&self, job: &PublicKey, input: &StoredInput) -> Result<()> {
        let mut conn = self.acquire().await?;
        sqlx::query(
            "INSERT INTO job_inputs (job_id, attempt, sealed, result_key, signature) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, attempt) DO UPDATE SET \
             sealed = excluded.sealed, result_key = excluded.result_key, \
             signature = excluded.signature",
        )
        .bind(job.0.to_vec())
        .bind(i64::from(input.attempt))
        .bind(input.sealed.clone())
        .bind(input.result_key.to_vec())
        .bind(input.signature.to_vec())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The input of `job`'s `attempt`, if posted.
    pub async fn input(&self, job: &PublicKey, attempt: u32) -> Result<Option<StoredInput>> {
        let mut conn = self.acquire().await?;
        let row = sqlx::query(
            "SELECT attempt, sealed, result_key, signature FROM job_inputs \
             WHERE job_id = $1 AND attempt = $2",
        )
        .bind(job.0.to_vec())
        .bind(i64::from(attempt))
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|row| {
            Ok(StoredInput {
                attempt: u32_col(&row, "attempt")?,
                sealed: row.try_get("sealed")?,
                result_key: array(&row, "result_key")?,
                signature: array(&row, "signature")?,
            })
        })
        .transpose()
    }

    /// Records a node's acceptance of `job`'s attempt; the first one stands.
    pub async fn put_terms(&self, job: &PublicKey, terms: &StoredTerms) -> Result<()> {
        let mut conn = self.acquire().await?;
        sqlx::query(
            "INSERT INTO job_terms (job_id, attempt, escrow, deadline, signature) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, attempt) DO NOTHING",
        )
        .bind(job.0.to_vec())
        .bind(i64::from(terms.attempt))
        .bind(terms.escrow.cast_signed())
        .bind(terms.deadline)
        .bind(terms.signature.to_vec())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The node's acceptance of `job`'s `attempt`, if it sent one.
    pub async fn terms(&self, job: &PublicKey, attempt: u32) -> Result<Option<StoredTerms>> {
        let mut conn = self.acquire().await?;
        let row = sqlx::query(
            "SELECT attempt, escrow, deadline, signature FROM job_terms \
             WHERE job_id = $1 AND attempt = $2",
        )
        .bind(job.0.to_vec())
        .bind(i64::from(attempt))
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|row| {
            Ok(StoredTerms {
                attempt: u32_col(&row, "attempt")?,
                escrow: u64_col(&row, "escrow")?,
                deadline: row.try_get("deadline")?,
                signature: array(&row, "signature")?,
            })
        })
        .transpose()
    }
}
