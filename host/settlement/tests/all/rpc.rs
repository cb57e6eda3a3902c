//! The RPC backend: solana-client's `RpcClient`, unchanged, against the
//! loopback JSON-RPC server that answers from LiteSVM.

use kiln_settlement::{Error, Rpc, Settlement};
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::program_id;
use solana_account::Account;
use solana_commitment_config::CommitmentConfig;
use solana_signer::Signer;

use crate::rpc_server::RpcServer;
use crate::support::{MIN_STAKE, SOL, embedded, open_job, usage, with_node};

fn connect(server: &RpcServer) -> Rpc {
    Rpc::connect(&server.url, CommitmentConfig::confirmed()).unwrap()
}

#[test]
fn every_operation_runs_over_json_rpc() {
    // Given a fresh chain served over RPC.
    let server = RpcServer::start(embedded());
    let (mut settlement, parties) = with_node(connect(&server));
    settlement.check_program().unwrap();
    let operator = parties.operator.pubkey();
    // Node, stake and unstake.
    settlement
        .update_node(&parties.operator, parties.node())
        .unwrap();
    settlement.stake(&parties.operator, SOL).unwrap();
    settlement.begin_unstake(&parties.operator, SOL).unwrap();
    let node = settlement.node(&operator).unwrap();
    assert_eq!((node.stake, node.unstaking), (MIN_STAKE, SOL));
    let early = settlement.withdraw(&parties.operator).unwrap_err();
    assert_eq!(
        early.program_error(),
        Some(SettlementError::CooldownNotElapsed)
    );
    // Job, claim, close.
    let job = open_job(&mut settlement, &parties, 7);
    settlement
        .claim(&parties.renter, &parties.receipt(&job, 1, usage(1)))
        .unwrap();
    assert_eq!(settlement.job(&job).unwrap().paid, 11_000);
    let stale = settlement.claim(&parties.renter, &parties.receipt(&job, 1, usage(1)));
    assert!(matches!(
        stale.unwrap_err(),
        Error::Program {
            index: 1,
            error: SettlementError::StaleReceipt
        }
    ));
    settlement.close(&parties.operator, &job, None).unwrap();
    assert!(
        settlement
            .try_read::<kiln_settlement_interface::state::Job>(&job)
            .unwrap()
            .is_none()
    );
    // Expire refuses an open job before its deadline; a fault is recorded.
    let second = open_job(&mut settlement, &parties, 8);
    let early = settlement.expire(&parties.admin, &second).unwrap_err();
    assert_eq!(early.program_error(), Some(SettlementError::JobNotExpired));
    settlement
        .record_fault(&parties.scheduler, &operator, 0, [1; 32])
        .unwrap();
    assert_eq!(settlement.node(&operator).unwrap().faults, 1);
    assert!(settlement.now().unwrap() > 0);
    // The client used the real methods, base64+zstd accounts included.
    let calls = server.calls();
    for method in [
        "getLatestBlockhash",
        "sendTransaction",
        "getSignatureStatuses",
        "getMultipleAccounts",
    ] {
        assert!(
            calls.iter().any(|call| call == method),
            "{method} never called"
        );
    }
}

#[test]
fn an_expired_blockhash_is_refreshed_and_the_send_retried() {
    let server = RpcServer::start(embedded());
    let (mut settlement, parties) = with_node(connect(&server));
    // Given the next send's blockhash expires in flight.
    server.expire_next_sends(1);
    let sends_before = count(&server, "sendTransaction");
    // When the operator stakes, then it lands on the second attempt.
    settlement.stake(&parties.operator, SOL).unwrap();
    assert_eq!(count(&server, "sendTransaction") - sends_before, 2);
    assert_eq!(
        settlement.node(&parties.operator.pubkey()).unwrap().stake,
        MIN_STAKE + SOL
    );
}

fn count(server: &RpcServer, method: &str) -> usize {
    server.calls().iter().filter(|call| *call == method).count()
}

#[test]
fn an_unreachable_cluster_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let error = Rpc::connect(&url, CommitmentConfig::confirmed())
        .err()
        .unwrap();
    assert!(
        matches!(&error, Error::ClusterUnreachable { url: named, .. } if *named == url),
        "{error}"
    );
}

#[test]
fn a_cluster_without_the_program_says_so() {
    let mut chain = embedded();
    chain
        .svm_mut()
        .set_account(program_id(), Account::default())
        .unwrap();
    let server = RpcServer::start(chain);
    let error = Settlement::new(connect(&server))
        .check_program()
        .unwrap_err();
    assert!(matches!(error, Error::ProgramNotDeployed { .. }), "{error}");
    assert!(error.to_string().contains("not deployed"), "{error}");
}
