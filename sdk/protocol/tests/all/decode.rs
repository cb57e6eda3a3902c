//! Decoding: every malformed input gets its exact typed error.

use kiln_protocol::receipt::{RECEIPT_LEN, RECEIPT_VERSION};
use kiln_protocol::{DecodeError, JobSpec, Receipt, SignedManifest, SignedReceipt};

use crate::common::{Party, growing_usages};

fn signed_receipt_bytes() -> Vec<u8> {
    Party::new().co_signed_chain(&growing_usages(1))[0].to_bytes()
}

#[test]
fn receipt_round_trips_at_its_fixed_length() {
    let receipt = Party::new().co_signed_chain(&growing_usages(1))[0].receipt;
    let bytes = receipt.to_bytes();
    assert_eq!(bytes.len(), RECEIPT_LEN);
    assert_eq!(bytes[0], RECEIPT_VERSION);
    assert_eq!(Receipt::from_bytes(&bytes), Ok(receipt));
}

#[test]
fn empty_input_is_truncated() {
    assert_eq!(Receipt::from_bytes(&[]), Err(DecodeError::Truncated));
    assert_eq!(SignedReceipt::from_bytes(&[]), Err(DecodeError::Truncated));
    assert_eq!(SignedManifest::from_bytes(&[]), Err(DecodeError::Truncated));
    assert_eq!(JobSpec::from_bytes(&[]), Err(DecodeError::Truncated));
}

#[test]
fn unknown_version_is_refused_before_anything_else() {
    let mut bytes = signed_receipt_bytes();
    bytes[0] = 2;
    assert_eq!(
        SignedReceipt::from_bytes(&bytes),
        Err(DecodeError::UnsupportedVersion {
            kind: "receipt",
            found: 2,
            supported: 1
        })
    );
    // Even when the rest would be too short for version 1.
    assert_eq!(
        Receipt::from_bytes(&[0xFF, 1, 2]),
        Err(DecodeError::UnsupportedVersion {
            kind: "receipt",
            found: 0xFF,
            supported: 1
        })
    );
    assert!(matches!(
        SignedManifest::from_bytes(&[9]),
        Err(DecodeError::UnsupportedVersion {
            kind: "manifest",
            found: 9,
            ..
        })
    ));
    assert!(matches!(
        JobSpec::from_bytes(&[0]),
        Err(DecodeError::UnsupportedVersion {
            kind: "job spec",
            found: 0,
            ..
        })
    ));
}

#[test]
fn truncated_receipt_is_truncated_at_every_length() {
    let bytes = signed_receipt_bytes();
    for len in 1..bytes.len() {
        assert_eq!(
            SignedReceipt::from_bytes(&bytes[..len]),
            Err(DecodeError::Truncated),
            "{len}"
        );
    }
}

#[test]
fn trailing_bytes_are_refused_with_their_count() {
    let mut bytes = signed_receipt_bytes();
    bytes.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        SignedReceipt::from_bytes(&bytes),
        Err(DecodeError::TrailingBytes { extra: 3 })
    );
}

#[test]
fn bad_option_tag_is_malformed() {
    let mut bytes = signed_receipt_bytes();
    bytes[RECEIPT_LEN + 64] = 2; // The renter signature's Option tag.
    assert_eq!(
        SignedReceipt::from_bytes(&bytes),
        Err(DecodeError::Malformed)
    );
}

#[test]
fn reserved_flag_bits_are_refused() {
    let mut bytes = signed_receipt_bytes();
    let flags_offset = 1 + 3 * 32 + 4 * 8;
    bytes[flags_offset] = 0x80;
    assert_eq!(
        SignedReceipt::from_bytes(&bytes),
        Err(DecodeError::InvalidField {
            field: "flags",
            reason: "a bit this receipt version does not define is set"
        })
    );
}
