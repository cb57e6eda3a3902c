//! The durable store: sqlx over SQLite (embedded, the default) or PostgreSQL
//! (several scheduler replicas behind one database).
//!
//! Both backends run the same SQL through sqlx's `Any` driver with numbered
//! placeholders (`$1`), which both accept; the two migration sets differ only
//! in type names. The one behavioural difference is the queue claim
//! ([`Store::claim_queued`]): on PostgreSQL it locks the rows it returns with
//! `FOR UPDATE SKIP LOCKED`, so two replicas claiming at once get disjoint
//! jobs; SQLite serialises writers on the database file, and the pool holds
//! one connection so a claim's transaction is the only writer.
//!
//! Invariants the tables hold (the schema is in `migrations/`):
//! - `assignments` has one row per (job, attempt): a second proposal of the
//!   same attempt fails on the primary key, whoever makes it.
//! - Every state change of a job is a conditional `UPDATE … WHERE state = …
//!   AND attempt = …` inside a transaction, so a stale actor (a slow replica,
//!   a late confirmation) changes nothing.
//! - `receipts` is keyed by the signing node, so a job that moved keeps the
//!   first node's co-signed receipts payable to it.
//!
//! Unsigned amounts are stored bit-for-bit as signed 64-bit integers
//! (`cast_signed`), because neither database has an unsigned 64-bit type.

mod jobs;
mod ledger;
mod nodes;
mod relay;

pub use jobs::{Finish, Proposal, QueueCursor};
pub use relay::{StoredInput, StoredTerms};

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions as _, Executor as _, Row as _};

use crate::error::{Result, SchedulerError};
use kiln_protocol::{Digest, PublicKey};

/// Connections a PostgreSQL replica keeps: the match loop, the heartbeat
/// flusher, the sweeper and a few concurrent API requests.
pub const POSTGRES_POOL_SIZE: u32 = 8;

/// An open transaction.
pub type Tx = sqlx::Transaction<'static, Any>;

/// Whether a connection handed back to the pool may serve again: only when
/// it is outside any transaction, as far as sqlx knows. Otherwise the pool
/// closes it and opens a fresh one.
///
/// Why: SQLite may roll a transaction back by itself when a write fails
/// (`SQLITE_FULL`, `SQLITE_IOERR`, …). The rollback sqlx then sends fails,
/// and its transaction depth stays at one, so the connection's next
/// transactions are savepoints; the first of those rolled back leaves SQLite
/// in a transaction nothing commits, and every write acknowledged after it
/// is lost (sqlx 0.8.6; `tests/all/storage.rs` shows it). A dropped
/// transaction queues its rollback on the connection: the ping runs after
/// it, so the depth read here is the one that rollback left. PostgreSQL
/// never refuses a `ROLLBACK`, so its pool goes without this round trip.
async fn outside_transaction(conn: &mut sqlx::AnyConnection) -> sqlx::Result<bool> {
    use sqlx::Connection as _;
    conn.ping().await?;
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::warn!("a store connection was left inside a transaction; replacing it");
    }
    Ok(clean)
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file in WAL mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection pool and the backend it talks to.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating a
    /// SQLite file when missing, and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(SchedulerError::bad_field(
                "database url",
                "must start with sqlite: or postgres:",
            ));
        };
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    // One connection: SQLite has one writer anyway, and with
                    // one connection a transaction never waits on another.
                    .max_connections(1)
                    .after_release(|conn, _| Box::pin(outside_transaction(conn)))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers never block the writer, and a commit
                            // survives the process being killed.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            Ok(())
                        })
                    })
                    .connect_with(with_create(options, url)?)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(POSTGRES_POOL_SIZE)
                    .connect_with(options)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        Ok(Self { pool, backend })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    /// A pooled connection for reads outside a transaction.
    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Job counts per state name.
    pub async fn count_jobs_by_state(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
            .collect()
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.acquire().await?;
        conn.execute("SELECT 1").await?;
        Ok(())
    }
}

/// SQLite URLs get `mode=rwc` unless they say otherwise, so the file is created.
fn with_create(options: AnyConnectOptions, url: &str) -> Result<AnyConnectOptions> {
    if url.contains("mode=") || url.contains(":memory:") {
        return Ok(options);
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(
        AnyConnectOptions::from_str(&format!("{url}{separator}mode=rwc"))?
            .disable_statement_logging(),
    )
}

/// Reads a 32-byte key column.
fn key(row: &sqlx::any::AnyRow, column: &str) -> Result<PublicKey> {
    let bytes: Vec<u8> = row.try_get(column)?;
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| SchedulerError::Corrupt(format!("{column} is not 32 bytes")))?;
    Ok(PublicKey(array))
}

/// Reads an optional 32-byte key column.
fn opt_key(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<PublicKey>> {
    let bytes: Option<Vec<u8>> = row.try_get(column)?;
    bytes
        .map(|bytes| {
            let array: [u8; 32] = bytes
                .try_into()
                .map_err(|_| SchedulerError::Corrupt(format!("{column} is not 32 bytes")))?;
            Ok(PublicKey(array))
        })
        .transpose()
}

/// Reads an optional digest column.
fn opt_digest(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<Digest>> {
    Ok(opt_key(row, column)?.map(|key| Digest(key.0)))
}

/// Reads a u32 stored as a 64-bit integer.
fn u32_col(row: &sqlx::any::AnyRow, column: &str) -> Result<u32> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| SchedulerError::Corrupt(format!("{column} out of range")))
}

/// Reads a u64 stored bit-for-bit as i64.
fn u64_col(row: &sqlx::any::AnyRow, column: &str) -> Result<u64> {
    let value: i64 = row.try_get(column)?;
    Ok(value.cast_unsigned())
}
