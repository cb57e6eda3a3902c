//! The small messages renters and nodes sign for the scheduler, and the
//! `kiln-seal` contexts of a job's input and result. Each starts with a
//! 16-byte domain tag, so a signature made for one purpose is never valid
//! for another.

use kiln_protocol::PublicKey;

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

#[cfg(test)]
mod tests {
    use kiln_protocol::PublicKey;

    use super::{
        INPUT_DOMAIN, LINK_DOMAIN, RENTER_ACTION_DOMAIN, RenterAction, SUBMIT_DOMAIN,
        input_message, input_seal_context, renter_action_message, result_seal_context,
    };

    #[test]
    fn each_purpose_has_its_own_domain_tag() {
        let tags = [
            SUBMIT_DOMAIN,
            RENTER_ACTION_DOMAIN,
            INPUT_DOMAIN,
            LINK_DOMAIN,
        ];
        for (i, a) in tags.iter().enumerate() {
            for b in &tags[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_signed_action_names_its_job_action_and_attempt() {
        let job = PublicKey([7; 32]);
        let confirm = renter_action_message(&job, RenterAction::Confirm, 3);
        assert_ne!(
            confirm,
            renter_action_message(&job, RenterAction::Cancel, 3)
        );
        assert_ne!(
            confirm,
            renter_action_message(&job, RenterAction::Confirm, 4)
        );
        assert_ne!(
            confirm,
            renter_action_message(&PublicKey([8; 32]), RenterAction::Confirm, 3)
        );
        assert_eq!(confirm.len(), 16 + 32 + 1 + 4);
    }

    #[test]
    fn an_input_post_binds_the_envelope_and_the_result_key() {
        let job = PublicKey([1; 32]);
        let signed = input_message(&job, 0, b"sealed", &[2; 32]);
        assert_ne!(signed, input_message(&job, 0, b"sealeD", &[2; 32]));
        assert_ne!(signed, input_message(&job, 0, b"sealed", &[3; 32]));
        assert_ne!(input_seal_context(&job, 0), result_seal_context(&job, 0));
        assert_ne!(input_seal_context(&job, 0), input_seal_context(&job, 1));
    }
}
