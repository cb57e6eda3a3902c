//! `InitConfig`, `RegisterNode`, `UpdateNode`.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::builders;
use kiln_settlement_interface::pda::{NODE_SEED, config_address, node_address, treasury_address};
use kiln_settlement_interface::program_id;
use kiln_settlement_interface::state::{Config, DEFAULT_UNSTAKE_COOLDOWN_SECONDS, Node, Treasury};
use solana_address::Address;
use solana_signer::Signer;

use crate::harness::{Env, FEE_BPS, assert_error, party};

#[test]
fn init_config_stores_the_settings_and_creates_the_treasury() {
    // Given / When
    let env = Env::with_config();
    // Then
    let config: Config = env.state(&config_address().0);
    assert_eq!(config.bump, config_address().1);
    assert_eq!(config.admin, env.admin.pubkey().to_bytes());
    assert_eq!(config.scheduler, env.scheduler.pubkey().to_bytes());
    assert_eq!(config.fee_bps, FEE_BPS);
    assert_eq!(
        config.unstake_cooldown_seconds,
        DEFAULT_UNSTAKE_COOLDOWN_SECONDS
    );
    assert_eq!(DEFAULT_UNSTAKE_COOLDOWN_SECONDS, 7 * 24 * 3600);
    let treasury: Treasury = env.state(&treasury_address().0);
    assert_eq!((treasury.bump, treasury.fees), (treasury_address().1, 0));
}

#[test]
fn init_config_twice_is_refused() {
    let mut env = Env::with_config();
    let ix = builders::init_config(&env.admin.pubkey(), env.config_params());
    let admin = env.admin.insecure_clone();
    assert_error(
        env.send(&[ix], &[&admin]),
        0,
        SettlementError::AccountAlreadyExists,
    );
}

#[test]
fn init_config_refuses_a_fee_above_100_percent() {
    let mut env = Env::new();
    let mut params = env.config_params();
    params.fee_bps = 10_001;
    let ix = builders::init_config(&env.admin.pubkey(), params);
    let admin = env.admin.insecure_clone();
    assert_error(
        env.send(&[ix], &[&admin]),
        0,
        SettlementError::InvalidConfig,
    );
}

#[test]
fn init_config_needs_the_admin_signature() {
    let mut env = Env::new();
    let mut ix = builders::init_config(&env.admin.pubkey(), env.config_params());
    ix.accounts[0].is_signer = false;
    let payer = env.scheduler.insecure_clone();
    assert_error(
        env.send(&[ix], &[&payer]),
        0,
        SettlementError::MissingSigner,
    );
}

#[test]
fn register_node_records_the_node_at_its_canonical_pda() {
    let env = Env::with_node();
    let (address, bump) = node_address(&env.operator.pubkey());
    let node: Node = env.state(&address);
    assert_eq!(node.bump, bump);
    assert_eq!(node.operator, env.operator.pubkey().to_bytes());
    assert_eq!(node.receipt_key, env.node_params().receipt_key);
    assert_eq!((node.class, node.region), (3, env.node_params().region));
    assert_eq!(node.stake, crate::harness::MIN_STAKE);
}

#[test]
fn register_node_at_a_non_canonical_bump_is_refused() {
    // Given an address derived from the node's seeds with a lower, valid bump.
    let mut env = Env::with_config();
    let operator = env.operator.insecure_clone();
    let (canonical, bump) = node_address(&operator.pubkey());
    let forged = (0..bump)
        .rev()
        .find_map(|lower| {
            Address::create_program_address(
                &[NODE_SEED, operator.pubkey().as_ref(), &[lower]],
                &program_id(),
            )
            .ok()
        })
        .expect("some lower bump is off the curve");
    assert_ne!(forged, canonical);
    let mut ix = builders::register_node(&operator.pubkey(), env.node_params());
    ix.accounts[1].pubkey = forged;
    // When / Then
    assert_error(
        env.send(&[ix], &[&operator]),
        0,
        SettlementError::InvalidPda,
    );
}

#[test]
fn register_node_refuses_a_class_above_the_highest_tier() {
    let mut env = Env::with_config();
    let mut params = env.node_params();
    params.class = 16;
    let operator = env.operator.insecure_clone();
    let ix = builders::register_node(&operator.pubkey(), params);
    assert_error(
        env.send(&[ix], &[&operator]),
        0,
        SettlementError::InvalidNodeParameters,
    );
}

#[test]
fn update_node_changes_the_price_floor_and_region() {
    let mut env = Env::with_node();
    let mut params = env.node_params();
    params.price_floor.per_wall_second = 500;
    params.region = crate::harness::region("us-east-2");
    let operator = env.operator.insecure_clone();
    let ix = builders::update_node(&operator.pubkey(), params);
    env.send(&[ix], &[&operator]).unwrap();
    let node: Node = env.state(&node_address(&operator.pubkey()).0);
    assert_eq!(node.price_floor.per_wall_second, 500);
    assert_eq!(node.region, params.region);
}

#[test]
fn update_node_by_another_operator_is_refused() {
    // Given a second operator who signs, pointing at the first one's node.
    let mut env = Env::with_node();
    let (intruder, _) = party(9);
    env.svm.airdrop(&intruder.pubkey(), 1_000_000_000).unwrap();
    let mut ix = builders::update_node(&intruder.pubkey(), env.node_params());
    ix.accounts[1].pubkey = node_address(&env.operator.pubkey()).0;
    // When / Then: the node's address is not the intruder's PDA.
    assert_error(
        env.send(&[ix], &[&intruder]),
        0,
        SettlementError::InvalidPda,
    );
}

#[test]
fn update_node_needs_the_operator_signature() {
    let mut env = Env::with_node();
    let mut ix = builders::update_node(&env.operator.pubkey(), env.node_params());
    ix.accounts[0].is_signer = false;
    let payer = env.renter.insecure_clone();
    assert_error(
        env.send(&[ix], &[&payer]),
        0,
        SettlementError::MissingSigner,
    );
}
