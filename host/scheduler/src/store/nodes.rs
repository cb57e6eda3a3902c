//! The `nodes` table.

use kiln_protocol::PublicKey;
use kiln_protocol::manifest::SignedManifest;
use sqlx::{AnyConnection, Row as _};

use super::{Store, key, u32_col, u64_col};
use crate::error::{Result, SchedulerError};
use crate::model::NodeRecord;

const NODE_COLUMNS: &str = "node_id, manifest, stake, tier, max_jobs, reputation, online, \
                            registered_ms, last_seen_ms";

fn node_from_row(row: &sqlx::any::AnyRow) -> Result<NodeRecord> {
    let bytes: Vec<u8> = row.try_get("manifest")?;
    let manifest = SignedManifest::from_bytes(&bytes)
        .map_err(|e| SchedulerError::Corrupt(format!("manifest: {e}")))?;
    let online: i64 = row.try_get("online")?;
    Ok(NodeRecord {
        manifest,
        stake: u64_col(row, "stake")?,
        tier: u8::try_from(u32_col(row, "tier")?)
            .map_err(|_| SchedulerError::Corrupt("tier out of range".into()))?,
        max_jobs: u16::try_from(u32_col(row, "max_jobs")?)
            .map_err(|_| SchedulerError::Corrupt("max_jobs out of range".into()))?,
        reputation: u32_col(row, "reputation")?,
        online: online != 0,
        registered_ms: row.try_get("registered_ms")?,
        last_seen_ms: row.try_get("last_seen_ms")?,
    })
}

impl Store {
    /// The node `id`.
    pub async fn node(
        &self,
        conn: &mut AnyConnection,
        id: &PublicKey,
    ) -> Result<Option<NodeRecord>> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE node_id = $1");
        let row = sqlx::query(&sql)
            .bind(id.0.to_vec())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(node_from_row).transpose()
    }

    /// Another node holding `receipt_key` or `operator`: the sybil pre-screen.
    /// Returns which field clashed and the other node's id.
    pub async fn node_sharing_keys(
        &self,
        conn: &mut AnyConnection,
        node_id: &PublicKey,
        receipt_key: &PublicKey,
        operator: &PublicKey,
    ) -> Result<Option<(&'static str, PublicKey)>> {
        let row = sqlx::query(
            "SELECT node_id, receipt_key FROM nodes \
             WHERE node_id <> $1 AND (receipt_key = $2 OR operator = $3) LIMIT 1",
        )
        .bind(node_id.0.to_vec())
        .bind(receipt_key.0.to_vec())
        .bind(operator.0.to_vec())
        .fetch_optional(conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let other = key(&row, "node_id")?;
        let what = if key(&row, "receipt_key")? == *receipt_key {
            "receipt_key"
        } else {
            "operator"
        };
        Ok(Some((what, other)))
    }

    /// Inserts or replaces a node's registration. Reputation and
    /// `registered_ms` of an existing node are kept.
    pub async fn upsert_node(&self, conn: &mut AnyConnection, node: &NodeRecord) -> Result<()> {
        let manifest = &node.manifest.manifest;
        sqlx::query(
            "INSERT INTO nodes (node_id, receipt_key, operator, manifest, issued_at, stake, tier, \
                                max_jobs, reputation, online, registered_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (node_id) DO UPDATE SET receipt_key = excluded.receipt_key, \
                 operator = excluded.operator, manifest = excluded.manifest, \
                 issued_at = excluded.issued_at, stake = excluded.stake, tier = excluded.tier, \
                 max_jobs = excluded.max_jobs, online = excluded.online, \
                 last_seen_ms = excluded.last_seen_ms",
        )
        .bind(manifest.node_id.0.to_vec())
        .bind(manifest.receipt_key.0.to_vec())
        .bind(manifest.operator.0.to_vec())
        .bind(node.manifest.to_bytes())
        .bind(manifest.issued_at.cast_signed())
        .bind(node.stake.cast_signed())
        .bind(i64::from(node.tier))
        .bind(i64::from(node.max_jobs))
        .bind(i64::from(node.reputation))
        .bind(i64::from(node.online))
        .bind(node.registered_ms)
        .bind(node.last_seen_ms)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Every registered node.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY node_id");
        let mut conn = self.acquire().await?;
        let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
        rows.iter().map(node_from_row).collect()
    }

    /// Records heartbeats: each node is online and was last seen at its time.
    pub async fn touch_nodes(&self, seen: &[(PublicKey, i64)]) -> Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for (node, at_ms) in seen {
            sqlx::query(
                "UPDATE nodes SET online = 1, \
                     last_seen_ms = CASE WHEN last_seen_ms > $1 THEN last_seen_ms ELSE $1 END \
                 WHERE node_id = $2",
            )
            .bind(*at_ms)
            .bind(node.0.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives every online node a fresh `last_seen_ms`: after a scheduler
    /// restart, nodes get a full offline window to reconnect before their
    /// jobs are moved.
    pub async fn grace_all_nodes(&self, now_ms: i64) -> Result<()> {
        let mut conn = self.acquire().await?;
        sqlx::query("UPDATE nodes SET last_seen_ms = $1 WHERE online = 1 AND last_seen_ms < $1")
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Online nodes last seen before `before_ms`.
    pub async fn stale_nodes(&self, before_ms: i64) -> Result<Vec<PublicKey>> {
        let mut conn = self.acquire().await?;
        let rows = sqlx::query("SELECT node_id FROM nodes WHERE online = 1 AND last_seen_ms < $1")
            .bind(before_ms)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(|row| key(row, "node_id")).collect()
    }

    /// Marks a node offline if it is still stale; false when a heartbeat won the race.
    pub async fn set_offline_if_stale(
        &self,
        conn: &mut AnyConnection,
        node: &PublicKey,
        before_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE nodes SET online = 0 WHERE node_id = $1 AND online = 1 AND last_seen_ms < $2",
        )
        .bind(node.0.to_vec())
        .bind(before_ms)
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds `delta` to a node's reputation, clamped to `0..=max`.
    pub async fn adjust_reputation(
        &self,
        conn: &mut AnyConnection,
        node: &PublicKey,
        delta: i64,
        max: u32,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE nodes SET reputation = CASE \
                 WHEN reputation + $1 < 0 THEN 0 \
                 WHEN reputation + $1 > $2 THEN $2 \
                 ELSE reputation + $1 END \
             WHERE node_id = $3",
        )
        .bind(delta)
        .bind(i64::from(max))
        .bind(node.0.to_vec())
        .execute(conn)
        .await?;
        Ok(())
    }
}
