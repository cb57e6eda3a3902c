//! Guests, a sandbox with the GPU extension, and limits for the tests.

use std::time::Duration;

use kiln_gpu::cuda::PtxCompiler;
use kiln_gpu::{DeviceConfig, GpuHost};
use kiln_runtime::{JobLimits, JobReport, Runtime, RuntimeConfig, Workload};
use tempfile::TempDir;

pub use kiln_test_guests::guest;

/// This crate's `kiln-ptx-compile`, which cargo builds for its tests.
pub fn ptx_compiler() -> PtxCompiler {
    PtxCompiler::new(env!("CARGO_BIN_EXE_kiln-ptx-compile"), Vec::<String>::new())
}

/// A runtime with the GPU extension, its own GPU host (so counters are
/// this test's alone) and its own scratch root.
pub struct GpuSandbox {
    pub gpu: GpuHost,
    pub runtime: Runtime,
    _dir: TempDir,
}

impl GpuSandbox {
    /// With the default device and this crate's PTX compiler process, as
    /// a node runs.
    pub fn new() -> Self {
        Self::with(DeviceConfig {
            ptx_compiler: Some(ptx_compiler()),
            ..DeviceConfig::default()
        })
    }

    pub fn with(config: DeviceConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let gpu = GpuHost::new(config);
        let mut config = RuntimeConfig::new(dir.path().join("scratch"));
        config.max_concurrent_jobs = 16;
        let runtime = Runtime::new(config.with_extension(gpu.extension())).unwrap();
        Self {
            gpu,
            runtime,
            _dir: dir,
        }
    }

    pub fn load(&self, name: &str) -> Workload {
        self.runtime.load(&guest(name)).unwrap()
    }

    pub async fn run(&self, name: &str, input: &[u8], limits: JobLimits) -> JobReport {
        let workload = self.load(name);
        self.runtime.run(&workload, input.to_vec(), limits).await
    }

    /// Runs a probe command (see `host/gpu/guests/probe`) and returns its output as text.
    pub async fn probe(
        &self,
        command: &str,
        limits: JobLimits,
    ) -> Result<String, kiln_runtime::JobError> {
        let report = self
            .run("kiln_test_gpu_probe", command.as_bytes(), limits)
            .await;
        report
            .result
            .map(|bytes| String::from_utf8(bytes).expect("the probe answers in UTF-8"))
    }

    /// No GPU buffer of any job is alive, neither in Kiln's count nor in
    /// the device's own allocator, and a GPU job still runs.
    pub async fn assert_healthy(&self) {
        assert_eq!(self.gpu.live_buffers(), (0, 0), "GPU buffers left alive");
        assert_eq!(
            self.device_allocations(),
            [],
            "device memory left allocated"
        );
        let output = self.probe("ok", limits()).await.unwrap();
        assert!(output.starts_with("ok"), "{output}");
        assert_eq!(self.gpu.live_buffers(), (0, 0), "GPU buffers left alive");
        assert_eq!(
            self.device_allocations(),
            [],
            "device memory left allocated"
        );
    }

    /// What the device's allocator holds besides wgpu's own buffers (its
    /// zero-init buffer and the like), as (label, bytes): the driver-level
    /// check that a job's buffers, and Kiln's timestamp buffers, went with
    /// the job and not at some later job's poll. Empty where the backend
    /// has no allocator report.
    pub fn device_allocations(&self) -> Vec<(String, u64)> {
        let Ok(shared) = self.gpu.device() else {
            return Vec::new();
        };
        shared
            .device
            .generate_allocator_report()
            .map(|report| {
                report
                    .allocations
                    .into_iter()
                    .filter(|allocation| !allocation.name.starts_with("(wgpu internal)"))
                    .map(|allocation| (allocation.name, allocation.size))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Limits for GPU tests: a 64 MiB GPU memory cap.
pub fn limits() -> JobLimits {
    JobLimits {
        gpu_memory_bytes: 64 << 20,
        wall_clock: Duration::from_secs(60),
        ..JobLimits::default()
    }
}
