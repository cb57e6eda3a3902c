//! Usage receipts: what a node signs every metering interval and the renter
//! counter-signs.
//!
//! A [`Receipt`] is a fixed-size borsh record (`RECEIPT_LEN` bytes):
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `version` | u8 | [`RECEIPT_VERSION`]; any other value is refused on decode |
//! | `job` | 32 bytes | the job's escrow account on chain |
//! | `node` | 32 bytes | the node's receipt key (ed25519), which signs |
//! | `renter` | 32 bytes | the renter's key (ed25519), which counter-signs |
//! | `seq` | u64 | 1 for a job's first receipt, strictly increasing after |
//! | `fuel` | u64 | wasm fuel consumed since the job started (cumulative) |
//! | `gpu_ns` | u64 | GPU time consumed since the job started (cumulative) |
//! | `wall_ms` | u64 | wall-clock time since the job started (cumulative) |
//! | `flags` | u8 | bit 0: [`flags::GPU_TIME_HOST_MEASURED`]; other bits must be zero |
//! | `prev` | 32 bytes | [`Receipt::digest`] of the previous receipt; zero for the first |
//! | `output` | 32 bytes | SHA-256 of the result so far, zero, or for the final receipt the proof of execution |
//!
//! Invariants that make a receipt safe to pay against:
//! - Amounts are cumulative, so the newest receipt both parties signed is the
//!   whole bill; an older one can only ever be worth less (see [`crate::rates`]).
//! - The signed message is [`RECEIPT_DOMAIN`] followed by the borsh bytes, so a
//!   receipt signature can never be replayed as a signature over anything else
//!   Kiln signs (manifests use their own tag).
//! - `prev` commits to the entire history: changing any earlier receipt breaks
//!   every later link (checked by [`crate::chain`]).

use borsh::{BorshDeserialize, BorshSerialize};

use crate::bytes::{Digest, PublicKey, Signature, sha256};
use crate::codec::{self, DecodeError};

/// The receipt layout this build reads and writes.
pub const RECEIPT_VERSION: u8 = 1;

/// Domain tag prefixed to a receipt's bytes before signing or hashing.
pub const RECEIPT_DOMAIN: &[u8; 16] = b"kiln/receipt/v1\0";

/// Encoded size of a [`Receipt`]: version, three keys, four u64s, flags, two digests.
pub const RECEIPT_LEN: usize = 1 + 3 * 32 + 4 * 8 + 1 + 2 * 32;

/// Size of the message a node and a renter sign: domain tag plus receipt bytes.
pub const SIGNED_MESSAGE_LEN: usize = RECEIPT_DOMAIN.len() + RECEIPT_LEN;

/// Bits of [`Receipt::flags`].
pub mod flags {
    /// GPU time was measured on the host (submit to completion), not with
    /// device timestamps, because the adapter cannot time on the device.
    pub const GPU_TIME_HOST_MEASURED: u8 = 1 << 0;
    /// Every bit version 1 defines; the rest must be zero.
    pub const KNOWN: u8 = GPU_TIME_HOST_MEASURED;
}

/// Cumulative resource usage of a job: the amounts a receipt carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// Wasm fuel consumed.
    pub fuel: u64,
    /// GPU time in nanoseconds.
    pub gpu_ns: u64,
    /// Wall-clock time in milliseconds.
    pub wall_ms: u64,
}

impl Usage {
    /// True when no amount of `self` is below the same amount of `earlier`.
    pub fn covers(&self, earlier: &Usage) -> bool {
        self.fuel >= earlier.fuel
            && self.gpu_ns >= earlier.gpu_ns
            && self.wall_ms >= earlier.wall_ms
    }
}

/// One metering interval's cumulative usage record. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    /// Layout version, always [`RECEIPT_VERSION`] for receipts this build makes.
    pub version: u8,
    /// The job's escrow account.
    pub job: PublicKey,
    /// The node's receipt key.
    pub node: PublicKey,
    /// The renter's key.
    pub renter: PublicKey,
    /// Sequence number: 1 for the first receipt, strictly increasing.
    pub seq: u64,
    /// Cumulative fuel.
    pub fuel: u64,
    /// Cumulative GPU nanoseconds.
    pub gpu_ns: u64,
    /// Cumulative wall-clock milliseconds.
    pub wall_ms: u64,
    /// See [`flags`].
    pub flags: u8,
    /// Digest of the previous receipt, zero for the first.
    pub prev: Digest,
    /// Output commitment: zero, SHA-256 of the result so far, or the proof of execution.
    pub output: Digest,
}

/// Who is party to a job's receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Parties {
    /// The job's escrow account.
    pub job: PublicKey,
    /// The node's receipt key.
    pub node: PublicKey,
    /// The renter's key.
    pub renter: PublicKey,
}

impl Receipt {
    /// The first receipt of a job: `seq` 1, no previous receipt.
    pub fn first(parties: Parties, usage: Usage, flags: u8, output: Digest) -> Self {
        Self {
            version: RECEIPT_VERSION,
            job: parties.job,
            node: parties.node,
            renter: parties.renter,
            seq: 1,
            fuel: usage.fuel,
            gpu_ns: usage.gpu_ns,
            wall_ms: usage.wall_ms,
            flags,
            prev: Digest::ZERO,
            output,
        }
    }

    /// The receipt that follows `self`: next `seq`, `prev` linked to `self`.
    ///
    /// Returns `None` when `usage` is below this receipt's amounts (amounts are
    /// cumulative) or the sequence number would overflow.
    pub fn next(&self, usage: Usage, flags: u8, output: Digest) -> Option<Self> {
        if !usage.covers(&self.usage()) {
            return None;
        }
        Some(Self {
            seq: self.seq.checked_add(1)?,
            fuel: usage.fuel,
            gpu_ns: usage.gpu_ns,
            wall_ms: usage.wall_ms,
            flags,
            prev: self.digest(),
            output,
            ..*self
        })
    }

    /// The parties named in this receipt.
    pub fn parties(&self) -> Parties {
        Parties {
            job: self.job,
            node: self.node,
            renter: self.renter,
        }
    }

    /// The cumulative amounts.
    pub fn usage(&self) -> Usage {
        Usage {
            fuel: self.fuel,
            gpu_ns: self.gpu_ns,
            wall_ms: self.wall_ms,
        }
    }

    /// True when GPU time was measured on the host rather than the device.
    pub fn gpu_time_host_measured(&self) -> bool {
        self.flags & flags::GPU_TIME_HOST_MEASURED != 0
    }

    /// Checks what decoding alone cannot: the version and the reserved flag bits.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.version != RECEIPT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                kind: "receipt",
                found: self.version,
                supported: RECEIPT_VERSION,
            });
        }
        if self.flags & !flags::KNOWN != 0 {
            return Err(DecodeError::InvalidField {
                field: "flags",
                reason: "a bit this receipt version does not define is set",
            });
        }
        Ok(())
    }

    /// The borsh encoding.
    pub fn to_bytes(&self) -> [u8; RECEIPT_LEN] {
        let mut out = [0u8; RECEIPT_LEN];
        out.copy_from_slice(&codec::encode(self));
        out
    }

    /// Decodes and validates exactly one receipt.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_version(bytes, "receipt", RECEIPT_VERSION)?;
        let receipt: Self = codec::decode_exact(bytes)?;
        receipt.validate()?;
        Ok(receipt)
    }

    /// The exact bytes both parties sign: [`RECEIPT_DOMAIN`] then the borsh encoding.
    pub fn signing_message(&self) -> [u8; SIGNED_MESSAGE_LEN] {
        let mut message = [0u8; SIGNED_MESSAGE_LEN];
        let (tag, body) = message.split_at_mut(RECEIPT_DOMAIN.len());
        tag.copy_from_slice(RECEIPT_DOMAIN);
        body.copy_from_slice(&self.to_bytes());
        message
    }

    /// SHA-256 of the signing message; the next receipt's `prev`.
    pub fn digest(&self) -> Digest {
        sha256(&[&self.signing_message()])
    }
}

/// A receipt with the node's signature and, once given, the renter's counter-signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct SignedReceipt {
    /// The receipt both signatures cover.
    pub receipt: Receipt,
    /// The node's signature over [`Receipt::signing_message`].
    pub node_signature: Signature,
    /// The renter's counter-signature over the same message, once given.
    pub renter_signature: Option<Signature>,
}

impl SignedReceipt {
    /// Largest encoding: receipt, node signature, option tag, renter signature.
    pub const MAX_LEN: usize = RECEIPT_LEN + 64 + 1 + 64;

    /// True when the renter has counter-signed (valid or not: see `verify`).
    pub fn is_co_signed(&self) -> bool {
        self.renter_signature.is_some()
    }

    /// The borsh encoding.
    pub fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        codec::encode(self)
    }

    /// Decodes and validates exactly one signed receipt. Signatures are not
    /// checked here; see `SignedReceipt::verify_node_signature` (feature
    /// `ed25519`) and [`crate::chain`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_version(bytes, "receipt", RECEIPT_VERSION)?;
        let signed: Self = codec::decode_exact(bytes)?;
        signed.receipt.validate()?;
        Ok(signed)
    }
}
