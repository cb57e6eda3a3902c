//! The message a node signs to accept a job's terms.
//!
//! Opening a job moves the renter's money into escrow at rates the node must
//! have agreed to, so the node's receipt key signs [`acceptance_message`]
//! and the open-job instruction checks that signature through the Ed25519
//! precompile. The message names the job's address (so one acceptance opens
//! exactly one job) and every term the node is held to. Its domain tag differs
//! from receipts' and manifests', so no other Kiln signature can pass for it.

use kiln_protocol::Rates;

use crate::codec::{RATES_LEN, Writer};

/// Domain tag prefixed to an acceptance.
pub const ACCEPTANCE_DOMAIN: &[u8; 16] = b"kiln/accept/v1\0\0";

/// Size of [`acceptance_message`]: tag, job, renter, node, rates, escrow, deadline.
pub const ACCEPTANCE_LEN: usize = 16 + 32 * 3 + RATES_LEN + 8 + 8;

/// The terms a node accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// The job account (its PDA).
    pub job: [u8; 32],
    /// The renter.
    pub renter: [u8; 32],
    /// The node account.
    pub node: [u8; 32],
    /// Rates.
    pub rates: Rates,
    /// Lamports in escrow.
    pub escrow: u64,
    /// Deadline, unix seconds.
    pub deadline: i64,
}

/// The exact bytes the node's receipt key signs to accept `terms`.
pub fn acceptance_message(terms: &Terms) -> [u8; ACCEPTANCE_LEN] {
    let mut message = [0u8; ACCEPTANCE_LEN];
    let mut writer = Writer::new(&mut message);
    writer.bytes(ACCEPTANCE_DOMAIN);
    writer.bytes(&terms.job);
    writer.bytes(&terms.renter);
    writer.bytes(&terms.node);
    writer.rates(&terms.rates);
    writer.u64(terms.escrow);
    writer.i64(terms.deadline);
    message
}
