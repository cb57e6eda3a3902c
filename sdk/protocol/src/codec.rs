//! Strict borsh decoding with typed errors.
//!
//! Every wire type of the protocol decodes through [`decode_exact`]: the input
//! must hold exactly one value, nothing missing and nothing left over. borsh
//! itself reports a short input and a bad value with the same error kind, so
//! the decoder reads through `TrackingReader`, which remembers whether the
//! input ran out, and turns that into [`DecodeError::Truncated`].
//!
//! borsh never trusts a length prefix for allocation (it grows vectors as
//! bytes actually arrive), so a hostile length costs at most the input's size.

use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

/// Why bytes did not decode into a protocol value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is empty or ends before the value does.
    #[error("input truncated: it ends before the value does")]
    Truncated,
    /// The value ended but bytes were left over.
    #[error("{extra} unexpected trailing byte(s) after the value")]
    TrailingBytes {
        /// How many bytes were left.
        extra: usize,
    },
    /// The leading version byte names a version this build does not know.
    #[error("unsupported {kind} version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Which record carried the version.
        kind: &'static str,
        /// The version found.
        found: u8,
        /// The version this build supports.
        supported: u8,
    },
    /// A field held bytes its type does not allow: an unknown enum tag, a bool
    /// that is not 0 or 1, a string that is not UTF-8.
    #[error("malformed value: a field holds bytes its type does not allow")]
    Malformed,
    /// The value decoded but breaks a protocol rule (a bound, a reserved bit).
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// The rule it breaks.
        reason: &'static str,
    },
}

/// A borsh reader over a byte slice that remembers whether a read ran past the end.
struct TrackingReader<'a> {
    rest: &'a [u8],
    ran_out: bool,
}

impl borsh::io::Read for TrackingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> borsh::io::Result<usize> {
        let n = buf.len().min(self.rest.len());
        if n < buf.len() {
            self.ran_out = true;
        }
        let (head, tail) = self.rest.split_at(n);
        buf[..n].copy_from_slice(head);
        self.rest = tail;
        Ok(n)
    }
}

/// Decodes exactly one `T` from `bytes`.
pub fn decode_exact<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut reader = TrackingReader {
        rest: bytes,
        ran_out: false,
    };
    match T::deserialize_reader(&mut reader) {
        Ok(value) if reader.rest.is_empty() => Ok(value),
        Ok(_) => Err(DecodeError::TrailingBytes {
            extra: reader.rest.len(),
        }),
        Err(_) if reader.ran_out => Err(DecodeError::Truncated),
        Err(_) => Err(DecodeError::Malformed),
    }
}

/// Checks the leading version byte before anything else is decoded, so a
/// future version is reported as such rather than as garbage.
pub(crate) fn check_version(
    bytes: &[u8],
    kind: &'static str,
    supported: u8,
) -> Result<(), DecodeError> {
    match bytes.first() {
        None => Err(DecodeError::Truncated),
        Some(&found) if found != supported => Err(DecodeError::UnsupportedVersion {
            kind,
            found,
            supported,
        }),
        Some(_) => Ok(()),
    }
}

/// The error for a field that breaks a protocol rule.
pub(crate) fn invalid(field: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::InvalidField { field, reason }
}

/// Encodes `value` with borsh.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    // borsh only fails when the writer fails (a Vec never does) or a
    // collection holds more than u32::MAX items, which every protocol type's
    // bounds rule out long before.
    borsh::to_vec(value).expect("borsh encoding into a Vec cannot fail for protocol types")
}
