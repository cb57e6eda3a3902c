//! Every bound kiln-gpu puts on a job, with why. The GPU memory cap itself
//! is a job limit (`kiln_runtime::JobLimits::gpu_memory_bytes`).

use std::time::Duration;

/// Most GPU objects (buffers, shaders, pipelines, encoders, …) one job may
/// hold at once. Each costs host memory in the job's table and in wgpu;
/// a guest creating objects in a loop gets a typed error past this, not an
/// unbounded host allocation. Real compute jobs hold tens.
pub const MAX_OBJECTS_PER_JOB: usize = 16_384;

/// Largest WGSL source accepted: 1 MiB, far above real compute shaders,
/// and a bound on what the shader compiler is asked to parse.
pub const MAX_WGSL_BYTES: usize = 1 << 20;

/// Deepest error-scope stack a job may build. WebGPU sets no bound; a guest
/// that pushes without popping would grow host memory, so past this the
/// push traps the job.
pub const MAX_ERROR_SCOPES: usize = 256;

/// Submissions timed with device timestamps before their timestamps are
/// read back. Read-back happens anyway whenever the guest waits for the GPU
/// (a buffer mapping, `on-submitted-work-done`) and at the end of the job,
/// so this only bounds a guest that submits in a loop without ever waiting.
pub const TIMESTAMP_PAIRS: u32 = 64;

/// How long one wait for the device lasts before the waiting host call
/// checks again. Waits run on tokio's blocking pool; a job killed or past
/// its deadline stops waiting within this.
pub const POLL_SLICE: Duration = Duration::from_millis(50);

/// How long the end of a job waits for its last submissions, so their GPU
/// time is in the job's final usage. A killed job's kernels still run to
/// completion on the device (GPUs cannot cancel them); past this wait their
/// time is not billed.
pub const FINAL_TIMING_WAIT: Duration = Duration::from_secs(5);

/// Largest PTX module accepted: 1 MiB, as for WGSL. The compile's time
/// grows faster than the module (ptxas took 26 s for 1 MiB of live loads
/// and 113 s for 2 MiB), and it is killed at the job's deadline, so a larger
/// module would mostly buy a slower failure. Kernels worth running on a
/// rented GPU fit; a larger program loads several modules.
pub const MAX_PTX_BYTES: usize = 1 << 20;

/// Largest cubin read back from the PTX compiler process: 16 MiB. A cubin
/// holds about 16 bytes of machine code per PTX instruction, which takes 20
/// to 40 bytes of text, so a module within [`MAX_PTX_BYTES`] compiles to
/// well under this; a compiler writing more is killed rather than read.
pub const MAX_CUBIN_BYTES: usize = 16 << 20;

/// Largest compile log read back from the PTX compiler process: 64 KiB.
/// The log becomes the guest's `invalid-module` message; the driver's own
/// log buffer (`cuda::jit`) is smaller still.
pub const MAX_COMPILE_LOG_BYTES: usize = 64 << 10;

/// How long the node waits, after killing the PTX compiler process, for it
/// to end and its output pipes to close: 2 s. A killed process ends within
/// microseconds, unless it sleeps uninterruptibly in the driver or left
/// its process group; the job does not wait on either (a thread of its own
/// reaps the one, the other is reported).
pub const COMPILER_KILL_GRACE: Duration = Duration::from_secs(2);

/// Largest write or read of a CUDA buffer in one call: 256 MiB. The data
/// crosses guest memory (capped by the job's memory limit anyway); this
/// bounds one host-side copy.
pub const MAX_CUDA_COPY_BYTES: u64 = 256 << 20;

/// Most kernel arguments one CUDA launch may pass (CUDA's own parameter
/// space is 4 KiB, i.e. at most 512 eight-byte values).
pub const MAX_CUDA_KERNEL_ARGS: usize = 512;
