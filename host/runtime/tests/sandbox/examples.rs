//! The example workloads give the answers their native code gives.

use kiln_runtime::JobLimits;

use crate::common::{Sandbox, guest};

#[tokio::test(flavor = "multi_thread")]
async fn the_sha256_example_hashes_its_input() {
    let sandbox = Sandbox::new();
    let workload = sandbox.runtime.load(&guest("kiln_example_sha256")).unwrap();
    for input in [&b""[..], b"abc", &[0x5a; 100_000]] {
        let report = sandbox
            .runtime
            .run(&workload, input.to_vec(), JobLimits::default())
            .await;
        let expected = kiln_protocol::sha256(&[input]);
        assert_eq!(report.result.unwrap(), expected.to_bytes());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_matmul_example_matches_the_same_kernel_run_natively() {
    let sandbox = Sandbox::new();
    let workload = sandbox.runtime.load(&guest("kiln_example_matmul")).unwrap();
    for (n, seed) in [(1u32, 7u32), (17, 3), (64, 1)] {
        let input = [n.to_le_bytes(), seed.to_le_bytes()].concat();
        let report = sandbox
            .runtime
            .run(&workload, input.clone(), JobLimits::default())
            .await;
        let native = kiln_example_matmul::run_job(&input).unwrap();
        assert_eq!(report.result.unwrap(), native, "n = {n}");
    }
    let report = sandbox
        .runtime
        .run(&workload, vec![0; 8], JobLimits::default())
        .await;
    assert_eq!(
        report.result,
        Err(kiln_runtime::JobError::Guest(format!(
            "n must be 1..={}, got 0",
            kiln_example_matmul::MAX_N
        )))
    );
}
