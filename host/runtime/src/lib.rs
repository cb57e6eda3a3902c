//! Kiln's sandbox: runs workloads (WASI 0.2 components targeting the
//! `kiln:workload` world) in wasmtime, metered and locked down.
//!
//! One [`Runtime`] per process holds the one wasmtime `Engine` (pooling
//! allocator, fuel, epochs), the linker with exactly the interfaces Kiln
//! grants ([`grants`]), the compiled-component cache ([`cache`]) and the epoch
//! ticker thread. [`Runtime::load`] validates and links a component once;
//! [`Runtime::start`] runs a job on the current tokio runtime and returns a
//! [`JobHandle`] for metering, pausing and killing it ([`job`] explains how).
//!
//! ```no_run
//! # async fn demo(bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use kiln_runtime::{JobLimits, Runtime, RuntimeConfig};
//!
//! let runtime = Runtime::new(RuntimeConfig::new("/var/lib/kiln/scratch"))?;
//! let workload = runtime.load(bytes)?;
//! let report = runtime.run(&workload, b"input".to_vec(), JobLimits::default()).await;
//! println!("{:?} used {:?}", report.result, report.usage);
//! # Ok(()) }
//! ```

pub mod cache;
pub mod config;
mod engine;
pub mod error;
pub mod extension;
pub mod grants;
pub mod job;
pub mod limiter;
mod meter;
mod scratch;
mod stdio;
pub mod warm;

use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

pub use cache::{CacheStats, Workload};
pub use config::{Metering, RuntimeConfig};
pub use error::{JobError, LoadError, RuntimeError};
pub use extension::{ExtensionSlot, GpuClock, HostExtension, JobContext, JobMeter};
pub use job::{JobControl, JobHandle, JobLimits, JobReport, JobState};
pub use kiln_protocol::Usage;

/// How job starts were served, counted since the runtime started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartStats {
    /// Jobs that took an instance made ahead of time ([`warm`]).
    pub warm: u64,
    /// Jobs that instantiated their component when they started.
    pub cold: u64,
}

#[derive(Default)]
pub(crate) struct StartCounters {
    pub(crate) warm: std::sync::atomic::AtomicU64,
    pub(crate) cold: std::sync::atomic::AtomicU64,
}

/// The sandbox of one process. Cheap to clone; clones share everything.
///
/// Dropping the last clone closes the runtime. Jobs already started run to
/// their end and each removes its scratch directory; no instance or
/// directory is made ahead of time any more, and those waiting are dropped
/// at once. The runtime's own directory goes with its last job, and the
/// scratch root may be removed right away: nothing makes a directory in it
/// any more but a job started before the drop.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
    /// Shared by the clones; the last one dropped closes the runtime.
    _open: Arc<OpenHandle>,
}

/// Closes its runtime when dropped (jobs hold `Inner`, not this).
struct OpenHandle(Arc<Inner>);

impl Drop for OpenHandle {
    fn drop(&mut self) {
        self.0.scratch.close();
        for workload in self.0.cache.workloads() {
            warm::drop_all(&workload);
        }
    }
}

pub(crate) struct Inner {
    engine: Engine,
    linker: Linker<JobState>,
    cache: cache::ComponentCache,
    scratch: scratch::ScratchPool,
    config: RuntimeConfig,
    /// Job slots; a job's permit is held until its teardown is over.
    slots: Semaphore,
    warm_budget: Arc<Semaphore>,
    starts: StartCounters,
    _ticker: Option<engine::EpochTicker>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, the linker and the cache, clears stale scratch
    /// directories and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = engine::build_engine(&config)?;
        let mut linker = Linker::new(&engine);
        grants::add_granted(&mut linker).map_err(|e| RuntimeError::Config(format!("{e:#}")))?;
        for (slot, extension) in config.extensions.iter().enumerate() {
            extension
                .add_to_linker(&mut linker, ExtensionSlot(slot))
                .map_err(|e| RuntimeError::Config(format!("extension {extension:?}: {e:#}")))?;
        }
        scratch::clear_stale(&config.scratch_root)?;
        let scratch = scratch::ScratchPool::new(&config.scratch_root)?;
        let cache = cache::ComponentCache::new(&engine, config.cache_dir.clone())
            .map_err(|e| RuntimeError::Config(format!("component cache: {e}")))?;
        let ticker = if config.metering.epochs() {
            Some(engine::EpochTicker::start(
                engine.clone(),
                config.epoch_tick,
            )?)
        } else {
            None
        };
        let slots = Semaphore::new(usize::try_from(config.max_concurrent_jobs.max(1)).unwrap_or(1));
        let inner = Arc::new(Inner {
            engine,
            linker,
            cache,
            scratch,
            config,
            slots,
            warm_budget: Arc::new(Semaphore::new(
                usize::try_from(config::MAX_WARM_INSTANCES).unwrap_or(0),
            )),
            starts: StartCounters::default(),
            _ticker: ticker,
        });
        Ok(Self {
            _open: Arc::new(OpenHandle(inner.clone())),
            inner,
        })
    }

    /// Validates, compiles (or reads from the cache) and links a component.
    pub fn load(&self, bytes: &[u8]) -> Result<Workload, LoadError> {
        self.inner.cache.load(
            &self.inner.engine,
            &self.inner.linker,
            &self.inner.config.extensions,
            bytes,
        )
    }

    /// The process's one wasmtime engine (pooling allocator, fuel, epochs,
    /// ticked by this runtime's epoch thread), for hosts of other component
    /// worlds that link with their own linker: the scheduler's policy
    /// plugins. Stores made on it draw instance slots from the same pool as
    /// jobs, so such hosts should hold few at once.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Checks the header and compiles `bytes` as a component (or reads the
    /// artifact from the disk cache), without checking imports or linking:
    /// for a host that checks the component against its own world. Errors are
    /// the header and validation cases of [`LoadError`].
    pub fn compile(&self, bytes: &[u8]) -> Result<wasmtime::component::Component, LoadError> {
        self.inner.cache.compile_only(&self.inner.engine, bytes)
    }

    /// Starts a job on the current tokio runtime. Must be called from within one.
    pub fn start(&self, workload: &Workload, input: Vec<u8>, limits: JobLimits) -> JobHandle {
        job::start(self.inner.clone(), workload.clone(), input, limits, false)
    }

    /// Starts a job held before `run` does any work; it runs on
    /// [`JobHandle::resume`]. The node holds a job this way until the renter
    /// has confirmed it, and tests use it to pause a job deterministically.
    pub fn start_paused(
        &self,
        workload: &Workload,
        input: Vec<u8>,
        limits: JobLimits,
    ) -> JobHandle {
        job::start(self.inner.clone(), workload.clone(), input, limits, true)
    }

    /// Runs a job to its end.
    pub async fn run(&self, workload: &Workload, input: Vec<u8>, limits: JobLimits) -> JobReport {
        self.start(workload, input, limits).wait().await
    }

    /// How loads were answered so far: compiled, from disk, from memory.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// How job starts were served so far: warm or cold.
    pub fn start_stats(&self) -> StartStats {
        use std::sync::atomic::Ordering::Relaxed;
        StartStats {
            warm: self.inner.starts.warm.load(Relaxed),
            cold: self.inner.starts.cold.load(Relaxed),
        }
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }
}
