//! Proof of execution: the commitment a job's final receipt carries in `output`.
//!
//! `SHA-256(job || result || node)`: the job's escrow account (32 bytes), the
//! complete result bytes, then the node's receipt key (32 bytes). Both keys are
//! fixed-size, so the concatenation is unambiguous. Binding the node means a
//! second node cannot claim another's result as its own work; binding the job
//! means a result cannot be reused for another job. A renter recomputes it from
//! the result it received and compares it with the co-signed final receipt.

use crate::bytes::{Digest, PublicKey, sha256};

/// `SHA-256(job || result || node)`.
pub fn proof_of_execution(job: &PublicKey, result: &[u8], node: &PublicKey) -> Digest {
    sha256(&[job.as_ref(), result, node.as_ref()])
}
