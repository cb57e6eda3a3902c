//! Kiln's settlement program: escrow, node registry, staking and treasury.
//!
//! Built with pinocchio to a real SBF ELF (`cargo xtask sbf`; README.md says how)
//! and, unchanged, for the host, so clippy and unit tests need no SBF build.
//! The ABI (instructions, layouts, errors, PDAs) lives in
//! `kiln-settlement-interface`; receipt decoding and costs come from
//! `kiln-protocol`, so the chain computes exactly what the host computes.
//!
//! - [`processor`]: one module per instruction.
//! - [`accounts`]: the owner / type / PDA / signer checks every instruction
//!   runs, and lamport moves.
//! - [`signatures`]: signatures verified by the Ed25519 precompile, read
//!   through the instructions sysvar without trusting anything unchecked.
//!
//! Architecture invariants: no allocation (the allocator refuses), no
//! unchecked arithmetic (`clippy::arithmetic_side_effects` is denied), and no
//! instruction does work that grows with a job's length.

#![cfg_attr(target_arch = "bpf", no_std)]
#![deny(clippy::arithmetic_side_effects)]

pub mod accounts;
pub mod processor;
pub mod signatures;
pub mod sysvar;

#[cfg(target_arch = "bpf")]
mod entrypoint;

pub use processor::process_instruction;
