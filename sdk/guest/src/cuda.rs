//! CUDA for workloads: a thin safe wrapper over `kiln:gpu/cuda` (feature `gpu`).
//!
//! ```ignore
//! let cuda = kiln_guest::cuda::Context::open(0)?;       // no driver: Error::NoDriver
//! let module = cuda.load_ptx(PTX)?;
//! let a = cuda.alloc(4 * n)?;                          // zeroed
//! a.write(0, &bytes)?;
//! module.launch("vecadd", LaunchConfig::linear(n, 256), &[Arg::Buffer(&a), Arg::U32(n)])?;
//! let out = a.read(0, 4 * n)?;
//! ```
//!
//! [`Error`] (`cuda-error`) prints as "no-driver: …", "launch-failed: …".

use crate::gpu_bindings::kiln::gpu::cuda as raw;

pub use raw::{CudaError as Error, Dim3, LaunchConfig};

/// A kernel argument.
pub enum Arg<'a> {
    /// A device buffer (its device pointer).
    Buffer(&'a DeviceBuffer),
    /// A `u32`.
    U32(u32),
    /// An `i32`.
    I32(i32),
    /// A `u64`.
    U64(u64),
    /// An `i64`.
    I64(i64),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
}

/// A CUDA context on one of the node's devices.
pub struct Context(raw::Context);

/// A loaded PTX module.
pub struct Module(raw::Module);

/// Device memory.
pub struct DeviceBuffer(raw::DeviceBuffer);

impl LaunchConfig {
    /// `n` threads in blocks of `block` threads, one dimension.
    pub fn linear(n: u32, block: u32) -> Self {
        Self {
            grid: Dim3 {
                x: n.div_ceil(block.max(1)),
                y: 1,
                z: 1,
            },
            block: Dim3 {
                x: block,
                y: 1,
                z: 1,
            },
            shared_mem_bytes: 0,
        }
    }
}

impl Context {
    /// Opens device `ordinal` (0 for the node's first).
    pub fn open(ordinal: u32) -> Result<Self, Error> {
        raw::Context::open(ordinal).map(Self)
    }

    /// The device's name.
    pub fn device_name(&self) -> Result<String, Error> {
        self.0.device_name()
    }

    /// Loads a PTX module.
    pub fn load_ptx(&self, ptx: &str) -> Result<Module, Error> {
        self.0.load_ptx(ptx).map(Module)
    }

    /// Allocates `len` bytes of zeroed device memory.
    pub fn alloc(&self, len: u64) -> Result<DeviceBuffer, Error> {
        self.0.alloc(len).map(DeviceBuffer)
    }

    /// Waits for all launched work (never past the job's deadline).
    pub fn synchronize(&self) -> Result<(), Error> {
        self.0.synchronize()
    }
}

impl Module {
    /// Runs kernel `name` with `config` and `args`, and returns when it has
    /// finished. `args` must match the kernel's parameters in number and in
    /// each one's size (a buffer is an 8-byte pointer), or the launch
    /// returns `invalid-argument` naming the first that differs.
    pub fn launch(&self, name: &str, config: LaunchConfig, args: &[Arg<'_>]) -> Result<(), Error> {
        let args: Vec<raw::KernelArg<'_>> = args
            .iter()
            .map(|arg| match arg {
                Arg::Buffer(buffer) => raw::KernelArg::Buffer(&buffer.0),
                Arg::U32(v) => raw::KernelArg::U32(*v),
                Arg::I32(v) => raw::KernelArg::I32(*v),
                Arg::U64(v) => raw::KernelArg::U64(*v),
                Arg::I64(v) => raw::KernelArg::I64(*v),
                Arg::F32(v) => raw::KernelArg::F32(*v),
                Arg::F64(v) => raw::KernelArg::F64(*v),
            })
            .collect();
        self.0.launch(name, config, &args)
    }
}

impl DeviceBuffer {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// True when it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `data` into the buffer at `offset`.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Error> {
        self.0.write(offset, data)
    }

    /// Copies `len` bytes out of the buffer from `offset`.
    pub fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
        self.0.read(offset, len)
    }
}
