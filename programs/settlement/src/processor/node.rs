//! `RegisterNode` and `UpdateNode`: a node's identity and price floor.
//!
//! The node account's address is derived from its operator, so "the signer's
//! node" is a PDA check, not a lookup: no operator can touch another's node.

use kiln_protocol::BenchmarkClass;
use kiln_protocol::manifest::is_valid_region;
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::instruction::NodeParams;
use kiln_settlement_interface::pda::NODE_SEED;
use kiln_settlement_interface::state::{Node, NodeStatus, State};
use pinocchio::cpi::Seed;
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use crate::accounts::{
    NewAccount, canonical_bump, check_pda, create_pda, fail, load, require, signer, store,
    system_program, writable,
};

/// Refuses a class above the highest tier or a region the protocol would not accept.
fn validate(params: &NodeParams) -> Result<(), ProgramError> {
    let class_ok = params.class <= BenchmarkClass::MAX.0;
    let len = params.region.iter().position(|&b| b == 0).unwrap_or(32);
    let (label, padding) = params.region.split_at(len);
    let region_ok =
        core::str::from_utf8(label).is_ok_and(is_valid_region) && padding.iter().all(|&b| b == 0);
    require(
        class_ok && region_ok,
        SettlementError::InvalidNodeParameters,
    )
}

/// Accounts: operator (s,w), node (w), system program.
pub fn register(
    program_id: &Address,
    accounts: &mut [AccountView],
    params: &NodeParams,
) -> Result<(), ProgramError> {
    let [operator, node, system, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    signer(operator)?;
    writable(node)?;
    system_program(system)?;
    validate(params)?;
    let operator_key = operator.address().to_bytes();
    let bump = canonical_bump(node, &[NODE_SEED, &operator_key], program_id)?;
    let bump_seed = [bump];
    let seeds = [
        Seed::from(NODE_SEED),
        Seed::from(&operator_key),
        Seed::from(&bump_seed),
    ];
    let new = NewAccount {
        payer: operator,
        account: node,
        signer_seeds: &seeds,
        space: Node::LEN,
        extra: 0,
    };
    create_pda(&new, program_id)?;
    let state = Node {
        bump,
        status: NodeStatus::Active as u8,
        class: params.class,
        operator: operator_key,
        receipt_key: params.receipt_key,
        region: params.region,
        price_floor: params.price_floor,
        stake: 0,
        unstaking: 0,
        unstake_requested_at: 0,
        jobs_done: 0,
        faults: 0,
        last_fault_evidence: [0; 32],
    };
    store(node, &state)
}

/// Loads the node of `operator`, which must sign: owner, type, PDA, signer.
pub fn operators_node(
    program_id: &Address,
    operator: &AccountView,
    node: &AccountView,
) -> Result<Node, ProgramError> {
    writable(node)?;
    let state: Node = load(node, program_id)?;
    check_pda(
        node,
        &[NODE_SEED, operator.address().as_ref()],
        state.bump,
        program_id,
    )?;
    require(
        &state.operator == operator.address().as_array(),
        SettlementError::Unauthorized,
    )?;
    signer(operator)?;
    Ok(state)
}

/// Accounts: operator (s), node (w).
pub fn update(
    program_id: &Address,
    accounts: &mut [AccountView],
    params: &NodeParams,
) -> Result<(), ProgramError> {
    let [operator, node, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    let mut state = operators_node(program_id, operator, node)?;
    validate(params)?;
    state.receipt_key = params.receipt_key;
    state.class = params.class;
    state.region = params.region;
    state.price_floor = params.price_floor;
    store(node, &state)
}
