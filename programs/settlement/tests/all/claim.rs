//! `Claim`: paying the delta of a co-signed receipt.

use kiln_protocol::Usage;
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::builders;
use kiln_settlement_interface::pda::{job_address, treasury_address};
use kiln_settlement_interface::program_id;
use kiln_settlement_interface::state::{Job, Treasury};
use solana_account::Account;
use solana_address::Address;
use solana_signer::Signer;

use crate::harness::{ESCROW, Env, JOB_ID, SOL, assert_error};

/// Ten seconds of GPU and wall time: 10 × 1 000 + 10 × 100 = 11 000 lamports.
fn ten_seconds() -> Usage {
    Usage {
        fuel: 0,
        gpu_ns: 10_000_000_000,
        wall_ms: 10_000,
    }
}

#[test]
fn claim_pays_the_operator_and_the_fee_to_the_treasury() {
    // Given a job and a receipt worth 11 000 lamports.
    let (mut env, job) = Env::with_job();
    let signed = env.receipt(&job, 1, ten_seconds());
    let operator = env.operator.pubkey();
    let (before_operator, before_treasury) =
        (env.balance(&operator), env.balance(&treasury_address().0));
    // When anyone (here the renter) submits it.
    let renter = env.renter.insecure_clone();
    env.send(&env.claim_ixs(&job, &signed), &[&renter]).unwrap();
    // Then the fee is 2.5 % rounded down (275) and the operator gets the rest.
    assert_eq!(env.balance(&operator), before_operator + 11_000 - 275);
    assert_eq!(env.balance(&treasury_address().0), before_treasury + 275);
    let state: Job = env.state(&job);
    assert_eq!((state.paid, state.last_paid_seq), (11_000, 1));
    let treasury: Treasury = env.state(&treasury_address().0);
    assert_eq!(treasury.fees, 275);
}

#[test]
fn a_later_receipt_pays_only_the_difference() {
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let first = env.receipt(&job, 1, ten_seconds());
    env.send(&env.claim_ixs(&job, &first), &[&renter]).unwrap();
    let twice = Usage {
        fuel: 0,
        gpu_ns: 20_000_000_000,
        wall_ms: 20_000,
    };
    let second = env.receipt(&job, 2, twice);
    let before = env.balance(&job);
    env.send(&env.claim_ixs(&job, &second), &[&renter]).unwrap();
    assert_eq!(before - env.balance(&job), 11_000);
    assert_eq!(env.state::<Job>(&job).paid, 22_000);
}

#[test]
fn a_receipt_worth_more_than_the_escrow_pays_the_escrow() {
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let huge = Usage {
        fuel: 0,
        gpu_ns: 10_000_000_000_000_000,
        wall_ms: 0,
    };
    let signed = env.receipt(&job, 1, huge);
    env.send(&env.claim_ixs(&job, &signed), &[&renter]).unwrap();
    assert_eq!(env.state::<Job>(&job).paid, ESCROW);
}

#[test]
fn a_replayed_receipt_is_refused() {
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let signed = env.receipt(&job, 1, ten_seconds());
    env.send(&env.claim_ixs(&job, &signed), &[&renter]).unwrap();
    let outcome = env.send(&env.claim_ixs(&job, &signed), &[&renter]);
    assert_error(outcome, 1, SettlementError::StaleReceipt);
}

#[test]
fn a_lower_seq_receipt_is_refused() {
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let newer = env.receipt(&job, 5, ten_seconds());
    env.send(&env.claim_ixs(&job, &newer), &[&renter]).unwrap();
    let older = env.receipt(&job, 4, ten_seconds());
    let outcome = env.send(&env.claim_ixs(&job, &older), &[&renter]);
    assert_error(outcome, 1, SettlementError::StaleReceipt);
}

#[test]
fn a_receipt_for_another_job_is_refused() {
    // Given a second job of the same renter and node, and a receipt for it.
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let other_params = env.job_params(JOB_ID + 1);
    env.send(&env.open_job_ixs(&other_params), &[&renter])
        .unwrap();
    let other = job_address(&renter.pubkey(), JOB_ID + 1).0;
    let signed = env.receipt(&other, 1, ten_seconds());
    // When it is claimed against the first job.
    let ixs = vec![
        builders::receipt_signatures(&signed).unwrap(),
        builders::claim(&job, &env.operator.pubkey()),
    ];
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::ReceiptForAnotherJob,
    );
}

#[test]
fn a_cost_that_overflows_is_refused() {
    // Given a job at the largest rates (above the floor) and a receipt with the largest amounts.
    let mut env = Env::with_node();
    let renter = env.renter.insecure_clone();
    let mut params = env.job_params(JOB_ID);
    params.rates = kiln_protocol::Rates {
        per_million_fuel: u64::MAX,
        per_gpu_second: u64::MAX,
        per_wall_second: u64::MAX,
    };
    env.send(&env.open_job_ixs(&params), &[&renter]).unwrap();
    let job = job_address(&renter.pubkey(), JOB_ID).0;
    let usage = Usage {
        fuel: u64::MAX,
        gpu_ns: u64::MAX,
        wall_ms: u64::MAX,
    };
    let signed = env.receipt(&job, 1, usage);
    let outcome = env.send(&env.claim_ixs(&job, &signed), &[&renter]);
    assert_error(outcome, 1, SettlementError::ArithmeticOverflow);
}

#[test]
fn a_payee_other_than_the_operator_is_refused() {
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let signed = env.receipt(&job, 1, ten_seconds());
    let mut ixs = env.claim_ixs(&job, &signed);
    ixs[1].accounts[1].pubkey = renter.pubkey();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::WrongOperator,
    );
}

#[test]
fn a_forged_treasury_is_refused() {
    // Given a program-owned account holding valid treasury bytes at an address
    // that is not the treasury PDA.
    let (mut env, job) = Env::with_job();
    let real = env.svm.get_account(&treasury_address().0).unwrap();
    let fake = Address::new_from_array([77; 32]);
    let forged = Account {
        owner: program_id(),
        ..real
    };
    env.svm.set_account(fake, forged).unwrap();
    let signed = env.receipt(&job, 1, ten_seconds());
    let mut ixs = env.claim_ixs(&job, &signed);
    ixs[1].accounts[2].pubkey = fake;
    let renter = env.renter.insecure_clone();
    assert_error(env.send(&ixs, &[&renter]), 1, SettlementError::InvalidPda);
}

#[test]
fn a_claim_needs_no_signer_but_pays_no_one_else() {
    // Given a stranger who pays the transaction fee.
    let (mut env, job) = Env::with_job();
    let (stranger, _) = crate::harness::party(11);
    env.svm.airdrop(&stranger.pubkey(), SOL).unwrap();
    let signed = env.receipt(&job, 1, ten_seconds());
    let before = env.balance(&env.operator.pubkey());
    env.send(&env.claim_ixs(&job, &signed), &[&stranger])
        .unwrap();
    assert_eq!(env.balance(&env.operator.pubkey()), before + 11_000 - 275);
}
