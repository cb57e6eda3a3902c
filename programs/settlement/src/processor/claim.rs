//! `Claim`: anyone pays a node for a receipt both parties signed.
//!
//! No signer is needed: the receipt's two signatures are the authority, the
//! money can only go to the job's operator and the treasury, and a receipt
//! pays at most once (see [`super::payout`]). So a node's relayer, the
//! renter, or a crank can submit it.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::pda::{JOB_SEED, TREASURY_SEED};
use kiln_settlement_interface::state::{Job, Treasury};
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use super::payout::{TreasuryAccount, pay, settle};
use crate::accounts::{check_pda, fail, load, require, store, writable};
use crate::signatures::co_signed_receipt;

/// Loads a job: writable, owner, type, canonical PDA.
pub fn load_job(program_id: &Address, job: &AccountView) -> Result<Job, ProgramError> {
    writable(job)?;
    let state: Job = load(job, program_id)?;
    let job_id = state.job_id.to_le_bytes();
    check_pda(
        job,
        &[JOB_SEED, &state.renter, &job_id],
        state.bump,
        program_id,
    )?;
    Ok(state)
}

/// Loads the treasury: writable, owner, type, canonical PDA.
pub fn load_treasury(
    program_id: &Address,
    treasury: &AccountView,
) -> Result<Treasury, ProgramError> {
    writable(treasury)?;
    let state: Treasury = load(treasury, program_id)?;
    check_pda(treasury, &[TREASURY_SEED], state.bump, program_id)?;
    Ok(state)
}

/// Accounts: job (w), operator (w), treasury (w), instructions sysvar.
pub fn process(program_id: &Address, accounts: &mut [AccountView]) -> Result<(), ProgramError> {
    let [job, operator, treasury, sysvar, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    let mut job_state = load_job(program_id, job)?;
    require(
        operator.address().as_array() == &job_state.operator,
        SettlementError::WrongOperator,
    )?;
    writable(operator)?;
    let mut treasury_state = load_treasury(program_id, treasury)?;
    let receipt = co_signed_receipt(sysvar, &job_state.node_receipt_key, &job_state.renter)?;
    let payout = settle(&mut job_state, job.address(), &receipt)?;
    let treasury_account = TreasuryAccount {
        account: treasury,
        state: &mut treasury_state,
    };
    pay(&payout, job, operator, treasury_account)?;
    store(job, &job_state)?;
    store(treasury, &treasury_state)
}
