//! What the scheduler relays between renter and node without reading it:
//! workload components by SHA-256, inputs sealed to the node of one attempt,
//! and the node's signed acceptance of the on-chain terms.
//!
//! The scheduler checks what it can (a component's hash, the renter's
//! signature over an input, that a node's terms come from the node holding
//! the attempt) so garbage is refused early, but neither party trusts it:
//! the node hashes the component again and verifies the renter's input
//! signature itself, and the settlement program verifies the node's
//! acceptance before any money moves.

use kiln_protocol::signing::verify;
use kiln_protocol::{Digest, PublicKey, sha256};

use crate::config::{MAX_COMPONENT_BYTES, MAX_SEALED_INPUT_BYTES};
use crate::error::{Result, SchedulerError};
use crate::model::{JobState, input_message, now_ms};
use crate::scheduler::Scheduler;
use crate::store::{StoredInput, StoredTerms};
use kiln_scheduler_api::wire::{AcceptanceJson, ComponentStored, JobInput, hex_array, hex_bytes};

impl Scheduler {
    /// Stores a component under `digest` after checking its bytes hash to it.
    pub async fn put_component(&self, digest: &Digest, bytes: &[u8]) -> Result<ComponentStored> {
        if bytes.len() > MAX_COMPONENT_BYTES {
            return Err(SchedulerError::TooLarge {
                what: "component",
                len: bytes.len(),
                max: MAX_COMPONENT_BYTES,
            });
        }
        let actual = sha256(&[bytes]);
        if actual != *digest {
            return Err(SchedulerError::ComponentDigest {
                claimed: *digest,
                actual,
            });
        }
        self.store().put_component(digest, bytes, now_ms()).await?;
        tracing::info!(component = %digest, bytes = bytes.len(), "component stored");
        Ok(ComponentStored {
            digest: digest.to_string(),
            bytes: bytes.len() as u64,
        })
    }

    /// The component stored under `digest`.
    pub async fn component(&self, digest: &Digest) -> Result<Vec<u8>> {
        self.store()
            .component(digest)
            .await?
            .ok_or(SchedulerError::UnknownComponent(*digest))
    }

    /// Stores the renter's input for the job's current attempt, signed by the
    /// renter; the job must be proposed or running at that attempt.
    pub async fn post_input(&self, id: &PublicKey, input: &JobInput) -> Result<()> {
        let job = self.job(id).await?;
        if !matches!(job.state, JobState::Proposed | JobState::Running) {
            return Err(SchedulerError::WrongState {
                job: job.id,
                state: job.state,
                operation: "an input",
                needs: "proposed or running",
            });
        }
        if job.attempt != input.attempt {
            return Err(SchedulerError::StaleAttempt {
                job: job.id,
                current: job.attempt,
                given: input.attempt,
            });
        }
        let sealed = hex_bytes("sealed", &input.sealed, MAX_SEALED_INPUT_BYTES).map_err(|_| {
            SchedulerError::TooLarge {
                what: "sealed input",
                len: input.sealed.len() / 2,
                max: MAX_SEALED_INPUT_BYTES,
            }
        })?;
        let result_key: [u8; 32] = hex_array("result_key", &input.result_key)?;
        let signature: [u8; 64] = hex_array("signature", &input.signature)?;
        verify(
            &job.renter,
            &input_message(id, input.attempt, &sealed, &result_key),
            &signature.into(),
        )
        .map_err(|e| SchedulerError::signature("input signature", e))?;
        let stored = StoredInput {
            attempt: input.attempt,
            sealed,
            result_key,
            signature,
        };
        self.store().put_input(id, &stored).await
    }

    /// The renter's input for `attempt`.
    pub async fn input(&self, id: &PublicKey, attempt: u32) -> Result<JobInput> {
        self.job(id).await?;
        let stored = self
            .store()
            .input(id, attempt)
            .await?
            .ok_or(SchedulerError::NoInput { job: *id, attempt })?;
        Ok(JobInput {
            attempt: stored.attempt,
            sealed: hex::encode(&stored.sealed),
            result_key: hex::encode(stored.result_key),
            signature: hex::encode(stored.signature),
        })
    }

    /// Records `node`'s acceptance of the terms of the attempt it was proposed.
    pub(crate) async fn record_terms(
        &self,
        node: &PublicKey,
        job_id: &str,
        acceptance: &AcceptanceJson,
    ) -> Result<()> {
        let job = self.held_job(node, job_id).await?;
        if job.attempt != acceptance.attempt {
            return Err(SchedulerError::StaleAttempt {
                job: job.id,
                current: job.attempt,
                given: acceptance.attempt,
            });
        }
        let terms = StoredTerms {
            attempt: acceptance.attempt,
            escrow: acceptance.escrow,
            deadline: acceptance.deadline,
            signature: acceptance.signature,
        };
        self.store().put_terms(&job.id, &terms).await?;
        self.publish_status(&job);
        Ok(())
    }

    /// The node's acceptance of `job`'s `attempt`, if it sent one.
    pub(crate) async fn acceptance(
        &self,
        id: &PublicKey,
        attempt: u32,
    ) -> Result<Option<AcceptanceJson>> {
        Ok(self
            .store()
            .terms(id, attempt)
            .await?
            .map(|terms| AcceptanceJson {
                attempt: terms.attempt,
                escrow: terms.escrow,
                deadline: terms.deadline,
                signature: terms.signature,
            }))
    }
}
