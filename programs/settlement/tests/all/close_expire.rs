//! `Close` and `Expire`: ending a job and refunding the renter.

use kiln_protocol::Usage;
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::builders;
use kiln_settlement_interface::pda::{node_address, treasury_address};
use kiln_settlement_interface::state::Node;
use solana_signer::Signer;

use crate::harness::{Env, GRACE_SECONDS, SOL, assert_error, party};

fn one_second() -> Usage {
    Usage {
        fuel: 0,
        gpu_ns: 1_000_000_000,
        wall_ms: 1_000,
    }
}

#[test]
fn close_with_a_final_receipt_pays_the_node_refunds_the_renter_and_deletes_the_job() {
    // Given a job whose final receipt is worth 1 100 lamports.
    let (mut env, job) = Env::with_job();
    let operator = env.operator.insecure_clone();
    let renter = env.renter.pubkey();
    let held = env.balance(&job);
    let renter_before = env.balance(&renter);
    let signed = env.receipt(&job, 3, one_second());
    // When the operator closes with it.
    let ixs = vec![
        builders::receipt_signatures(&signed).unwrap(),
        builders::close(&operator.pubkey(), &operator.pubkey(), &job, &renter, true),
    ];
    env.send(&ixs, &[&operator]).unwrap();
    // Then the renter gets everything but the 1 100 paid, and the job is gone.
    assert_eq!(env.balance(&renter), renter_before + held - 1_100);
    assert!(env.svm.get_account(&job).is_none_or(|a| a.lamports == 0));
    let node: Node = env.state(&node_address(&operator.pubkey()).0);
    assert_eq!(node.jobs_done, 1);
}

#[test]
fn close_without_a_receipt_refunds_everything() {
    let (mut env, job) = Env::with_job();
    let operator = env.operator.insecure_clone();
    let renter = env.renter.pubkey();
    let (held, before) = (env.balance(&job), env.balance(&renter));
    let ix = builders::close(&operator.pubkey(), &operator.pubkey(), &job, &renter, false);
    env.send(&[ix], &[&operator]).unwrap();
    assert_eq!(env.balance(&renter), before + held);
}

#[test]
fn a_second_close_finds_no_job() {
    let (mut env, job) = Env::with_job();
    let operator = env.operator.insecure_clone();
    let renter = env.renter.pubkey();
    let ix = builders::close(&operator.pubkey(), &operator.pubkey(), &job, &renter, false);
    env.send(std::slice::from_ref(&ix), &[&operator]).unwrap();
    assert_error(
        env.send(&[ix], &[&operator]),
        0,
        SettlementError::AccountNotInitialized,
    );
}

#[test]
fn a_claim_after_close_finds_no_job() {
    let (mut env, job) = Env::with_job();
    let operator = env.operator.insecure_clone();
    let renter = env.renter.pubkey();
    env.send(
        &[builders::close(
            &operator.pubkey(),
            &operator.pubkey(),
            &job,
            &renter,
            false,
        )],
        &[&operator],
    )
    .unwrap();
    let signed = env.receipt(&job, 1, one_second());
    let outcome = env.send(&env.claim_ixs(&job, &signed), &[&operator]);
    assert_error(outcome, 1, SettlementError::AccountNotInitialized);
}

#[test]
fn close_needs_the_operator_signature() {
    // Given the renter trying to close early (and cut off the node's later receipts).
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let mut ix = builders::close(
        &env.operator.pubkey(),
        &env.operator.pubkey(),
        &job,
        &renter.pubkey(),
        false,
    );
    ix.accounts[0].is_signer = false;
    assert_error(
        env.send(&[ix], &[&renter]),
        0,
        SettlementError::MissingSigner,
    );
}

#[test]
fn the_nodes_receipt_key_may_close_and_the_operator_is_paid() {
    // Given a job, and the node machine holding only the receipt key (the
    // operator's wallet, which moves the stake, is elsewhere).
    let (mut env, job) = Env::with_job();
    let operator = env.operator.pubkey();
    let receipt_key = party(4).0;
    env.svm.airdrop(&receipt_key.pubkey(), SOL).unwrap();
    let renter = env.renter.pubkey();
    let (operator_before, renter_before) = (env.balance(&operator), env.balance(&renter));
    let treasury = treasury_address().0;
    let (held, treasury_before) = (env.balance(&job), env.balance(&treasury));
    let signed = env.receipt(&job, 3, one_second());
    // When the receipt key closes with the final receipt.
    let ixs = vec![
        builders::receipt_signatures(&signed).unwrap(),
        builders::close(&receipt_key.pubkey(), &operator, &job, &renter, true),
    ];
    env.send(&ixs, &[&receipt_key]).unwrap();
    // Then the operator is paid the 1 100 less the treasury's fee, the
    // renter gets the rest, and the job is gone.
    let paid = env.balance(&operator) - operator_before;
    let fee = env.balance(&treasury) - treasury_before;
    assert!(fee > 0, "the treasury takes its fee");
    assert_eq!(paid + fee, 1_100);
    assert_eq!(env.balance(&renter), renter_before + held - 1_100);
    assert!(env.svm.get_account(&job).is_none_or(|a| a.lamports == 0));
}

#[test]
fn only_the_operator_or_the_receipt_key_may_close() {
    // Given the renter signing a close as the closer.
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let operator = env.operator.pubkey();
    let ix = builders::close(&renter.pubkey(), &operator, &job, &renter.pubkey(), false);
    assert_error(
        env.send(&[ix], &[&renter]),
        0,
        SettlementError::Unauthorized,
    );
    // And the receipt key closing with someone else as the payee.
    let receipt_key = party(4).0;
    env.svm.airdrop(&receipt_key.pubkey(), SOL).unwrap();
    let mut ix = builders::close(
        &receipt_key.pubkey(),
        &operator,
        &job,
        &renter.pubkey(),
        false,
    );
    ix.accounts[1].pubkey = renter.pubkey();
    assert_error(
        env.send(&[ix], &[&receipt_key]),
        0,
        SettlementError::WrongOperator,
    );
}

#[test]
fn close_refunding_someone_other_than_the_renter_is_refused() {
    let (mut env, job) = Env::with_job();
    let operator = env.operator.insecure_clone();
    let ix = builders::close(
        &operator.pubkey(),
        &operator.pubkey(),
        &job,
        &operator.pubkey(),
        false,
    );
    assert_error(
        env.send(&[ix], &[&operator]),
        0,
        SettlementError::WrongRenter,
    );
}

#[test]
fn expire_after_deadline_and_grace_refunds_the_renter() {
    let (mut env, job) = Env::with_job();
    let renter = env.renter.pubkey();
    let (held, before) = (env.balance(&job), env.balance(&renter));
    env.warp(3_600 + i64::try_from(GRACE_SECONDS).unwrap() + 1);
    // Anyone may send it: here the scheduler pays the fee.
    let payer = env.scheduler.insecure_clone();
    env.send(&[builders::expire(&job, &renter)], &[&payer])
        .unwrap();
    assert_eq!(env.balance(&renter), before + held);
}

#[test]
fn expire_within_the_grace_period_is_refused() {
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    env.warp(3_600 + i64::try_from(GRACE_SECONDS).unwrap());
    let outcome = env.send(&[builders::expire(&job, &renter.pubkey())], &[&renter]);
    assert_error(outcome, 0, SettlementError::JobNotExpired);
}
