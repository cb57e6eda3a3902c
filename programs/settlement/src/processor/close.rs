//! `Close`: the node ends a job, optionally with a final claim, and the
//! renter gets back everything left, rent included.
//!
//! Only the node's side may close, signed by its operator or by its receipt
//! key (the key the node machine holds, so the operator's wallet, which moves
//! the stake, can stay elsewhere); the pay goes to the operator either way.
//! The node is the one party that loses by closing early (an unpaid later
//! receipt), so closing cannot be used against it; the renter's way out is
//! `Expire` after the deadline and grace. The job account is deleted, so a
//! second close or a claim afterwards finds no job.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::pda::NODE_SEED;
use kiln_settlement_interface::state::Node;
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use super::claim::{load_job, load_treasury};
use super::payout::{TreasuryAccount, pay, settle};
use crate::accounts::{
    OrFail, check_pda, close_into, fail, load, require, signer, store, writable,
};
use crate::signatures::co_signed_receipt;

/// Accounts: closer (s), operator (w), job (w), renter (w), node (w),
/// treasury (w), instructions sysvar.
pub fn process(
    program_id: &Address,
    accounts: &mut [AccountView],
    with_receipt: bool,
) -> Result<(), ProgramError> {
    let [closer, operator, job, renter, node, treasury, sysvar, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    let mut job_state = load_job(program_id, job)?;
    let closer_key = closer.address().as_array();
    require(
        closer_key == &job_state.operator || closer_key == &job_state.node_receipt_key,
        SettlementError::Unauthorized,
    )?;
    signer(closer)?;
    require(
        operator.address().as_array() == &job_state.operator,
        SettlementError::WrongOperator,
    )?;
    writable(operator)?;
    require(
        renter.address().as_array() == &job_state.renter,
        SettlementError::WrongRenter,
    )?;
    writable(renter)?;
    require(
        node.address().as_array() == &job_state.node,
        SettlementError::WrongNode,
    )?;
    writable(node)?;
    let mut node_state: Node = load(node, program_id)?;
    check_pda(
        node,
        &[NODE_SEED, &node_state.operator],
        node_state.bump,
        program_id,
    )?;
    let mut treasury_state = load_treasury(program_id, treasury)?;

    if with_receipt {
        let receipt = co_signed_receipt(sysvar, &job_state.node_receipt_key, &job_state.renter)?;
        let payout = settle(&mut job_state, job.address(), &receipt)?;
        let treasury_account = TreasuryAccount {
            account: treasury,
            state: &mut treasury_state,
        };
        pay(&payout, job, operator, treasury_account)?;
        store(treasury, &treasury_state)?;
    }
    node_state.jobs_done = node_state
        .jobs_done
        .checked_add(1)
        .or_fail(SettlementError::ArithmeticOverflow)?;
    store(node, &node_state)?;
    close_into(job, renter)
}
