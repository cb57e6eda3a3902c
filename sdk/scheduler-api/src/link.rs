//! The node link protocol: JSON text frames over a WebSocket the node dials.
//!
//! ```text
//! scheduler → node   challenge {nonce}
//! node → scheduler   hello {node_id, signature over LINK_DOMAIN ‖ nonce by the receipt key}
//! scheduler → node   welcome {heartbeat_interval_ms}, then any proposal/start it holds
//! node → scheduler   heartbeat | terms | accept | reject | receipt | log | result | failed
//! scheduler → node   proposal | start | cancel | receipt (counter-signed) | ended | error
//! ```
//!
//! The nonce is fresh per connection, so a recorded hello cannot open another
//! link. After the hello, the link itself is the node's identity: every
//! message on it is taken as the node's, and a message about a job the node
//! does not hold at the named attempt changes nothing.

use serde::{Deserialize, Serialize};

use crate::wire::RatesJson;

/// What the scheduler sends a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToNode {
    /// Sign this nonce to prove the node key (hex, 32 bytes).
    Challenge {
        /// Fresh random bytes, hex.
        nonce: String,
    },
    /// The link is open.
    Welcome {
        /// How often to send heartbeats.
        heartbeat_interval_ms: u64,
    },
    /// A job proposed to this node: accept or reject attempt `attempt`.
    Proposal {
        /// Job id (hex).
        job_id: String,
        /// The attempt this proposal is.
        attempt: u32,
        /// Hex of the borsh `JobSpec`.
        spec: String,
        /// The renter's key (hex).
        renter: String,
        /// The cleared price.
        price: RatesJson,
    },
    /// Renter and node both confirmed: run it.
    Start {
        /// Job id (hex).
        job_id: String,
        /// The attempt.
        attempt: u32,
    },
    /// Stop or forget the job (renter cancelled, or the proposal timed out).
    Cancel {
        /// Job id (hex).
        job_id: String,
        /// The attempt.
        attempt: u32,
    },
    /// One of this node's receipts, counter-signed by the renter.
    Receipt {
        /// Hex of the borsh `SignedReceipt`.
        receipt: String,
    },
    /// The node's result or failure report for this attempt is settled:
    /// stored, or refused for good (the job moved on, was cancelled, or the
    /// report was already stored). The node stops re-sending it. A report
    /// refused for a passing reason (the store failed) gets no `ended`, so
    /// the node sends it again.
    Ended {
        /// Job id (hex).
        job_id: String,
        /// The attempt.
        attempt: u32,
    },
    /// A message of the node's was refused.
    Error {
        /// Why.
        message: String,
    },
}

/// What a node sends the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromNode {
    /// Answer to the challenge.
    Hello {
        /// The node id it registered (hex).
        node_id: String,
        /// Signature by its receipt key over `LINK_DOMAIN ‖ nonce` (hex).
        signature: String,
    },
    /// Still here.
    Heartbeat,
    /// Takes the proposal.
    Accept {
        /// Job id (hex).
        job_id: String,
        /// The attempt accepted.
        attempt: u32,
    },
    /// The node's signed acceptance of the attempt's on-chain terms (sent
    /// before `accept`): the renter opens the escrow with it.
    Terms {
        /// Job id (hex).
        job_id: String,
        /// The attempt.
        attempt: u32,
        /// Lamports the renter must escrow.
        escrow: u64,
        /// Unix seconds after which (plus grace) the renter may expire the job.
        deadline: i64,
        /// The node's signature over the settlement program's acceptance message (hex).
        signature: String,
    },
    /// Declines the proposal; the job goes back to the queue.
    Reject {
        /// Job id (hex).
        job_id: String,
        /// The attempt declined.
        attempt: u32,
    },
    /// A receipt the node signed, for the renter to counter-sign.
    Receipt {
        /// Hex of the borsh `SignedReceipt`.
        receipt: String,
    },
    /// Log text from the job.
    Log {
        /// Job id (hex).
        job_id: String,
        /// The text.
        text: String,
    },
    /// The job finished with a result.
    Result {
        /// Job id (hex).
        job_id: String,
        /// The attempt.
        attempt: u32,
        /// The result, normally encrypted to the renter (hex).
        output: String,
    },
    /// The job failed.
    Failed {
        /// Job id (hex).
        job_id: String,
        /// The attempt.
        attempt: u32,
        /// Why.
        reason: String,
    },
}

impl FromNode {
    /// A receipt the node signed, as the link carries it.
    pub fn receipt(signed: &kiln_protocol::SignedReceipt) -> Self {
        Self::Receipt {
            receipt: hex::encode(signed.to_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ToNode;

    #[test]
    fn link_frames_are_tagged_json() {
        let start = ToNode::Start {
            job_id: "ab".into(),
            attempt: 2,
        };
        let text = serde_json::to_string(&start).unwrap();
        assert_eq!(text, r#"{"type":"start","job_id":"ab","attempt":2}"#);
        assert_eq!(serde_json::from_str::<ToNode>(&text).unwrap(), start);
        assert!(serde_json::from_str::<ToNode>(r#"{"type":"start"}"#).is_err());
    }
}
