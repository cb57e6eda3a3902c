//! The happy path: a CPU job and a GPU job through scheduler, node and
//! chain; balances move as the receipts say; the receipts verify offline.

use kiln_e2e::{cpu_job, guest, network};
use kiln_protocol::{WorkloadClass, sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cpu_and_a_gpu_job_run_settle_and_verify() {
    let (devnet, dir) = network(2, |_| {}).await;
    let renter = devnet.renter(100_000_000_000).unwrap();
    let renter_before = renter.balance().unwrap();
    let treasury_before = devnet.treasury_balance();

    let input = b"kiln end to end".to_vec();
    let outcome = renter
        .run(
            &cpu_job(guest("kiln_example_sha256"), input.clone()),
            |_| {},
        )
        .await
        .expect("the CPU job runs");
    assert_eq!(outcome.state, "done");
    assert_eq!(outcome.output.as_deref(), Some(&sha256(&[&input]).0[..]));
    assert!(outcome.settled, "the node closed the escrow");
    let verified = outcome.receipts.verify(None).expect("the receipts verify");
    assert_eq!(verified.payable_amount, outcome.co_signed_cost);
    assert!(
        verified.payable.receipt.output != kiln_protocol::Digest::ZERO,
        "final receipt co-signed"
    );

    let spent = renter_before - renter.balance().unwrap();
    assert!(
        spent >= outcome.co_signed_cost,
        "the renter paid what it co-signed"
    );
    assert!(
        spent < outcome.escrow,
        "and was refunded the rest of the escrow"
    );

    let mut gpu = cpu_job(guest("kiln_example_mandelbrot"), Vec::new());
    gpu.class = WorkloadClass::WebGpu;
    gpu.limits.gpu_memory_bytes = 64 << 20;
    let image = renter.run(&gpu, |_| {}).await.expect("the GPU job runs");
    let png = image.output.expect("a PNG");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(image.receipts.verify(None).is_ok());
    let file = dir.path().join("receipts.json");
    image.receipts.write(&file).unwrap();
    assert!(
        kiln_client::ReceiptsFile::read(&file)
            .unwrap()
            .verify(None)
            .is_ok()
    );
    // The agent's status file (what `kiln node status` prints) catches up
    // within its interval: jobs done and co-signed earnings across both nodes,
    // both nodes linked and idle again.
    let settled_view = |statuses: &[kiln_node::status::NodeStatus]| {
        statuses.iter().map(|s| s.jobs_done).sum::<u64>() == 2
            && statuses
                .iter()
                .all(|s| s.linked && s.state == "READY" && s.jobs.is_empty())
            && statuses.iter().map(|s| s.earned_co_signed).sum::<u64>()
                == outcome.co_signed_cost + image.co_signed_cost
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let statuses = loop {
        let statuses: Vec<_> = devnet
            .nodes
            .iter()
            .map(|n| {
                kiln_node::status::NodeStatus::read(&n.dir.join(kiln_node::config::STATUS_FILE))
                    .unwrap()
            })
            .collect();
        if settled_view(&statuses) || std::time::Instant::now() > until {
            break statuses;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        settled_view(&statuses),
        "the nodes' status files never showed both jobs done and paid: {statuses:#?}"
    );
    // The fee is 2.5 % of each payment, rounded down: the rendering costs
    // enough for it to show.
    let fees = devnet.treasury_balance() - treasury_before;
    let paid = outcome.co_signed_cost + image.co_signed_cost;
    assert!(
        fees > 0 && fees <= paid * u64::from(kiln_devnet::FEE_BPS) / 10_000,
        "fees {fees} for {paid} paid"
    );
}

/// A node staked at tier 1 (10 SOL: four jobs at once, `kiln node run`'s
/// default two) runs two renters' jobs at the same time, each under its own
/// escrow and receipt stream, and both settle. (At tier 0 the same test
/// sees one job at a time and fails.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_at_tier_one_runs_two_jobs_at_once() {
    let (devnet, _dir) = network(1, |c| c.node_stake = 10 * kiln_devnet::NODE_STAKE).await;
    let node = devnet.nodes[0].node.as_ref().expect("the node runs");
    let (first, second) = (
        devnet.renter(1_000_000_000_000).unwrap(),
        devnet.renter(1_000_000_000_000).unwrap(),
    );
    // Jobs of about two seconds each, so the two overlap if both are let in.
    let mut request = cpu_job(guest("kiln_test_hostile"), b"count:1500000000".to_vec());
    request.limits.fuel = 100_000_000_000;
    let both = async { tokio::join!(first.run(&request, |_| {}), second.run(&request, |_| {})) };
    // The node's own view, sampled while the jobs run: the most at once.
    let watch = async {
        let mut most = 0;
        for _ in 0..3_000 {
            most = most.max(node.status().jobs.len());
            if most == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        most
    };
    let ((a, b), most) = tokio::join!(both, watch);
    let (a, b) = (
        a.expect("the first job runs"),
        b.expect("the second job runs"),
    );
    assert_eq!(most, 2, "both jobs ran on the node at once");
    for outcome in [&a, &b] {
        assert_eq!(outcome.state, "done");
        assert_eq!(outcome.node, devnet.nodes[0].id);
        assert!(outcome.settled, "the node closed each escrow");
        outcome
            .receipts
            .verify(None)
            .expect("each receipt chain verifies");
    }
    assert_ne!(a.job, b.job, "two escrows");
}
