//! The `jobs` table and its assignment log.

use kiln_protocol::{Digest, JobSpec, PublicKey, Rates};
use sqlx::{AnyConnection, Row as _};

use super::{Backend, Store, key, opt_digest, opt_key, u32_col};
use crate::error::{Result, SchedulerError};
use crate::model::{Assignment, JobRecord, JobState};

const JOB_COLUMNS: &str = "job_id, spec, renter, state, node_id, attempt, price_fuel, price_gpu, \
                           price_wall, node_confirmed, renter_confirmed, proposed_ms, \
                           submitted_ms, updated_ms, output_digest, error";

/// The queue claim for PostgreSQL: rows another replica holds are skipped,
/// rows returned stay locked until the transaction ends.
const CLAIM_POSTGRES: &str = "SELECT job_id, spec, renter, state, node_id, attempt, price_fuel, \
     price_gpu, price_wall, node_confirmed, renter_confirmed, proposed_ms, submitted_ms, \
     updated_ms, output_digest, error FROM jobs \
     WHERE state = 'queued' AND (submitted_ms > $1 OR (submitted_ms = $1 AND job_id > $2)) \
     ORDER BY submitted_ms, job_id LIMIT $3 FOR UPDATE SKIP LOCKED";

/// The same claim for SQLite, where the transaction is the only writer.
const CLAIM_SQLITE: &str = "SELECT job_id, spec, renter, state, node_id, attempt, price_fuel, \
     price_gpu, price_wall, node_confirmed, renter_confirmed, proposed_ms, submitted_ms, \
     updated_ms, output_digest, error FROM jobs \
     WHERE state = 'queued' AND (submitted_ms > $1 OR (submitted_ms = $1 AND job_id > $2)) \
     ORDER BY submitted_ms, job_id LIMIT $3";

/// Where a queue scan stands: the last (submitted_ms, job id) seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCursor {
    submitted_ms: i64,
    job: PublicKey,
}

impl QueueCursor {
    /// Before every job.
    pub const START: Self = Self {
        submitted_ms: i64::MIN,
        job: PublicKey::ZERO,
    };

    /// Just after `job`.
    pub fn after(job: &JobRecord) -> Self {
        Self {
            submitted_ms: job.submitted_ms,
            job: job.id,
        }
    }
}

fn job_from_row(row: &sqlx::any::AnyRow) -> Result<JobRecord> {
    let spec_bytes: Vec<u8> = row.try_get("spec")?;
    let spec = JobSpec::from_bytes(&spec_bytes)
        .map_err(|e| SchedulerError::Corrupt(format!("job spec: {e}")))?;
    let state_name: String = row.try_get("state")?;
    let state = JobState::parse(&state_name)
        .ok_or_else(|| SchedulerError::Corrupt(format!("job state {state_name:?}")))?;
    let fuel: Option<i64> = row.try_get("price_fuel")?;
    let gpu: Option<i64> = row.try_get("price_gpu")?;
    let wall: Option<i64> = row.try_get("price_wall")?;
    let price = match (fuel, gpu, wall) {
        (Some(fuel), Some(gpu), Some(wall)) => Some(Rates {
            per_million_fuel: fuel.cast_unsigned(),
            per_gpu_second: gpu.cast_unsigned(),
            per_wall_second: wall.cast_unsigned(),
        }),
        _ => None,
    };
    let node_confirmed: i64 = row.try_get("node_confirmed")?;
    let renter_confirmed: i64 = row.try_get("renter_confirmed")?;
    Ok(JobRecord {
        id: key(row, "job_id")?,
        spec,
        renter: key(row, "renter")?,
        state,
        node: opt_key(row, "node_id")?,
        attempt: u32_col(row, "attempt")?,
        price,
        node_confirmed: node_confirmed != 0,
        renter_confirmed: renter_confirmed != 0,
        proposed_ms: row.try_get("proposed_ms")?,
        submitted_ms: row.try_get("submitted_ms")?,
        updated_ms: row.try_get("updated_ms")?,
        output_digest: opt_digest(row, "output_digest")?,
        error: row.try_get("error")?,
    })
}

fn bytes(key: &PublicKey) -> Vec<u8> {
    key.0.to_vec()
}

impl Store {
    /// Adds a queued job. [`SchedulerError::DuplicateJob`] when its escrow
    /// account names a job already submitted.
    pub async fn insert_job(&self, job: &JobRecord) -> Result<()> {
        let mut conn = self.acquire().await?;
        let inserted = sqlx::query(
            "INSERT INTO jobs (job_id, spec, renter, state, attempt, node_confirmed, \
                               renter_confirmed, submitted_ms, updated_ms, logs) \
             VALUES ($1, $2, $3, 'queued', 0, 0, 0, $4, $4, '') ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(bytes(&job.id))
        .bind(job.spec.to_bytes())
        .bind(bytes(&job.renter))
        .bind(job.submitted_ms)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(SchedulerError::DuplicateJob(job.id));
        }
        Ok(())
    }

    /// The job `id`.
    pub async fn job(&self, conn: &mut AnyConnection, id: &PublicKey) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1");
        let row = sqlx::query(&sql)
            .bind(bytes(id))
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Up to `limit` queued jobs after `cursor`, oldest first, for this
    /// transaction alone (see the module docs).
    pub async fn claim_queued(
        &self,
        tx: &mut AnyConnection,
        cursor: QueueCursor,
        limit: usize,
    ) -> Result<Vec<JobRecord>> {
        let sql = match self.backend {
            Backend::Postgres => CLAIM_POSTGRES,
            Backend::Sqlite => CLAIM_SQLITE,
        };
        let rows = sqlx::query(sql)
            .bind(cursor.submitted_ms)
            .bind(bytes(&cursor.job))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(tx)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Proposes a queued job to a node and logs the assignment. False when
    /// the job is no longer queued at the attempt before (someone else moved it).
    pub async fn propose(
        &self,
        tx: &mut AnyConnection,
        proposal: &Proposal<'_>,
        now_ms: i64,
    ) -> Result<bool> {
        let Proposal {
            job,
            attempt,
            node,
            price,
            replica,
        } = *proposal;
        let previous = attempt
            .checked_sub(1)
            .ok_or_else(|| SchedulerError::Corrupt("attempt numbers start at 1".to_owned()))?;
        let updated = sqlx::query(
            "UPDATE jobs SET state = 'proposed', node_id = $1, attempt = $2, price_fuel = $3, \
                 price_gpu = $4, price_wall = $5, node_confirmed = 0, renter_confirmed = 0, \
                 proposed_ms = $6, updated_ms = $6 \
             WHERE job_id = $7 AND state = 'queued' AND attempt = $8",
        )
        .bind(bytes(node))
        .bind(i64::from(attempt))
        .bind(price.per_million_fuel.cast_signed())
        .bind(price.per_gpu_second.cast_signed())
        .bind(price.per_wall_second.cast_signed())
        .bind(now_ms)
        .bind(bytes(job))
        .bind(i64::from(previous))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO assignments (job_id, attempt, node_id, replica, at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(bytes(job))
        .bind(i64::from(attempt))
        .bind(bytes(node))
        .bind(replica.to_owned())
        .bind(now_ms)
        .execute(tx)
        .await?;
        Ok(true)
    }

    /// Jobs proposed to or running on `node`.
    pub async fn active_jobs_of(
        &self,
        conn: &mut AnyConnection,
        node: &PublicKey,
    ) -> Result<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE node_id = $1 \
             AND state IN ('proposed', 'running') ORDER BY submitted_ms, job_id"
        );
        let rows = sqlx::query(&sql).bind(bytes(node)).fetch_all(conn).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Proposals made before `before_ms` that are still not confirmed by both.
    pub async fn expired_proposals(&self, before_ms: i64) -> Result<Vec<JobRecord>> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'proposed' AND proposed_ms < $1");
        let mut conn = self.acquire().await?;
        let rows = sqlx::query(&sql)
            .bind(before_ms)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Records one party's confirmation of attempt `attempt`, and starts the
    /// job when both have confirmed. Returns the job afterwards, or `None`
    /// when it is not proposed at that attempt.
    pub async fn confirm(
        &self,
        tx: &mut AnyConnection,
        job: &PublicKey,
        attempt: u32,
        by_node: bool,
        now_ms: i64,
    ) -> Result<Option<JobRecord>> {
        let sql = if by_node {
            "UPDATE jobs SET node_confirmed = 1, updated_ms = $1 \
             WHERE job_id = $2 AND attempt = $3 AND state = 'proposed'"
        } else {
            "UPDATE jobs SET renter_confirmed = 1, updated_ms = $1 \
             WHERE job_id = $2 AND attempt = $3 AND state = 'proposed'"
        };
        let updated = sqlx::query(sql)
            .bind(now_ms)
            .bind(bytes(job))
            .bind(i64::from(attempt))
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE jobs SET state = 'running' WHERE job_id = $1 AND state = 'proposed' \
             AND node_confirmed = 1 AND renter_confirmed = 1",
        )
        .bind(bytes(job))
        .execute(&mut *tx)
        .await?;
        self.job(tx, job).await
    }

    /// Puts attempt `attempt` of an active job back in the queue. False when
    /// the job is not active at that attempt.
    pub async fn requeue(
        &self,
        tx: &mut AnyConnection,
        job: &PublicKey,
        attempt: u32,
        now_ms: i64,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE jobs SET state = 'queued', node_id = NULL, price_fuel = NULL, \
                 price_gpu = NULL, price_wall = NULL, node_confirmed = 0, renter_confirmed = 0, \
                 proposed_ms = NULL, updated_ms = $1 \
             WHERE job_id = $2 AND attempt = $3 AND state IN ('proposed', 'running')",
        )
        .bind(now_ms)
        .bind(bytes(job))
        .bind(i64::from(attempt))
        .execute(tx)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Ends a running job at attempt `attempt` as done (with its output) or
    /// failed (with a reason). False when it is not running at that attempt.
    pub async fn finish(
        &self,
        tx: &mut AnyConnection,
        job: &PublicKey,
        attempt: u32,
        outcome: Finish<'_>,
        now_ms: i64,
    ) -> Result<bool> {
        let (state, output, digest, error) = match outcome {
            Finish::Done { output, digest } => (
                JobState::Done,
                Some(output.to_vec()),
                Some(digest.0.to_vec()),
                None,
            ),
            Finish::Failed { reason } => (JobState::Failed, None, None, Some(reason.to_owned())),
        };
        let updated = sqlx::query(
            "UPDATE jobs SET state = $1, output = $2, output_digest = $3, error = $4, \
                 updated_ms = $5 \
             WHERE job_id = $6 AND attempt = $7 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(output)
        .bind(digest)
        .bind(error)
        .bind(now_ms)
        .bind(bytes(job))
        .bind(i64::from(attempt))
        .execute(tx)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Cancels a job that has not ended. False when it has.
    pub async fn cancel(
        &self,
        tx: &mut AnyConnection,
        job: &PublicKey,
        now_ms: i64,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', updated_ms = $1 \
             WHERE job_id = $2 AND state IN ('queued', 'proposed', 'running')",
        )
        .bind(now_ms)
        .bind(bytes(job))
        .execute(tx)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// The output of a finished job.
    pub async fn output(&self, job: &PublicKey) -> Result<Option<Vec<u8>>> {
        let mut conn = self.acquire().await?;
        let row = sqlx::query("SELECT output FROM jobs WHERE job_id = $1")
            .bind(bytes(job))
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(row) => Ok(row.try_get("output")?),
            None => Ok(None),
        }
    }

    /// Appends `text` to a job's log unless that would pass `max_chars`.
    /// Returns false when the text was dropped.
    pub async fn append_log(&self, job: &PublicKey, text: &str, max_chars: usize) -> Result<bool> {
        let mut conn = self.acquire().await?;
        let updated = sqlx::query(
            "UPDATE jobs SET logs = logs || $1 WHERE job_id = $2 AND LENGTH(logs) + $3 <= $4",
        )
        .bind(text.to_owned())
        .bind(bytes(job))
        .bind(i64::try_from(text.chars().count()).unwrap_or(i64::MAX))
        .bind(i64::try_from(max_chars).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// A job's log.
    pub async fn logs(&self, job: &PublicKey) -> Result<Option<String>> {
        let mut conn = self.acquire().await?;
        let row = sqlx::query("SELECT logs FROM jobs WHERE job_id = $1")
            .bind(bytes(job))
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|row| Ok(row.try_get("logs")?)).transpose()
    }

    /// The assignment log, for one job or all, in order.
    pub async fn assignments(&self, job: Option<&PublicKey>) -> Result<Vec<Assignment>> {
        let mut conn = self.acquire().await?;
        let rows = match job {
            Some(job) => {
                sqlx::query(
                    "SELECT job_id, attempt, node_id, replica FROM assignments \
                     WHERE job_id = $1 ORDER BY attempt",
                )
                .bind(bytes(job))
                .fetch_all(&mut *conn)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT job_id, attempt, node_id, replica FROM assignments \
                     ORDER BY job_id, attempt",
                )
                .fetch_all(&mut *conn)
                .await?
            }
        };
        rows.iter()
            .map(|row| {
                Ok(Assignment {
                    job: key(row, "job_id")?,
                    attempt: u32_col(row, "attempt")?,
                    node: key(row, "node_id")?,
                    replica: row.try_get("replica")?,
                })
            })
            .collect()
    }
}

/// A proposal to record: attempt `attempt` of `job` on `node` at `price`, by `replica`.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    /// The job.
    pub job: &'a PublicKey,
    /// The attempt this proposal is (the job's current attempt plus one).
    pub attempt: u32,
    /// The node.
    pub node: &'a PublicKey,
    /// The cleared price.
    pub price: &'a Rates,
    /// The proposing replica.
    pub replica: &'a str,
}

/// How a running job ended.
#[derive(Debug, Clone, Copy)]
pub enum Finish<'a> {
    /// With a result.
    Done {
        /// The result bytes as the node sent them (normally encrypted to the renter).
        output: &'a [u8],
        /// Their SHA-256.
        digest: Digest,
    },
    /// With an error.
    Failed {
        /// Why, as the node said.
        reason: &'a str,
    },
}
