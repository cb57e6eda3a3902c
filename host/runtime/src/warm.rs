//! Instances made ahead of time, so that a cached job starts without
//! instantiating its component.
//!
//! Instantiating a Rust `wasm32-wasip2` component (three core modules, about
//! ninety lowered WASI imports) and building its store and WASI context is
//! most of a cached job's start. So after a workload runs, the runtime makes
//! [`WARM_INSTANCES_PER_WORKLOAD`] more of them in the background: a fresh
//! store with the component instantiated in it, its own empty scratch
//! directory and its own stdout/stderr pipes. The next job of that workload
//! takes one and only applies its limits (`Prepared::configure`).
//!
//! Nothing is shared between jobs: every prepared instance is made for one
//! job and dropped with it, exactly like one made on demand. Instantiation
//! runs under its own small budget ([`INSTANTIATION_FUEL`],
//! [`INSTANTIATION_TICKS`]) and is not billed to the job: the job's fuel is
//! set when it takes the instance, so a warm and a cold start use the same
//! fuel. Warm instances hold pooling-allocator slots, so their total is
//! bounded by [`crate::config::MAX_WARM_INSTANCES`].

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime::component::{Instance, ResourceTable};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::Inner;
use crate::cache::Workload;
use crate::config::FUEL_YIELD_INTERVAL;
use crate::error::JobError;
use crate::extension::{JobContext, JobMeter};
use crate::job::{JobLimits, JobState, SCRATCH_GUEST_PATH, classify};
use crate::limiter::JobLimiter;
use crate::meter::{Meter, epoch_callback};
use crate::scratch::ScratchDir;
use crate::stdio::CappedPipe;

/// Prepared instances kept per workload: two, so a job that starts while
/// the previous job's replacement is still being made finds one ready.
pub const WARM_INSTANCES_PER_WORKLOAD: usize = 2;

/// Fuel a component may burn while instantiating (its start functions): far
/// more than any real component's initialisation, and a bound on a hostile
/// one's.
pub const INSTANTIATION_FUEL: u64 = 1_000_000_000;

/// Epoch ticks instantiation may take before it traps (one second at the
/// default tick): the wall-clock bound for a component without fuel metering.
pub const INSTANTIATION_TICKS: u64 = 100;

/// A store with the workload instantiated in it, not yet given to a job.
pub(crate) struct Prepared {
    pub(crate) store: Store<JobState>,
    pub(crate) instance: Instance,
    /// Kept so the directory lives exactly as long as the store that opened it.
    _scratch: ScratchDir,
    pub(crate) stdout: CappedPipe,
    pub(crate) stderr: CappedPipe,
    /// Held while the instance waits in a pool; `None` once a job has it.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

impl Prepared {
    /// Makes one around `scratch`: pipes, a deny-by-default WASI context, a
    /// store at the runtime's ceilings, and the component instantiated.
    pub(crate) async fn make(
        runtime: &Inner,
        workload: &Workload,
        scratch: ScratchDir,
    ) -> Result<Self, JobError> {
        let (stdout, stderr) = (CappedPipe::new(0), CappedPipe::new(0));
        // Deny by default: no environment, no arguments, empty stdin, no
        // network (not linked at all), no host directory but the scratch dir.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .preopened_dir(scratch.path(), SCRATCH_GUEST_PATH, FsPerms::ReadWrite)
            .map_err(|e| JobError::Setup(format!("preopen scratch dir: {e:#}")))?
            .build();
        let state = JobState {
            wasi,
            table: ResourceTable::new(),
            limiter: JobLimiter::new(runtime.config.max_memory_bytes),
            extensions: Vec::new(),
            worker_handed_off: false,
        };
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|state| &mut state.limiter);
        let setup = |e: wasmtime::Error| JobError::Setup(format!("{e:#}"));
        if runtime.config.metering.fuel() {
            store.set_fuel(INSTANTIATION_FUEL).map_err(setup)?;
            store
                .fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))
                .map_err(setup)?;
        }
        if runtime.config.metering.epochs() {
            store.set_epoch_deadline(INSTANTIATION_TICKS);
        }
        let instance = workload
            .pre()
            .instantiate_async(&mut store)
            .await
            .map_err(classify)?;
        Ok(Self {
            store,
            instance,
            _scratch: scratch,
            stdout,
            stderr,
            permit: None,
        })
    }

    /// Gives the instance to a job: its memory cap (refused if instantiation
    /// already took more), fuel, output caps, epoch deadline and callback, and
    /// the state of each host extension the workload uses.
    pub(crate) fn configure(
        &mut self,
        runtime: &Inner,
        workload: &Workload,
        limits: &JobLimits,
        meter: &Arc<Meter>,
    ) -> Result<(), JobError> {
        if limits.memory_bytes > runtime.config.max_memory_bytes {
            return Err(JobError::Setup(format!(
                "memory limit {} exceeds this runtime's maximum {}",
                limits.memory_bytes, runtime.config.max_memory_bytes
            )));
        }
        self.store.data_mut().limiter.cap(limits.memory_bytes)?;
        let extensions = &runtime.config.extensions;
        let mut states = Vec::with_capacity(extensions.len());
        for (slot, extension) in extensions.iter().enumerate() {
            let state = if workload.uses_extension(slot) {
                let context = JobContext {
                    limits: *limits,
                    meter: JobMeter(meter.clone()),
                };
                Some(extension.job_state(context).map_err(JobError::Setup)?)
            } else {
                None
            };
            states.push(state);
        }
        self.store.data_mut().extensions = states;
        let stdio = usize::try_from(limits.stdio_bytes).unwrap_or(usize::MAX);
        self.stdout.set_cap(stdio);
        self.stderr.set_cap(stdio);
        if runtime.config.metering.fuel() {
            self.store
                .set_fuel(limits.fuel)
                .map_err(|e| JobError::Setup(format!("{e:#}")))?;
        }
        if runtime.config.metering.epochs() {
            // Deadline 0 for a job that must hold from the start: the
            // callback runs at the guest's first epoch check, before `run`
            // does any work.
            self.store
                .set_epoch_deadline(u64::from(!meter.holds_at_start()));
            self.store
                .epoch_deadline_callback(epoch_callback(meter.clone()));
        }
        Ok(())
    }
}

/// Takes a prepared instance of `workload`, if one is ready.
pub(crate) fn take(workload: &Workload) -> Option<Prepared> {
    let mut prepared = workload
        .warm()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()?;
    prepared.permit = None;
    Some(prepared)
}

/// Tops up `workload`'s prepared instances, within the runtime's budget.
pub(crate) async fn refill(runtime: Arc<Inner>, workload: Workload) {
    loop {
        let ready = workload
            .warm()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        if ready >= WARM_INSTANCES_PER_WORKLOAD {
            return;
        }
        let Ok(permit) = runtime.warm_budget.clone().try_acquire_owned() else {
            return;
        };
        let scratch = match runtime.scratch.take_spare() {
            Ok(Some(scratch)) => scratch,
            // The runtime is closed: no more spares.
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "could not make a scratch dir ahead of time");
                return;
            }
        };
        match Prepared::make(&runtime, &workload, scratch).await {
            Ok(mut prepared) => {
                prepared.permit = Some(permit);
                workload
                    .warm()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(prepared);
                // Closed while this one was made: `close` may have cleared
                // the list before the push.
                if runtime.scratch.is_closed() {
                    drop_all(&workload);
                    return;
                }
            }
            Err(_) if runtime.scratch.is_closed() => return,
            Err(error) => {
                tracing::warn!(workload = %workload.digest(), %error, "could not prepare an instance ahead of time");
                return;
            }
        }
    }
}

/// Drops `workload`'s prepared instances (their stores, scratch dirs and
/// budget permits); for a closed runtime.
pub(crate) fn drop_all(workload: &Workload) {
    let prepared = std::mem::take(&mut *workload.warm().lock().unwrap_or_else(|e| e.into_inner()));
    drop(prepared);
}
