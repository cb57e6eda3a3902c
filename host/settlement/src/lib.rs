//! Kiln's settlement client: one API over the settlement program, whether it
//! runs in an in-process LiteSVM ([`Embedded`]) or on a Solana cluster
//! ([`Rpc`]).
//!
//! - [`Chain`] is the transport a backend implements: send and confirm one
//!   transaction, read accounts, balances and the clock.
//! - [`Settlement`] holds every operation (init config, register/update node,
//!   stake, begin unstake, withdraw, open job, claim, close, expire, record
//!   fault) and the typed reads, built once from `kiln-settlement-interface`'s
//!   builders, so both backends send byte-identical instructions.
//! - [`tx::build`] is the one place a transaction is assembled; it refuses
//!   one over [`tx::MAX_TRANSACTION_SIZE`] before anything is sent.
//! - [`Error`] decodes the program's error codes into `SettlementError`.
//! - [`keys`] reads and writes solana-keygen keypair files, mode 0600.
//!
//! Invariant: nothing here holds a private key it was not handed; keys are
//! read per call from files the caller names.

pub mod chain;
pub mod client;
pub mod embedded;
pub mod error;
pub mod keys;
mod reads;
pub mod rpc;
pub mod snapshot;
pub mod tx;

pub use chain::{Chain, Sent};
pub use client::{Acceptance, Settlement};
pub use embedded::Embedded;
pub use error::{Error, Result};
pub use reads::Named;
pub use rpc::Rpc;
pub use solana_commitment_config::CommitmentConfig;
