//! Reading signatures the Ed25519 precompile verified.
//!
//! The program never verifies ed25519 itself (too many compute units). The
//! transaction carries an Ed25519 precompile instruction right before the
//! program's instruction; the runtime refuses the whole transaction if any
//! signature in it is bad. What the precompile cannot know is *whose* key and
//! *which* message the program needs, and that is where programs get robbed
//! (Wormhole, Feb 2022: a fake instructions sysvar; and its kin: offsets that
//! point into another instruction, so the key the program reads is not the
//! key that was verified). So [`signed_entry`] only returns a key and message
//! when:
//! - every `*_instruction_index` is `u16::MAX` (the data lives in the
//!   precompile instruction itself, the bytes the runtime just verified), and
//! - every offset and size lies inside that instruction's data.
//!
//! The caller (the program) additionally checks that the sysvar account is
//! the real instructions sysvar, that the instruction is the precompile's,
//! the signature count, and then compares keys and messages exactly.
//!
//! Layout of the precompile instruction's data:
//! `[count u8][padding u8]` then `count` offset records of 14 bytes
//! (`signature_offset, signature_ix, pubkey_offset, pubkey_ix, message_offset,
//! message_size, message_ix`, each u16 LE), then the keys, signatures and
//! messages wherever the offsets say.

use crate::error::SettlementError;

/// The Ed25519 precompile's program id (`Ed25519SigVerify111111111111111111111111111`).
pub const ED25519_PROGRAM_ID: [u8; 32] = [
    3, 125, 70, 214, 124, 147, 251, 190, 18, 249, 66, 143, 131, 141, 64, 255, 5, 112, 116, 73, 39,
    244, 138, 100, 252, 202, 112, 68, 128, 0, 0, 0,
];

/// The instructions sysvar's address (`Sysvar1nstructions1111111111111111111111111`).
pub const INSTRUCTIONS_SYSVAR_ID: [u8; 32] = [
    6, 167, 213, 23, 24, 123, 209, 102, 53, 218, 212, 4, 85, 253, 194, 192, 193, 36, 198, 143, 33,
    86, 117, 165, 219, 186, 203, 95, 8, 0, 0, 0,
];

/// The instruction-index value meaning "this very instruction".
pub const THIS_INSTRUCTION: u16 = u16::MAX;

/// Where the offset records start.
pub const OFFSETS_START: usize = 2;
/// Size of one offset record.
pub const OFFSETS_LEN: usize = 14;
/// Size of an ed25519 public key.
pub const PUBKEY_LEN: usize = 32;
/// Size of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// One verified (key, message) pair, borrowed from the precompile's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedEntry<'a> {
    /// The key the precompile verified the signature under.
    pub public_key: &'a [u8; PUBKEY_LEN],
    /// The message it verified.
    pub message: &'a [u8],
}

/// The number of signatures the precompile instruction `data` carries.
pub fn signature_count(data: &[u8]) -> Result<u8, SettlementError> {
    match data {
        [count, 0, ..] => Ok(*count),
        _ => Err(SettlementError::SignatureOffsetsOutOfBounds),
    }
}

/// The key and message of signature `index` in the precompile instruction
/// `data`, refusing offsets into other instructions and out-of-bounds ranges.
pub fn signed_entry(data: &[u8], index: usize) -> Result<SignedEntry<'_>, SettlementError> {
    let out_of_bounds = SettlementError::SignatureOffsetsOutOfBounds;
    let start = index
        .checked_mul(OFFSETS_LEN)
        .and_then(|offset| offset.checked_add(OFFSETS_START))
        .ok_or(out_of_bounds)?;
    let record = data
        .get(start..)
        .and_then(|rest| rest.first_chunk::<OFFSETS_LEN>())
        .ok_or(out_of_bounds)?;
    let mut words = [0u16; OFFSETS_LEN / 2];
    for (word, pair) in words.iter_mut().zip(record.chunks_exact(2)) {
        *word = u16::from_le_bytes([pair[0], pair[1]]);
    }
    let [
        signature_offset,
        signature_ix,
        pubkey_offset,
        pubkey_ix,
        message_offset,
        message_size,
        message_ix,
    ] = words.map(usize::from);
    let this = usize::from(THIS_INSTRUCTION);
    if signature_ix != this || pubkey_ix != this || message_ix != this {
        return Err(SettlementError::SignatureDataElsewhere);
    }
    let range = |offset: usize, len: usize| {
        let end = offset.checked_add(len).ok_or(out_of_bounds)?;
        data.get(offset..end).ok_or(out_of_bounds)
    };
    range(signature_offset, SIGNATURE_LEN)?;
    let public_key = range(pubkey_offset, PUBKEY_LEN)?
        .first_chunk::<PUBKEY_LEN>()
        .ok_or(out_of_bounds)?;
    let message = range(message_offset, message_size)?;
    Ok(SignedEntry {
        public_key,
        message,
    })
}

/// Precompile instruction data verifying `signatures` (key, signature) over
/// one shared `message`: the offset records, then each key and signature,
/// then the message once. With one signature this is byte for byte what
/// `solana_ed25519_program::new_ed25519_instruction_with_signature` builds.
#[cfg(feature = "client")]
pub fn instruction_data(
    signatures: &[([u8; PUBKEY_LEN], [u8; SIGNATURE_LEN])],
    message: &[u8],
) -> alloc::vec::Vec<u8> {
    let count = signatures.len();
    let header = OFFSETS_START + OFFSETS_LEN * count;
    let message_offset = header + (PUBKEY_LEN + SIGNATURE_LEN) * count;
    let as_u16 = |value: usize| u16::try_from(value).expect("precompile data fits in u16 offsets");
    let mut data = alloc::vec::Vec::with_capacity(message_offset + message.len());
    data.extend_from_slice(&[u8::try_from(count).expect("at most 255 signatures"), 0]);
    for index in 0..count {
        let pubkey_offset = header + (PUBKEY_LEN + SIGNATURE_LEN) * index;
        let signature_offset = pubkey_offset + PUBKEY_LEN;
        for value in [
            as_u16(signature_offset),
            THIS_INSTRUCTION,
            as_u16(pubkey_offset),
            THIS_INSTRUCTION,
            as_u16(message_offset),
            as_u16(message.len()),
            THIS_INSTRUCTION,
        ] {
            data.extend_from_slice(&value.to_le_bytes());
        }
    }
    for (public_key, signature) in signatures {
        data.extend_from_slice(public_key);
        data.extend_from_slice(signature);
    }
    data.extend_from_slice(message);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_signature(message: &[u8]) -> alloc::vec::Vec<u8> {
        // Hand-built with the standard single-signature layout, so this test
        // needs no `client` feature.
        let mut data = alloc::vec![1u8, 0];
        for value in [48u16, u16::MAX, 16, u16::MAX, 112, 3, u16::MAX] {
            data.extend_from_slice(&value.to_le_bytes());
        }
        data.extend_from_slice(&[7; 32]);
        data.extend_from_slice(&[9; 64]);
        data.extend_from_slice(message);
        data
    }

    #[test]
    fn reads_key_and_message_of_the_standard_layout() {
        let data = one_signature(b"abc");
        assert_eq!(signature_count(&data), Ok(1));
        let entry = signed_entry(&data, 0).unwrap();
        assert_eq!(entry.public_key, &[7; 32]);
        assert_eq!(entry.message, b"abc");
    }

    #[test]
    fn refuses_data_in_another_instruction() {
        for field in [2usize, 6, 12] {
            let mut data = one_signature(b"abc");
            data[OFFSETS_START + field..OFFSETS_START + field + 2]
                .copy_from_slice(&0u16.to_le_bytes());
            assert_eq!(
                signed_entry(&data, 0),
                Err(SettlementError::SignatureDataElsewhere)
            );
        }
    }

    #[test]
    fn refuses_ranges_past_the_end() {
        let mut data = one_signature(b"abc");
        data[OFFSETS_START + 10..OFFSETS_START + 12].copy_from_slice(&4u16.to_le_bytes());
        assert_eq!(
            signed_entry(&data, 0),
            Err(SettlementError::SignatureOffsetsOutOfBounds)
        );
        assert_eq!(
            signed_entry(&data, 10),
            Err(SettlementError::SignatureOffsetsOutOfBounds)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), index in 0usize..4) {
            let _ = signature_count(&data);
            let _ = signed_entry(&data, index);
        }
    }
}
