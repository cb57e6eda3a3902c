//! The scheduler's records of nodes, jobs, faults and receipts. The small
//! signed messages renters and nodes send it are `kiln-scheduler-api`'s
//! ([`kiln_scheduler_api::messages`]), re-exported here.
//!
//! Nodes and jobs are named by 32-byte keys: a node by its settlement account
//! (`manifest.node_id`), a job by its escrow account (`spec.escrow`), which is
//! also the `job` of every receipt. One escrow is one job, so a resubmitted
//! job is recognised rather than run twice.

use std::fmt;

use kiln_protocol::manifest::SignedManifest;
use kiln_protocol::{Digest, JobSpec, PublicKey, Rates};
use kiln_scheduler_api::wire::{JobStatus, NodeInfo, class_name};

pub use kiln_scheduler_api::messages::{
    INPUT_DOMAIN, LINK_DOMAIN, RENTER_ACTION_DOMAIN, RenterAction, SUBMIT_DOMAIN, input_message,
    input_seal_context, link_message, renter_action_message, result_seal_context, submit_message,
};

/// Where a job is in its life.
///
/// ```text
/// queued ──match──▶ proposed ──both confirm──▶ running ──▶ done | failed
///   ▲                  │ timeout, reject,        │ node offline (fault)
///   └──────────────────┴─ node offline ──────────┘
/// any but done/failed ──renter cancels──▶ cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a node.
    Queued,
    /// A node and price are proposed; renter and node have not both confirmed.
    Proposed,
    /// Both confirmed; the node runs it.
    Running,
    /// The node returned a result.
    Done,
    /// The node reported that the job failed.
    Failed,
    /// The renter cancelled it.
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 6] = [
        Self::Queued,
        Self::Proposed,
        Self::Running,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The name stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Proposed => "proposed",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }

    /// True while a node holds (or is offered) the job.
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Proposed | Self::Running)
    }

    /// True once nothing more will happen to the job.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered node as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// The manifest the node signed (its signature verified at registration).
    pub manifest: SignedManifest,
    /// Stake registered with, lamports: what the node's account holds on
    /// chain where the scheduler has a stake ledger, else the declared stake.
    pub stake: u64,
    /// Stake tier reached.
    pub tier: u8,
    /// Jobs the node may hold at once: its tier's allowance capped by its manifest.
    pub max_jobs: u16,
    /// Out of [`crate::config::MAX_REPUTATION`].
    pub reputation: u32,
    /// False once it missed [`crate::config::MISSED_HEARTBEATS_OFFLINE`] heartbeats.
    pub online: bool,
    /// When it registered, Unix milliseconds.
    pub registered_ms: i64,
    /// Its last heartbeat (or link), Unix milliseconds.
    pub last_seen_ms: i64,
}

impl NodeRecord {
    /// The node's id.
    pub fn id(&self) -> PublicKey {
        self.manifest.manifest.node_id
    }
}

/// A job as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The job's id, its escrow account.
    pub id: PublicKey,
    /// What the renter asked for.
    pub spec: JobSpec,
    /// The renter's key: signs submissions, confirmations and receipts.
    pub renter: PublicKey,
    /// Where it is.
    pub state: JobState,
    /// The node proposed or running it.
    pub node: Option<PublicKey>,
    /// Assignments so far; each proposal increments it.
    pub attempt: u32,
    /// The cleared price of the current proposal.
    pub price: Option<Rates>,
    /// The node accepted the current proposal.
    pub node_confirmed: bool,
    /// The renter accepted the current proposal.
    pub renter_confirmed: bool,
    /// When the current proposal was made, Unix milliseconds.
    pub proposed_ms: Option<i64>,
    /// When it was submitted; the queue is in this order.
    pub submitted_ms: i64,
    /// Last change.
    pub updated_ms: i64,
    /// SHA-256 of the result, once done.
    pub output_digest: Option<Digest>,
    /// Why it failed, once failed.
    pub error: Option<String>,
}

/// A fault the settlement layer may slash for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The node at fault.
    pub node: PublicKey,
    /// The job it dropped.
    pub job: PublicKey,
    /// The attempt it held.
    pub attempt: u32,
    /// What happened (`node-offline`).
    pub kind: String,
    /// SHA-256 of `detail`: what the settlement layer's fault record commits to.
    pub evidence: Digest,
    /// Canonical JSON of what the scheduler observed.
    pub detail: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// One relayed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    /// The node that signed it and is owed for it.
    pub node: PublicKey,
    /// Its sequence number.
    pub seq: u64,
    /// The receipt with its signatures.
    pub receipt: kiln_protocol::SignedReceipt,
    /// The renter's counter-signature is present and verified.
    pub co_signed: bool,
}

/// One row of the assignment log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The job.
    pub job: PublicKey,
    /// Which attempt.
    pub attempt: u32,
    /// The node proposed.
    pub node: PublicKey,
    /// The replica that proposed it.
    pub replica: String,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl From<&NodeRecord> for NodeInfo {
    fn from(node: &NodeRecord) -> Self {
        let m = &node.manifest.manifest;
        Self {
            node_id: m.node_id.to_string(),
            operator: m.operator.to_string(),
            receipt_key: m.receipt_key.to_string(),
            encryption_key: m.encryption_key.to_string(),
            region: m.region.clone(),
            classes: m
                .workload_classes
                .iter()
                .map(|c| class_name(*c).to_owned())
                .collect(),
            benchmark_class: m.benchmark_class.0,
            price_floor: m.price_floor.into(),
            stake: node.stake,
            tier: node.tier,
            max_jobs: node.max_jobs,
            reputation: node.reputation,
            online: node.online,
            last_seen_ms: node.last_seen_ms,
        }
    }
}

/// The API's status of `job`; `encryption_key` is its node's, when it has one.
pub fn job_status(job: &JobRecord, encryption_key: Option<String>) -> JobStatus {
    JobStatus {
        job_id: job.id.to_string(),
        state: job.state.as_str().to_owned(),
        attempt: job.attempt,
        node_id: job.node.map(|n| n.to_string()),
        node_encryption_key: encryption_key,
        price: job.price.map(Into::into),
        node_confirmed: job.node_confirmed,
        renter_confirmed: job.renter_confirmed,
        submitted_ms: job.submitted_ms,
        updated_ms: job.updated_ms,
        output_digest: job.output_digest.map(|d: Digest| d.to_string()),
        error: job.error.clone(),
        acceptance: None,
    }
}
