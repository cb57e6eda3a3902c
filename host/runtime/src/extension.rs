//! Host interfaces beyond WASI, plugged in by other crates.
//!
//! The runtime knows nothing of GPUs. A crate such as `kiln-gpu` implements
//! [`HostExtension`] and is listed in [`crate::RuntimeConfig::extensions`];
//! the runtime then:
//!
//! - grants the extension's [`interfaces`](HostExtension::interfaces) at load,
//!   and refuses a component that imports a function of theirs the extension
//!   does not [`provide`](HostExtension::provides), naming it
//!   ([`crate::LoadError::NotProvided`]), before anything is linked;
//! - lets the extension define its functions in the one linker
//!   ([`HostExtension::add_to_linker`]), with the [`ExtensionSlot`] where its
//!   per-job state lives in [`JobState`];
//! - makes that state when a job takes its instance, from the job's limits and
//!   its [`JobMeter`] ([`HostExtension::job_state`]), only for workloads that
//!   import one of the extension's interfaces, and drops it with the job's
//!   store, however the job ends. An instance being prepared ahead of time
//!   has no extension state yet, so a component cannot use an extension
//!   during instantiation (unbilled time).
//!
//! Dependencies point from the extension to the runtime, never back: a
//! workload that imports no extension interface runs exactly as without one.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use wasmtime::component::Linker;

use crate::job::{JobLimits, JobState};
use crate::meter::Meter;

/// Where an extension's per-job state lives in [`JobState`]. Given to the
/// extension by the runtime; it cannot be made elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionSlot(pub(crate) usize);

/// A set of host interfaces a workload may import. See the module docs.
pub trait HostExtension: Debug + Send + Sync + 'static {
    /// Interfaces it defines, `namespace:package/interface` without version.
    fn interfaces(&self) -> &[&'static str];

    /// True when it defines `item` (a function or resource name as the
    /// component model spells it, e.g. `[method]gpu-buffer.size`) of
    /// `interface` (unversioned).
    fn provides(&self, interface: &str, item: &str) -> bool;

    /// Defines its interfaces in `linker`; host functions find their job's
    /// state with [`JobState::extension`] and `slot`.
    fn add_to_linker(
        &self,
        linker: &mut Linker<JobState>,
        slot: ExtensionSlot,
    ) -> wasmtime::Result<()>;

    /// The state of one job, made when the job takes its instance. An error
    /// stops the job before it runs ([`crate::JobError::Setup`]).
    fn job_state(&self, job: JobContext) -> Result<Box<dyn Any + Send>, String>;
}

/// The extensions of one runtime, in slot order.
pub type Extensions = Vec<Arc<dyn HostExtension>>;

/// What an extension learns about a job when the job starts.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job's limits (the GPU memory cap among them).
    pub limits: JobLimits,
    /// Where the extension records what the job used.
    pub meter: JobMeter,
}

/// How GPU time was measured; see [`JobMeter::record_gpu_time`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuClock {
    /// Timestamps written by the device itself (timestamp queries, CUDA events).
    Device,
    /// Submit to completion, measured on the host, because the device cannot
    /// time itself. The job's usage is then marked host-timed, which its
    /// receipts carry (`kiln_protocol::flags::GPU_TIME_HOST_MEASURED`).
    Host,
}

/// A job's meter, as an extension sees it: it may add GPU time, nothing else.
#[derive(Clone)]
pub struct JobMeter(pub(crate) Arc<Meter>);

impl Debug for JobMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JobMeter").finish_non_exhaustive()
    }
}

impl JobMeter {
    /// Adds `ns` of GPU time to the job's usage (`gpu_ns`), measured by `clock`.
    pub fn record_gpu_time(&self, ns: u64, clock: GpuClock) {
        self.0.record_gpu_time(ns, clock == GpuClock::Host);
    }

    /// GPU time recorded so far.
    pub fn gpu_ns(&self) -> u64 {
        self.0.usage().gpu_ns
    }
}

impl JobState {
    /// The state an extension made for this job ([`HostExtension::job_state`]),
    /// if `T` is its type; `None` while the instance is being prepared, before
    /// a job has taken it.
    pub fn extension<T: Any>(&mut self, slot: ExtensionSlot) -> Option<&mut T> {
        self.extensions.get_mut(slot.0)?.as_mut()?.downcast_mut()
    }

    /// Tells the runtime that a host call of this job blocked its thread
    /// after handing the thread's executor worker to another thread (as
    /// `tokio::task::block_in_place` does). The next epoch tick then
    /// publishes usage and holds the job if asked, as every tick does, but
    /// does not yield to the executor: the job gave its worker away since the
    /// last tick, so the yield would buy no fairness, and its thread, no
    /// longer a worker, could only go on after a hand-off to another thread
    /// and back (tens of µs; kiln-gpu's README, "Benchmark"). Each call
    /// skips at most one tick's yield.
    pub fn note_worker_handed_off(&mut self) {
        self.worker_handed_off = true;
    }
}

impl JobMeter {
    /// A meter attached to no job, for testing an extension's host calls
    /// outside a runtime.
    pub fn detached() -> Self {
        use crate::meter::Control;
        Self(Arc::new(Meter::new(
            0,
            Control {
                paused: false,
                allowance: u64::MAX,
            },
        )))
    }
}
