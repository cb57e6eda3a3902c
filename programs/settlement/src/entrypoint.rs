//! The SBF entrypoint (only on `target_arch = "bpf"`).
//!
//! pinocchio's macros expand to the `entrypoint` symbol, an allocator that
//! refuses every allocation (the program never allocates, and this makes any
//! accidental allocation fail loudly) and a panic handler.

#![allow(
    unsafe_code,
    reason = "pinocchio's entrypoint and allocator macros expand to unsafe code"
)]
#![allow(
    unexpected_cfgs,
    reason = "pinocchio's macros test `target_os = \"solana\"`, which rustc's bpf target does not know"
)]

use solana_compiler_builtins as _;

use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address, ProgramResult};

/// The most accounts any instruction reads (`Close` takes seven).
/// pinocchio keeps one view per account on the entry frame, and the default
/// of 255 overflows SBPF v0's 4 KiB frame; extra accounts are ignored.
const MAX_ACCOUNTS: usize = 8;

pinocchio::program_entrypoint!(entry, MAX_ACCOUNTS);
pinocchio::no_allocator!();
pinocchio::nostd_panic_handler!();

fn entry(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    crate::process_instruction(program_id, accounts, data).map_err(|error: ProgramError| error)
}
