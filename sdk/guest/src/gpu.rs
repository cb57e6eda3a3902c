//! WebGPU compute for workloads: a small safe wrapper over the standard
//! `wasi:webgpu` imports (feature `gpu`).
//!
//! ```ignore
//! use kiln_guest::gpu::{Gpu, Error};
//!
//! let gpu = Gpu::new()?;
//! let kernel = gpu.kernel(WGSL, "main")?;               // invalid WGSL: Error::Validation
//! let data = gpu.storage_buffer(4 * 1024)?;             // over the job's cap: Error::OutOfMemory
//! gpu.write(&data, 0, &input)?;
//! let group = gpu.bind(&kernel, 0, &[&data])?;
//! gpu.dispatch(&kernel, &[&group], [16, 1, 1])?;        // over the device's limits: Error::Validation
//! let output = gpu.read(&data, 0, 4 * 1024)?;
//! // or both in one submission:
//! let output = gpu.dispatch_and_read(&kernel, &[&group], [16, 1, 1], (&data, 0, 4 * 1024))?;
//! ```
//!
//! Each call runs inside WebGPU error scopes and returns what they caught as
//! a typed [`Error`]. The node runs the compute part of `wasi:webgpu`; the
//! raw bindings are in [`raw`] for anything the wrapper does not cover.

use wit_bindgen::block_on;

use crate::gpu_bindings::wasi::webgpu::webgpu as wgpu;

/// The generated `wasi:webgpu` bindings, for what the wrapper does not cover.
pub use crate::gpu_bindings::wasi::webgpu::webgpu as raw;

/// Why a GPU call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The node has no GPU adapter.
    NoAdapter,
    /// The node refused a device.
    Device(String),
    /// A WebGPU validation error: invalid WGSL, a dispatch over the device's
    /// limits, a bad range, a misused object.
    Validation(String),
    /// Out of GPU memory: over the job's cap, or the device is full.
    OutOfMemory(String),
    /// The GPU or its driver failed.
    Internal(String),
    /// A buffer could not be mapped or read.
    Map(String),
    /// A write was refused (range, alignment, usage).
    Write(String),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoAdapter => f.write_str("no GPU adapter on this node"),
            Self::Device(m) => write!(f, "no GPU device: {m}"),
            Self::Validation(m) => write!(f, "GPU validation error: {m}"),
            Self::OutOfMemory(m) => write!(f, "GPU out of memory: {m}"),
            Self::Internal(m) => write!(f, "GPU internal error: {m}"),
            Self::Map(m) => write!(f, "GPU buffer mapping failed: {m}"),
            Self::Write(m) => write!(f, "GPU buffer write failed: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(error: Error) -> Self {
        error.to_string()
    }
}

/// How a buffer may be used (WebGPU's usage flags).
pub use wgpu::GpuBufferUsage as BufferUsage;

/// The GPU of the node, as this job sees it.
pub struct Gpu {
    device: wgpu::GpuDevice,
    queue: wgpu::GpuQueue,
    adapter_name: String,
}

/// A GPU buffer. Zero when created.
pub struct Buffer {
    inner: wgpu::GpuBuffer,
    size: u64,
}

impl Buffer {
    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The raw handle.
    pub fn raw(&self) -> &wgpu::GpuBuffer {
        &self.inner
    }
}

/// A compiled compute shader entry point, with its layout derived from the WGSL.
pub struct Kernel {
    pipeline: wgpu::GpuComputePipeline,
}

/// Buffers bound to one bind group of a kernel.
pub struct BindGroup {
    inner: wgpu::GpuBindGroup,
}

impl Gpu {
    /// Gets the node's adapter and a device on it.
    pub fn new() -> Result<Self, Error> {
        let gpu = wgpu::get_gpu();
        let adapter = block_on(gpu.request_adapter(None)).ok_or(Error::NoAdapter)?;
        let adapter_name = adapter.info().device();
        let device =
            block_on(adapter.request_device(None)).map_err(|e| Error::Device(e.message))?;
        let queue = device.queue();
        Ok(Self {
            device,
            queue,
            adapter_name,
        })
    }

    /// The adapter's name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub fn adapter_name(&self) -> &str {
        &self.adapter_name
    }

    /// The raw device, for what the wrapper does not cover.
    pub fn device(&self) -> &wgpu::GpuDevice {
        &self.device
    }

    /// The raw queue.
    pub fn queue(&self) -> &wgpu::GpuQueue {
        &self.queue
    }

    /// Runs `work` inside validation, out-of-memory and internal error
    /// scopes, and returns the first error they caught.
    pub fn scoped<T>(&self, work: impl FnOnce() -> T) -> Result<T, Error> {
        use wgpu::GpuErrorFilter as Filter;
        self.device.push_error_scope(Filter::Internal);
        self.device.push_error_scope(Filter::OutOfMemory);
        self.device.push_error_scope(Filter::Validation);
        let value = work();
        let mut first = None;
        for _ in 0..3 {
            if let Ok(Some(error)) = block_on(self.device.pop_error_scope()) {
                let message = error.message();
                let error = match error.kind() {
                    wgpu::GpuErrorKind::ValidationError => Error::Validation(message),
                    wgpu::GpuErrorKind::OutOfMemoryError => Error::OutOfMemory(message),
                    wgpu::GpuErrorKind::InternalError => Error::Internal(message),
                };
                first.get_or_insert(error);
            }
        }
        match first {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    /// A buffer of `size` bytes with `usage`.
    pub fn buffer(&self, size: u64, usage: BufferUsage) -> Result<Buffer, Error> {
        let inner = self.scoped(|| {
            self.device.create_buffer(&wgpu::GpuBufferDescriptor {
                size,
                usage,
                mapped_at_creation: None,
                label: None,
            })
        })?;
        Ok(Buffer { inner, size })
    }

    /// A storage buffer shaders read and write, which can be written from
    /// and read back to the job.
    pub fn storage_buffer(&self, size: u64) -> Result<Buffer, Error> {
        self.buffer(
            size,
            BufferUsage::STORAGE | BufferUsage::COPY_SRC | BufferUsage::COPY_DST,
        )
    }

    /// A uniform buffer (small parameters), writable from the job.
    pub fn uniform_buffer(&self, size: u64) -> Result<Buffer, Error> {
        self.buffer(size, BufferUsage::UNIFORM | BufferUsage::COPY_DST)
    }

    /// Writes `data` into `buffer` at `offset` (both multiples of 4).
    pub fn write(&self, buffer: &Buffer, offset: u64, data: &[u8]) -> Result<(), Error> {
        self.scoped(|| {
            self.queue
                .write_buffer_with_copy(&buffer.inner, offset, data, None, None)
        })?
        .map_err(|e| Error::Write(e.message))
    }

    /// Compiles `wgsl` and makes a compute pipeline for `entry_point`.
    pub fn kernel(&self, wgsl: &str, entry_point: &str) -> Result<Kernel, Error> {
        let pipeline = self.scoped(|| {
            let module = self
                .device
                .create_shader_module(&wgpu::GpuShaderModuleDescriptor {
                    code: wgsl.into(),
                    compilation_hints: None,
                    label: None,
                });
            self.device
                .create_compute_pipeline(wgpu::GpuComputePipelineDescriptor {
                    compute: wgpu::GpuProgrammableStage {
                        module: &module,
                        entry_point: Some(entry_point.into()),
                        constants: None,
                    },
                    layout: wgpu::GpuLayoutMode::Auto,
                    label: None,
                })
        })?;
        Ok(Kernel { pipeline })
    }

    /// Binds `buffers` to group `group` of `kernel`: `buffers[i]` at `@binding(i)`.
    pub fn bind(
        &self,
        kernel: &Kernel,
        group: u32,
        buffers: &[&Buffer],
    ) -> Result<BindGroup, Error> {
        let inner = self.scoped(|| {
            let layout = kernel.pipeline.get_bind_group_layout(group);
            let entries: Vec<_> = buffers
                .iter()
                .zip(0u32..)
                .map(|(buffer, binding)| wgpu::GpuBindGroupEntry {
                    binding,
                    resource: wgpu::GpuBindingResource::GpuBuffer(&buffer.inner),
                })
                .collect();
            self.device
                .create_bind_group(&wgpu::GpuBindGroupDescriptor {
                    layout: &layout,
                    entries,
                    label: None,
                })
        })?;
        Ok(BindGroup { inner })
    }

    /// Runs `kernel` on `workgroups` (x, y, z), `groups[i]` bound at group `i`,
    /// and submits it. Returns when it is queued.
    pub fn dispatch(
        &self,
        kernel: &Kernel,
        groups: &[&BindGroup],
        workgroups: [u32; 3],
    ) -> Result<(), Error> {
        self.scoped(|| {
            let encoder = self.device.create_command_encoder(None);
            encode_dispatch(&encoder, kernel, groups, workgroups);
            self.queue.submit(&[&encoder.finish(None)]);
        })
    }

    /// Copies `len` bytes of `buffer` from `offset` back to the job (both
    /// multiples of 4), waiting for the GPU work before it.
    pub fn read(&self, buffer: &Buffer, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
        let staging = self.staging(len)?;
        self.scoped(|| {
            let encoder = self.device.create_command_encoder(None);
            encode_copy(&encoder, buffer, offset, &staging, len);
            self.queue.submit(&[&encoder.finish(None)]);
        })?;
        map_and_copy(&staging)
    }

    /// [`Gpu::dispatch`] then [`Gpu::read`] of `len` bytes of `output` from
    /// `offset`, in one submission: a compute job's usual last step, with
    /// one trip to the GPU and back instead of two.
    pub fn dispatch_and_read(
        &self,
        kernel: &Kernel,
        groups: &[&BindGroup],
        workgroups: [u32; 3],
        (output, offset, len): (&Buffer, u64, u64),
    ) -> Result<Vec<u8>, Error> {
        let staging = self.staging(len)?;
        self.scoped(|| {
            let encoder = self.device.create_command_encoder(None);
            encode_dispatch(&encoder, kernel, groups, workgroups);
            encode_copy(&encoder, output, offset, &staging, len);
            self.queue.submit(&[&encoder.finish(None)]);
        })?;
        map_and_copy(&staging)
    }

    /// A buffer of `len` bytes to map and read on the job's side.
    fn staging(&self, len: u64) -> Result<Buffer, Error> {
        self.buffer(len, BufferUsage::MAP_READ | BufferUsage::COPY_DST)
    }
}

/// Records a compute pass running `kernel` on `workgroups`.
fn encode_dispatch(
    encoder: &wgpu::GpuCommandEncoder,
    kernel: &Kernel,
    groups: &[&BindGroup],
    workgroups: [u32; 3],
) {
    let pass = encoder.begin_compute_pass(None);
    pass.set_pipeline(&kernel.pipeline);
    for (group, index) in groups.iter().zip(0u32..) {
        let _ = pass.set_bind_group(index, Some(&group.inner), None, None, None);
    }
    let [x, y, z] = workgroups;
    pass.dispatch_workgroups(x, Some(y), Some(z));
    pass.end();
}

/// Records a copy of `len` bytes of `from` at `offset` to the start of `staging`.
fn encode_copy(
    encoder: &wgpu::GpuCommandEncoder,
    from: &Buffer,
    offset: u64,
    staging: &Buffer,
    len: u64,
) {
    encoder.copy_buffer_to_buffer(
        &from.inner,
        Some(offset),
        &staging.inner,
        Some(0),
        Some(len),
    );
}

/// Maps `staging` (waiting for the work before it) and copies it out.
fn map_and_copy(staging: &Buffer) -> Result<Vec<u8>, Error> {
    block_on(staging.inner.map_async(wgpu::GpuMapMode::READ, None, None))
        .map_err(|e| Error::Map(e.message))?;
    let bytes = staging
        .inner
        .get_mapped_range_get_with_copy(None, None)
        .map_err(|e| Error::Map(e.message));
    let _ = staging.inner.unmap();
    bytes
}
