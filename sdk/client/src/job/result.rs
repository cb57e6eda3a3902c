//! The renter's key for a job's sealed result.

use kiln_protocol::signing::SigningKey;
use kiln_protocol::{PublicKey, sha256};
use kiln_scheduler_api::messages::result_seal_context;

use crate::error::Result;

/// The X25519 key a job's result is sealed to, derived from the renter's
/// key, so `kiln job result` can open it later without any other state:
/// SHA-256 of a domain tag, the renter's secret, the job and the attempt.
pub fn result_key(renter: &SigningKey, job: &PublicKey, attempt: u32) -> kiln_seal::SecretKey {
    let seed = sha256(&[
        b"kiln/result-key/v1",
        renter.as_bytes(),
        job.as_bytes(),
        &attempt.to_le_bytes(),
    ]);
    kiln_seal::SecretKey::from_bytes(&seed.0).expect("every 32 bytes are an X25519 secret")
}

/// Opens a result the node sealed to [`result_key`].
pub fn open_result(
    renter: &SigningKey,
    job: &PublicKey,
    attempt: u32,
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let key = result_key(renter, job, attempt);
    Ok(kiln_seal::open(&key, &result_seal_context(job, attempt), sealed)?.to_vec())
}
