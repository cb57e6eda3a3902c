//! The scheduler's errors. Each client-caused variant carries what the client
//! needs to fix its request; `api::error` maps them to HTTP statuses.

use kiln_protocol::manifest::ManifestError;
use kiln_protocol::signing::SignatureError;
use kiln_protocol::{DecodeError, PublicKey};

use crate::model::JobState;

/// Why a scheduler operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A field is not what the API expects (bad hex, wrong length, …).
    #[error("field `{field}`: {reason}")]
    BadField {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The capability manifest breaks a rule or its signature does not verify.
    #[error("manifest refused: {0}")]
    Manifest(#[from] ManifestError),
    /// A signature other than the manifest's does not verify.
    #[error("{what}: {source}")]
    Signature {
        /// What was signed.
        what: &'static str,
        /// Why it was refused.
        source: SignatureError,
    },
    /// The job spec breaks a rule of `kiln-protocol`.
    #[error("job spec refused: {0}")]
    JobSpec(DecodeError),
    /// A receipt does not decode.
    #[error("receipt refused: {0}")]
    ReceiptDecode(DecodeError),
    /// The declared stake reaches no tier.
    #[error("stake {stake} is below the lowest tier's minimum of {minimum}")]
    StakeTooLow {
        /// Declared stake, lamports.
        stake: u64,
        /// Tier 0's minimum.
        minimum: u64,
    },
    /// The operator has no node account in the settlement program.
    #[error("operator {operator} has no node registered on chain")]
    NotOnChain {
        /// The manifest's operator.
        operator: PublicKey,
    },
    /// The operator's node account on chain names another receipt key.
    #[error(
        "the node account on chain names receipt key {on_chain}, not the manifest's {manifest}"
    )]
    ReceiptKeyMismatch {
        /// The account's receipt key.
        on_chain: PublicKey,
        /// The manifest's.
        manifest: PublicKey,
    },
    /// The declared stake is more than the node account holds.
    #[error("declared stake {declared} is more than the {on_chain} lamports staked on chain")]
    StakeNotOnChain {
        /// Declared stake, lamports.
        declared: u64,
        /// Staked and not leaving, lamports.
        on_chain: u64,
    },
    /// The settlement program could not be read. The reason is logged, not
    /// shown: an RPC error names the cluster's URL, which may carry a key.
    #[error("the settlement program could not be read to check the stake; try again later")]
    ChainUnavailable,
    /// As many stake reads as the scheduler allows are in flight
    /// ([`crate::SchedulerConfig::max_stake_reads`]); none was started.
    #[error("{limit} stake checks are already under way; try again later")]
    ChainBusy {
        /// The limit in force.
        limit: usize,
    },
    /// The node key or wallet is already registered under another node id.
    #[error("{what} is already registered as node {other}")]
    Sybil {
        /// `receipt_key` or `operator`.
        what: &'static str,
        /// The node id that holds it.
        other: PublicKey,
    },
    /// The manifest is not newer than the one registered last.
    #[error("manifest issued at {issued_at} is not newer than the registered one ({registered})")]
    Replay {
        /// The refused manifest's `issued_at`.
        issued_at: u64,
        /// The registered manifest's `issued_at`.
        registered: u64,
    },
    /// No job has this id.
    #[error("no job {0}")]
    UnknownJob(PublicKey),
    /// No node has this id.
    #[error("no node {0}")]
    UnknownNode(PublicKey),
    /// A job with this escrow account was submitted already.
    #[error("job {0} exists already (one job per escrow account)")]
    DuplicateJob(PublicKey),
    /// The job is not in a state that allows the operation.
    #[error("job {job} is {state}; {operation} needs {needs}")]
    WrongState {
        /// The job.
        job: PublicKey,
        /// Its state.
        state: JobState,
        /// What was attempted.
        operation: &'static str,
        /// The state(s) it needs.
        needs: &'static str,
    },
    /// The operation names an attempt that is no longer the job's current one.
    #[error("job {job} is at attempt {current}, not {given}")]
    StaleAttempt {
        /// The job.
        job: PublicKey,
        /// Its current attempt.
        current: u32,
        /// The attempt named.
        given: u32,
    },
    /// A receipt is for another job, node or renter than the job's.
    #[error("receipt refused: {0}")]
    ReceiptMismatch(&'static str),
    /// A result is larger than the relay carries.
    #[error("result of {len} bytes is over the {max}-byte relay cap")]
    ResultTooLarge {
        /// Its size.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The node has no live link to this scheduler.
    #[error("node {0} is not linked")]
    NotLinked(PublicKey),
    /// No component with this digest is stored.
    #[error("no component {0}")]
    UnknownComponent(kiln_protocol::Digest),
    /// An uploaded component's bytes do not hash to the digest it was put under.
    #[error("component bytes hash to {actual}, not {claimed}")]
    ComponentDigest {
        /// The digest in the path.
        claimed: kiln_protocol::Digest,
        /// What the bytes hash to.
        actual: kiln_protocol::Digest,
    },
    /// The renter has not posted the input of this attempt.
    #[error("job {job} has no input for attempt {attempt}")]
    NoInput {
        /// The job.
        job: PublicKey,
        /// The attempt asked for.
        attempt: u32,
    },
    /// An upload is over its cap.
    #[error("{what} of {len} bytes is over the {max}-byte cap")]
    TooLarge {
        /// What was uploaded.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The database is out of space (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`): nothing of the request was kept, and the same request
    /// succeeds once space is freed.
    #[error("store is full: {0}")]
    StorageFull(sqlx::Error),
    /// The database failed.
    #[error("store: {0}")]
    Store(sqlx::Error),
    /// A migration failed.
    #[error("store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row does not decode: the database holds something this build never wrote.
    #[error("store holds a corrupt row: {0}")]
    Corrupt(String),
}

/// SQLite's result code for a full database or disk, as sqlx reports it
/// (the extended code; `SQLITE_FULL` has no extended variants). PostgreSQL's
/// codes are five-character SQLSTATEs, so the two never collide.
const SQLITE_FULL: &str = "13";

/// PostgreSQL's SQLSTATE for a full disk.
const POSTGRES_DISK_FULL: &str = "53100";

impl From<sqlx::Error> for SchedulerError {
    fn from(error: sqlx::Error) -> Self {
        let full = error
            .as_database_error()
            .and_then(|database| database.code())
            .is_some_and(|code| code == SQLITE_FULL || code == POSTGRES_DISK_FULL);
        if full {
            Self::StorageFull(error)
        } else {
            Self::Store(error)
        }
    }
}

impl From<kiln_scheduler_api::BadField> for SchedulerError {
    fn from(bad: kiln_scheduler_api::BadField) -> Self {
        Self::bad_field(bad.field, bad.reason)
    }
}

impl SchedulerError {
    /// A [`SchedulerError::BadField`].
    pub fn bad_field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::BadField {
            field,
            reason: reason.into(),
        }
    }

    /// A [`SchedulerError::Signature`].
    pub fn signature(what: &'static str, source: SignatureError) -> Self {
        Self::Signature { what, source }
    }
}

/// Shorthand for the scheduler's results.
pub type Result<T, E = SchedulerError> = std::result::Result<T, E>;
