//! Runtime configuration: the per-process limits of the sandbox.
//!
//! Per-job limits (fuel, memory, deadline, output) come with each job as
//! [`crate::JobLimits`]; these are the ceilings the process is built with,
//! because the pooling allocator reserves its slots up front.

use std::path::PathBuf;
use std::time::Duration;

/// Most jobs one runtime runs at once by default. Each takes one slot of the
/// pooling allocator (address space for its memories and a fiber stack);
/// further jobs wait for a free slot rather than fail.
pub const DEFAULT_MAX_CONCURRENT_JOBS: u32 = 1024;

/// Bytes of each freed linear memory the pooling allocator keeps mapped and
/// zeroes for the next instance, instead of handing them back to the kernel
/// (`madvise`): 4 MiB by default. Past that, the next instance page-faults
/// its memory in again, a few hundred nanoseconds per 4 KiB page. A Rust
/// guest's heap starts after its 1 MiB stack, so 4 MiB covers the first few
/// MiB a typical job allocates: the Mandelbrot example's 256 KiB GPU
/// read-back into guest memory took 150 µs with 64 KiB kept and 80 µs with
/// this (host/gpu/README.md). Only the pages a job wrote are zeroed (Linux
/// finds them through `/proc/self/pagemap`), so a job that touched little
/// pays little. The price is memory held between jobs: at most this much
/// per pool slot that has ever run a job.
pub const DEFAULT_KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// Largest linear memory a job may have by default: 1 GiB. Jobs ask for less
/// in their limits; this bounds the pooling allocator's slot size.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 1 << 30;

/// How often the epoch ticker fires: the granularity of usage snapshots,
/// pause requests and cooperative yields. 10 ms keeps the cost of the epoch
/// callback far below 1% while a pause takes effect within one tick.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Fuel between a metered guest's yields to the executor. Compiled wasm keeps
/// its fuel count in a register and writes it back only at calls, returns and
/// these yields, so this bounds how stale a running job's reported fuel can be
/// (about 1 ms of a tight loop). Fuel consumed is the same whatever the
/// interval; only the yields' cost (a few µs each, well under 1%) depends on it.
pub const FUEL_YIELD_INTERVAL: u64 = 20_000_000;

/// Fresh, empty scratch directories kept ready so a job's start does not wait
/// for a `mkdir` (tens of µs, more than the rest of a cached start). Jobs
/// that start while none is ready make their own, which is only slower.
pub const POOLED_SCRATCH_DIRS: usize = 16;

/// Instances made ahead of time, across all workloads (see [`crate::warm`]).
/// Each holds a pooling-allocator slot and a scratch directory while it
/// waits, so the pool is sized for this many beyond `max_concurrent_jobs`.
pub const MAX_WARM_INSTANCES: u32 = 32;

/// Wasm stack a job may use: 1 MiB. Deep recursion traps with a stack
/// overflow instead of exhausting the host thread.
pub const MAX_WASM_STACK_BYTES: usize = 1 << 20;

/// Host stack for each running job (the fiber async wasm runs on): the wasm
/// stack plus room for host calls made from wasm.
pub const ASYNC_STACK_BYTES: usize = MAX_WASM_STACK_BYTES + (1 << 20);

/// Core wasm instances one component may create. A Rust `wasm32-wasip2`
/// component uses up to about four (its module plus shims); the rest is headroom.
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 16;

/// Linear memories one component may define (Rust components define one).
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 2;

/// Tables one component may define.
pub const MAX_TABLES_PER_COMPONENT: u32 = 8;

/// How a runtime meters guests. Nodes always use [`Metering::FuelAndEpochs`];
/// the others exist so the benchmark can measure what metering costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    /// Fuel (deterministic instruction count, the basis of receipts) and
    /// epochs (usage snapshots, pause, deadlines).
    FuelAndEpochs,
    /// Epochs only: deadlines and pauses, no fuel. Usage reports zero fuel.
    EpochsOnly,
    /// Fuel only, for the benchmark: deadlines, kills and pauses still take
    /// effect, at fuel yields instead of ticks.
    FuelOnly,
    /// Neither. The deadline still holds at host calls, not inside loops.
    Unmetered,
}

impl Metering {
    pub(crate) fn fuel(self) -> bool {
        matches!(self, Self::FuelAndEpochs | Self::FuelOnly)
    }

    pub(crate) fn epochs(self) -> bool {
        matches!(self, Self::FuelAndEpochs | Self::EpochsOnly)
    }
}

/// How a [`crate::Runtime`] is built.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached, keyed by the SHA-256 of their
    /// bytes and the engine's configuration. `None` caches in memory only.
    /// The directory must be private to this node (it is created with mode
    /// 0700): loading a cached artifact trusts its contents.
    pub cache_dir: Option<PathBuf>,
    /// Parent of the per-job scratch directories. Leftovers from a previous
    /// process (a crash) are removed when the runtime starts.
    pub scratch_root: PathBuf,
    /// Jobs run at once; see [`DEFAULT_MAX_CONCURRENT_JOBS`].
    pub max_concurrent_jobs: u32,
    /// Largest linear memory any job may have; see [`DEFAULT_MAX_MEMORY_BYTES`].
    pub max_memory_bytes: u64,
    /// Epoch tick; see [`DEFAULT_EPOCH_TICK`].
    pub epoch_tick: Duration,
    /// Memory kept mapped between instances; see [`DEFAULT_KEEP_RESIDENT_BYTES`].
    pub keep_resident_bytes: usize,
    /// How guests are metered.
    pub metering: Metering,
    /// Host interfaces beyond WASI (GPU), in slot order; see
    /// [`crate::extension`]. Empty: workloads get WASI only.
    pub extensions: crate::extension::Extensions,
}

impl RuntimeConfig {
    /// Defaults with scratch directories under `scratch_root` and no disk cache.
    pub fn new(scratch_root: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: None,
            scratch_root: scratch_root.into(),
            max_concurrent_jobs: DEFAULT_MAX_CONCURRENT_JOBS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            epoch_tick: DEFAULT_EPOCH_TICK,
            keep_resident_bytes: DEFAULT_KEEP_RESIDENT_BYTES,
            metering: Metering::FuelAndEpochs,
            extensions: Vec::new(),
        }
    }

    /// The same configuration with `extension` added after the others.
    pub fn with_extension(
        mut self,
        extension: std::sync::Arc<dyn crate::extension::HostExtension>,
    ) -> Self {
        self.extensions.push(extension);
        self
    }

    /// The same configuration with compiled components cached in `dir`.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }
}
