//! GPU time: on the device where it can be, on the host (flagged) where not.

use std::time::Duration;

use kiln_gpu::DeviceConfig;
use kiln_runtime::JobError;

use crate::common::{GpuSandbox, limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lavapipe_times_gpu_work_on_the_device() {
    let sandbox = GpuSandbox::new();
    let report = sandbox
        .run("kiln_test_gpu_probe", b"double", limits())
        .await;
    assert_eq!(report.result.unwrap(), b"doubled true");
    assert!(report.usage.gpu_ns > 0, "{:?}", report.usage);
    assert!(!report.gpu_time_host_measured);
    let device = sandbox.gpu.device().unwrap();
    assert!(
        device.timestamps,
        "{} has timestamp queries",
        device.adapter_name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_device_timestamps_gpu_time_is_host_measured_and_flagged() {
    let sandbox = GpuSandbox::with(DeviceConfig {
        force_host_timing: true,
        ..DeviceConfig::default()
    });
    let report = sandbox
        .run("kiln_test_gpu_probe", b"double", limits())
        .await;
    assert_eq!(report.result.unwrap(), b"doubled true");
    assert!(report.usage.gpu_ns > 0, "{:?}", report.usage);
    assert!(report.gpu_time_host_measured);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_job_bills_no_gpu_time() {
    let sandbox = GpuSandbox::new();
    let report = sandbox.run("kiln_example_matmul", b"", limits()).await;
    assert!(report.result.is_ok());
    assert_eq!(report.usage.gpu_ns, 0);
}

/// Polls `condition` every 5 ms for up to 10 s.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..2000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A GPU wait hands the job's worker away, and the tick after it does not
/// yield (`JobState::note_worker_handed_off`); it must still hold the job
/// when asked to, and keep holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_job_pauses_after_waiting_on_the_device() {
    let sandbox = GpuSandbox::new();
    let workload = sandbox.load("kiln_test_gpu_probe");
    let job = sandbox
        .runtime
        .start(&workload, b"wait-then-spin:50".to_vec(), limits());
    eventually("the waits to be billed and the spin to use fuel", || {
        let usage = job.usage();
        usage.gpu_ns > 0 && usage.fuel > 10_000_000
    })
    .await;
    job.pause();
    eventually("the job to hold", || job.is_paused()).await;
    let held = job.usage();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = job.usage();
    assert_eq!(
        (later.fuel, later.gpu_ns),
        (held.fuel, held.gpu_ns),
        "no fuel or GPU time while held"
    );
    job.kill();
    let report = job.wait().await;
    assert!(
        matches!(report.result, Err(JobError::Killed)),
        "{:?}",
        report.result
    );
    sandbox.assert_healthy().await;
}
