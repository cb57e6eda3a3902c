//! What the network does when a party misbehaves or disappears.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kiln_client::Progress;
use kiln_devnet::NODE_STAKE;
use kiln_e2e::{cpu_job, guest, network};
use kiln_protocol::PublicKey;
use kiln_scheduler::SchedulerError;
use tokio::sync::mpsc;

/// A job that runs a couple of seconds (about 26 G fuel): long enough for
/// several receipts at the devnet's 200 ms interval.
fn long_job() -> kiln_client::JobRequest {
    let mut request = cpu_job(guest("kiln_test_hostile"), b"count:1500000000".to_vec());
    request.limits.fuel = 100_000_000_000;
    request
}

/// The node whose receipt the renter counter-signed first, sent once.
fn first_co_signed(tx: mpsc::UnboundedSender<PublicKey>) -> impl FnMut(&Progress) {
    let mut node = None;
    let mut sent = false;
    move |progress| match progress {
        Progress::EscrowOpened { node: n, .. } => node = Some(*n),
        Progress::Receipt {
            co_signed: true, ..
        } if !sent => {
            sent = true;
            let _ = tx.send(node.expect("escrow before receipts"));
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_vanishes_is_paid_what_was_co_signed_and_the_job_moves() {
    let (mut devnet, _dir) = network(2, |c| c.heartbeat = Duration::from_millis(200)).await;
    let renter = devnet.renter(1_000_000_000_000).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let request = long_job();
    let run = renter.run(&request, first_co_signed(tx));
    let kill = async {
        let node = rx.recv().await.expect("a co-signed receipt");
        let index = devnet.nodes.iter().position(|n| n.id == node).unwrap();
        devnet.kill_node(index);
        node
    };
    let (outcome, killed) = tokio::join!(run, kill);
    let outcome = outcome.expect("the job finishes on the other node");
    assert_eq!(outcome.state, "done");
    assert_ne!(outcome.node, killed, "the second node ran it");
    assert!(outcome.output.is_some());
    assert_eq!(outcome.abandoned.len(), 1);
    let left = &outcome.abandoned[0];
    assert_eq!(left.node, killed);
    let payable = left
        .payable
        .expect("a co-signed receipt for the first node");

    // The first node's operator is paid exactly what was co-signed; the
    // renter gets the rest back.
    let operator = devnet.operator_of(&killed).unwrap();
    let before = devnet.balance(&operator);
    assert!(devnet.advance_past_deadline(&left.job));
    renter.settle_abandoned(left).expect("claim and expire");
    let cost = kiln_protocol::rates::usage_cost(
        &payable.receipt.usage(),
        &outcome_rates(&devnet, &left.job, &outcome),
    )
    .unwrap();
    let fee = cost * u64::from(kiln_devnet::FEE_BPS) / 10_000;
    assert_eq!(devnet.balance(&operator) - before, cost - fee);
    assert!(
        renter.ledger().job(&left.job).unwrap().is_none(),
        "escrow expired back to the renter"
    );
}

/// The abandoned escrow's rates are the first node's; the devnet gives
/// every node the same floor, so the second node's price is the same.
fn outcome_rates(
    _: &kiln_devnet::Devnet,
    _: &PublicKey,
    outcome: &kiln_client::JobOutcome,
) -> kiln_protocol::Rates {
    outcome.rates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renter_that_stops_counter_signing_gets_its_job_paused_then_settled() {
    let (devnet, _dir) = network(1, |c| {
        c.metering.renter_silence = Duration::from_secs(1);
        c.settle_wait = Duration::from_millis(500);
    })
    .await;
    let renter = Arc::new(devnet.renter(1_000_000_000_000).unwrap());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (job_tx, mut job_rx) = mpsc::unbounded_channel();
    let running = {
        let renter = Arc::clone(&renter);
        tokio::spawn(async move {
            let mut first = first_co_signed(tx);
            let _ = renter
                .run(&long_job(), move |p| {
                    if let Progress::Submitted { job } = p {
                        let _ = job_tx.send(*job);
                    }
                    first(p);
                })
                .await;
        })
    };
    let node = rx.recv().await.expect("a co-signed receipt");
    running.abort(); // the renter goes silent
    let job = job_rx.recv().await.unwrap();
    let operator = devnet.operator_of(&node).unwrap();
    let before = devnet.balance(&operator);
    let closed = async {
        while renter.ledger().job(&job).unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), closed)
        .await
        .expect("the node settles what was co-signed and closes the escrow");
    let earned = devnet.balance(&operator) - before;
    assert!(earned > 0, "paid for the co-signed receipt");
    let status = kiln_client::SchedulerApi::new(&devnet.scheduler_url)
        .status(&job)
        .await
        .unwrap();
    assert_eq!(status.state, "failed", "the node ended the job: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_over_budget_is_stopped_and_paid_no_more_than_the_budget() {
    let (devnet, _dir) = network(1, |_| {}).await;
    let renter = devnet.renter(1_000_000_000_000).unwrap();
    let mut request = long_job();
    // A receipt every 200 ms costs ~75 000 at the floor (~2.7 G fuel and
    // 200 ms of wall time): the budget covers two receipts, not three.
    let budget = 200_000;
    request.budget = Some(budget);
    let operator = devnet.nodes[0].operator;
    let before = devnet.balance(&operator);
    let outcome = renter.run(&request, |_| {}).await.expect("ends");
    assert!(outcome.stopped_at_budget);
    assert_eq!(outcome.state, "cancelled");
    assert!(outcome.co_signed_cost <= budget);
    assert!(outcome.settled, "the node closed the escrow");
    let earned = devnet.balance(&operator) - before;
    assert!(earned <= budget, "node earned {earned}, budget {budget}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_receipt_file_fails_naming_the_receipt() {
    let (devnet, dir) = network(1, |c| c.metering.interval = Duration::from_millis(100)).await;
    let renter = devnet.renter(1_000_000_000_000).unwrap();
    let request = cpu_job(guest("kiln_test_hostile"), b"count:300000000".to_vec());
    let outcome = renter.run(&request, |_| {}).await.expect("runs");
    let mut file = outcome.receipts.clone();
    assert!(file.receipts.len() >= 2, "several receipts");
    assert!(file.verify(None).is_ok());
    // Raise the fuel of the second receipt (bytes 1 + 32*3 + 8 of the borsh record).
    let mut bytes = hex::decode(&file.receipts[1]).unwrap();
    bytes[1 + 96 + 8] ^= 0x40;
    file.receipts[1] = hex::encode(bytes);
    let path = dir.path().join("tampered.json");
    file.write(&path).unwrap();
    let error = kiln_client::ReceiptsFile::read(&path)
        .unwrap()
        .verify(None)
        .unwrap_err();
    assert!(error.to_string().contains("receipt #1"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_component_whose_hash_does_not_match_is_refused_and_refunded() {
    let (devnet, _dir) = network(1, |_| {}).await;
    let renter = devnet.renter(1_000_000_000_000).unwrap();
    let request = cpu_job(guest("kiln_example_sha256"), b"x".to_vec());
    // A compromised scheduler serves other bytes under the component's digest.
    let digest = kiln_protocol::sha256(&[&request.component]);
    devnet
        .scheduler
        .store()
        .put_component(&digest, &guest("kiln_test_hostile"), 0)
        .await
        .unwrap();
    let before = renter.balance().unwrap();
    let outcome = renter.run(&request, |_| {}).await.expect("ends");
    assert_eq!(outcome.state, "failed");
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap_or("")
            .contains("hash mismatch"),
        "{:?}",
        outcome.error
    );
    assert!(outcome.output.is_none());
    assert!(outcome.settled, "the node closed the unused escrow");
    // Only transaction fees were spent: the escrow came back whole.
    assert!(before - renter.balance().unwrap() < 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduler_restart_mid_job_loses_nothing() {
    let (mut devnet, _dir) = network(1, |c| c.heartbeat = Duration::from_millis(300)).await;
    let renter = devnet.renter(1_000_000_000_000).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let request = long_job();
    let run = renter.run(&request, first_co_signed(tx));
    let restart = async {
        rx.recv().await.expect("a co-signed receipt");
        devnet.restart_scheduler().await.expect("restarts");
    };
    let (outcome, ()) = tokio::join!(run, restart);
    let outcome = outcome.expect("the job finishes");
    assert_eq!(outcome.state, "done");
    assert!(outcome.output.is_some());
    assert!(outcome.receipts.verify(None).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_costs_the_component_cache_not_the_job() {
    let (devnet, _dir) = network(1, |_| {}).await;
    let renter = devnet.renter(1_000_000_000_000).unwrap();
    let request = cpu_job(guest("kiln_example_sha256"), b"disk".to_vec());
    // Every write to the cache file lands on /dev/full: ENOSPC.
    let digest = kiln_protocol::sha256(&[&request.component]);
    let cache = devnet.nodes[0]
        .dir
        .join(kiln_node::config::COMPONENT_CACHE_DIR);
    std::fs::create_dir_all(&cache).unwrap();
    std::os::unix::fs::symlink("/dev/full", cache.join(format!("{digest}.wasm.tmp"))).unwrap();
    let outcome = renter.run(&request, |_| {}).await.expect("runs");
    assert_eq!(outcome.state, "done");
    assert_eq!(
        outcome.output.as_deref(),
        Some(&kiln_protocol::sha256(&[b"disk"]).0[..])
    );
    assert!(
        !cache.join(format!("{digest}.wasm")).exists(),
        "nothing half-written was cached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_declaring_more_stake_than_it_holds_on_chain_is_refused() {
    // Given a node registered and staked 1 SOL (tier 0) on the real program.
    let (devnet, _dir) = network(1, |_| {}).await;
    let node = &devnet.nodes[0];
    let keys = kiln_node::keys::NodeKeys::load_or_create(&node.dir).unwrap();
    let registered = devnet.scheduler.store().nodes().await.unwrap().remove(0);
    assert_eq!((registered.stake, registered.tier), (NODE_STAKE, 0));
    let mut manifest = registered.manifest.manifest.clone();
    let register = |manifest: &kiln_protocol::manifest::CapabilityManifest, stake| {
        let signed = kiln_protocol::manifest::SignedManifest::sign(manifest.clone(), &keys.signing);
        kiln_scheduler_api::wire::RegisterNode {
            manifest: hex::encode(signed.unwrap().to_bytes()),
            stake,
        }
    };

    // When it registers again declaring tier 1's 10 SOL, then the scheduler
    // reads its account and refuses.
    manifest.issued_at += 1;
    let error = devnet
        .scheduler
        .register(&register(&manifest, 10 * NODE_STAKE))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SchedulerError::StakeNotOnChain { declared, on_chain }
            if declared == 10 * NODE_STAKE && on_chain == NODE_STAKE),
        "{error}"
    );
    // And a manifest naming an operator with no node account is refused too.
    let mut stranger = manifest.clone();
    stranger.operator = PublicKey([9; 32]);
    let error = devnet
        .scheduler
        .register(&register(&stranger, NODE_STAKE))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SchedulerError::NotOnChain { .. }),
        "{error}"
    );
    // And the registration it has is unchanged.
    let now = devnet.scheduler.store().nodes().await.unwrap().remove(0);
    assert_eq!((now.stake, now.tier, now.max_jobs), (NODE_STAKE, 0, 1));
    assert_eq!(now.manifest, registered.manifest);

    // And once the operator stakes 9 SOL more on chain, the same claim is accepted at tier 1.
    devnet.add_stake(0, 9 * NODE_STAKE).unwrap();
    let accepted = devnet
        .scheduler
        .register(&register(&manifest, 10 * NODE_STAKE))
        .await
        .unwrap();
    assert_eq!(accepted.tier, 1);
}

/// Sets SQLite's `query_only` on the scheduler's one store connection: every
/// write fails until it is cleared, as on a disk with no space left.
async fn refuse_writes(store: &kiln_scheduler::Store, refuse: bool) {
    let mut conn = store.acquire().await.expect("the store");
    sqlx::query(&format!("PRAGMA query_only = {}", u8::from(refuse)))
        .execute(&mut *conn)
        .await
        .expect("pragma");
}

/// Runs the long job while the scheduler's store refuses every write from
/// the renter's first counter-signature until `outage` ends, and checks what
/// no store outage may cost: the job is done, the renter has its result, and
/// its receipt chain is whole, the last receipt counter-signed.
async fn long_job_through_an_outage(
    devnet: &kiln_devnet::Devnet,
    outage: impl Future<Output = ()>,
) -> kiln_client::Verified {
    let renter = devnet.renter(1_000_000_000_000).unwrap();
    let store = devnet.scheduler.store().clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let request = long_job();
    let run = renter.run(&request, first_co_signed(tx));
    let outage = async {
        rx.recv().await.expect("a co-signed receipt");
        refuse_writes(&store, true).await;
        outage.await;
        refuse_writes(&store, false).await;
    };
    let (outcome, ()) = tokio::join!(run, outage);
    let outcome = outcome.expect("the job finishes once the store is back");
    assert_eq!(outcome.state, "done");
    assert!(outcome.output.is_some(), "the renter has its result");
    assert!(outcome.settled);
    let verified = outcome.receipts.verify(None).expect("a whole chain");
    assert_eq!(verified.payable.receipt.seq, verified.receipts as u64);
    verified
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receipts_a_scheduler_could_not_store_are_sent_again_and_the_job_completes() {
    let (devnet, _dir) = network(1, |_| {}).await;
    // Long enough that the node's next receipts are refused and the guest
    // pauses for want of counter-signatures.
    let verified =
        long_job_through_an_outage(&devnet, tokio::time::sleep(Duration::from_secs(3))).await;
    assert!(verified.receipts >= 3, "{} receipts", verified.receipts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_result_the_scheduler_could_not_store_is_sent_again_with_the_final_receipt() {
    // The guest never pauses for counter-signatures, so it ends while the
    // store refuses writes.
    let (devnet, _dir) = network(1, |c| c.flow.max_unsigned = 1_000_000).await;
    let node = devnet.nodes[0].node.as_ref().expect("the node runs");
    // Until the node has ended the job and let it go (the settle wait over,
    // the escrow closed): the final receipts and the result are refused, and
    // arrive (the proof of execution held) only through the re-send.
    long_job_through_an_outage(&devnet, async {
        while node.status().jobs_done == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// A gateway in front of the scheduler: it passes every request on, and
/// answers the first `lose` counter-signatures the scheduler took with 504
/// Gateway Timeout, as a load balancer does when it gives up on an upstream
/// that answered late. The delivery is made; the renter hears it failed.
struct LossyGateway {
    url: String,
    lost: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Upstream {
    client: reqwest::Client,
    url: String,
    /// How many answers to lose.
    lose: usize,
    /// How many were lost so far.
    lost: Arc<AtomicUsize>,
}

impl LossyGateway {
    async fn start(upstream: &str, lose: usize) -> Self {
        let lost = Arc::new(AtomicUsize::new(0));
        let upstream = Upstream {
            client: reqwest::Client::new(),
            url: upstream.to_owned(),
            lose,
            lost: Arc::clone(&lost),
        };
        let app = axum::Router::new()
            .fallback(Self::pass_on)
            .with_state(upstream);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, lost }
    }

    async fn pass_on(
        State(upstream): State<Upstream>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let counter_signature = method == Method::POST && uri.path().ends_with("/receipts");
        let mut request = upstream
            .client
            .request(method, format!("{}{path}", upstream.url))
            .body(body);
        if let Some(kind) = headers.get(CONTENT_TYPE) {
            request = request.header(CONTENT_TYPE, kind);
        }
        let Ok(answer) = request.send().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let status = answer.status();
        let kind = answer.headers().get(CONTENT_TYPE).cloned();
        let body = answer.bytes().await.unwrap_or_default();
        let lose = counter_signature
            && status.is_success()
            && upstream
                .lost
                .fetch_update(SeqCst, SeqCst, |lost| {
                    (lost < upstream.lose).then_some(lost + 1)
                })
                .is_ok();
        if lose {
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        let mut response = (status, body).into_response();
        if let Some(kind) = kind {
            response.headers_mut().insert(CONTENT_TYPE, kind);
        }
        response
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counter_signatures_whose_answers_were_lost_cost_nothing() {
    let (devnet, _dir) = network(1, |_| {}).await;
    let gateway = LossyGateway::start(&devnet.scheduler_url, 2).await;
    let renter = devnet.renter_at(1_000_000_000_000, &gateway.url).unwrap();
    let outcome = renter
        .run(&long_job(), |_| {})
        .await
        .expect("the job finishes though two answers were lost");
    assert_eq!(outcome.state, "done");
    assert!(outcome.output.is_some(), "the renter has its result");
    assert!(outcome.settled);
    // The receipts whose answers were lost were taken from the relay as
    // counter-signed, so the chain has no hole and every receipt is signed
    // by both sides.
    let verified = outcome.receipts.verify(None).expect("a whole chain");
    assert!(verified.receipts >= 3, "{} receipts", verified.receipts);
    assert_eq!(verified.payable.receipt.seq, verified.receipts as u64);
    assert_eq!(gateway.lost.load(SeqCst), 2, "both answers were lost");
}
