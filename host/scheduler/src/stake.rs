//! The stake a node registers with, checked against the settlement program.
//!
//! A registration declares its stake, and the stake tier decides how many
//! jobs the node may hold at once. With a [`StakeLedger`] in
//! [`crate::SchedulerConfig::stake_ledger`], the scheduler reads the
//! operator's `Node` account before it accepts the registration: the account
//! must exist, name the manifest's receipt key, and hold at least the declared
//! stake (lamports staked and not leaving). The tier then comes from the
//! stake on chain. Without a ledger the declared stake is trusted, which
//! only suits tests and closed networks; `Scheduler::open` logs a warning.
//!
//! The check runs at every registration (a node registers each time it
//! starts) and again each time a node links (it relinks after any dropped
//! connection). At a link, stake on chain below what the node registered
//! with refuses the link, so the node must register again with what it
//! holds; a chain that cannot be read lets the link through on the
//! registered figures, so an RPC outage does not take the network down. A
//! node that keeps one link up is not re-checked until it drops: taking
//! stake out waits out the program's unstake cooldown (7 days by default),
//! and stake that is leaving stays slashable until then.
//!
//! A registration's cheap checks (signature, replay) run before the chain
//! read, each read is bounded by [`STAKE_READ_TIMEOUT`], and at most
//! [`crate::SchedulerConfig::max_stake_reads`] are in flight: anyone can make
//! a key and sign a manifest, so the reads, not the signatures, are what a
//! flood of registrations would cost.
//!
//! The scheduler knows no Solana client: the binary that starts it passes a
//! ledger over whatever chain access it has (`kiln scheduler serve --rpc`, or
//! the devnet's in-process chain).

use std::fmt::Debug;
use std::time::Duration;

use kiln_protocol::PublicKey;

/// Longest wait for one node account read. A registration waiting longer is
/// answered 503 (`chain_unavailable`) rather than held past the node's own
/// HTTP timeout; the read itself finishes in the background.
pub const STAKE_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What registration needs from a node's account on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeOnChain {
    /// The key the program takes the node's receipts and acceptances from.
    pub receipt_key: PublicKey,
    /// Lamports staked and not leaving.
    pub stake: u64,
}

/// Reads a node's account from the settlement program. Calls may block (an
/// RPC round trip): the scheduler makes them on tokio's blocking pool.
pub trait StakeLedger: Debug + Send + Sync + 'static {
    /// `operator`'s node account; `Ok(None)` when the operator has none.
    ///
    /// # Errors
    ///
    /// The chain could not be read; the message says why.
    fn node_of(&self, operator: &PublicKey) -> Result<Option<NodeOnChain>, String>;
}
