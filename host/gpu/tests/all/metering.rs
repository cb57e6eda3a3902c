//! GPU time: on the device where it can be, on the host (flagged) where not.

use kiln_gpu::DeviceConfig;

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
