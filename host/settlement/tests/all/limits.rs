//! Races and limits: a claim that loses to a close, and a transaction too
//! large for one packet, refused before it is sent.

use kiln_settlement::client::{claim_instructions, close_instructions};
use kiln_settlement::{Error, Rpc, tx};
use kiln_settlement_interface::SettlementError;
use solana_commitment_config::CommitmentConfig;
use solana_signer::Signer as _;

use crate::rpc_server::RpcServer;
use crate::support::{embedded, open_job, usage, with_job};

#[test]
fn a_claim_that_races_a_close_loses_cleanly() {
    // Given a claim and a close built at the same moment, on the same blockhash.
    let (mut settlement, parties, job) = with_job(embedded());
    let state = settlement.job(&job).unwrap();
    let receipt = parties.receipt(&job, 1, usage(1));
    let blockhash = settlement.chain().latest_blockhash();
    let claim = claim_instructions(&state, &receipt).unwrap();
    let claim = tx::build(&claim, &[&parties.renter], blockhash).unwrap();
    let close = close_instructions(&parties.operator.pubkey(), &job, &state, None).unwrap();
    let close = tx::build(&close, &[&parties.operator], blockhash).unwrap();
    let renter_before = settlement.balance(&state.renter.into()).unwrap();
    // When the close lands first.
    settlement.chain_mut().submit(&close).unwrap();
    let lost = settlement.chain_mut().submit(&claim).unwrap_err();
    // Then the claim is refused by the program (the job is gone) and the
    // renter kept the whole escrow.
    assert_eq!(
        lost.program_error(),
        Some(SettlementError::AccountNotInitialized),
        "{lost}"
    );
    let refund = settlement.balance(&state.renter.into()).unwrap() - renter_before;
    assert!(refund >= state.escrow, "refund {refund}");
}

#[test]
fn two_claims_do_not_fit_one_packet_and_are_never_sent() {
    // Given two open jobs and a receipt for each, claimed over RPC.
    let (mut settlement, parties, job) = with_job(embedded());
    let jobs = [job, open_job(&mut settlement, &parties, 8)];
    let receipts: Vec<_> = jobs
        .iter()
        .map(|job| parties.receipt(job, 1, usage(1)))
        .collect();
    let server = RpcServer::start(settlement.chain().clone_state());
    let rpc = Rpc::connect(&server.url, CommitmentConfig::confirmed()).unwrap();
    let mut over_rpc = kiln_settlement::Settlement::new(rpc);
    // When both go in one transaction (1246 bytes).
    let error = over_rpc
        .claim_batch(&parties.renter, &receipts)
        .unwrap_err();
    // Then it is refused with its size, and the server never saw a send.
    match error {
        Error::TransactionTooLarge { size, limit } => {
            assert_eq!(limit, tx::MAX_TRANSACTION_SIZE);
            assert!(size > limit);
        }
        other => panic!("expected TransactionTooLarge, got {other}"),
    }
    assert!(!server.calls().iter().any(|call| call == "sendTransaction"));
    // And one does fit, and pays.
    over_rpc
        .claim_batch(&parties.renter, &receipts[..1])
        .unwrap();
    assert_eq!(over_rpc.job(&jobs[0]).unwrap().paid, 11_000);
}
