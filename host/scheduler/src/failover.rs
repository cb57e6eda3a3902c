//! Failover: nodes that went silent lose their jobs to the queue, with a
//! fault on record; proposals nobody confirmed in time go back too.
//!
//! A node is offline once its last heartbeat is older than
//! `SchedulerConfig::offline_after` (three intervals). Going offline, in one
//! transaction: the node is marked offline, each job it was proposed or
//! running is requeued at its current attempt (a later message about that
//! attempt changes nothing), and each *running* job, one the node had
//! accepted, gets a fault whose evidence is the SHA-256 of a canonical JSON
//! account of what was observed. The settlement layer slashes against that
//! digest. Receipts are untouched: those the renter co-signed stay in the
//! store under the node that signed them, and stay payable to it.
//!
//! Every step is a conditional update, so replicas sweeping at once, or a
//! heartbeat arriving mid-sweep, leave one consistent outcome.

use kiln_protocol::{PublicKey, sha256};

use crate::config::{MAX_REPUTATION, REPUTATION_PER_FAULT};
use crate::error::Result;
use crate::model::{Fault, JobState, now_ms};
use crate::scheduler::{Scheduler, lock};
use kiln_scheduler_api::link::ToNode;

/// Fault kind recorded when a node holding a running job goes offline.
pub const FAULT_NODE_OFFLINE: &str = "node-offline";

impl Scheduler {
    /// One failover sweep: offline nodes, then expired proposals. Returns the
    /// number of jobs put back in the queue.
    pub async fn sweep(&self) -> Result<usize> {
        // Heartbeats still in memory first (buffered, or kept from a flush
        // the store refused): judged on the store alone, a node that kept
        // beating through a store outage would look silent.
        self.flush_heartbeats().await?;
        let now = now_ms();
        let mut requeued = 0;
        let offline_after =
            i64::try_from(self.config().offline_after().as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(offline_after);
        for node in self.store().stale_nodes(cutoff).await? {
            requeued += self.fail_over(&node, cutoff, now).await?;
        }
        let timeout = i64::try_from(self.config().proposal_timeout.as_millis()).unwrap_or(i64::MAX);
        for job in self
            .store()
            .expired_proposals(now.saturating_sub(timeout))
            .await?
        {
            let mut tx = self.store().begin().await?;
            let moved = self
                .store()
                .requeue(&mut tx, &job.id, job.attempt, now)
                .await?;
            tx.commit().await?;
            if moved && let Some(node) = job.node {
                lock(&self.inner.matcher).nodes.release(&node);
                self.send(
                    &node,
                    ToNode::Cancel {
                        job_id: job.id.to_string(),
                        attempt: job.attempt,
                    },
                );
                self.inner.metrics.reschedules.inc();
                tracing::info!(job = %job.id, node = %node, "proposal expired; job requeued");
                requeued += 1;
            }
        }
        if requeued > 0 {
            self.wake_matcher();
        }
        Ok(requeued)
    }

    /// Takes `node` offline if it is still stale at `cutoff`; returns the jobs requeued.
    async fn fail_over(&self, node: &PublicKey, cutoff: i64, now: i64) -> Result<usize> {
        let store = self.store();
        let mut tx = store.begin().await?;
        let Some(record) = store.node(&mut tx, node).await? else {
            return Ok(0);
        };
        if !store.set_offline_if_stale(&mut tx, node, cutoff).await? {
            return Ok(0);
        }
        let jobs = store.active_jobs_of(&mut tx, node).await?;
        let mut faults = Vec::new();
        let mut requeued = Vec::new();
        for job in &jobs {
            if !store.requeue(&mut tx, &job.id, job.attempt, now).await? {
                continue;
            }
            requeued.push(job.id);
            if job.state == JobState::Running {
                let detail = serde_json::json!({
                    "kind": FAULT_NODE_OFFLINE,
                    "node": node.to_string(),
                    "job": job.id.to_string(),
                    "attempt": job.attempt,
                    "last_seen_ms": record.last_seen_ms,
                    "observed_ms": now,
                    "offline_after_ms": now.saturating_sub(cutoff),
                    "replica": self.config().replica,
                })
                .to_string();
                let fault = Fault {
                    node: *node,
                    job: job.id,
                    attempt: job.attempt,
                    kind: FAULT_NODE_OFFLINE.to_owned(),
                    evidence: sha256(&[detail.as_bytes()]),
                    detail,
                    at_ms: now,
                };
                store.record_fault(&mut tx, &fault).await?;
                faults.push(fault);
            }
        }
        let penalty =
            i64::from(REPUTATION_PER_FAULT) * i64::try_from(faults.len()).unwrap_or(i64::MAX);
        if penalty > 0 {
            store
                .adjust_reputation(&mut tx, node, -penalty, MAX_REPUTATION)
                .await?;
        }
        tx.commit().await?;
        lock(&self.inner.heartbeats).remove(node);
        let link = lock(&self.inner.links).remove(node);
        if link.is_some() {
            self.inner.metrics.nodes_active.dec();
        }
        lock(&self.inner.matcher).nodes.unlink(node);
        self.inner.metrics.reschedules.inc_by(requeued.len() as u64);
        self.inner.metrics.faults.inc_by(faults.len() as u64);
        for fault in &faults {
            tracing::warn!(node = %node, job = %fault.job, evidence = %fault.evidence, "fault recorded: node went offline holding a running job");
        }
        tracing::info!(node = %node, requeued = requeued.len(), "node offline");
        Ok(requeued.len())
    }
}
