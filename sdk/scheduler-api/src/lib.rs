//! What renters, nodes and the scheduler say to each other, without the
//! scheduler itself: a renter's client and a node agent depend on this crate,
//! not on `kiln-scheduler` (and so not on its database, HTTP server or
//! policy-plugin host).
//!
//! - [`wire`]: the JSON shapes of the HTTP API.
//! - [`link`]: the messages of the WebSocket link a node keeps open.
//! - [`messages`]: the bytes renters and nodes sign for the scheduler, and
//!   the `kiln-seal` contexts of a job's input and result.
//! - [`node_link`]: the node's side of a link (challenge, heartbeats,
//!   reconnect with backoff).
//!
//! Keys, digests, signatures and borsh records travel as lowercase hex; the
//! borsh encodings are `kiln-protocol`'s, so what a party signed is exactly
//! what it sent.

pub mod link;
pub mod messages;
pub mod node_link;
pub mod wire;

/// Most log characters the scheduler keeps per job; later lines are dropped,
/// not rotated, so the start of a failing job's log (usually the useful part)
/// survives. A node sends no more than this.
pub const MAX_LOG_CHARS: usize = 64 * 1024;

/// A field of a request that did not decode: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct BadField {
    /// The field's name on the wire.
    pub field: &'static str,
    /// What was wrong with it.
    pub reason: String,
}

impl BadField {
    /// A bad `field`, for `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
