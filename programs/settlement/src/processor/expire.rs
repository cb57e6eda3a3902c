//! `Expire`: after the deadline plus the config's grace, the renter gets
//! back everything the job account holds and the job is deleted.
//!
//! Anyone may send it: the money can only go to the renter, and the grace
//! period is the node's window to claim what it is owed first.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::pda::CONFIG_SEED;
use kiln_settlement_interface::state::Config;
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use super::claim::load_job;
use crate::accounts::{OrFail, check_pda, close_into, fail, load, now, require, writable};

/// Accounts: job (w), renter (w), config.
pub fn process(program_id: &Address, accounts: &mut [AccountView]) -> Result<(), ProgramError> {
    let [job, renter, config, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    let job_state = load_job(program_id, job)?;
    require(
        renter.address().as_array() == &job_state.renter,
        SettlementError::WrongRenter,
    )?;
    writable(renter)?;
    let settings: Config = load(config, program_id)?;
    check_pda(config, &[CONFIG_SEED], settings.bump, program_id)?;
    let overflow = SettlementError::ArithmeticOverflow;
    let grace = i64::try_from(settings.expire_grace_seconds).map_err(|_| fail(overflow))?;
    let expires_at = job_state.deadline.checked_add(grace).or_fail(overflow)?;
    require(now()? > expires_at, SettlementError::JobNotExpired)?;
    close_into(job, renter)
}
