//! `RecordFault`: faults and slashes by the scheduler authority.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::builders;
use kiln_settlement_interface::pda::{node_address, treasury_address};
use kiln_settlement_interface::state::{Node, Treasury};
use solana_signer::Signer;

use crate::harness::{Env, MIN_STAKE, SLASH_CAP_BPS, assert_error};

#[test]
fn a_fault_slashes_the_stake_into_the_treasury_and_keeps_the_evidence() {
    let mut env = Env::with_node();
    let operator = env.operator.pubkey();
    let scheduler = env.scheduler.insecure_clone();
    let before = env.balance(&treasury_address().0);
    let ix = builders::record_fault(&scheduler.pubkey(), &operator, SLASH_CAP_BPS, [5; 32]);
    env.send(&[ix], &[&scheduler]).unwrap();
    let node: Node = env.state(&node_address(&operator).0);
    assert_eq!(node.stake, MIN_STAKE - MIN_STAKE / 10);
    assert_eq!((node.faults, node.last_fault_evidence), (1, [5; 32]));
    assert_eq!(env.balance(&treasury_address().0), before + MIN_STAKE / 10);
    assert_eq!(
        env.state::<Treasury>(&treasury_address().0).slashed,
        MIN_STAKE / 10
    );
}

#[test]
fn unstaking_lamports_are_still_slashable() {
    let mut env = Env::with_node();
    let operator = env.operator.insecure_clone();
    env.send(
        &[builders::begin_unstake(&operator.pubkey(), MIN_STAKE)],
        &[&operator],
    )
    .unwrap();
    let scheduler = env.scheduler.insecure_clone();
    let ix = builders::record_fault(&scheduler.pubkey(), &operator.pubkey(), 500, [1; 32]);
    env.send(&[ix], &[&scheduler]).unwrap();
    let node: Node = env.state(&node_address(&operator.pubkey()).0);
    assert_eq!(
        (node.stake, node.unstaking),
        (0, MIN_STAKE - MIN_STAKE / 20)
    );
}

#[test]
fn a_slash_over_the_cap_is_refused() {
    let mut env = Env::with_node();
    let scheduler = env.scheduler.insecure_clone();
    let ix = builders::record_fault(
        &scheduler.pubkey(),
        &env.operator.pubkey(),
        SLASH_CAP_BPS + 1,
        [5; 32],
    );
    assert_error(
        env.send(&[ix], &[&scheduler]),
        0,
        SettlementError::SlashOverCap,
    );
}

#[test]
fn only_the_scheduler_authority_may_record_a_fault() {
    let mut env = Env::with_node();
    let admin = env.admin.insecure_clone();
    let ix = builders::record_fault(&admin.pubkey(), &env.operator.pubkey(), 100, [5; 32]);
    assert_error(env.send(&[ix], &[&admin]), 0, SettlementError::Unauthorized);
}

#[test]
fn the_scheduler_must_sign() {
    let mut env = Env::with_node();
    let mut ix = builders::record_fault(
        &env.scheduler.pubkey(),
        &env.operator.pubkey(),
        100,
        [5; 32],
    );
    ix.accounts[0].is_signer = false;
    let payer = env.admin.insecure_clone();
    assert_error(
        env.send(&[ix], &[&payer]),
        0,
        SettlementError::MissingSigner,
    );
}
