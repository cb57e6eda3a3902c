//! `kiln:gpu/cuda` on a machine without a CUDA driver: typed `no-driver`.

use kiln_runtime::JobError;

use crate::common::{GpuSandbox, limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_driver_cuda_says_no_driver() {
    let sandbox = GpuSandbox::new();
    if sandbox.gpu.cuda_available() {
        // A CUDA machine: the example must run and check its sum.
        let report = sandbox.run("kiln_example_vecadd_cuda", b"", limits()).await;
        assert_eq!(report.result.unwrap().len(), 8);
        return;
    }
    let answer = sandbox.probe("cuda", limits()).await.unwrap();
    assert!(answer.starts_with("no-driver:"), "{answer}");
    let report = sandbox.run("kiln_example_vecadd_cuda", b"", limits()).await;
    match report.result {
        Err(JobError::Guest(message)) => {
            assert!(
                message.starts_with("no CUDA driver on this node"),
                "{message}"
            );
        }
        other => panic!("expected the example's no-driver message, got {other:?}"),
    }
    sandbox.assert_healthy().await;
}
