//! What can go wrong for a renter, each with what it means.

use kiln_protocol::PublicKey;

/// A renter-side failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The scheduler could not be reached or refused a request.
    #[error("scheduler {what}: {reason}")]
    Scheduler {
        /// What was asked.
        what: &'static str,
        /// The transport error or the scheduler's error body.
        reason: String,
    },
    /// The settlement program or its client refused.
    #[error("settlement: {0}")]
    Chain(#[from] kiln_settlement::Error),
    /// Sealing the input or opening the result failed.
    #[error("sealing: {0}")]
    Seal(#[from] kiln_seal::SealError),
    /// The node's acceptance is not on terms the renter asked for.
    #[error("node {node} offered unacceptable terms: {reason}")]
    Terms {
        /// The node.
        node: PublicKey,
        /// What is wrong.
        reason: String,
    },
    /// A receipt from the node does not extend the chain or verify.
    #[error("receipt refused: {0}")]
    Receipt(String),
    /// The result does not match the proof of execution in the final receipt.
    #[error("the result does not match the proof of execution of node {node}")]
    ProofMismatch {
        /// The node that signed the proof.
        node: PublicKey,
    },
    /// The job ended without a result.
    #[error("job {job} ended {state}: {reason}")]
    JobEnded {
        /// The job.
        job: PublicKey,
        /// Its final state.
        state: String,
        /// Why.
        reason: String,
    },
    /// Nothing happened for too long.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long.
        seconds: u64,
    },
    /// A receipts file is not what `kiln receipts verify` reads.
    #[error("receipts file: {0}")]
    File(String),
}

/// Result alias of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
