//! The two sysvar values the program reads: the clock's unix time and the
//! rent-exempt minimum.
//!
//! pinocchio's `Clock::get`/`Rent::get` call the generic `sol_get_sysvar`
//! syscall only under `target_os = "solana"` (platform-tools' target); on
//! `bpfel-unknown-none` (`target_os = "none"`, what `cargo xtask sbf` builds for)
//! they take their host branch and always fail. So this module calls the
//! same syscall itself, reading only the bytes it needs, and is the one
//! place in the program with `unsafe`.

#![allow(
    unsafe_code,
    reason = "the sysvar syscall writes through a raw pointer; see SAFETY below"
)]

use kiln_settlement_interface::SettlementError;
use pinocchio::error::ProgramError;
use pinocchio::sysvars::clock::CLOCK_ID;
use pinocchio::sysvars::rent::RENT_ID;

use crate::accounts::{OrFail, fail};

/// Bytes every account pays rent on besides its data.
const ACCOUNT_STORAGE_OVERHEAD: u64 = 128;
/// Byte offset of `unix_timestamp` in the clock sysvar (after slot,
/// epoch start, epoch, leader schedule epoch).
const CLOCK_UNIX_TIMESTAMP_OFFSET: u64 = 32;

/// Reads `N` bytes at `offset` of sysvar `id`.
#[cfg(target_arch = "bpf")]
fn read<const N: usize>(id: &pinocchio::Address, offset: u64) -> Result<[u8; N], ProgramError> {
    let mut bytes = [0u8; N];
    let length = u64::try_from(N).map_err(|_| ProgramError::UnsupportedSysvar)?;
    // SAFETY: `id` points at 32 readable bytes and `bytes` at `N` writable
    // bytes, which is the `length` the syscall writes; it writes nothing when
    // it fails.
    let result = unsafe {
        pinocchio::syscalls::sol_get_sysvar(
            id.as_array().as_ptr(),
            bytes.as_mut_ptr(),
            offset,
            length,
        )
    };
    if result == pinocchio::SUCCESS {
        Ok(bytes)
    } else {
        Err(ProgramError::UnsupportedSysvar)
    }
}

/// On the host there is no sysvar: the host build exists for clippy and
/// unit tests, which never reach this.
#[cfg(not(target_arch = "bpf"))]
fn read<const N: usize>(_id: &pinocchio::Address, _offset: u64) -> Result<[u8; N], ProgramError> {
    Err(ProgramError::UnsupportedSysvar)
}

/// The cluster's unix time.
pub fn now() -> Result<i64, ProgramError> {
    read(&CLOCK_ID, CLOCK_UNIX_TIMESTAMP_OFFSET).map(i64::from_le_bytes)
}

/// The rent-exempt minimum for `space` bytes of data.
///
/// Rent is `lamports_per_byte_year` then `exemption_threshold` (an f64). The
/// threshold is 2.0 on today's clusters and 1.0 after SIMD-0194; both are
/// exact integer factors, so no floating point is needed, and any other
/// value is refused rather than guessed.
pub fn rent_exempt_minimum(space: usize) -> Result<u64, ProgramError> {
    let bytes: [u8; 16] = read(&RENT_ID, 0)?;
    let (per_byte, threshold) = bytes.split_at(8);
    let per_byte = u64::from_le_bytes(
        per_byte
            .try_into()
            .map_err(|_| ProgramError::UnsupportedSysvar)?,
    );
    let threshold = u64::from_le_bytes(
        threshold
            .try_into()
            .map_err(|_| ProgramError::UnsupportedSysvar)?,
    );
    let factor = match threshold {
        bits if bits == 1.0f64.to_bits() => 1,
        bits if bits == 2.0f64.to_bits() => 2,
        _ => return Err(ProgramError::UnsupportedSysvar),
    };
    let overflow = SettlementError::ArithmeticOverflow;
    let space = u64::try_from(space).map_err(|_| fail(overflow))?;
    ACCOUNT_STORAGE_OVERHEAD
        .checked_add(space)
        .and_then(|bytes| bytes.checked_mul(per_byte))
        .and_then(|lamports| lamports.checked_mul(factor))
        .or_fail(overflow)
}
