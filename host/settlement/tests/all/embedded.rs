//! Every operation through the embedded backend, checked by the typed reads.

use kiln_settlement::{Embedded, Error};
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::state::{DEFAULT_UNSTAKE_COOLDOWN_SECONDS, Job};
use solana_signer::Signer;

use crate::support::{
    ESCROW, FEE_BPS, GRACE_SECONDS, MIN_STAKE, SOL, embedded, usage, with_job, with_node,
};

#[test]
fn the_program_is_deployed_and_the_config_reads_back() {
    let (settlement, parties) = with_node(embedded());
    settlement.check_program().unwrap();
    let config = settlement.config().unwrap();
    assert_eq!(config.scheduler, parties.scheduler.pubkey().to_bytes());
    assert_eq!(config.fee_bps, FEE_BPS);
    assert_eq!(settlement.treasury().unwrap().fees, 0);
}

#[test]
fn a_node_registers_updates_and_stakes() {
    let (mut settlement, parties) = with_node(embedded());
    let operator = parties.operator.pubkey();
    let node = settlement.node(&operator).unwrap();
    assert_eq!((node.class, node.stake), (3, MIN_STAKE));
    let mut params = parties.node();
    params.class = 5;
    settlement.update_node(&parties.operator, params).unwrap();
    settlement.stake(&parties.operator, 2 * SOL).unwrap();
    let node = settlement.node(&operator).unwrap();
    assert_eq!((node.class, node.stake), (5, MIN_STAKE + 2 * SOL));
}

#[test]
fn unstake_waits_for_the_cooldown_then_withdraws() {
    // Given a node that asked to unstake 1 SOL.
    let (mut settlement, parties) = with_node(embedded());
    settlement.begin_unstake(&parties.operator, SOL).unwrap();
    assert_eq!(
        settlement
            .node(&parties.operator.pubkey())
            .unwrap()
            .unstaking,
        SOL
    );
    // When it withdraws before the cooldown, then after it.
    let early = settlement.withdraw(&parties.operator).unwrap_err();
    assert_eq!(
        early.program_error(),
        Some(SettlementError::CooldownNotElapsed)
    );
    let cooldown = i64::try_from(DEFAULT_UNSTAKE_COOLDOWN_SECONDS).unwrap();
    settlement.chain_mut().advance_clock(cooldown + 1);
    let before = settlement.balance(&parties.operator.pubkey()).unwrap();
    let sent = settlement.withdraw(&parties.operator).unwrap();
    // Then the operator gets the stake back, less the fee.
    let after = settlement.balance(&parties.operator.pubkey()).unwrap();
    assert_eq!(after, before + SOL - sent.fee.unwrap());
    assert_eq!(
        settlement
            .node(&parties.operator.pubkey())
            .unwrap()
            .unstaking,
        0
    );
}

#[test]
fn a_job_opens_claims_and_closes_with_a_final_receipt() {
    let (mut settlement, parties, job) = with_job(embedded());
    assert_eq!(settlement.job(&job).unwrap().escrow, ESCROW);
    // A stranger pays for the claim of the first receipt.
    settlement
        .claim(&parties.admin, &parties.receipt(&job, 1, usage(1)))
        .unwrap();
    let state: Job = settlement.job(&job).unwrap();
    assert_eq!((state.paid, state.last_paid_seq), (11_000, 1));
    assert_eq!(settlement.treasury().unwrap().fees, 275);
    // The operator closes with the final receipt; the renter gets the rest.
    let renter = parties.renter.pubkey();
    let renter_before = settlement.balance(&renter).unwrap();
    let job_lamports = settlement.balance(&job).unwrap();
    let last = parties.receipt(&job, 2, usage(3));
    settlement
        .close(&parties.operator, &job, Some(&last))
        .unwrap();
    assert_eq!(
        settlement.balance(&renter).unwrap(),
        renter_before + job_lamports - 22_000
    );
    assert!(matches!(
        settlement.job(&job),
        Err(Error::AccountNotFound { kind: "Job", .. })
    ));
    assert_eq!(
        settlement
            .node(&parties.operator.pubkey())
            .unwrap()
            .jobs_done,
        1
    );
}

#[test]
fn a_stale_receipt_is_refused_with_its_name() {
    let (mut settlement, parties, job) = with_job(embedded());
    let receipt = parties.receipt(&job, 1, usage(1));
    settlement.claim(&parties.renter, &receipt).unwrap();
    let error = settlement.claim(&parties.renter, &receipt).unwrap_err();
    assert!(matches!(
        error,
        Error::Program {
            index: 1,
            error: SettlementError::StaleReceipt
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains("StaleReceipt") && message.contains("code 32"),
        "{message}"
    );
}

#[test]
fn a_receipt_without_the_renter_signature_is_refused_before_sending() {
    let (mut settlement, parties, job) = with_job(embedded());
    let mut receipt = parties.receipt(&job, 1, usage(1));
    receipt.renter_signature = None;
    let error = settlement.claim(&parties.renter, &receipt).unwrap_err();
    assert!(matches!(error, Error::NotCoSigned { seq: 1 }));
}

#[test]
fn an_expired_job_refunds_the_renter() {
    let (mut settlement, parties, job) = with_job(embedded());
    let early = settlement.expire(&parties.admin, &job).unwrap_err();
    assert_eq!(early.program_error(), Some(SettlementError::JobNotExpired));
    let grace = i64::try_from(GRACE_SECONDS).unwrap();
    settlement.chain_mut().advance_clock(3_600 + grace + 1);
    let renter = parties.renter.pubkey();
    let before = settlement.balance(&renter).unwrap();
    let job_lamports = settlement.balance(&job).unwrap();
    settlement.expire(&parties.admin, &job).unwrap();
    assert_eq!(settlement.balance(&renter).unwrap(), before + job_lamports);
    assert!(settlement.try_read::<Job>(&job).unwrap().is_none());
}

#[test]
fn the_scheduler_records_a_fault_and_slashes_within_the_cap() {
    let (mut settlement, parties) = with_node(embedded());
    let operator = parties.operator.pubkey();
    settlement
        .record_fault(&parties.scheduler, &operator, 1_000, [9; 32])
        .unwrap();
    let node = settlement.node(&operator).unwrap();
    assert_eq!((node.faults, node.stake), (1, MIN_STAKE - MIN_STAKE / 10));
    assert_eq!(node.last_fault_evidence, [9; 32]);
    assert_eq!(settlement.treasury().unwrap().slashed, MIN_STAKE / 10);
    let over = settlement.record_fault(&parties.scheduler, &operator, 1_001, [9; 32]);
    assert_eq!(
        over.unwrap_err().program_error(),
        Some(SettlementError::SlashOverCap)
    );
    let stranger = settlement.record_fault(&parties.admin, &operator, 0, [0; 32]);
    assert_eq!(
        stranger.unwrap_err().program_error(),
        Some(SettlementError::Unauthorized)
    );
}

#[test]
fn a_missing_elf_is_a_clear_error() {
    let error = Embedded::in_memory(std::path::Path::new("/nonexistent/kiln.so"))
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("/nonexistent/kiln.so"),
        "{error}"
    );
}
