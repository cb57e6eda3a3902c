//! Kiln's GPU host calls: the compute part of the standard `wasi:webgpu`
//! over one shared wgpu device, and `kiln:gpu/cuda` over cudarc.
//!
//! [`GpuHost`] is a [`kiln_runtime::HostExtension`]: list it in
//! `RuntimeConfig::extensions` and workloads may import `wasi:webgpu/webgpu`
//! and `kiln:gpu/cuda`. A workload that imports neither runs exactly as
//! without it.
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kiln_gpu::GpuHost;
//! use kiln_runtime::{Runtime, RuntimeConfig};
//!
//! let gpu = GpuHost::new(kiln_gpu::DeviceConfig::default());
//! let runtime = Runtime::new(RuntimeConfig::new("/var/lib/kiln/scratch").with_extension(gpu.extension()))?;
//! # Ok(()) }
//! ```
//!
//! What holds for every job (see [`job`] for the invariants, [`limits`]
//! for the bounds, host/gpu/README.md for the design):
//!
//! - one device per process, opened on first use ([`device`]); each job has
//!   its own handle table, memory account, error scopes and timing;
//! - every handle is checked to be the calling job's; every offset, length
//!   and size is checked before wgpu sees it; buffers are charged to the
//!   job's GPU memory cap and are zero when created;
//! - every failure reaches the guest as a typed error (a `gpu-error` in its
//!   error scope, a `result` error, a `cuda-error`), never a host panic;
//! - GPU time is measured with device timestamps ([`timing`]) and added to
//!   the job's `gpu_ns`; host-measured where the device cannot, flagged;
//! - everything a job made is released when it ends, however it ends.

pub mod bindings;
pub mod cuda;
pub mod device;
pub mod error;
pub mod job;
pub mod limits;
mod scope;
pub mod timing;
pub mod webgpu;

use std::any::Any;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use kiln_runtime::{ExtensionSlot, HostExtension, JobContext, JobState};
use wasmtime::component::Linker;

pub use device::{DeviceConfig, SharedDevice};
pub use error::{DeviceError, ErrorClass, GpuError};
pub use job::GpuJob;
pub use webgpu::objects::LiveCounters;

/// `wasi:webgpu`'s interface, as the runtime's grants name it.
pub const WEBGPU_INTERFACE: &str = "wasi:webgpu/webgpu";
/// `kiln:gpu/cuda`, as the runtime's grants name it.
pub const CUDA_INTERFACE: &str = "kiln:gpu/cuda";

/// What every job of a process shares: the device (opened on first use),
/// live-object counters, job ids.
#[derive(Debug)]
pub struct HostShared {
    config: DeviceConfig,
    device: OnceLock<Result<Arc<SharedDevice>, DeviceError>>,
    pub(crate) live: Arc<LiveCounters>,
    pub(crate) next_job: AtomicU64,
}

impl HostShared {
    /// The shared device, opened by the first caller (~600 ms on lavapipe).
    pub fn device(&self) -> Result<Arc<SharedDevice>, DeviceError> {
        self.device
            .get_or_init(|| SharedDevice::open(&self.config))
            .clone()
    }

    /// True once the device has been opened (or failed to open): asking for
    /// it then never blocks.
    pub(crate) fn device_is_settled(&self) -> bool {
        self.device.get().is_some()
    }
}

/// The GPU host extension of one process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GpuHost {
    shared: Arc<HostShared>,
    /// Names the linker defines, per interface: what [`HostExtension::provides`] answers from.
    provided: Arc<Mutex<HashSet<(&'static str, String)>>>,
}

impl GpuHost {
    /// A host that opens its device with `config` when a job first asks.
    pub fn new(config: DeviceConfig) -> Self {
        Self {
            shared: Arc::new(HostShared {
                config,
                device: OnceLock::new(),
                live: Arc::default(),
                next_job: AtomicU64::new(1),
            }),
            provided: Arc::default(),
        }
    }

    /// This host as a runtime extension (`RuntimeConfig::with_extension`).
    pub fn extension(&self) -> Arc<dyn HostExtension> {
        Arc::new(self.clone())
    }

    /// The shared device, opened now if it was not yet.
    pub fn device(&self) -> Result<Arc<SharedDevice>, DeviceError> {
        self.shared.device()
    }

    /// GPU buffers alive across all jobs, and their bytes.
    pub fn live_buffers(&self) -> (u64, u64) {
        (
            self.shared.live.buffers.load(Ordering::Relaxed),
            self.shared.live.bytes.load(Ordering::Relaxed),
        )
    }

    /// True when this node can run CUDA workloads (the driver sees a device,
    /// and a PTX compiler process is configured), what its capability
    /// manifest says.
    pub fn cuda_available(&self) -> bool {
        self.shared.config.ptx_compiler.is_some() && cuda::device_count() > 0
    }

    /// A job's state outside any runtime, for tests of the host calls themselves.
    pub fn job_for_tests(&self, gpu_memory_bytes: u64, meter: kiln_runtime::JobMeter) -> GpuJob {
        GpuJob::new(
            self.shared.clone(),
            gpu_memory_bytes,
            std::time::Duration::from_secs(60),
            meter,
        )
    }
}

impl HostExtension for GpuHost {
    fn interfaces(&self) -> &[&'static str] {
        &[WEBGPU_INTERFACE, CUDA_INTERFACE]
    }

    fn provides(&self, interface: &str, item: &str) -> bool {
        let provided = self.provided.lock().unwrap_or_else(|e| e.into_inner());
        provided
            .iter()
            .any(|(i, name)| *i == interface && name == item)
    }

    fn add_to_linker(
        &self,
        linker: &mut Linker<JobState>,
        slot: ExtensionSlot,
    ) -> wasmtime::Result<()> {
        let mut names = Vec::new();
        webgpu::link::add_to_linker(linker, slot, &mut names)?;
        let webgpu = names.drain(..).map(|name| (WEBGPU_INTERFACE, name));
        let mut provided = self.provided.lock().unwrap_or_else(|e| e.into_inner());
        provided.extend(webgpu);
        cuda::link::add_to_linker(linker, slot, &mut names)?;
        provided.extend(names.into_iter().map(|name| (CUDA_INTERFACE, name)));
        Ok(())
    }

    fn job_state(&self, job: JobContext) -> Result<Box<dyn Any + Send>, String> {
        Ok(Box::new(GpuJob::new(
            self.shared.clone(),
            job.limits.gpu_memory_bytes,
            job.limits.wall_clock,
            job.meter,
        )))
    }
}
