//! Fixed-size byte strings: keys, digests and signatures.
//!
//! Each is a newtype over an array so a digest cannot be passed where a key is
//! expected. They encode in borsh as the bare array (no length prefix), print
//! as lowercase hex, and have an all-zero `ZERO` value used where the protocol
//! says "none yet" (the `prev` of a job's first receipt).

use core::fmt;

use borsh::{BorshDeserialize, BorshSerialize};

macro_rules! byte_array_newtype {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;
            /// All zero bytes.
            pub const ZERO: Self = Self([0; $len]);

            /// The raw bytes.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// The raw bytes, borrowed.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// True when every byte is zero.
            pub fn is_zero(&self) -> bool {
                self.0 == [0; $len]
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for byte in &self.0 {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

byte_array_newtype!(
    /// An ed25519 public key (a node's receipt key, a renter's key) or a Solana
    /// account address (a job's escrow account). Both are 32 bytes.
    PublicKey,
    32
);

byte_array_newtype!(
    /// A SHA-256 digest.
    Digest,
    32
);

byte_array_newtype!(
    /// An ed25519 signature.
    Signature,
    64
);

byte_array_newtype!(
    /// An X25519 public key, to which renters encrypt job inputs and secrets.
    EncryptionKey,
    32
);

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Digest {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    Digest(hasher.finalize().into())
}
