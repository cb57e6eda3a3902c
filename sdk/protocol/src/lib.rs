//! Kiln's wire protocol: usage receipts, rates, capability manifests and job
//! specs, shared by the Solana settlement program, the node, the scheduler,
//! the renter's client and guests.
//!
//! `no_std` + `alloc`, so the same types compile for the host, for
//! `wasm32-wasip2` and for the SBF program. Everything is borsh-encoded;
//! every decoder takes exactly one value, checks the leading version byte
//! first and returns a typed [`DecodeError`], never a panic.
//!
//! - [`receipt`]: the signed usage record and its signing message.
//! - [`chain`]: which receipt of a job may be paid, and why another may not.
//! - [`rates`]: what a receipt costs, with checked arithmetic.
//! - [`proof`]: the proof of execution a final receipt carries.
//! - [`manifest`], [`job`]: what nodes offer and renters ask for.
//!
//! Signing and verification need the default `ed25519` feature. The program
//! turns it off: on chain the Ed25519 precompile verifies signatures.

#![no_std]

extern crate alloc;

pub mod bytes;
pub mod chain;
pub mod class;
pub mod codec;
pub mod job;
pub mod manifest;
pub mod proof;
pub mod rates;
pub mod receipt;
#[cfg(feature = "ed25519")]
pub mod signing;

pub use bytes::{Digest, EncryptionKey, PublicKey, Signature, sha256};
#[cfg(feature = "ed25519")]
pub use chain::verify_chain;
pub use chain::{ChainError, LinkError, ReceiptChain};
pub use class::{BenchmarkClass, WorkloadClass};
pub use codec::DecodeError;
pub use job::{JobLimits, JobSpec};
pub use manifest::{CapabilityManifest, SignedManifest};
pub use proof::proof_of_execution;
pub use rates::{Cost, CostError, Rates, cost};
pub use receipt::{Parties, Receipt, SignedReceipt, Usage};
