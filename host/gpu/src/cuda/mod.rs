//! `kiln:gpu/cuda` over cudarc, with the driver loaded at run time.
//!
//! cudarc is built with dynamic loading, so Kiln builds and runs on machines
//! without CUDA. Where no driver is present every call returns the typed
//! `no-driver` error: [`driver_present`] probes for the library first,
//! because cudarc's lazy loader *panics* when the library is missing, and
//! the probe's answer is what a node's manifest says about CUDA.
//!
//! Per job: buffers are zeroed when allocated and charged to the same GPU
//! memory account as the job's WebGPU buffers; every offset and length is
//! checked against its buffer; every launch is checked against the kernel's
//! parameters as the PTX declares them (`ptx.rs`), since the driver would
//! read as many bytes as the kernel declares whatever the guest passed;
//! the driver compiles the PTX in a child process the node kills at the
//! deadline (`jit.rs`), since its compiler can crash on hostile input;
//! kernel time is measured with CUDA events around each launch and billed
//! as device time; no wait for the job's own work lasts past its deadline
//! (`wait.rs`); and one job at a time holds a device (`lease.rs`), since jobs
//! share the device's primary context, where one job's kernel could reach
//! another's memory and a fault is sticky for every user of the context.
//! The crate README lists what of this has run on a GPU (none of it yet).

mod driver;
mod jit;
pub(crate) mod lease;
pub(crate) mod link;
mod ptx;
mod wait;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, PushKernelArg as _,
};
use kiln_runtime::{GpuClock, JobMeter};

use crate::bindings::cuda::{CudaError, KernelArg, LaunchConfig};
use crate::limits::{MAX_CUDA_COPY_BYTES, MAX_CUDA_KERNEL_ARGS, MAX_PTX_BYTES};
use crate::webgpu::link::blocking;
use crate::webgpu::objects::{Charge, JobId, MemoryAccount};
use driver::{OpenFailure, driver_param_sizes};
pub use driver::{device_count, driver_present};
pub use jit::PtxCompiler;
pub use jit::child::compiler_main;
use lease::Lease;

fn no_driver() -> CudaError {
    CudaError::NoDriver(driver::NO_DRIVER.into())
}

fn launch_failed(error: impl std::fmt::Display) -> CudaError {
    CudaError::LaunchFailed(error.to_string())
}

/// `context`: a stream on one device.
pub struct Context {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    /// The device's ordinal, as the guest named it.
    ordinal: u32,
    /// The process that compiles the PTX loaded on it.
    compiler: PtxCompiler,
    /// The job's hold on the device, shared by everything made on it.
    lease: Lease,
}

/// `module`: a loaded PTX module.
pub struct Module {
    module: Arc<cudarc::driver::CudaModule>,
    /// Its kernels' parameters, read from the PTX.
    kernels: ptx::Kernels,
    stream: Arc<CudaStream>,
    _lease: Lease,
}

/// `device-buffer`: zeroed device memory, charged to the job.
pub struct DeviceBuffer {
    slice: CudaSlice<u8>,
    stream: Arc<CudaStream>,
    _charge: Charge,
    _lease: Lease,
}

/// A job's CUDA state: its memory account, meter, deadline and contexts.
pub(crate) struct CudaJob {
    job: JobId,
    memory: Arc<MemoryAccount>,
    meter: JobMeter,
    /// No wait for the device lasts past this.
    deadline: Instant,
    /// The node's PTX compiler process; without one, CUDA is off.
    compiler: Option<PtxCompiler>,
    /// Every context the job opened, for a wedged job's teardown to wait on.
    contexts: Mutex<Vec<Arc<CudaContext>>>,
    /// Set when the job's work (a kernel, a copy) may still be running on
    /// the device: a wait reached the deadline, or the driver failed after
    /// a launch. Every later call then fails at once, since any of them
    /// could wait on that work (cudarc frees memory and unloads modules
    /// after waiting for the stream on some devices), and the job's objects
    /// are dropped on a thread of their own.
    wedged: AtomicBool,
}

impl CudaJob {
    pub(crate) fn new(
        job: JobId,
        memory: Arc<MemoryAccount>,
        meter: JobMeter,
        deadline: Instant,
        compiler: Option<PtxCompiler>,
    ) -> Self {
        Self {
            job,
            memory,
            meter,
            deadline,
            compiler,
            contexts: Mutex::default(),
            wedged: AtomicBool::new(false),
        }
    }

    /// True when the job's work may still be running on the device.
    pub(crate) fn wedged(&self) -> bool {
        self.wedged.load(Ordering::Relaxed)
    }

    fn wedge(&self) {
        self.wedged.store(true, Ordering::Relaxed);
    }

    /// Fails once the job is wedged, before anything that could wait.
    fn usable(&self) -> Result<(), CudaError> {
        if self.wedged() {
            return Err(CudaError::LaunchFailed(
                "the job's earlier work may still be running on the device (past the deadline, \
                 or after a driver error); no more CUDA calls"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The contexts the job opened, for its teardown to wait on.
    pub(crate) fn take_contexts(&self) -> Vec<Arc<CudaContext>> {
        std::mem::take(&mut *self.contexts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits, within the job's deadline, until `event`'s work is done.
    fn wait_for(&self, event: &CudaEvent) -> Result<(), CudaError> {
        let done = blocking(|| wait::until(self.deadline, || event.try_is_complete()))
            .map_err(launch_failed)?;
        if done {
            Ok(())
        } else {
            self.wedge();
            Err(CudaError::LaunchFailed(
                "the job's deadline passed before the device finished its work".into(),
            ))
        }
    }

    /// Waits, within the job's deadline, for everything queued on `stream`.
    fn wait_for_stream(&self, stream: &CudaStream) -> Result<(), CudaError> {
        let queued = stream.record_event(None).map_err(launch_failed)?;
        self.wait_for(&queued)
    }

    /// `context.open`.
    pub(crate) fn open(&self, ordinal: u32) -> Result<Context, CudaError> {
        let Some(compiler) = &self.compiler else {
            return Err(CudaError::NoDriver(
                "CUDA is off on this node: it has no PTX compiler process \
                 (DeviceConfig::ptx_compiler)"
                    .into(),
            ));
        };
        // Before the lease: a node without a driver never takes one
        // (`driver::open_context` asks again, for its other callers).
        if !driver_present() {
            return Err(no_driver());
        }
        self.usable()?;
        let index =
            usize::try_from(ordinal).map_err(|e| CudaError::InvalidArgument(e.to_string()))?;
        let lease = lease::DeviceLeases::of_process()
            .acquire(ordinal, self.job)
            .ok_or_else(|| {
                CudaError::LaunchFailed(format!(
                    "device {ordinal} is busy: another job holds it (one CUDA job per device)"
                ))
            })?;
        let ctx = driver::open_context(index).map_err(|failure| match failure {
            OpenFailure::NoDriver | OpenFailure::Panicked => no_driver(),
            OpenFailure::Driver(e) => CudaError::NoDriver(format!("device {ordinal}: {e}")),
        })?;
        let stream = ctx.default_stream();
        self.contexts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ctx.clone());
        Ok(Context {
            ctx,
            stream,
            ordinal,
            compiler: compiler.clone(),
            lease,
        })
    }

    pub(crate) fn device_name(&self, context: &Context) -> Result<String, CudaError> {
        self.usable()?;
        context.ctx.name().map_err(launch_failed)
    }

    /// `load-ptx`: the kernels' headers are read (and the module refused if
    /// they cannot be) before the driver compiles it.
    pub(crate) fn load_ptx(&self, context: &Context, ptx: String) -> Result<Module, CudaError> {
        self.usable()?;
        if ptx.len() > MAX_PTX_BYTES {
            return Err(CudaError::InvalidModule(format!(
                "{} bytes of PTX; at most {MAX_PTX_BYTES}",
                ptx.len()
            )));
        }
        let kernels =
            ptx::Kernels::read(&ptx).map_err(|e| CudaError::InvalidModule(e.to_string()))?;
        let module = self.compile(context, ptx)?;
        Ok(Module {
            module,
            kernels,
            stream: context.stream.clone(),
            _lease: context.lease.clone(),
        })
    }

    /// The driver compiles the PTX in the node's compiler process, killed
    /// at the job's deadline (`jit.rs`); the cubin it returns loads without
    /// compiling.
    fn compile(
        &self,
        context: &Context,
        ptx: String,
    ) -> Result<Arc<cudarc::driver::CudaModule>, CudaError> {
        let cubin =
            blocking(|| jit::compile(&context.compiler, context.ordinal, ptx, self.deadline))?;
        context
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
            .map_err(|e| CudaError::InvalidModule(e.to_string()))
    }

    /// `alloc`: charged to the job's cap, then zeroed on the device.
    pub(crate) fn alloc(&self, context: &Context, len: u64) -> Result<DeviceBuffer, CudaError> {
        self.usable()?;
        let charge = self
            .memory
            .charge(len)
            .map_err(|e| CudaError::OutOfMemory(e.to_string()))?;
        let size = usize::try_from(len).map_err(|e| CudaError::OutOfMemory(e.to_string()))?;
        let slice = context
            .stream
            .alloc_zeros::<u8>(size)
            .map_err(|e| CudaError::OutOfMemory(e.to_string()))?;
        Ok(DeviceBuffer {
            slice,
            stream: context.stream.clone(),
            _charge: charge,
            _lease: context.lease.clone(),
        })
    }

    /// `synchronize`: waits within the deadline, then lets the driver report
    /// any error from the work.
    pub(crate) fn synchronize(&self, context: &Context) -> Result<(), CudaError> {
        self.usable()?;
        self.wait_for_stream(&context.stream)?;
        context.stream.synchronize().map_err(launch_failed)
    }

    /// `launch`: arguments checked against the kernel's parameters, the
    /// kernel timed with events; returns when the kernel has finished, so its
    /// device time is in the job's usage at once.
    pub(crate) fn launch(
        &self,
        module: &Module,
        name: &str,
        config: LaunchConfig,
        args: &[(KernelArgValue, Option<&DeviceBuffer>)],
    ) -> Result<(), CudaError> {
        self.usable()?;
        if args.len() > MAX_CUDA_KERNEL_ARGS {
            return Err(CudaError::InvalidArgument(format!(
                "{} arguments; at most {MAX_CUDA_KERNEL_ARGS}",
                args.len()
            )));
        }
        let dims = [config.grid, config.block];
        if dims.iter().any(|d| d.x == 0 || d.y == 0 || d.z == 0) {
            return Err(CudaError::InvalidArgument(
                "grid and block dimensions must be at least 1".into(),
            ));
        }
        let values: Vec<KernelArgValue> = args.iter().map(|(value, _)| *value).collect();
        let declared = module.kernels.check_launch(name, &values)?;
        let function: CudaFunction = module
            .module
            .load_function(name)
            .map_err(|e| CudaError::NoSuchKernel(format!("{name}: {e}")))?;
        if let Some(compiled) = driver_param_sizes(&function, declared.len())
            && compiled
                .iter()
                .copied()
                .ne(declared.iter().map(|&size| size as usize))
        {
            return Err(CudaError::InvalidModule(format!(
                "kernel `{name}`: the driver compiled parameters of {compiled:?} bytes, \
                 the PTX header declares {declared:?}"
            )));
        }
        let stream = &module.stream;
        let mut builder = stream.launch_builder(&function);
        for (value, buffer) in args {
            match (value, buffer) {
                (_, Some(buffer)) => builder.arg(&buffer.slice),
                (KernelArgValue::U32(v), None) => builder.arg(v),
                (KernelArgValue::I32(v), None) => builder.arg(v),
                (KernelArgValue::U64(v), None) => builder.arg(v),
                (KernelArgValue::I64(v), None) => builder.arg(v),
                (KernelArgValue::F32(v), None) => builder.arg(v),
                (KernelArgValue::F64(v), None) => builder.arg(v),
                (KernelArgValue::Buffer, None) => {
                    return Err(CudaError::InvalidArgument("missing buffer".into()));
                }
            };
        }
        let timing = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
        let start = stream.record_event(timing).map_err(launch_failed)?;
        let cfg = cudarc::driver::LaunchConfig {
            grid_dim: (config.grid.x, config.grid.y, config.grid.z),
            block_dim: (config.block.x, config.block.y, config.block.z),
            shared_mem_bytes: config.shared_mem_bytes,
        };
        let launched = Instant::now();
        #[allow(unsafe_code, reason = "launching a kernel is unsafe in cudarc")]
        // SAFETY: the argument list holds exactly the values and device
        // buffers the guest named, each alive for the launch; device
        // buffers are only ever passed as device pointers. What the kernel
        // does with them is the guest's code running on the device, where a
        // fault is reported by the driver as an error (see the module docs
        // for what isolation this does and does not give).
        unsafe { builder.launch(cfg) }.map_err(launch_failed)?;
        let timed = stream
            .record_event(timing)
            .map_err(launch_failed)
            .and_then(|end| {
                self.wait_for(&end)?;
                start.elapsed_ms(&end).map_err(launch_failed)
            });
        let ms = match timed {
            Ok(ms) => ms,
            Err(error) => {
                // Past the deadline, or the driver failed with the kernel
                // perhaps still running: the time the host saw is billed,
                // marked as host-timed, and the job makes no more calls.
                let ns = u64::try_from(launched.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.meter.record_gpu_time(ns, GpuClock::Host);
                self.wedge();
                return Err(error);
            }
        };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "elapsed milliseconds are non-negative and far below 2^64 ns"
        )]
        let ns = (f64::from(ms) * 1e6) as u64;
        self.meter.record_gpu_time(ns, GpuClock::Device);
        Ok(())
    }

    pub(crate) fn write(
        &self,
        buffer: &mut DeviceBuffer,
        offset: u64,
        data: &[u8],
    ) -> Result<(), CudaError> {
        self.usable()?;
        let (start, end) = range(offset, data.len() as u64, buffer.slice.len())?;
        // A copy from pageable memory may wait for the kernels before it.
        self.wait_for_stream(&buffer.stream)?;
        let mut view = buffer.slice.slice_mut(start..end);
        buffer
            .stream
            .memcpy_htod(data, &mut view)
            .map_err(launch_failed)
    }

    pub(crate) fn read(
        &self,
        buffer: &DeviceBuffer,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, CudaError> {
        self.usable()?;
        let (start, end) = range(offset, len, buffer.slice.len())?;
        self.wait_for_stream(&buffer.stream)?;
        let view = buffer.slice.slice(start..end);
        buffer.stream.clone_dtoh(&view).map_err(launch_failed)
    }
}

impl DeviceBuffer {
    pub(crate) fn len(&self) -> u64 {
        self.slice.len() as u64
    }
}

/// A kernel argument's value, with buffers resolved separately.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KernelArgValue {
    Buffer,
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
}

impl KernelArgValue {
    /// How many bytes the driver copies for it: a buffer is its 64-bit
    /// device pointer.
    pub(crate) fn size(self) -> u32 {
        match self {
            Self::U32(_) | Self::I32(_) | Self::F32(_) => 4,
            Self::Buffer | Self::U64(_) | Self::I64(_) | Self::F64(_) => 8,
        }
    }

    /// Its `kernel-arg` case, for messages.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Buffer => "buffer",
            Self::U32(_) => "u32",
            Self::I32(_) => "i32",
            Self::U64(_) => "u64",
            Self::I64(_) => "i64",
            Self::F32(_) => "f32",
            Self::F64(_) => "f64",
        }
    }

    pub(crate) fn of(arg: &KernelArg) -> Self {
        match arg {
            KernelArg::Buffer(_) => Self::Buffer,
            KernelArg::U32(v) => Self::U32(*v),
            KernelArg::I32(v) => Self::I32(*v),
            KernelArg::U64(v) => Self::U64(*v),
            KernelArg::I64(v) => Self::I64(*v),
            KernelArg::F32(v) => Self::F32(*v),
            KernelArg::F64(v) => Self::F64(*v),
        }
    }
}

/// `offset..offset + len` inside a buffer of `size`, and within one copy's bound.
fn range(offset: u64, len: u64, size: usize) -> Result<(usize, usize), CudaError> {
    if len > MAX_CUDA_COPY_BYTES {
        return Err(CudaError::InvalidArgument(format!(
            "copies are at most {MAX_CUDA_COPY_BYTES} bytes"
        )));
    }
    let size = size as u64;
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok((
            usize::try_from(offset).map_err(|e| CudaError::OutOfBounds(e.to_string()))?,
            usize::try_from(end).map_err(|e| CudaError::OutOfBounds(e.to_string()))?,
        )),
        _ => Err(CudaError::OutOfBounds(format!(
            "bytes {offset}..{offset}+{len} of {size}"
        ))),
    }
}
