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
use kiln_protocol::chain::ReceiptChain;
use kiln_protocol::job::JOB_SPEC_VERSION;
use kiln_protocol::receipt::{Parties, Usage};
use kiln_protocol::signing::{SigningKey, public_key, sign};
use kiln_protocol::{
    BenchmarkClass, Digest, JobSpec, PublicKey, Rates, SignedReceipt, WorkloadClass,
    proof_of_execution, sha256,
};
use kiln_scheduler::model::{
    RenterAction, input_message, input_seal_context, renter_action_message, result_seal_context,
    submit_message,
};
use kiln_scheduler::wire::{JobInput, JobStatus, PostReceipt, RenterSigned, SubmitJob};
use kiln_settlement::Acceptance;
use kiln_settlement_interface::instruction::OpenJobParams;
use kiln_settlement_interface::pda::job_address;
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer as _;

use crate::api::SchedulerApi;
use crate::error::{ClientError, Result};
use crate::file::ReceiptsFile;
use crate::ledger::Ledger;

/// How often the renter re-reads the job when no event arrives: events wake
/// it sooner; this bounds how long a missed event (one published before the
/// renter's event socket was up) can delay it. 25 ms keeps a tiny job's
/// round trip short at the cost of a status read per job every 25 ms.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Times one job is submitted again after its node vanished, before the
/// renter gives up.
pub const MAX_RESUBMISSIONS: usize = 3;

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

fn signature_hex(key: &SigningKey, message: &[u8]) -> String {
    sign(key, message).to_string()
}

enum Ended {
    Finished(Box<JobOutcome>),
    Vanished(Box<Abandoned>),
}

/// One submission's receipts as the renter keeps them.
struct Receipts {
    node: Option<PublicKey>,
    chain: Option<ReceiptChain>,
    kept: Vec<SignedReceipt>,
    last_seq: u64,
    payable_cost: u64,
    payable: Option<SignedReceipt>,
    stopped: bool,
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
                    let _ = self
                        .api
                        .cancel(
                            &job,
                            &RenterSigned {
                                attempt: status.attempt,
                                signature: signature_hex(
                                    &self.key,
                                    &renter_action_message(
                                        &job,
                                        RenterAction::Cancel,
                                        status.attempt,
                                    ),
                                ),
                            },
                        )
                        .await;
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

    /// Checks the node's terms, opens the escrow, seals and posts the input,
    /// confirms. Returns (attempt, node, rates, escrow).
    #[expect(
        clippy::too_many_arguments,
        reason = "one step of the flow, given its state"
    )]
    async fn open(
        &self,
        job: &PublicKey,
        job_number: u64,
        spec: &JobSpec,
        status: &JobStatus,
        acceptance: &kiln_scheduler::wire::AcceptanceJson,
        result_key: &kiln_seal::SecretKey,
        request: &JobRequest,
    ) -> Result<(u32, PublicKey, Rates, u64)> {
        let node = status
            .node_id
            .as_deref()
            .and_then(parse_key)
            .ok_or_else(|| ClientError::Receipt("a proposal without a node".into()))?;
        let refuse = |reason: String| ClientError::Terms { node, reason };
        let rates: Rates = status
            .price
            .ok_or_else(|| refuse("no price".into()))?
            .into();
        if !rates.within(&request.max_rates) {
            return Err(refuse("the price is above the job's maximum".into()));
        }
        let expected = spec.max_cost(&rates).map_err(|e| refuse(e.to_string()))?;
        if acceptance.escrow != expected {
            return Err(refuse(format!(
                "escrow {} is not the job's worst-case cost {expected}",
                acceptance.escrow
            )));
        }
        let info = self
            .api
            .nodes()
            .await?
            .into_iter()
            .find(|info| info.node_id == node.to_string())
            .ok_or_else(|| refuse("not registered".into()))?;
        let operator = parse_key(&info.operator).ok_or_else(|| refuse("bad operator".into()))?;
        let receipt_key =
            parse_key(&info.receipt_key).ok_or_else(|| refuse("bad receipt key".into()))?;
        let seal_key = status
            .node_encryption_key
            .as_deref()
            .and_then(parse_key)
            .ok_or_else(|| refuse("no encryption key".into()))?;
        let params = OpenJobParams {
            job_id: job_number,
            escrow: acceptance.escrow,
            rates,
            deadline: acceptance.deadline,
        };
        let accepted = Acceptance {
            node_key: receipt_key.0,
            signature: acceptance.signature,
        };
        let ledger = Arc::clone(&self.ledger);
        let keypair = self.keypair.insecure_clone();
        tokio::task::spawn_blocking(move || {
            ledger.open_job(&keypair, &operator, &accepted, params)
        })
        .await
        .map_err(|e| ClientError::File(e.to_string()))??;

        let attempt = status.attempt;
        let sealed = kiln_seal::seal(
            &kiln_seal::PublicKey(seal_key.0),
            &input_seal_context(job, attempt),
            &request.input,
        )?;
        let result_public = result_key.public_key().0;
        let signature = signature_hex(
            &self.key,
            &input_message(job, attempt, &sealed.0, &result_public),
        );
        self.api
            .post_input(
                job,
                &JobInput {
                    attempt,
                    sealed: hex::encode(&sealed.0),
                    result_key: hex::encode(result_public),
                    signature,
                },
            )
            .await?;
        self.api
            .confirm(
                job,
                &RenterSigned {
                    attempt,
                    signature: signature_hex(
                        &self.key,
                        &renter_action_message(job, RenterAction::Confirm, attempt),
                    ),
                },
            )
            .await?;
        Ok((attempt, receipt_key, rates, acceptance.escrow))
    }

    /// Takes every new node-signed receipt: checks it extends the chain,
    /// counter-signs it while its cost stays within the budget.
    async fn drain_receipts(
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
            if entry.co_signed || entry.node != node.to_string() || entry.seq <= receipts.last_seq {
                continue;
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
            let within = !receipts.stopped && cost <= budget;
            if within {
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
    async fn finish(
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
        let until = Instant::now() + Duration::from_secs(5);
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
            if last.receipt.output != proof_of_execution(job, &plain, &node) {
                return Err(ClientError::ProofMismatch { node });
            }
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
    async fn await_close(&self, job: &PublicKey, timeout: Duration) -> Result<bool> {
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

/// The X25519 key a job's result is sealed to, derived from the renter's
/// key, so `kiln job result` can open it later without any other state:
/// SHA-256 of a domain tag, the renter's secret, the job and the attempt.
pub fn result_key(renter: &SigningKey, job: &PublicKey, attempt: u32) -> kiln_seal::SecretKey {
    let seed = sha256(&[
        b"kiln/result-key/v1",
        renter.as_bytes(),
        job.as_bytes(),
        &attempt.to_le_bytes(),
    ]);
    kiln_seal::SecretKey::from_bytes(&seed.0).expect("every 32 bytes are an X25519 secret")
}

/// Opens a result the node sealed to [`result_key`].
pub fn open_result(
    renter: &SigningKey,
    job: &PublicKey,
    attempt: u32,
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let key = result_key(renter, job, attempt);
    Ok(kiln_seal::open(&key, &result_seal_context(job, attempt), sealed)?.to_vec())
}

/// A key or id sent as hex.
pub fn parse_key(text: &str) -> Option<PublicKey> {
    kiln_scheduler::wire::hex_key("key", text).ok()
}

/// The address form of a key.
pub fn address(key: &PublicKey) -> Address {
    Address::new_from_array(key.0)
}
