//! A submission's receipts: checked against the chain, counter-signed within
//! the budget, and the job's end (result, proof of execution, the close).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_protocol::chain::ReceiptChain;
use kiln_protocol::receipt::Parties;
use kiln_protocol::{Digest, PublicKey, Rates, SignedReceipt, proof_of_execution};
use kiln_scheduler_api::messages::{RenterAction, renter_action_message, result_seal_context};
use kiln_scheduler_api::wire::{JobStatus, PostReceipt, RenterSigned};

use super::{FINAL_RECEIPT_WAIT, JobOutcome, JobRequest, Progress, Renter, signature_hex};
use crate::error::{ClientError, Result};
use crate::file::ReceiptsFile;

/// Holds the node to its proof of execution: the final receipt's `output`
/// against the proof of the result the renter opened. A last receipt
/// without a proof (all zero) is not the final one, which never arrived: a
/// timeout, not a node caught lying (a relay that lost the receipt, say to
/// a full disk, must not make an honest node look like a cheat).
fn hold_to_proof(output: Digest, proof: Digest, node: PublicKey) -> Result<()> {
    if output == Digest::ZERO {
        return Err(ClientError::Timeout {
            what: "the node's final receipt (its proof of execution)",
            seconds: FINAL_RECEIPT_WAIT.as_secs(),
        });
    }
    if output != proof {
        return Err(ClientError::ProofMismatch { node });
    }
    Ok(())
}

/// One submission's receipts as the renter keeps them.
pub(super) struct Receipts {
    pub(super) node: Option<PublicKey>,
    pub(super) chain: Option<ReceiptChain>,
    pub(super) kept: Vec<SignedReceipt>,
    pub(super) last_seq: u64,
    pub(super) payable_cost: u64,
    pub(super) payable: Option<SignedReceipt>,
    pub(super) stopped: bool,
}

impl Renter {
    /// Takes every new node-signed receipt: checks it extends the chain,
    /// counter-signs it while its cost stays within the budget.
    pub(super) async fn drain_receipts(
        &self,
        job: &PublicKey,
        status: &JobStatus,
        receipts: &mut Receipts,
        opened: Option<(u32, PublicKey, Rates, u64)>,
        request: &JobRequest,
        progress: &mut impl FnMut(&Progress),
    ) -> Result<()> {
        let Some((_, node, rates, escrow)) = opened else {
            return Ok(());
        };
        let budget = request.budget.unwrap_or(escrow).min(escrow);
        let Ok(relayed) = self.api.receipts(job).await else {
            // Unreachable for now; the next pass catches up.
            return Ok(());
        };
        for entry in relayed {
            if entry.node != node.to_string() || entry.seq <= receipts.last_seq {
                continue;
            }
            if entry.seq != receipts.last_seq.saturating_add(1) {
                // An earlier receipt has not reached the relay (lost in
                // flight, or refused by a scheduler that was out of space):
                // the node sends it again, and the chain waits for it.
                tracing::debug!(%job, expected = receipts.last_seq + 1, found = entry.seq,
                    "a receipt is missing; waiting for the node to send it again");
                break;
            }
            let bytes =
                hex::decode(&entry.receipt).map_err(|e| ClientError::Receipt(e.to_string()))?;
            let mut signed = SignedReceipt::from_bytes(&bytes)
                .map_err(|e| ClientError::Receipt(e.to_string()))?;
            // Checked on a copy: the chain moves on only once the
            // counter-signature is delivered (else the next pass retries).
            let mut chain = receipts.chain.clone().unwrap_or_else(|| {
                ReceiptChain::new(Parties {
                    job: *job,
                    node,
                    renter: self.id(),
                })
            });
            chain
                .push(&signed)
                .map_err(|e| ClientError::Receipt(format!("seq {}: {e}", signed.receipt.seq)))?;
            let usage = signed.receipt.usage();
            let cost = kiln_protocol::rates::usage_cost(&usage, &rates)
                .map_err(|e| ClientError::Receipt(e.to_string()))?;
            // Counter-signed in the relay already: this renter's own
            // signature (the chain checked it), delivered on a pass whose
            // answer was lost. It is taken as it is, not posted again.
            let already = entry.co_signed;
            let within = already || (!receipts.stopped && cost <= budget);
            if within {
                if !already {
                    signed
                        .counter_sign(&self.key)
                        .map_err(|e| ClientError::Receipt(e.to_string()))?;
                    let posted = self
                        .api
                        .post_receipt(
                            job,
                            &PostReceipt {
                                receipt: hex::encode(signed.to_bytes()),
                            },
                        )
                        .await;
                    if let Err(error) = posted {
                        tracing::warn!(%job, %error, "counter-signature not delivered; retrying");
                        return Ok(());
                    }
                }
                receipts.payable = Some(signed);
                receipts.payable_cost = cost;
            } else if !receipts.stopped {
                receipts.stopped = true;
                progress(&Progress::BudgetReached { cost, budget });
                if matches!(status.state.as_str(), "running" | "proposed") {
                    let _ = self
                        .api
                        .cancel(
                            job,
                            &RenterSigned {
                                attempt: status.attempt,
                                signature: signature_hex(
                                    &self.key,
                                    &renter_action_message(
                                        job,
                                        RenterAction::Cancel,
                                        status.attempt,
                                    ),
                                ),
                            },
                        )
                        .await;
                }
            }
            receipts.chain = Some(chain);
            receipts.node = Some(node);
            receipts.last_seq = signed.receipt.seq;
            receipts.kept.push(signed);
            progress(&Progress::Receipt {
                seq: signed.receipt.seq,
                usage,
                cost,
                co_signed: within,
            });
        }
        Ok(())
    }

    /// The job ended: fetch and check the result, wait for the settlement.
    #[expect(
        clippy::too_many_arguments,
        reason = "one step of the flow, given its state"
    )]
    pub(super) async fn finish(
        &self,
        job: &PublicKey,
        status: &JobStatus,
        opened: Option<(u32, PublicKey, Rates, u64)>,
        receipts: &mut Receipts,
        result_key: &kiln_seal::SecretKey,
        request: &JobRequest,
        progress: &mut impl FnMut(&Progress),
    ) -> Result<JobOutcome> {
        let Some((attempt, node, rates, escrow)) = opened else {
            return Err(ClientError::JobEnded {
                job: *job,
                state: status.state.clone(),
                reason: status
                    .error
                    .clone()
                    .unwrap_or_else(|| "before any node took it".into()),
            });
        };
        // The final receipt may trail the state change by a moment.
        let until = Instant::now() + FINAL_RECEIPT_WAIT;
        while status.state == "done"
            && receipts
                .kept
                .last()
                .is_none_or(|r| r.receipt.output == Digest::ZERO)
            && Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.drain_receipts(job, status, receipts, opened, request, progress)
                .await?;
        }
        let mut output = None;
        if status.state == "done" {
            let result = self.api.result(job).await?;
            let sealed =
                hex::decode(&result.output).map_err(|e| ClientError::Receipt(e.to_string()))?;
            let plain = kiln_seal::open(result_key, &result_seal_context(job, attempt), &sealed)?;
            let last = receipts
                .kept
                .last()
                .ok_or_else(|| ClientError::Receipt("no final receipt".into()))?;
            hold_to_proof(
                last.receipt.output,
                proof_of_execution(job, &plain, &node),
                node,
            )?;
            output = Some(plain.to_vec());
        }
        let settled = self.await_close(job, request.settle_timeout).await?;
        if settled {
            progress(&Progress::Settled);
        }
        Ok(JobOutcome {
            job: *job,
            node,
            rates,
            escrow,
            output,
            state: status.state.clone(),
            error: status.error.clone(),
            receipts: ReceiptsFile::new(*job, node, self.id(), rates, escrow, &receipts.kept),
            co_signed_cost: receipts.payable_cost,
            stopped_at_budget: receipts.stopped,
            settled,
            abandoned: Vec::new(),
            elapsed: Duration::ZERO,
        })
    }

    /// Waits until the job account is closed (the node settled).
    pub(super) async fn await_close(&self, job: &PublicKey, timeout: Duration) -> Result<bool> {
        let until = Instant::now() + timeout;
        loop {
            let ledger = Arc::clone(&self.ledger);
            let job = *job;
            let open = tokio::task::spawn_blocking(move || ledger.job(&job))
                .await
                .map_err(|e| ClientError::File(e.to_string()))??;
            if open.is_none() {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use kiln_protocol::{Digest, PublicKey, sha256};

    use super::hold_to_proof;
    use crate::error::ClientError;

    #[test]
    fn only_a_final_receipt_can_accuse_the_node() {
        let (node, proof) = (PublicKey([7; 32]), sha256(&[b"job", b"result", b"node"]));
        hold_to_proof(proof, proof, node).unwrap();
        match hold_to_proof(sha256(&[b"another result"]), proof, node) {
            Err(ClientError::ProofMismatch { node: named }) => assert_eq!(named, node),
            other => panic!("expected a proof mismatch, got {other:?}"),
        }
        match hold_to_proof(Digest::ZERO, proof, node) {
            Err(ClientError::Timeout { what, .. }) => assert!(what.contains("final receipt")),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
}
