//! Every limit and interval of the scheduler, with why it has the value it has.
//!
//! [`SchedulerConfig`] holds what an operator may change; the constants are
//! the defaults and the bounds nobody should need to move.

use std::time::Duration;

use kiln_settlement_interface::state::STAKE_TIERS;

/// How often a node says it is alive, by default. Thirty seconds keeps 10,000
/// nodes at ~330 heartbeats/s on one scheduler while noticing a dead node
/// within a minute and a half.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// Heartbeat intervals a node may miss before it is offline and its jobs go
/// back to the queue. Three tolerates one lost heartbeat and a slow
/// reconnect without rescheduling work that is still running.
pub const MISSED_HEARTBEATS_OFFLINE: u32 = 3;

/// How long a proposed assignment waits for both the renter and the node to
/// confirm before the job goes back to the queue. Long enough for a renter to
/// open the escrow on chain (a few slots), short enough that a job is not
/// parked on an absent party.
pub const DEFAULT_PROPOSAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Most request body bytes the HTTP API reads. The largest legitimate body is
/// a result upload of [`MAX_RESULT_BYTES`] hex-encoded plus a little JSON;
/// everything else is a few kilobytes. Bigger bodies get 413 before they are
/// buffered.
pub const MAX_BODY_BYTES: usize = 2 * MAX_RESULT_BYTES + 64 * 1024;

/// Most result bytes the scheduler relays for one job. Results are normally
/// encrypted to the renter and small (a digest, a summary); bulk output goes
/// to a store the renter names. Bounds what one job can make the scheduler hold.
pub const MAX_RESULT_BYTES: usize = 1 << 20;

/// Largest workload component the scheduler stores for nodes to fetch. The
/// examples are well under 1 MiB; 32 MiB leaves room for a workload with
/// embedded data while keeping one upload a bounded database write.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// Largest sealed input the scheduler relays. Workloads have no network, so
/// the input carries the job's data; 8 MiB keeps a relay a bounded write.
/// Larger data waits for a store nodes fetch from directly.
pub const MAX_SEALED_INPUT_BYTES: usize = 8 << 20;

/// Body cap of the input route: the sealed input hex-encoded plus a little JSON.
pub const MAX_INPUT_BODY_BYTES: usize = 2 * MAX_SEALED_INPUT_BYTES + 64 * 1024;

/// Most log characters kept per job (the wire limit nodes also keep to).
pub use kiln_scheduler_api::MAX_LOG_CHARS;

/// Most bytes one WebSocket message may carry: a result message plus framing.
pub const MAX_WS_MESSAGE_BYTES: usize = MAX_BODY_BYTES;

/// Queued jobs read from the store per page of a matching pass. Large enough
/// that a page's transaction amortises its commit over many assignments,
/// small enough that a PostgreSQL replica holds row locks for milliseconds.
pub const DEFAULT_MATCH_BATCH: usize = 1024;

/// Candidates handed to the rank policy per job, taken cheapest first from
/// the nodes that pass every filter. Bounds the cost of one ranking call
/// (and, once policies are components, of one fuel-metered call) however
/// large the network grows.
pub const DEFAULT_MAX_CANDIDATES: usize = 16;

/// Reputation a node starts with, out of [`MAX_REPUTATION`].
pub const INITIAL_REPUTATION: u32 = 500;

/// The highest reputation.
pub const MAX_REPUTATION: u32 = 1000;

/// Reputation gained per completed job: slow to earn.
pub const REPUTATION_PER_JOB: u32 = 1;

/// Reputation lost per recorded fault: quick to lose, so a flaky node drops
/// down the ranking after a few faults.
pub const REPUTATION_PER_FAULT: u32 = 50;

/// How often buffered heartbeats are written to the store in one
/// transaction. Heartbeats are kept in memory in between, so 1,000 links cost
/// one write per second rather than 1,000. A heartbeat interval shorter than
/// this flushes every interval instead.
pub const HEARTBEAT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// What a stake tier allows: the minimum stake (lamports) and the most jobs a
/// node at that tier runs at once. Mirrors the settlement program's
/// `Config::tier_min_stake` (four tiers); a node below tier 0 is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StakeTiers {
    /// Minimum stake for each tier, ascending.
    pub min_stake: [u64; STAKE_TIERS],
    /// Most concurrent jobs at each tier, ascending. A node's own
    /// `max_parallel_jobs` caps it further.
    pub max_jobs: [u16; STAKE_TIERS],
}

/// One SOL in lamports.
const SOL: u64 = 1_000_000_000;

impl Default for StakeTiers {
    /// 1, 10, 50, 100 SOL for 1, 4, 16, 64 jobs: what is at risk grows with
    /// the work a node can hold hostage, roughly linearly.
    fn default() -> Self {
        Self {
            min_stake: [SOL, 10 * SOL, 50 * SOL, 100 * SOL],
            max_jobs: [1, 4, 16, 64],
        }
    }
}

impl StakeTiers {
    /// The highest tier `stake` reaches, or `None` below tier 0.
    pub fn tier(&self, stake: u64) -> Option<u8> {
        let reached = self.min_stake.iter().filter(|min| stake >= **min).count();
        let tier = reached.checked_sub(1)?;
        u8::try_from(tier).ok()
    }
}

/// Default for [`SchedulerConfig::max_stake_reads`]: reads of operators'
/// node accounts on chain in flight at once, for registrations and links
/// together. Each holds a thread of tokio's blocking pool and an RPC request
/// until it ends, which may be well after its
/// [`crate::stake::STAKE_READ_TIMEOUT`]. Without a bound, registrations from
/// freshly made keys (each signature valid, each operator unknown until
/// read) would fill the blocking pool that the store and the policy host
/// also use, and load the RPC endpoint without limit. Honest nodes read
/// once when they start and once per link, far fewer at a time.
pub const DEFAULT_MAX_STAKE_READS: usize = 32;

/// What an operator may tune.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How often nodes send heartbeats ([`DEFAULT_HEARTBEAT_INTERVAL`]).
    pub heartbeat_interval: Duration,
    /// See [`DEFAULT_PROPOSAL_TIMEOUT`].
    pub proposal_timeout: Duration,
    /// See [`DEFAULT_MATCH_BATCH`].
    pub match_batch: usize,
    /// See [`DEFAULT_MAX_CANDIDATES`].
    pub max_candidates: usize,
    /// Stake tiers and what each allows.
    pub stake_tiers: StakeTiers,
    /// This replica's name in the assignment log (several replicas may share
    /// one PostgreSQL database).
    pub replica: String,
    /// Bearer token of the admin API (`/v1/admin/…`: swapping policy
    /// plugins). `None` disables the admin routes (they answer 404).
    pub admin_token: Option<String>,
    /// Where registrations' stake is checked ([`crate::stake`]). `None`
    /// trusts the declared stake: tests and closed networks only.
    pub stake_ledger: Option<std::sync::Arc<dyn crate::stake::StakeLedger>>,
    /// See [`DEFAULT_MAX_STAKE_READS`]. A registration over it is answered
    /// 503 (`chain_busy`) at once; a link over it goes through on its
    /// registered figures, as when the chain cannot be read. 0 counts as 1.
    pub max_stake_reads: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            proposal_timeout: DEFAULT_PROPOSAL_TIMEOUT,
            match_batch: DEFAULT_MATCH_BATCH,
            max_candidates: DEFAULT_MAX_CANDIDATES,
            stake_tiers: StakeTiers::default(),
            replica: "replica-0".to_owned(),
            admin_token: None,
            stake_ledger: None,
            max_stake_reads: DEFAULT_MAX_STAKE_READS,
        }
    }
}

impl SchedulerConfig {
    /// Silence after which a node is offline: [`MISSED_HEARTBEATS_OFFLINE`] intervals.
    pub fn offline_after(&self) -> Duration {
        self.heartbeat_interval * MISSED_HEARTBEATS_OFFLINE
    }
}
