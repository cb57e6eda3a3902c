//! `Stake`, `BeginUnstake`, `Withdraw`.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::builders;
use kiln_settlement_interface::pda::node_address;
use kiln_settlement_interface::state::{DEFAULT_UNSTAKE_COOLDOWN_SECONDS, Node};
use solana_address::Address;
use solana_signer::Signer;

use crate::harness::{Env, MIN_STAKE, SOL, assert_error};

fn node(env: &Env) -> Node {
    env.state(&node_address(&env.operator.pubkey()).0)
}

#[test]
fn stake_moves_lamports_into_the_node_account() {
    let mut env = Env::with_node();
    let operator = env.operator.insecure_clone();
    let address = node_address(&operator.pubkey()).0;
    let before = env.balance(&address);
    env.send(
        &[builders::stake(&operator.pubkey(), 2 * SOL)],
        &[&operator],
    )
    .unwrap();
    assert_eq!(env.balance(&address), before + 2 * SOL);
    assert_eq!(node(&env).stake, MIN_STAKE + 2 * SOL);
}

#[test]
fn withdraw_after_the_cooldown_pays_the_operator() {
    // Given half the stake asked back.
    let mut env = Env::with_node();
    let operator = env.operator.insecure_clone();
    env.send(
        &[builders::begin_unstake(&operator.pubkey(), MIN_STAKE / 2)],
        &[&operator],
    )
    .unwrap();
    assert_eq!(
        (node(&env).stake, node(&env).unstaking),
        (MIN_STAKE / 2, MIN_STAKE / 2)
    );
    // When the cooldown has passed.
    env.warp(i64::try_from(DEFAULT_UNSTAKE_COOLDOWN_SECONDS).unwrap());
    let before = env.balance(&operator.pubkey());
    let units = env.send(&[builders::withdraw(&operator.pubkey())], &[&operator]);
    // Then the operator has it back (less the transaction fee).
    assert!(units.is_ok(), "{units:?}");
    let fee = 5_000;
    assert_eq!(
        env.balance(&operator.pubkey()),
        before + MIN_STAKE / 2 - fee
    );
    assert_eq!(node(&env).unstaking, 0);
}

#[test]
fn withdraw_before_the_cooldown_is_refused() {
    let mut env = Env::with_node();
    let operator = env.operator.insecure_clone();
    env.send(
        &[builders::begin_unstake(&operator.pubkey(), MIN_STAKE)],
        &[&operator],
    )
    .unwrap();
    env.warp(i64::try_from(DEFAULT_UNSTAKE_COOLDOWN_SECONDS).unwrap() - 1);
    let outcome = env.send(&[builders::withdraw(&operator.pubkey())], &[&operator]);
    assert_error(outcome, 0, SettlementError::CooldownNotElapsed);
}

#[test]
fn withdraw_with_nothing_unstaking_is_refused() {
    let mut env = Env::with_node();
    let operator = env.operator.insecure_clone();
    let outcome = env.send(&[builders::withdraw(&operator.pubkey())], &[&operator]);
    assert_error(outcome, 0, SettlementError::NothingToWithdraw);
}

#[test]
fn unstaking_more_than_the_stake_is_refused() {
    let mut env = Env::with_node();
    let operator = env.operator.insecure_clone();
    let ix = builders::begin_unstake(&operator.pubkey(), MIN_STAKE + 1);
    assert_error(
        env.send(&[ix], &[&operator]),
        0,
        SettlementError::InsufficientStake,
    );
}

#[test]
fn a_node_account_owned_by_another_program_is_refused() {
    // Given the node's bytes copied under another owner (as another program could hold).
    let mut env = Env::with_node();
    let operator = env.operator.insecure_clone();
    let address = node_address(&operator.pubkey()).0;
    let mut account = env.svm.get_account(&address).unwrap();
    account.owner = Address::new_from_array([42; 32]);
    env.svm.set_account(address, account).unwrap();
    // When / Then
    let ix = builders::stake(&operator.pubkey(), SOL);
    assert_error(
        env.send(&[ix], &[&operator]),
        0,
        SettlementError::InvalidOwner,
    );
}
