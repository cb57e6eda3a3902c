//! The scheduler's records of nodes, jobs, faults and receipts, and the small
//! signed messages renters and nodes send it.
//!
//! Nodes and jobs are named by 32-byte keys: a node by its settlement account
//! (`manifest.node_id`), a job by its escrow account (`spec.escrow`), which is
//! also the `job` of every receipt. One escrow is one job, so a resubmitted
//! job is recognised rather than run twice.

use std::fmt;

use kiln_protocol::manifest::SignedManifest;
use kiln_protocol::{Digest, JobSpec, PublicKey, Rates};

/// Domain tag of a renter's job submission signature: tag, then the spec's borsh bytes.
pub const SUBMIT_DOMAIN: &[u8; 16] = b"kiln/submit/v1\0\0";

/// Domain tag of a renter's confirm or cancel signature: tag, job id, action
/// byte, attempt (u32 little-endian). The attempt is signed so a confirmation
/// of one proposal never confirms the next one, to another node.
pub const RENTER_ACTION_DOMAIN: &[u8; 16] = b"kiln/renter/v1\0\0";

/// Domain tag of a renter's input post: tag, job id, attempt (u32
/// little-endian), SHA-256 of the sealed envelope, the result key. The node
/// checks it itself, so the scheduler cannot swap the input or the key the
/// result is sealed to.
pub const INPUT_DOMAIN: &[u8; 16] = b"kiln/input/v1\0\0\0";

/// Domain tag of a node's link handshake: tag, then the scheduler's nonce.
pub const LINK_DOMAIN: &[u8; 16] = b"kiln/link/v1\0\0\0\0";

/// What a renter's action signature authorises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenterAction {
    /// Accept the proposed node and price.
    Confirm = 1,
    /// Stop the job.
    Cancel = 2,
}

/// The bytes a submitting renter signs.
pub fn submit_message(spec_bytes: &[u8]) -> Vec<u8> {
    [&SUBMIT_DOMAIN[..], spec_bytes].concat()
}

/// The bytes a renter signs to confirm or cancel attempt `attempt` of `job`.
pub fn renter_action_message(job: &PublicKey, action: RenterAction, attempt: u32) -> Vec<u8> {
    let mut message = Vec::with_capacity(16 + 32 + 1 + 4);
    message.extend_from_slice(RENTER_ACTION_DOMAIN);
    message.extend_from_slice(job.as_bytes());
    message.push(action as u8);
    message.extend_from_slice(&attempt.to_le_bytes());
    message
}

/// The bytes a renter signs to post the input of `job`'s `attempt`.
pub fn input_message(
    job: &PublicKey,
    attempt: u32,
    sealed: &[u8],
    result_key: &[u8; 32],
) -> Vec<u8> {
    let mut message = Vec::with_capacity(16 + 32 + 4 + 32 + 32);
    message.extend_from_slice(INPUT_DOMAIN);
    message.extend_from_slice(job.as_bytes());
    message.extend_from_slice(&attempt.to_le_bytes());
    message.extend_from_slice(&kiln_protocol::sha256(&[sealed]).0);
    message.extend_from_slice(result_key);
    message
}

/// The `kiln-seal` context of the input of `job`'s `attempt`: an input
/// sealed for one attempt (one node) does not open as another's.
pub fn input_seal_context(job: &PublicKey, attempt: u32) -> Vec<u8> {
    [b"input".as_slice(), job.as_bytes(), &attempt.to_le_bytes()].concat()
}

/// The `kiln-seal` context of the result of `job`'s `attempt`, sealed by the
/// node to the renter's result key.
pub fn result_seal_context(job: &PublicKey, attempt: u32) -> Vec<u8> {
    [b"result".as_slice(), job.as_bytes(), &attempt.to_le_bytes()].concat()
}

/// The bytes a node signs to open its link.
pub fn link_message(nonce: &[u8; 32]) -> Vec<u8> {
    [&LINK_DOMAIN[..], nonce].concat()
}

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
    /// Stake declared at registration, lamports.
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
