//! `RecordFault`: the scheduler records a node's fault, with the hash of its
//! evidence, and may slash up to the config's cap.
//!
//! The slash is `(stake + unstaking) × slash_bps / 10 000`, rounded down,
//! taken from `stake` first and then from `unstaking` (which is why unstaking
//! waits out a cooldown), and sent to the treasury. `slash_bps` 0 records the
//! fault without slashing.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::pda::{CONFIG_SEED, NODE_SEED};
use kiln_settlement_interface::state::{BPS_DENOMINATOR, Config, Node};
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use super::claim::load_treasury;
use crate::accounts::{
    OrFail, check_pda, fail, load, move_lamports, require, signer, store, writable,
};

/// Accounts: scheduler (s), config, node (w), treasury (w).
pub fn process(
    program_id: &Address,
    accounts: &mut [AccountView],
    slash_bps: u16,
    evidence: [u8; 32],
) -> Result<(), ProgramError> {
    let [scheduler, config, node, treasury, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    let settings: Config = load(config, program_id)?;
    check_pda(config, &[CONFIG_SEED], settings.bump, program_id)?;
    require(
        scheduler.address().as_array() == &settings.scheduler,
        SettlementError::Unauthorized,
    )?;
    signer(scheduler)?;
    require(
        slash_bps <= settings.slash_cap_bps,
        SettlementError::SlashOverCap,
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

    let overflow = SettlementError::ArithmeticOverflow;
    let bonded = node_state
        .stake
        .checked_add(node_state.unstaking)
        .or_fail(overflow)?;
    let slash = u128::from(bonded)
        .checked_mul(u128::from(slash_bps))
        .and_then(|product| product.checked_div(u128::from(BPS_DENOMINATOR)))
        .and_then(|slash| u64::try_from(slash).ok())
        .or_fail(overflow)?;
    let from_stake = slash.min(node_state.stake);
    let from_unstaking = slash.checked_sub(from_stake).or_fail(overflow)?;
    node_state.stake = node_state.stake.checked_sub(from_stake).or_fail(overflow)?;
    node_state.unstaking = node_state
        .unstaking
        .checked_sub(from_unstaking)
        .or_fail(overflow)?;
    node_state.faults = node_state.faults.checked_add(1).or_fail(overflow)?;
    node_state.last_fault_evidence = evidence;
    treasury_state.slashed = treasury_state
        .slashed
        .checked_add(slash)
        .or_fail(overflow)?;
    store(node, &node_state)?;
    store(treasury, &treasury_state)?;
    move_lamports(node, treasury, slash)
}
