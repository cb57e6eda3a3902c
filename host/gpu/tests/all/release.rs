//! A job's GPU resources are released however it ends.

use std::time::Duration;

use kiln_runtime::{JobError, JobLimits};

use crate::common::{GpuSandbox, limits};

/// A job that holds 8 MiB of GPU buffer when it misbehaves.
const HELD: u64 = 8 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_releases_the_jobs_buffers() {
    let sandbox = GpuSandbox::new();
    let error = sandbox
        .probe(&format!("alloc-then-trap:{HELD}"), limits())
        .await
        .unwrap_err();
    assert!(matches!(error, JobError::Trap(_)), "{error:?}");
    assert_eq!(sandbox.gpu.live_buffers(), (0, 0));
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_releases_the_jobs_buffers() {
    let sandbox = GpuSandbox::new();
    let limits = JobLimits {
        wall_clock: Duration::from_secs(2),
        ..limits()
    };
    let error = sandbox
        .probe(&format!("alloc-then-spin:{HELD}"), limits)
        .await
        .unwrap_err();
    assert!(matches!(error, JobError::Deadline { .. }), "{error:?}");
    assert_eq!(sandbox.gpu.live_buffers(), (0, 0));
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_releases_the_jobs_buffers() {
    let sandbox = GpuSandbox::new();
    let workload = sandbox.load("kiln_test_gpu_probe");
    let command = format!("alloc-then-spin:{HELD}").into_bytes();
    let job = sandbox.runtime.start(&workload, command, limits());
    for _ in 0..2000 {
        if sandbox.gpu.live_buffers().1 >= HELD {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        sandbox.gpu.live_buffers().1 >= HELD,
        "the job holds its buffer"
    );
    let held: u64 = sandbox
        .device_allocations()
        .iter()
        .map(|(_, bytes)| bytes)
        .sum();
    assert!(
        held >= HELD,
        "the device's allocator holds it too: {held} bytes"
    );
    job.kill();
    let report = job.wait().await;
    assert!(matches!(report.result, Err(JobError::Killed)));
    assert_eq!(sandbox.gpu.live_buffers(), (0, 0));
    sandbox.assert_healthy().await;
}
