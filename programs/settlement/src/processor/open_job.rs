//! `OpenJob`: the renter funds a job's escrow at terms the node signed.
//!
//! The job account is created holding its rent-exempt minimum plus the
//! escrow, so the escrow is the account's own lamports and nothing else can
//! spend it. The node's receipt key must have signed the acceptance of these
//! exact terms (job address, renter, node, rates, escrow, deadline) in the
//! Ed25519 instruction right before this one; the key is copied into the job
//! so that a later key rotation cannot change who signs this job's receipts.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::acceptance::{Terms, acceptance_message};
use kiln_settlement_interface::instruction::OpenJobParams;
use kiln_settlement_interface::pda::{CONFIG_SEED, JOB_SEED, NODE_SEED};
use kiln_settlement_interface::state::{Config, Job, Node, NodeStatus, State};
use pinocchio::cpi::Seed;
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use crate::accounts::{
    NewAccount, canonical_bump, check_pda, create_pda, fail, load, now, require, signer, store,
    system_program, writable,
};
use crate::signatures::verify_single;

/// Accounts: renter (s,w), config, node, job (w), system program, instructions sysvar.
pub fn process(
    program_id: &Address,
    accounts: &mut [AccountView],
    params: &OpenJobParams,
) -> Result<(), ProgramError> {
    let [renter, config, node, job, system, sysvar, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    signer(renter)?;
    writable(renter)?;
    writable(job)?;
    system_program(system)?;

    let settings: Config = load(config, program_id)?;
    check_pda(config, &[CONFIG_SEED], settings.bump, program_id)?;
    let node_state: Node = load(node, program_id)?;
    check_pda(
        node,
        &[NODE_SEED, &node_state.operator],
        node_state.bump,
        program_id,
    )?;
    require(
        node_state.status == NodeStatus::Active as u8,
        SettlementError::NodeNotActive,
    )?;
    require(
        node_state.stake >= settings.tier_min_stake[0],
        SettlementError::NodeUnderstaked,
    )?;
    require(params.escrow > 0, SettlementError::ZeroAmount)?;
    require(
        node_state.price_floor.within(&params.rates),
        SettlementError::RatesBelowFloor,
    )?;
    require(params.deadline > now()?, SettlementError::InvalidDeadline)?;

    let renter_key = renter.address().to_bytes();
    let job_id = params.job_id.to_le_bytes();
    let bump = canonical_bump(job, &[JOB_SEED, &renter_key, &job_id], program_id)?;
    let terms = Terms {
        job: job.address().to_bytes(),
        renter: renter_key,
        node: node.address().to_bytes(),
        rates: params.rates,
        escrow: params.escrow,
        deadline: params.deadline,
    };
    verify_single(sysvar, &node_state.receipt_key, &acceptance_message(&terms))?;

    let bump_seed = [bump];
    let seeds = [
        Seed::from(JOB_SEED),
        Seed::from(&renter_key),
        Seed::from(&job_id),
        Seed::from(&bump_seed),
    ];
    let new = NewAccount {
        payer: renter,
        account: job,
        signer_seeds: &seeds,
        space: Job::LEN,
        extra: params.escrow,
    };
    create_pda(&new, program_id)?;
    let state = Job {
        bump,
        job_id: params.job_id,
        renter: renter_key,
        node: terms.node,
        operator: node_state.operator,
        node_receipt_key: node_state.receipt_key,
        rates: params.rates,
        fee_bps: settings.fee_bps,
        escrow: params.escrow,
        paid: 0,
        last_paid_seq: 0,
        deadline: params.deadline,
    };
    store(job, &state)
}
