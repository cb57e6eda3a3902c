//! Each misuse gets a typed error, and the host is healthy after it.

use crate::common::{GpuSandbox, limits};

async fn probe(sandbox: &GpuSandbox, command: &str) -> String {
    sandbox.probe(command, limits()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_runs_and_its_result_reads_back() {
    let sandbox = GpuSandbox::new();
    assert_eq!(probe(&sandbox, "double").await, "doubled true");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bounds_writes_are_typed_errors() {
    let sandbox = GpuSandbox::new();
    let answer = probe(&sandbox, "oob-write").await;
    assert!(
        answer.starts_with("write: out of bounds: buffer: bytes 60..60+8 of 64"),
        "{answer}"
    );
    let answer = probe(&sandbox, "oob-write-far").await;
    assert!(answer.starts_with("write: out of bounds"), "{answer}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bounds_reads_and_maps_are_typed_errors() {
    let sandbox = GpuSandbox::new();
    let answer = probe(&sandbox, "oob-read").await;
    assert!(
        answer.starts_with("validation: out of bounds: copy source"),
        "{answer}"
    );
    let answer = probe(&sandbox, "oob-map").await;
    assert!(
        answer.starts_with("map-error MapAsyncErrorKind::RangeError: out of bounds"),
        "{answer}"
    );
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffers_over_the_memory_cap_are_out_of_memory_and_the_job_goes_on() {
    let sandbox = GpuSandbox::new();
    // The cap is 64 MiB: 65 MiB is refused, and a small buffer after it works.
    let answer = probe(&sandbox, &format!("alloc:{}", 65 << 20)).await;
    assert!(
        answer.starts_with("out-of-memory: GPU memory cap"),
        "{answer}"
    );
    assert!(answer.ends_with("then 1 KiB: ok"), "{answer}");
    // A size no device has is refused as well, before wgpu is asked.
    let answer = probe(&sandbox, &format!("alloc:{}", u64::MAX)).await;
    assert!(!answer.starts_with("ok"), "{answer}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_buffers_are_zero_so_no_job_reads_another_jobs_data() {
    let sandbox = GpuSandbox::new();
    for _ in 0..3 {
        assert_eq!(probe(&sandbox, "fill:1048576").await, "filled true");
        assert_eq!(probe(&sandbox, "zeroed:1048576").await, "zeroed true");
    }
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_wgsl_is_a_validation_error() {
    let sandbox = GpuSandbox::new();
    let answer = probe(&sandbox, "bad-wgsl").await;
    assert!(answer.starts_with("validation:"), "{answer}");
    assert!(answer.contains("parsing"), "names the WGSL error: {answer}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_over_the_device_limits_is_a_validation_error() {
    let sandbox = GpuSandbox::new();
    let answer = probe(&sandbox, "dispatch-over").await;
    assert!(
        answer.starts_with(
            "validation: dispatch of 1048576x1x1 workgroups is over the device's limit"
        ),
        "{answer}"
    );
    assert!(answer.ends_with("then: ok"), "{answer}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_workload_runs_as_before_beside_the_gpu_extension() {
    let sandbox = GpuSandbox::new();
    let report = sandbox.run("kiln_example_sha256", b"abc", limits()).await;
    assert_eq!(report.result.unwrap().len(), 32);
    assert_eq!(report.usage.gpu_ns, 0);
    assert!(!report.gpu_time_host_measured);
}
