//! Seeds of the program's accounts, and (with `client`) their addresses.
//!
//! | account | seeds |
//! |---|---|
//! | `Config` | `"config"` |
//! | `Treasury` | `"treasury"` |
//! | `Node` | `"node"`, operator |
//! | `Job` | `"job"`, renter, job id (u64 LE) |
//!
//! The program finds the canonical bump once, when it creates an account,
//! stores it, and later re-derives the address from the seeds and that bump.

/// Seed of the one `Config` account.
pub const CONFIG_SEED: &[u8] = b"config";
/// Seed of the one `Treasury` account.
pub const TREASURY_SEED: &[u8] = b"treasury";
/// First seed of a `Node` account; the operator's address follows.
pub const NODE_SEED: &[u8] = b"node";
/// First seed of a `Job` account; the renter's address and the job id follow.
pub const JOB_SEED: &[u8] = b"job";

#[cfg(feature = "client")]
mod find {
    use solana_address::Address;

    use super::{CONFIG_SEED, JOB_SEED, NODE_SEED, TREASURY_SEED};
    use crate::program_id;

    /// The `Config` address and its canonical bump.
    pub fn config_address() -> (Address, u8) {
        Address::find_program_address(&[CONFIG_SEED], &program_id())
    }

    /// The `Treasury` address and its canonical bump.
    pub fn treasury_address() -> (Address, u8) {
        Address::find_program_address(&[TREASURY_SEED], &program_id())
    }

    /// The `Node` address of `operator` and its canonical bump.
    pub fn node_address(operator: &Address) -> (Address, u8) {
        Address::find_program_address(&[NODE_SEED, operator.as_ref()], &program_id())
    }

    /// The `Job` address of `renter`'s job `job_id` and its canonical bump.
    pub fn job_address(renter: &Address, job_id: u64) -> (Address, u8) {
        let id = job_id.to_le_bytes();
        Address::find_program_address(&[JOB_SEED, renter.as_ref(), &id], &program_id())
    }
}

#[cfg(feature = "client")]
pub use find::{config_address, job_address, node_address, treasury_address};
