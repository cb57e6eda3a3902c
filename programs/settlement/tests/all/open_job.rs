//! `OpenJob`: escrow funded at terms the node signed.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::builders;
use kiln_settlement_interface::pda::{job_address, node_address};
use kiln_settlement_interface::state::{Job, State};
use solana_signer::Signer;

use crate::harness::{ESCROW, Env, FEE_BPS, JOB_ID, assert_error, party, rates};

#[test]
fn open_job_holds_the_escrow_and_records_the_terms() {
    let (env, job) = Env::with_job();
    let state: Job = env.state(&job);
    assert_eq!(state.bump, job_address(&env.renter.pubkey(), JOB_ID).1);
    assert_eq!(state.renter, env.renter.pubkey().to_bytes());
    assert_eq!(
        state.node,
        node_address(&env.operator.pubkey()).0.to_bytes()
    );
    assert_eq!(state.operator, env.operator.pubkey().to_bytes());
    assert_eq!(state.node_receipt_key, env.node_params().receipt_key);
    assert_eq!(
        (state.escrow, state.paid, state.last_paid_seq),
        (ESCROW, 0, 0)
    );
    assert_eq!((state.rates, state.fee_bps), (rates(), FEE_BPS));
    let rent = env.svm.minimum_balance_for_rent_exemption(Job::LEN);
    assert_eq!(env.balance(&job), rent + ESCROW);
}

#[test]
fn open_job_without_the_nodes_acceptance_is_refused() {
    let mut env = Env::with_node();
    let ixs = env.open_job_ixs(&env.job_params(JOB_ID));
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs[1..], &[&renter]),
        0,
        SettlementError::MissingEd25519Instruction,
    );
}

#[test]
fn open_job_accepted_by_another_key_is_refused() {
    // Given terms signed by a key that is not the node's receipt key.
    let mut env = Env::with_node();
    let params = env.job_params(JOB_ID);
    env.node_key = party(8).1;
    let ixs = env.open_job_ixs(&params);
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::WrongNodeSigner,
    );
}

#[test]
fn open_job_with_terms_other_than_the_accepted_ones_is_refused() {
    // Given the node accepted 1 SOL of escrow but the renter opens with less.
    let mut env = Env::with_node();
    let params = env.job_params(JOB_ID);
    let mut ixs = env.open_job_ixs(&params);
    let mut smaller = params;
    smaller.escrow = ESCROW / 2;
    ixs[1] = builders::open_job(&env.renter.pubkey(), &env.operator.pubkey(), smaller);
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::SignedMessageMismatch,
    );
}

#[test]
fn open_job_below_the_price_floor_is_refused() {
    let mut env = Env::with_node();
    let mut params = env.job_params(JOB_ID);
    params.rates.per_gpu_second -= 1;
    let ixs = env.open_job_ixs(&params);
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::RatesBelowFloor,
    );
}

#[test]
fn open_job_on_an_unstaked_node_is_refused() {
    let mut env = Env::with_config();
    let operator = env.operator.insecure_clone();
    let register = builders::register_node(&operator.pubkey(), env.node_params());
    env.send(&[register], &[&operator]).unwrap();
    let ixs = env.open_job_ixs(&env.job_params(JOB_ID));
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::NodeUnderstaked,
    );
}

#[test]
fn open_job_needs_the_renter_signature() {
    let mut env = Env::with_node();
    let mut ixs = env.open_job_ixs(&env.job_params(JOB_ID));
    ixs[1].accounts[0].is_signer = false;
    let payer = env.scheduler.insecure_clone();
    assert_error(env.send(&ixs, &[&payer]), 1, SettlementError::MissingSigner);
}
