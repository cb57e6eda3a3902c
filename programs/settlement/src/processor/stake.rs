//! `Stake`, `BeginUnstake`, `Withdraw`: an operator's bond.
//!
//! Stake lives in the node account's lamports. Leaving takes two steps so
//! that a fault found late can still be slashed: `BeginUnstake` moves an
//! amount from `stake` to `unstaking` (still slashable, no longer counted for
//! tiers) and stamps the time; `Withdraw` pays `unstaking` out once the
//! config's cooldown (seven days by default) has passed. A second
//! `BeginUnstake` adds to `unstaking` and restarts the clock.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::pda::CONFIG_SEED;
use kiln_settlement_interface::state::Config;
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};
use pinocchio_system::instructions::Transfer;

use super::node::operators_node;
use crate::accounts::{
    OrFail, check_pda, fail, load, move_lamports, now, require, store, system_program, writable,
};

/// Accounts: operator (s,w), node (w), system program.
pub fn stake(
    program_id: &Address,
    accounts: &mut [AccountView],
    amount: u64,
) -> Result<(), ProgramError> {
    let [operator, node, system, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    let mut state = operators_node(program_id, operator, node)?;
    writable(operator)?;
    system_program(system)?;
    require(amount > 0, SettlementError::ZeroAmount)?;
    state.stake = state
        .stake
        .checked_add(amount)
        .or_fail(SettlementError::ArithmeticOverflow)?;
    Transfer {
        from: operator,
        to: node,
        lamports: amount,
    }
    .invoke()?;
    store(node, &state)
}

/// Accounts: operator (s), node (w).
pub fn begin_unstake(
    program_id: &Address,
    accounts: &mut [AccountView],
    amount: u64,
) -> Result<(), ProgramError> {
    let [operator, node, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    let mut state = operators_node(program_id, operator, node)?;
    require(amount > 0, SettlementError::ZeroAmount)?;
    state.stake = state
        .stake
        .checked_sub(amount)
        .or_fail(SettlementError::InsufficientStake)?;
    state.unstaking = state
        .unstaking
        .checked_add(amount)
        .or_fail(SettlementError::ArithmeticOverflow)?;
    state.unstake_requested_at = now()?;
    store(node, &state)
}

/// Accounts: operator (s,w), config, node (w).
pub fn withdraw(program_id: &Address, accounts: &mut [AccountView]) -> Result<(), ProgramError> {
    let [operator, config, node, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    let mut state = operators_node(program_id, operator, node)?;
    writable(operator)?;
    let settings: Config = load(config, program_id)?;
    check_pda(config, &[CONFIG_SEED], settings.bump, program_id)?;
    require(state.unstaking > 0, SettlementError::NothingToWithdraw)?;
    let cooldown = i64::try_from(settings.unstake_cooldown_seconds)
        .map_err(|_| fail(SettlementError::ArithmeticOverflow))?;
    let ready_at = state
        .unstake_requested_at
        .checked_add(cooldown)
        .or_fail(SettlementError::ArithmeticOverflow)?;
    require(now()? >= ready_at, SettlementError::CooldownNotElapsed)?;
    let amount = state.unstaking;
    state.unstaking = 0;
    store(node, &state)?;
    move_lamports(node, operator, amount)
}
