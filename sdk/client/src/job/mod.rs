//! Running a job as a renter, end to end: upload the component, submit the
//! signed spec, open the escrow on the node's signed terms, seal the input
//! to that node, counter-sign its receipts while they stay within the
//! budget, check the result against the proof of execution, and wait for
//! the node to close the escrow.
//!
//! A node that vanishes after the escrow was opened cannot be paid from a
//! new node's work (an escrow names one node), so the renter cancels that
//! scheduler job and submits the same work again under a fresh escrow; the
//! abandoned escrow is reported ([`Abandoned`]) so its co-signed receipt can
//! be claimed for the first node and the rest expired back to the renter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use kiln_protocol::job::JOB_SPEC_VERSION;
use kiln_protocol::receipt::Usage;
use kiln_protocol::signing::{SigningKey, public_key, sign};
use kiln_protocol::{
    BenchmarkClass, Digest, JobSpec, PublicKey, Rates, SignedReceipt, WorkloadClass, sha256,
};
use kiln_scheduler_api::messages::{RenterAction, renter_action_message, submit_message};
use kiln_scheduler_api::wire::{RenterSigned, SubmitJob};
use kiln_settlement_interface::pda::job_address;
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer as _;

use crate::api::SchedulerApi;
use crate::error::{ClientError, Result};
use crate::file::ReceiptsFile;
use crate::ledger::Ledger;

mod open;
mod receipts;
mod result;

use receipts::Receipts;
pub use result::{open_result, result_key};

/// How often the renter re-reads the job when no event arrives: events wake
/// it sooner; this bounds how long a missed event (one published before the
/// renter's event socket was up) can delay it. 25 ms keeps a tiny job's
/// round trip short at the cost of a status read per job every 25 ms.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Cancels tried on a job the renter abandons, each after reading its
/// attempt afresh: enough to win a race with a matcher that re-proposes it
/// once or twice meanwhile.
pub const MAX_CANCEL_TRIES: usize = 5;

/// Times one job is submitted again after its node vanished, before the
/// renter gives up.
pub const MAX_RESUBMISSIONS: usize = 3;

/// How long the renter waits, once the job is done, for the node's final
/// receipt (the one carrying its proof of execution), which may trail the
/// state change through the scheduler's relay. Past it, the job's outcome
/// is a timeout, never a proof mismatch.
pub const FINAL_RECEIPT_WAIT: Duration = Duration::from_secs(5);

/// What a renter asks for.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The input (sealed to the node before it leaves the renter).
    pub input: Vec<u8>,
    /// CPU, WebGPU or CUDA.
    pub class: WorkloadClass,
    /// Sandbox limits; with the price they set the escrow.
    pub limits: kiln_protocol::JobLimits,
    /// The most the renter pays per unit.
    pub max_rates: Rates,
    /// A region the node must be in.
    pub region: Option<String>,
    /// The slowest node tier acceptable.
    pub min_benchmark_class: BenchmarkClass,
    /// The most the renter counter-signs for, in lamports; past it the
    /// renter stops counter-signing and cancels the job. `None`: the escrow.
    pub budget: Option<u64>,
    /// How long to wait for the whole job.
    pub timeout: Duration,
    /// How long to wait, after the result, for the node to close the escrow.
    pub settle_timeout: Duration,
}

/// What the renter sees as the job goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The spec was accepted by the scheduler.
    Submitted {
        /// The job id (its escrow account).
        job: PublicKey,
    },
    /// A node accepted and the escrow is open.
    EscrowOpened {
        /// The node.
        node: PublicKey,
        /// The cleared price.
        rates: Rates,
        /// Lamports held.
        escrow: u64,
    },
    /// A receipt arrived.
    Receipt {
        /// Its seq.
        seq: u64,
        /// Cumulative usage.
        usage: Usage,
        /// What it costs at the price.
        cost: u64,
        /// Whether the renter counter-signed it.
        co_signed: bool,
    },
    /// The budget is spent: counter-signing stopped and the job is cancelled.
    BudgetReached {
        /// The cost of the receipt that would have passed it.
        cost: u64,
        /// The budget.
        budget: u64,
    },
    /// The node vanished; the job is submitted again under a new escrow.
    Resubmitted {
        /// The new job id.
        job: PublicKey,
    },
    /// The node closed the escrow.
    Settled,
}

/// An escrow left behind by a node that vanished.
#[derive(Debug, Clone)]
pub struct Abandoned {
    /// Its job id / escrow account.
    pub job: PublicKey,
    /// The node.
    pub node: PublicKey,
    /// The highest receipt the renter counter-signed for it, if any.
    pub payable: Option<SignedReceipt>,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The job id (escrow account) of the run that finished.
    pub job: PublicKey,
    /// Its node.
    pub node: PublicKey,
    /// The cleared price.
    pub rates: Rates,
    /// Lamports escrowed.
    pub escrow: u64,
    /// The result, checked against the proof of execution; `None` when the
    /// job was stopped (budget) or failed.
    pub output: Option<Vec<u8>>,
    /// The scheduler's final state (`done`, `cancelled`, `failed`).
    pub state: String,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Every receipt, counter-signed where the renter signed.
    pub receipts: ReceiptsFile,
    /// Cost of the highest co-signed receipt.
    pub co_signed_cost: u64,
    /// True when the renter stopped at its budget.
    pub stopped_at_budget: bool,
    /// True when the node closed the escrow within the settle timeout.
    pub settled: bool,
    /// Escrows left by nodes that vanished.
    pub abandoned: Vec<Abandoned>,
    /// Submit to result.
    pub elapsed: Duration,
}

/// A renter: one key (its Solana wallet signs escrows, the same ed25519 key
/// signs specs and counter-signs receipts), a scheduler and a chain.
pub struct Renter {
    keypair: Keypair,
    key: SigningKey,
    api: SchedulerApi,
    ledger: Arc<dyn Ledger>,
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    u64::from_le_bytes(bytes)
}

pub(super) fn signature_hex(key: &SigningKey, message: &[u8]) -> String {
    sign(key, message).to_string()
}

enum Ended {
    Finished(Box<JobOutcome>),
    Vanished(Box<Abandoned>),
}

impl Renter {
    /// A renter with `keypair`, talking to `api` and settling on `ledger`.
    pub fn new(keypair: Keypair, api: SchedulerApi, ledger: Arc<dyn Ledger>) -> Self {
        let key = kiln_settlement::keys::signing_key(&keypair);
        Self {
            keypair,
            key,
            api,
            ledger,
        }
    }

    /// The renter's key.
    pub fn id(&self) -> PublicKey {
        public_key(&self.key)
    }

    /// The scheduler API.
    pub fn api(&self) -> &SchedulerApi {
        &self.api
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// The renter's wallet.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// Runs `request` to its end, calling `progress` as it goes.
    pub async fn run(
        &self,
        request: &JobRequest,
        mut progress: impl FnMut(&Progress),
    ) -> Result<JobOutcome> {
        let started = Instant::now();
        let digest = sha256(&[&request.component]);
        // A component the scheduler holds is not uploaded (and written) again.
        if !self.api.has_component(&digest).await? {
            self.api.put_component(&digest, &request.component).await?;
        }
        let mut abandoned = Vec::new();
        for _ in 0..=MAX_RESUBMISSIONS {
            match self
                .submit_once(request, digest, started, &mut progress)
                .await?
            {
                Ended::Finished(mut outcome) => {
                    outcome.abandoned = abandoned;
                    outcome.elapsed = started.elapsed();
                    return Ok(*outcome);
                }
                Ended::Vanished(left) => abandoned.push(*left),
            }
        }
        Err(ClientError::JobEnded {
            job: abandoned
                .last()
                .map(|a| a.job)
                .unwrap_or(PublicKey([0; 32])),
            state: "abandoned".into(),
            reason: format!("{} nodes vanished in a row", abandoned.len()),
        })
    }

    async fn submit_once(
        &self,
        request: &JobRequest,
        digest: Digest,
        started: Instant,
        progress: &mut impl FnMut(&Progress),
    ) -> Result<Ended> {
        let job_number = random_u64();
        let escrow_account = job_address(&self.keypair.pubkey(), job_number).0;
        let job = PublicKey(escrow_account.to_bytes());
        let spec = JobSpec {
            version: JOB_SPEC_VERSION,
            component: digest,
            input_size: request.input.len() as u64,
            class: request.class,
            min_benchmark_class: request.min_benchmark_class,
            region: request.region.clone(),
            limits: request.limits,
            max_rates: request.max_rates,
            escrow: job,
        };
        let spec_bytes = spec.to_bytes();
        let mut events =
            tokio_tungstenite::connect_async_with_config(self.api.events_url(&job), None, true)
                .await
                .ok()
                .map(|(socket, _)| socket);
        self.api
            .submit(&SubmitJob {
                spec: hex::encode(&spec_bytes),
                renter: self.id().to_string(),
                signature: signature_hex(&self.key, &submit_message(&spec_bytes)),
            })
            .await?;
        if events.is_none() {
            events =
                tokio_tungstenite::connect_async_with_config(self.api.events_url(&job), None, true)
                    .await
                    .ok()
                    .map(|(socket, _)| socket);
        }
        progress(&Progress::Submitted { job });

        let mut opened: Option<(u32, PublicKey, Rates, u64)> = None;
        let mut receipts = Receipts {
            node: None,
            chain: None,
            kept: Vec::new(),
            last_seq: 0,
            payable_cost: 0,
            payable: None,
            stopped: false,
        };
        loop {
            if started.elapsed() > request.timeout {
                return Err(ClientError::Timeout {
                    what: "the job",
                    seconds: request.timeout.as_secs(),
                });
            }
            // A scheduler that restarts or blips costs a retry, not the job.
            let status = match self.api.status(&job).await {
                Ok(status) => status,
                Err(error) => {
                    tracing::warn!(%job, %error, "status unavailable; retrying");
                    tokio::time::sleep(POLL_INTERVAL).await;
                    continue;
                }
            };
            tracing::debug!(%job, state = %status.state, attempt = status.attempt,
                acceptance = status.acceptance.is_some(), "job status");
            if let Some((attempt, node, _, _)) = opened {
                let moved = status.state == "queued"
                    || (status.attempt != attempt && status.state != "cancelled");
                if moved {
                    self.drain_receipts(&job, &status, &mut receipts, opened, request, progress)
                        .await?;
                    self.withdraw(&job).await;
                    tracing::warn!(%job, %node, "the node vanished; submitting again");
                    let left = Abandoned {
                        job,
                        node,
                        payable: receipts.payable,
                    };
                    return Ok(Ended::Vanished(Box::new(left)));
                }
            }
            match status.state.as_str() {
                "proposed" if opened.is_none() => {
                    if let Some(acceptance) =
                        status.acceptance.filter(|a| a.attempt == status.attempt)
                    {
                        let key = result_key(&self.key, &job, status.attempt);
                        let terms = self
                            .open(&job, job_number, &spec, &status, &acceptance, &key, request)
                            .await?;
                        progress(&Progress::EscrowOpened {
                            node: terms.1,
                            rates: terms.2,
                            escrow: terms.3,
                        });
                        opened = Some(terms);
                    }
                }
                "proposed" | "running" | "queued" => {
                    self.drain_receipts(&job, &status, &mut receipts, opened, request, progress)
                        .await?;
                }
                _ => {
                    self.drain_receipts(&job, &status, &mut receipts, opened, request, progress)
                        .await?;
                    let attempt = opened.map_or(status.attempt, |(attempt, ..)| attempt);
                    let key = result_key(&self.key, &job, attempt);
                    let outcome = self
                        .finish(
                            &job,
                            &status,
                            opened,
                            &mut receipts,
                            &key,
                            request,
                            progress,
                        )
                        .await?;
                    return Ok(Ended::Finished(Box::new(outcome)));
                }
            }
            // Sleep until an event or the poll interval.
            match events.as_mut() {
                Some(socket) => match tokio::time::timeout(POLL_INTERVAL, socket.next()).await {
                    Ok(Some(Ok(_))) | Err(_) => {}
                    Ok(_) => events = None,
                },
                None => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    }

    /// Cancels the scheduler's job at whatever attempt it has reached. After
    /// a node vanishes the scheduler requeues the job and may propose it to
    /// another node between the renter's status read and its cancel; a
    /// cancel signed for the old attempt is then refused as stale, and the
    /// proposal (which this renter will never confirm) would hold that
    /// node's slot until it times out. So a stale refusal is retried with
    /// the attempt read afresh, up to [`MAX_CANCEL_TRIES`] times.
    async fn withdraw(&self, job: &PublicKey) {
        for _ in 0..MAX_CANCEL_TRIES {
            let status = match self.api.status(job).await {
                Ok(status) => status,
                Err(error) => {
                    tracing::warn!(%job, %error, "status unavailable; cancelling blind");
                    return;
                }
            };
            if matches!(status.state.as_str(), "cancelled" | "done" | "failed") {
                return;
            }
            let signed = RenterSigned {
                attempt: status.attempt,
                signature: signature_hex(
                    &self.key,
                    &renter_action_message(job, RenterAction::Cancel, status.attempt),
                ),
            };
            match self.api.cancel(job, &signed).await {
                Ok(_) => return,
                Err(error) => {
                    tracing::debug!(%job, %error, attempt = status.attempt, "cancel refused; reading the job again");
                }
            }
        }
        tracing::warn!(%job, "could not cancel the abandoned job; its proposal will time out");
    }

    /// Settles an escrow a vanished node left: claims its co-signed receipt
    /// for it (the program pays the node, whoever sends the claim) and, once
    /// the deadline and grace have passed, expires the rest back to the renter.
    pub fn settle_abandoned(&self, abandoned: &Abandoned) -> Result<()> {
        if let Some(receipt) = &abandoned.payable {
            self.ledger.claim(&self.keypair, receipt)?;
        }
        if self.ledger.job(&abandoned.job)?.is_some() {
            self.ledger.expire(&self.keypair, &abandoned.job)?;
        }
        Ok(())
    }

    /// Lamports in the renter's wallet.
    pub fn balance(&self) -> Result<u64> {
        self.ledger.balance(&self.id())
    }
}

/// A key or id sent as hex.
pub fn parse_key(text: &str) -> Option<PublicKey> {
    kiln_scheduler_api::wire::hex_key("key", text).ok()
}

/// The address form of a key.
pub fn address(key: &PublicKey) -> Address {
    Address::new_from_array(key.0)
}
