//! Jobs: what renters do (submit, confirm, cancel, read status, logs, result,
//! relay receipts) and what nodes report on their link (accept, reject, log,
//! result, failure).
//!
//! Every renter action is signed by the job's renter key over a domain-tagged
//! message naming the job and the attempt (`model::renter_action_message`),
//! and every node report is taken only from the link of the node that holds
//! the job at the attempt named. State changes are conditional updates in a
//! transaction: a stale or repeated message changes nothing.

use kiln_protocol::signing::verify;
use kiln_protocol::{Digest, JobSpec, PublicKey, SignedReceipt, sha256};

use crate::config::{MAX_LOG_CHARS, MAX_REPUTATION, MAX_RESULT_BYTES, REPUTATION_PER_JOB};
use crate::error::{Result, SchedulerError};
use crate::model::{
    JobRecord, JobState, RenterAction, now_ms, renter_action_message, submit_message,
};
use crate::scheduler::{JobEvent, Scheduler, lock};
use crate::store::Finish;
use kiln_scheduler_api::link::{FromNode, ToNode};
use kiln_scheduler_api::wire::{
    AcceptanceJson, JobLogs, JobResult, JobStatus, PostReceipt, ReceiptJson, RenterSigned,
    SubmitJob, hex_array, hex_bytes, hex_key,
};

/// Largest hex-encoded job spec accepted: a spec is ~200 bytes plus its
/// region, so 4 KiB leaves room for later versions.
const MAX_SPEC_BYTES: usize = 4096;

impl Scheduler {
    /// The job `id`, or [`SchedulerError::UnknownJob`].
    pub async fn job(&self, id: &PublicKey) -> Result<JobRecord> {
        let mut conn = self.store().acquire().await?;
        self.store()
            .job(&mut conn, id)
            .await?
            .ok_or(SchedulerError::UnknownJob(*id))
    }

    /// Submits a job. The spec's escrow account is its id.
    pub async fn submit(&self, request: &SubmitJob) -> Result<JobStatus> {
        let spec_bytes = hex_bytes("spec", &request.spec, MAX_SPEC_BYTES)?;
        let spec = JobSpec::from_bytes(&spec_bytes).map_err(SchedulerError::JobSpec)?;
        let renter = hex_key("renter", &request.renter)?;
        let signature = hex_array("signature", &request.signature)?.into();
        verify(&renter, &submit_message(&spec_bytes), &signature)
            .map_err(|e| SchedulerError::signature("submission signature", e))?;
        let now = now_ms();
        let job = JobRecord {
            id: spec.escrow,
            spec,
            renter,
            state: JobState::Queued,
            node: None,
            attempt: 0,
            price: None,
            node_confirmed: false,
            renter_confirmed: false,
            proposed_ms: None,
            submitted_ms: now,
            updated_ms: now,
            output_digest: None,
            error: None,
        };
        self.store().insert_job(&job).await?;
        tracing::info!(job = %job.id, "job submitted");
        self.publish_status(&job);
        self.wake_matcher();
        Ok(crate::model::job_status(&job, None))
    }

    /// A job's status, with its node's encryption key when it has a node.
    pub async fn status(&self, id: &PublicKey) -> Result<JobStatus> {
        let store = self.store();
        let mut conn = store.acquire().await?;
        let job = store
            .job(&mut conn, id)
            .await?
            .ok_or(SchedulerError::UnknownJob(*id))?;
        let key = match &job.node {
            Some(node) => store
                .node(&mut conn, node)
                .await?
                .map(|n| n.manifest.manifest.encryption_key.to_string()),
            None => None,
        };
        // SQLite's pool holds one connection: release it before the next read.
        drop(conn);
        let mut status = crate::model::job_status(&job, key);
        status.acceptance = self.acceptance(id, job.attempt).await?;
        Ok(status)
    }

    fn check_renter(job: &JobRecord, action: RenterAction, signed: &RenterSigned) -> Result<()> {
        let signature = hex_array("signature", &signed.signature)?.into();
        let what = match action {
            RenterAction::Confirm => "confirmation signature",
            RenterAction::Cancel => "cancellation signature",
        };
        verify(
            &job.renter,
            &renter_action_message(&job.id, action, signed.attempt),
            &signature,
        )
        .map_err(|e| SchedulerError::signature(what, e))
    }

    /// The renter accepts the current proposal.
    pub async fn confirm_by_renter(
        &self,
        id: &PublicKey,
        signed: &RenterSigned,
    ) -> Result<JobStatus> {
        let job = self.job(id).await?;
        Self::check_renter(&job, RenterAction::Confirm, signed)?;
        self.confirm(&job, signed.attempt, false).await
    }

    /// One party confirms; the job starts when both have.
    async fn confirm(&self, job: &JobRecord, attempt: u32, by_node: bool) -> Result<JobStatus> {
        if job.state != JobState::Proposed {
            return Err(SchedulerError::WrongState {
                job: job.id,
                state: job.state,
                operation: "confirm",
                needs: "proposed",
            });
        }
        if job.attempt != attempt {
            return Err(SchedulerError::StaleAttempt {
                job: job.id,
                current: job.attempt,
                given: attempt,
            });
        }
        let store = self.store();
        let mut tx = store.begin().await?;
        let updated = store
            .confirm(&mut tx, &job.id, attempt, by_node, now_ms())
            .await?;
        tx.commit().await?;
        let Some(updated) = updated else {
            // Moved between the read and the update: report what it is now.
            let now = self.job(&job.id).await?;
            return Err(SchedulerError::StaleAttempt {
                job: job.id,
                current: now.attempt,
                given: attempt,
            });
        };
        if updated.state == JobState::Running
            && let Some(node) = &updated.node
        {
            self.send(
                node,
                ToNode::Start {
                    job_id: updated.id.to_string(),
                    attempt,
                },
            );
            tracing::info!(job = %updated.id, node = %node, "job running");
        }
        self.publish_status(&updated);
        self.status(&updated.id).await
    }

    /// The renter cancels the job.
    pub async fn cancel(&self, id: &PublicKey, signed: &RenterSigned) -> Result<JobStatus> {
        let job = self.job(id).await?;
        Self::check_renter(&job, RenterAction::Cancel, signed)?;
        if job.attempt != signed.attempt {
            return Err(SchedulerError::StaleAttempt {
                job: job.id,
                current: job.attempt,
                given: signed.attempt,
            });
        }
        let store = self.store();
        let mut tx = store.begin().await?;
        let cancelled = store.cancel(&mut tx, id, now_ms()).await?;
        tx.commit().await?;
        if !cancelled {
            return Err(SchedulerError::WrongState {
                job: job.id,
                state: job.state,
                operation: "cancel",
                needs: "queued, proposed or running",
            });
        }
        if job.state.is_active()
            && let Some(node) = &job.node
        {
            lock(&self.inner.matcher).nodes.release(node);
            self.send(
                node,
                ToNode::Cancel {
                    job_id: id.to_string(),
                    attempt: job.attempt,
                },
            );
        }
        let status = self.status(id).await?;
        let _ = self.inner.events.send(JobEvent::Status {
            status: Box::new(status.clone()),
        });
        Ok(status)
    }

    /// A job's log.
    pub async fn logs(&self, id: &PublicKey) -> Result<JobLogs> {
        let logs = self
            .store()
            .logs(id)
            .await?
            .ok_or(SchedulerError::UnknownJob(*id))?;
        Ok(JobLogs {
            job_id: id.to_string(),
            logs,
        })
    }

    /// A finished job's result.
    pub async fn result(&self, id: &PublicKey) -> Result<JobResult> {
        let job = self.job(id).await?;
        let (JobState::Done, Some(digest)) = (job.state, job.output_digest) else {
            return Err(SchedulerError::WrongState {
                job: job.id,
                state: job.state,
                operation: "result",
                needs: "done",
            });
        };
        let output = self.store().output(id).await?.unwrap_or_default();
        Ok(JobResult {
            job_id: id.to_string(),
            output: hex::encode(output),
            output_digest: digest.to_string(),
        })
    }

    /// A job's relayed receipts.
    pub async fn receipts(&self, id: &PublicKey) -> Result<Vec<ReceiptJson>> {
        self.job(id).await?;
        let receipts = self.store().receipts(id).await?;
        Ok(receipts
            .iter()
            .map(|r| ReceiptJson {
                node: r.node.to_string(),
                seq: r.seq,
                receipt: hex::encode(r.receipt.to_bytes()),
                co_signed: r.co_signed,
            })
            .collect())
    }

    /// Relays a receipt: node-signed ones to the renter, counter-signed ones
    /// to the node. The signer must be a node the job was assigned to (now or
    /// before a failover: its receipts stay payable to it).
    pub async fn relay_receipt(&self, id: &PublicKey, posted: &PostReceipt) -> Result<ReceiptJson> {
        let bytes = hex_bytes("receipt", &posted.receipt, SignedReceipt::MAX_LEN)?;
        let receipt = SignedReceipt::from_bytes(&bytes).map_err(SchedulerError::ReceiptDecode)?;
        let r = &receipt.receipt;
        if r.job != *id {
            return Err(SchedulerError::ReceiptMismatch("it is for another job"));
        }
        let job = self.job(id).await?;
        if r.renter != job.renter {
            return Err(SchedulerError::ReceiptMismatch("it names another renter"));
        }
        let store = self.store();
        let mut signer_node = None;
        let assignments = store.assignments(Some(id)).await?;
        {
            let mut conn = store.acquire().await?;
            for assignment in assignments {
                if let Some(node) = store.node(&mut conn, &assignment.node).await?
                    && node.manifest.manifest.receipt_key == r.node
                {
                    signer_node = Some(node.id());
                    break;
                }
            }
        }
        let Some(signer_node) = signer_node else {
            return Err(SchedulerError::ReceiptMismatch(
                "its node was never assigned this job",
            ));
        };
        receipt
            .verify_node_signature()
            .map_err(|e| SchedulerError::signature("receipt node signature", e))?;
        let co_signed = receipt
            .verify_renter_signature()
            .map_err(|e| SchedulerError::signature("receipt counter-signature", e))?;
        let mut tx = store.begin().await?;
        let co_signed_already = store
            .put_receipt(&mut tx, &receipt, co_signed, now_ms())
            .await?;
        tx.commit().await?;
        if let Some(stored) = co_signed_already {
            // The node never got this counter-signature: it goes again.
            self.send(
                &signer_node,
                ToNode::Receipt {
                    receipt: hex::encode(stored.to_bytes()),
                },
            );
        }
        let json = ReceiptJson {
            node: r.node.to_string(),
            seq: r.seq,
            receipt: hex::encode(receipt.to_bytes()),
            co_signed,
        };
        if co_signed {
            self.send(
                &signer_node,
                ToNode::Receipt {
                    receipt: json.receipt.clone(),
                },
            );
        }
        let _ = self.inner.events.send(JobEvent::Receipt {
            job_id: id.to_string(),
            receipt: json.clone(),
        });
        Ok(json)
    }

    /// Handles one message from `node`'s link (the hello is handled by the link).
    pub async fn on_node_message(&self, node: &PublicKey, message: FromNode) -> Result<()> {
        match message {
            FromNode::Hello { .. } => Err(SchedulerError::bad_field(
                "type",
                "hello was already received",
            )),
            FromNode::Heartbeat => {
                self.heartbeat(node);
                Ok(())
            }
            FromNode::Accept { job_id, attempt } => {
                let job = self.held_job(node, &job_id).await?;
                self.confirm(&job, attempt, true).await.map(drop)
            }
            FromNode::Terms {
                job_id,
                attempt,
                escrow,
                deadline,
                signature,
            } => {
                let acceptance = AcceptanceJson {
                    attempt,
                    escrow,
                    deadline,
                    signature: hex_array("signature", &signature)?,
                };
                self.record_terms(node, &job_id, &acceptance).await
            }
            FromNode::Reject { job_id, attempt } => {
                let job = self.held_job(node, &job_id).await?;
                let store = self.store();
                let mut tx = store.begin().await?;
                let moved = store.requeue(&mut tx, &job.id, attempt, now_ms()).await?;
                tx.commit().await?;
                if moved {
                    lock(&self.inner.matcher).nodes.release(node);
                    self.inner.metrics.reschedules.inc();
                    self.wake_matcher();
                }
                Ok(())
            }
            FromNode::Receipt { receipt } => {
                let bytes = hex_bytes("receipt", &receipt, SignedReceipt::MAX_LEN)?;
                let decoded =
                    SignedReceipt::from_bytes(&bytes).map_err(SchedulerError::ReceiptDecode)?;
                self.relay_receipt(&decoded.receipt.job, &PostReceipt { receipt })
                    .await
                    .map(drop)
            }
            FromNode::Log { job_id, text } => {
                let job = self.held_job(node, &job_id).await?;
                if !self
                    .store()
                    .append_log(&job.id, &text, MAX_LOG_CHARS)
                    .await?
                {
                    tracing::debug!(job = %job.id, "log cap reached; text dropped");
                }
                Ok(())
            }
            FromNode::Result {
                job_id,
                attempt,
                output,
            } => {
                self.take_report(node, job_id, attempt, NodeReport::Output(&output))
                    .await
            }
            FromNode::Failed {
                job_id,
                attempt,
                reason,
            } => {
                self.take_report(node, job_id, attempt, NodeReport::Failure(&reason))
                    .await
            }
        }
    }

    /// Takes a node's last report on an attempt, then tells the node whether
    /// to stop sending it ([`ToNode::Ended`]): yes once it is stored or
    /// refused for good, no when the store failed (the node sends it again,
    /// so a full disk costs a delay, not the renter's result).
    async fn take_report(
        &self,
        node: &PublicKey,
        job_id: String,
        attempt: u32,
        report: NodeReport<'_>,
    ) -> Result<()> {
        let taken = self.store_report(node, &job_id, attempt, report).await;
        let passing = matches!(
            taken,
            Err(SchedulerError::Store(_) | SchedulerError::StorageFull(_))
        );
        if !passing {
            self.send(node, ToNode::Ended { job_id, attempt });
        }
        taken
    }

    async fn store_report(
        &self,
        node: &PublicKey,
        job_id: &str,
        attempt: u32,
        report: NodeReport<'_>,
    ) -> Result<()> {
        let job = self.job(&hex_key("job_id", job_id)?).await?;
        let report = report.decode()?;
        // Sent again after a store failure or a lost `ended`: the same
        // report is taken already (a different one is refused below).
        let taken = match &report {
            DecodedReport::Output { digest, .. } => {
                job.state == JobState::Done && job.output_digest == Some(*digest)
            }
            DecodedReport::Failure(_) => job.state == JobState::Failed,
        };
        if taken && job.node.as_ref() == Some(node) && job.attempt == attempt {
            return Ok(());
        }
        let job = held_by(node, job)?;
        let outcome = match &report {
            DecodedReport::Output { output, digest } => Finish::Done {
                output,
                digest: *digest,
            },
            DecodedReport::Failure(reason) => Finish::Failed { reason },
        };
        self.finish(node, &job, attempt, outcome).await
    }

    /// The job `job_id` if `node` holds it.
    pub(crate) async fn held_job(&self, node: &PublicKey, job_id: &str) -> Result<JobRecord> {
        held_by(node, self.job(&hex_key("job_id", job_id)?).await?)
    }

    async fn finish(
        &self,
        node: &PublicKey,
        job: &JobRecord,
        attempt: u32,
        outcome: Finish<'_>,
    ) -> Result<()> {
        let store = self.store();
        let mut tx = store.begin().await?;
        let done = matches!(outcome, Finish::Done { .. });
        if !store
            .finish(&mut tx, &job.id, attempt, outcome, now_ms())
            .await?
        {
            return Err(SchedulerError::WrongState {
                job: job.id,
                state: job.state,
                operation: "finish",
                needs: "running at that attempt",
            });
        }
        if done {
            store
                .adjust_reputation(&mut tx, node, i64::from(REPUTATION_PER_JOB), MAX_REPUTATION)
                .await?;
        }
        tx.commit().await?;
        lock(&self.inner.matcher).nodes.release(node);
        self.wake_matcher();
        let job = self.job(&job.id).await?;
        tracing::info!(job = %job.id, state = %job.state, "job finished");
        self.publish_status(&job);
        Ok(())
    }
}

/// `job` if `node` holds it: proposed to or running on it.
fn held_by(node: &PublicKey, job: JobRecord) -> Result<JobRecord> {
    if job.node.as_ref() != Some(node) || !job.state.is_active() {
        return Err(SchedulerError::WrongState {
            job: job.id,
            state: job.state,
            operation: "a node report",
            needs: "proposed to or running on this node",
        });
    }
    Ok(job)
}

/// What a node's last report on an attempt says, as sent.
#[derive(Debug, Clone, Copy)]
enum NodeReport<'a> {
    /// The sealed result (hex).
    Output(&'a str),
    /// Why the job failed.
    Failure(&'a str),
}

/// A [`NodeReport`] with its output decoded and hashed.
enum DecodedReport<'a> {
    Output { output: Vec<u8>, digest: Digest },
    Failure(&'a str),
}

impl<'a> NodeReport<'a> {
    fn decode(self) -> Result<DecodedReport<'a>> {
        Ok(match self {
            Self::Output(hex) => {
                let output = hex_bytes("output", hex, MAX_RESULT_BYTES).map_err(|_| {
                    SchedulerError::ResultTooLarge {
                        len: hex.len() / 2,
                        max: MAX_RESULT_BYTES,
                    }
                })?;
                let digest = sha256(&[&output]);
                DecodedReport::Output { output, digest }
            }
            Self::Failure(reason) => DecodedReport::Failure(reason),
        })
    }
}
