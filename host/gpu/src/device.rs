//! The one wgpu device of a process, shared by every job.
//!
//! Opening an instance, adapter and device costs ~600 ms on lavapipe (and
//! more on real drivers), so the node opens it once, on the first job that
//! asks for a GPU, and every job's objects live on it. What keeps jobs apart
//! is per job ([`crate::job`]): their own handle table, memory account,
//! error scopes and timing. wgpu's own uncaptured-error handler (which
//! panics by default) is replaced by one that logs: every host call wraps
//! its wgpu work in error scopes, so nothing should reach it.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::error::DeviceError;

/// How the shared device is opened.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// Backends searched for an adapter. Vulkan covers NVIDIA, AMD, Intel
    /// and Mesa's lavapipe (the CPU fallback CI runs on).
    pub backends: wgpu::Backends,
    /// Time GPU work on the host even where the adapter has timestamp
    /// queries: for testing the fallback, and for drivers whose timestamps
    /// are known to be wrong.
    pub force_host_timing: bool,
    /// How the node compiles a CUDA job's PTX: in a child process it can
    /// kill (`cuda::PtxCompiler`), since the driver's compiler reads hostile
    /// input and can crash. `None` turns CUDA off, whatever the machine has:
    /// the manifest says so and `context.open` returns `no-driver`.
    pub ptx_compiler: Option<crate::cuda::PtxCompiler>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            backends: wgpu::Backends::VULKAN,
            force_host_timing: false,
            ptx_compiler: None,
        }
    }
}

/// The shared device, its queue and what it can do.
#[derive(Debug)]
pub struct SharedDevice {
    /// The device every job's objects are made on.
    pub device: wgpu::Device,
    /// Its one queue.
    pub queue: wgpu::Queue,
    /// The adapter's description (name, backend, type).
    pub info: wgpu::AdapterInfo,
    /// The device's limits (the adapter's own).
    pub limits: wgpu::Limits,
    /// True when GPU time is measured with device timestamps.
    pub timestamps: bool,
    /// Nanoseconds per timestamp tick.
    pub timestamp_period: f64,
}

impl SharedDevice {
    /// Opens the first adapter of `config.backends` with its full limits, and
    /// timestamp queries where it has them.
    pub fn open(config: &DeviceConfig) -> Result<Arc<Self>, DeviceError> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = config.backends;
        let instance = wgpu::Instance::new(descriptor);
        let adapter = block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| DeviceError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let wanted =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let timestamps = !config.force_host_timing && adapter.features().contains(wanted);
        let limits = adapter.limits();
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("kiln-gpu shared device"),
            required_features: if timestamps {
                wanted
            } else {
                wgpu::Features::empty()
            },
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| DeviceError::RequestDevice {
            adapter: info.name.clone(),
            reason: e.to_string(),
        })?;
        device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            tracing::warn!(target: "kiln.gpu", %error, "uncaptured wgpu error");
        }));
        device.set_device_lost_callback(|reason, message| {
            tracing::error!(target: "kiln.gpu", ?reason, %message, "GPU device lost");
        });
        let timestamp_period = f64::from(queue.get_timestamp_period());
        tracing::info!(
            target: "kiln.gpu",
            adapter = %info.name,
            backend = ?info.backend,
            device_type = ?info.device_type,
            timestamps,
            "opened the shared GPU device"
        );
        Ok(Arc::new(Self {
            device,
            queue,
            info,
            limits,
            timestamps,
            timestamp_period,
        }))
    }

    /// The adapter's name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread. wgpu's native futures
/// (adapter, device, error scopes) are ready at once or soon; this is only
/// for them.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
