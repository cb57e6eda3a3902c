//! The settlement program's ABI: what the program, the host and clients agree
//! on, with no entrypoint and no Solana runtime dependency in its core.
//!
//! - [`instruction`]: instruction tags, fields and account lists.
//! - [`state`]: account layouts, discriminators and the funds invariants.
//! - [`error`]: the numbered, append-only error codes.
//! - [`pda`]: seeds, and with `client` the addresses.
//! - [`ed25519`]: reading the Ed25519 precompile instruction safely.
//! - [`acceptance`]: the message a node signs to accept a job.
//! - `builders` (feature `client`): `solana-instruction` builders.
//!
//! The core is `no_std` and allocation-free so the on-chain program uses the
//! same decoders and layouts as everyone else; that is what makes the
//! program's tests, which go through these builders, a test of the ABI too.

#![no_std]

#[cfg(any(feature = "client", test))]
extern crate alloc;

pub mod acceptance;
#[cfg(feature = "client")]
pub mod builders;
pub mod codec;
pub mod ed25519;
pub mod error;
pub mod instruction;
pub mod pda;
pub mod state;

pub use error::SettlementError;
pub use instruction::SettlementInstruction;

/// The program's address on every cluster Kiln deploys to (raw bytes; base58
/// `program_id()` with `client`). Tests load the ELF at this address too.
pub const PROGRAM_ID: [u8; 32] = [
    44, 164, 57, 112, 131, 226, 18, 185, 209, 201, 173, 223, 85, 197, 169, 232, 79, 31, 234, 48,
    126, 104, 21, 62, 101, 31, 190, 180, 224, 3, 12, 192,
];

/// [`PROGRAM_ID`] as an address.
#[cfg(feature = "client")]
pub fn program_id() -> solana_address::Address {
    solana_address::Address::new_from_array(PROGRAM_ID)
}
