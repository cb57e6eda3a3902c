//! A real guest in the real sandbox, metered by the receipt stream: the node
//! pauses it when the renter stops counter-signing and resumes it when the
//! renter catches up; the receipts form a chain the renter can verify.

use kiln_test_guests::guest;
use std::time::Duration;

use kiln_node::metering::{MeteringConfig, run_metered};
use kiln_node::receipts::{FlowLimits, ReceiptStream};
use kiln_protocol::signing::{SigningKey, public_key};
use kiln_protocol::{Parties, PublicKey, Rates, ReceiptChain, SignedReceipt};
use kiln_runtime::{JobLimits, Runtime, RuntimeConfig};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_renter_pauses_the_guest_and_catching_up_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig::new(dir.path())).unwrap();
    let workload = runtime.load(&guest("kiln_test_hostile")).unwrap();
    let limits = JobLimits {
        fuel: 1 << 50,
        wall_clock: Duration::from_secs(60),
        ..JobLimits::default()
    };
    let job = runtime.start(&workload, b"spin".to_vec(), limits);
    let control = job.control();

    let (node_key, renter_key) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let parties = Parties {
        job: PublicKey([3; 32]),
        node: public_key(&node_key),
        renter: public_key(&renter_key),
    };
    let rates = Rates {
        per_million_fuel: 1,
        per_gpu_second: 0,
        per_wall_second: 1,
    };
    let limits = FlowLimits {
        max_unsigned: 2,
        ..FlowLimits::default()
    };
    let mut stream = ReceiptStream::new(node_key, parties, rates, u64::MAX / 2, limits);
    let (to_renter, mut at_renter) = mpsc::channel::<SignedReceipt>(64);
    let (from_renter_tx, mut from_renter) = mpsc::channel::<SignedReceipt>(64);
    let config = MeteringConfig {
        interval: Duration::from_millis(50),
        ..MeteringConfig::default()
    };
    let node = tokio::spawn(async move {
        let report = run_metered(job, &mut stream, config, to_renter, &mut from_renter).await;
        (report, stream.payable().copied())
    });

    // The renter says nothing: three receipts out, then the guest holds.
    let mut received = Vec::new();
    for _ in 0..3 {
        received.push(at_renter.recv().await.unwrap());
    }
    tokio::time::timeout(Duration::from_secs(10), async {
        while !control.is_paused() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the guest pauses once three receipts wait");
    // The work done between the pause request and the guest's next fuel
    // tick gets one more receipt; after that, nothing moves.
    let frozen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let before = control.usage();
            let seen = received.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
            while let Ok(tail) = at_renter.try_recv() {
                received.push(tail);
            }
            if control.usage() == before && received.len() == seen {
                break before;
            }
        }
    })
    .await
    .expect("a paused guest settles");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(control.usage(), frozen, "a paused guest accrues nothing");
    assert!(at_renter.try_recv().is_err(), "no receipt for no new usage");

    // The renter counter-signs the newest: the guest runs again.
    let mut newest = *received.last().unwrap();
    let newest_seq = newest.receipt.seq;
    newest.counter_sign(&renter_key).unwrap();
    from_renter_tx.send(newest).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), at_renter.recv())
        .await
        .expect("receipts flow again")
        .unwrap();
    assert!(
        next.receipt.fuel > frozen.fuel,
        "the guest ran on after resuming"
    );
    received.push(next);

    control.kill();
    let (report, payable) = node.await.unwrap();
    assert!(report.pauses >= 1);
    assert_eq!(payable.map(|r| r.receipt.seq), Some(newest_seq));
    let last = report
        .final_receipt
        .expect("a killed job still gets its final receipt");
    assert_eq!(last.receipt.usage(), report.job.usage);
    assert!(
        received.iter().all(|r| !r.receipt.gpu_time_host_measured()),
        "a CPU job has no host-timed GPU time to flag"
    );
    while let Ok(more) = at_renter.try_recv() {
        received.push(more);
    }
    assert_eq!(received.last(), Some(&last));

    // Every receipt the renter saw links into one chain it can verify.
    let mut chain = ReceiptChain::new(parties);
    for receipt in &received {
        let mut co_signed = *receipt;
        co_signed.counter_sign(&renter_key).unwrap();
        chain.push(&co_signed).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_fuel_step_receipts_come_by_fuel_not_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig::new(dir.path())).unwrap();
    let workload = runtime.load(&guest("kiln_test_hostile")).unwrap();
    let limits = JobLimits {
        fuel: 1 << 50,
        wall_clock: Duration::from_secs(60),
        ..JobLimits::default()
    };
    // About 17 fuel per iteration: some 5 G fuel in all.
    let job = runtime.start(&workload, b"count:300000000".to_vec(), limits);
    let node_key = SigningKey::from_bytes(&[1; 32]);
    let parties = Parties {
        job: PublicKey([3; 32]),
        node: public_key(&node_key),
        renter: public_key(&SigningKey::from_bytes(&[2; 32])),
    };
    let rates = Rates {
        per_million_fuel: 1,
        per_gpu_second: 0,
        per_wall_second: 1,
    };
    let limits = FlowLimits {
        max_unsigned: u64::MAX,
        ..FlowLimits::default()
    };
    let mut stream = ReceiptStream::new(node_key, parties, rates, u64::MAX / 2, limits);
    let (to_renter, mut at_renter) = mpsc::channel::<SignedReceipt>(1024);
    let (_keep, mut from_renter) = mpsc::channel::<SignedReceipt>(1);
    let step = 1_000_000_000;
    let config = MeteringConfig {
        interval: Duration::from_millis(5),
        fuel_step: Some(step),
        ..MeteringConfig::default()
    };
    let report = run_metered(job, &mut stream, config, to_renter, &mut from_renter).await;
    assert!(report.job.result.is_ok());
    let mut fuels = Vec::new();
    while let Ok(receipt) = at_renter.try_recv() {
        fuels.push(receipt.receipt.fuel);
    }
    assert!(fuels.len() >= 3, "several receipts: {fuels:?}");
    // Every receipt but the final one is at least a step after the previous.
    let mut previous = 0;
    for fuel in &fuels[..fuels.len() - 1] {
        assert!(fuel - previous >= step, "{fuels:?}");
        previous = *fuel;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_benchmark_runs_the_component_and_sets_a_class() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig::new(dir.path())).unwrap();
    let (took, class) = kiln_node::probe::benchmark(&runtime, &guest("kiln_example_sha256"))
        .await
        .expect("the benchmark runs");
    assert!(took > Duration::ZERO);
    assert_eq!(class, kiln_node::probe::class_for(took));
    // A component that fails is an error, not a class.
    let error = kiln_node::probe::benchmark(&runtime, b"not wasm")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("refused"), "{error}");
}
