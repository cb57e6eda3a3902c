//! Running one job: its store, its limits, its meter and its controls.
//!
//! A job runs as a tokio task on the runtime's engine. What holds while it runs:
//!
//! - **Fuel** is the deterministic cost: the store starts with the job's fuel
//!   budget and wasm traps when it is spent ([`JobError::OutOfFuel`]). The same
//!   component and input consume the same fuel on every run and every node.
//! - **Epochs** tick every [`crate::config::DEFAULT_EPOCH_TICK`]. At each tick
//!   the store's epoch callback publishes a usage snapshot (what
//!   [`JobHandle::usage`] reads, and what receipts are made from), applies fuel
//!   top-ups, honours a pause, and yields to the async executor so many jobs
//!   share few threads fairly.
//! - **Pause** is an async yield: when [`JobHandle::pause`] was called, the
//!   next tick's callback returns `UpdateDeadline::YieldCustom` with a future
//!   that completes on [`JobHandle::resume`]. The guest's stack and memory stay
//!   as they are; no fuel is consumed and no wall-clock time is billed while
//!   paused. `resume(extra_fuel)` raises the budget before the guest continues.
//! - **Deadline and kill** race the guest's call in a `select!`: the call
//!   yields at every tick, so either wins within one tick even inside a tight
//!   loop. The deadline counts wall-clock time since the job started, paused
//!   time included (it bounds how long the node holds the job's resources).
//! - **Memory** is capped by [`crate::limiter`]; **output** is checked by
//!   length before a byte of it is copied out of the guest; **stdout/stderr**
//!   are captured up to a cap ([`crate::stdio`]).
//! - The job's **scratch directory** is removed when the task ends, whatever
//!   ended it ([`crate::scratch`]).
//!
//! Whatever ends the job, its [`JobReport`] carries the usage consumed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kiln_protocol::Usage;
use tokio::sync::watch;
use wasmtime::component::{ResourceTable, WasmList, WasmStr};
use wasmtime::{Store, StoreContextMut, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::Inner;
use crate::cache::Workload;
use crate::error::JobError;
use crate::limiter::JobLimiter;
use crate::scratch::ScratchDir;
use crate::stdio::CappedPipe;

/// Default fuel budget: about ten seconds of busy CPU work.
pub const DEFAULT_FUEL: u64 = 10_000_000_000;
/// Default linear memory cap: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 << 20;
/// Default wall-clock deadline: one minute.
pub const DEFAULT_WALL_CLOCK: Duration = Duration::from_secs(60);
/// Default output cap: 16 MiB.
pub const DEFAULT_OUTPUT_BYTES: u64 = 16 << 20;
/// Default cap on captured stdout, and separately on stderr: 1 MiB each.
pub const DEFAULT_STDIO_BYTES: u64 = 1 << 20;
/// Longest error message kept from a guest's `run` (longer ones are cut).
pub const MAX_GUEST_ERROR_BYTES: usize = 4096;
/// Where the scratch directory appears inside the guest.
pub const SCRATCH_GUEST_PATH: &str = "/scratch";

/// What one job may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    /// Fuel budget.
    pub fuel: u64,
    /// Linear memory cap in bytes (at most the runtime's `max_memory_bytes`).
    pub memory_bytes: u64,
    /// Wall-clock deadline.
    pub wall_clock: Duration,
    /// Output cap in bytes.
    pub output_bytes: u64,
    /// Cap on captured stdout, and separately on stderr, in bytes.
    pub stdio_bytes: u64,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            wall_clock: DEFAULT_WALL_CLOCK,
            output_bytes: DEFAULT_OUTPUT_BYTES,
            stdio_bytes: DEFAULT_STDIO_BYTES,
        }
    }
}

impl From<&kiln_protocol::JobLimits> for JobLimits {
    fn from(limits: &kiln_protocol::JobLimits) -> Self {
        Self {
            fuel: limits.fuel,
            memory_bytes: limits.memory_bytes,
            wall_clock: Duration::from_millis(limits.wall_clock_ms),
            output_bytes: limits.output_bytes,
            stdio_bytes: DEFAULT_STDIO_BYTES,
        }
    }
}

/// How a job ended and what it used.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The output, or why there is none.
    pub result: Result<Vec<u8>, JobError>,
    /// Usage at the end, whatever the end was.
    pub usage: Usage,
    /// Captured stdout, up to the cap.
    pub stdout: Vec<u8>,
    /// Bytes of stdout dropped past the cap.
    pub stdout_dropped: u64,
    /// Captured stderr, up to the cap.
    pub stderr: Vec<u8>,
    /// Bytes of stderr dropped past the cap.
    pub stderr_dropped: u64,
    /// From [`crate::Runtime::start`] to the guest's `run` being entered
    /// (slot wait, scratch dir, store, instantiation); `None` if never entered.
    pub time_to_entry: Option<Duration>,
}

/// Store data of a job: WASI state and the memory limiter.
pub struct JobState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: JobLimiter,
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// State shared by a running job and its handle.
#[derive(Debug)]
struct Shared {
    started: Instant,
    fuel_used: AtomicU64,
    gpu_ns: AtomicU64,
    paused_total_ns: AtomicU64,
    paused_since: std::sync::Mutex<Option<Instant>>,
    extra_fuel: AtomicU64,
    pause: watch::Sender<bool>,
    kill: watch::Sender<bool>,
}

impl Shared {
    fn wall_ms(&self) -> u64 {
        let paused_now = self
            .paused_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(Duration::ZERO, |since| since.elapsed());
        let paused =
            Duration::from_nanos(self.paused_total_ns.load(Ordering::Relaxed)) + paused_now;
        let active = self.started.elapsed().saturating_sub(paused);
        u64::try_from(active.as_millis()).unwrap_or(u64::MAX)
    }

    fn usage(&self) -> Usage {
        Usage {
            fuel: self.fuel_used.load(Ordering::Relaxed),
            gpu_ns: self.gpu_ns.load(Ordering::Relaxed),
            wall_ms: self.wall_ms(),
        }
    }

    fn set_paused(&self, paused: bool) {
        let mut since = self.paused_since.lock().unwrap_or_else(|e| e.into_inner());
        match (paused, *since) {
            (true, None) => *since = Some(Instant::now()),
            (false, Some(start)) => {
                let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.paused_total_ns.fetch_add(ns, Ordering::Relaxed);
                *since = None;
            }
            _ => {}
        }
    }
}

/// A running job: read its usage, pause, resume, kill, or wait for its report.
/// Dropping the handle kills the job.
#[derive(Debug)]
pub struct JobHandle {
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<JobReport>>,
}

impl JobHandle {
    /// Usage so far: fuel as of the last tick, wall-clock time now (paused
    /// time excluded), GPU time as reported by GPU host calls.
    pub fn usage(&self) -> Usage {
        self.shared.usage()
    }

    /// Asks the job to pause at the next tick. See the module docs.
    pub fn pause(&self) {
        self.shared.pause.send_replace(true);
    }

    /// True once the guest is actually suspended.
    pub fn is_paused(&self) -> bool {
        self.shared
            .paused_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Resumes a paused job with `extra_fuel` added to its budget.
    pub fn resume(&self, extra_fuel: u64) {
        self.shared
            .extra_fuel
            .fetch_add(extra_fuel, Ordering::Relaxed);
        self.shared.pause.send_replace(false);
    }

    /// Stops the job; its report says [`JobError::Killed`].
    pub fn kill(&self) {
        self.shared.kill.send_replace(true);
    }

    /// Waits for the job to end.
    pub async fn wait(mut self) -> JobReport {
        let task = self
            .task
            .take()
            .expect("a handle's task is taken only by wait");
        let shared = self.shared.clone();
        match task.await {
            Ok(report) => report,
            Err(error) => JobReport {
                result: Err(JobError::Setup(format!("job task failed: {error}"))),
                usage: shared.usage(),
                stdout: Vec::new(),
                stdout_dropped: 0,
                stderr: Vec::new(),
                stderr_dropped: 0,
                time_to_entry: None,
            },
        }
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.kill();
        }
    }
}

pub(crate) fn start(
    runtime: Arc<Inner>,
    workload: Workload,
    input: Vec<u8>,
    limits: JobLimits,
) -> JobHandle {
    let shared = Arc::new(Shared {
        started: Instant::now(),
        fuel_used: AtomicU64::new(0),
        gpu_ns: AtomicU64::new(0),
        paused_total_ns: AtomicU64::new(0),
        paused_since: std::sync::Mutex::new(None),
        extra_fuel: AtomicU64::new(0),
        pause: watch::channel(false).0,
        kill: watch::channel(false).0,
    });
    let task = tokio::spawn(execute(runtime, workload, input, limits, shared.clone()));
    JobHandle {
        shared,
        task: Some(task),
    }
}

async fn execute(
    runtime: Arc<Inner>,
    workload: Workload,
    input: Vec<u8>,
    limits: JobLimits,
    shared: Arc<Shared>,
) -> JobReport {
    let stdout = CappedPipe::new(usize::try_from(limits.stdio_bytes).unwrap_or(usize::MAX));
    let stderr = CappedPipe::new(usize::try_from(limits.stdio_bytes).unwrap_or(usize::MAX));
    let mut kill = shared.kill.subscribe();
    let mut time_to_entry = None;
    let mut final_fuel = None;

    let result = 'job: {
        let Ok(_slot) = runtime.slots.acquire().await else {
            break 'job Err(JobError::Setup("runtime is shutting down".into()));
        };
        let scratch = match ScratchDir::create(&runtime.config.scratch_root) {
            Ok(scratch) => scratch,
            Err(error) => break 'job Err(JobError::Setup(format!("scratch dir: {error}"))),
        };
        let mut store = match new_store(&runtime, &limits, &scratch, &stdout, &stderr) {
            Ok(store) => store,
            Err(error) => break 'job Err(error),
        };
        let budget = Arc::new(AtomicU64::new(limits.fuel));
        if runtime.config.metering.epochs() {
            store.epoch_deadline_callback(epoch_callback(shared.clone(), budget.clone()));
        }
        let result = {
            let call = call_run(&mut store, &workload, &input, limits.output_bytes, || {
                time_to_entry = Some(shared.started.elapsed());
            });
            tokio::pin!(call);
            tokio::select! {
                biased;
                result = &mut call => result,
                _ = kill.wait_for(|killed| *killed) => Err(JobError::Killed),
                () = tokio::time::sleep(limits.wall_clock.saturating_sub(shared.started.elapsed())) => {
                    Err(JobError::Deadline { limit: limits.wall_clock })
                }
            }
        };
        if runtime.config.metering.fuel() {
            let budget = budget.load(Ordering::Relaxed);
            let remaining = store.get_fuel().unwrap_or(0);
            final_fuel = Some(budget.saturating_sub(remaining));
            if let Err(JobError::OutOfFuel { .. }) = result {
                break 'job Err(JobError::OutOfFuel { budget });
            }
        }
        result
    };
    if let Some(fuel) = final_fuel {
        shared.fuel_used.store(fuel, Ordering::Relaxed);
    }
    shared.set_paused(false);
    let (stdout, stdout_dropped) = stdout.take();
    let (stderr, stderr_dropped) = stderr.take();
    JobReport {
        result,
        usage: shared.usage(),
        stdout,
        stdout_dropped,
        stderr,
        stderr_dropped,
        time_to_entry,
    }
}

fn new_store(
    runtime: &Inner,
    limits: &JobLimits,
    scratch: &ScratchDir,
    stdout: &CappedPipe,
    stderr: &CappedPipe,
) -> Result<Store<JobState>, JobError> {
    if limits.memory_bytes > runtime.config.max_memory_bytes {
        return Err(JobError::Setup(format!(
            "memory limit {} exceeds this runtime's maximum {}",
            limits.memory_bytes, runtime.config.max_memory_bytes
        )));
    }
    // Deny by default: no environment, no arguments, empty stdin, no network
    // (not linked at all), no host directory but the job's scratch dir.
    let wasi = WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .preopened_dir(scratch.path(), SCRATCH_GUEST_PATH, FsPerms::ReadWrite)
        .map_err(|e| JobError::Setup(format!("preopen scratch dir: {e:#}")))?
        .build();
    let state = JobState {
        wasi,
        table: ResourceTable::new(),
        limiter: JobLimiter {
            memory_bytes: limits.memory_bytes,
        },
    };
    let mut store = Store::new(&runtime.engine, state);
    store.limiter(|state| &mut state.limiter);
    if runtime.config.metering.fuel() {
        store
            .set_fuel(limits.fuel)
            .map_err(|e| JobError::Setup(format!("{e:#}")))?;
    }
    if runtime.config.metering.epochs() {
        store.set_epoch_deadline(1);
    }
    Ok(store)
}

/// The per-tick callback. See the module docs.
fn epoch_callback(
    shared: Arc<Shared>,
    budget: Arc<AtomicU64>,
) -> impl FnMut(StoreContextMut<'_, JobState>) -> wasmtime::Result<UpdateDeadline> + Send + Sync + 'static
{
    let mut pause = shared.pause.subscribe();
    move |mut store| {
        let extra = shared.extra_fuel.swap(0, Ordering::Relaxed);
        if let Ok(remaining) = store.get_fuel() {
            if extra > 0 {
                store.set_fuel(remaining.saturating_add(extra))?;
                budget.fetch_add(extra, Ordering::Relaxed);
            }
            let used = budget.load(Ordering::Relaxed).saturating_sub(remaining);
            shared.fuel_used.store(used, Ordering::Relaxed);
        }
        if *pause.borrow_and_update() {
            shared.set_paused(true);
            let mut resumed = pause.clone();
            // Re-check after the yield (delta 0): the callback runs again at
            // once, applies any top-up and records the end of the pause.
            return Ok(UpdateDeadline::YieldCustom(
                0,
                Box::pin(async move {
                    let _ = resumed.wait_for(|paused| !*paused).await;
                }),
            ));
        }
        shared.set_paused(false);
        Ok(UpdateDeadline::Yield(1))
    }
}

/// Instantiates the workload and calls `run`, checking the output's size
/// before copying it out of the guest.
async fn call_run(
    store: &mut Store<JobState>,
    workload: &Workload,
    input: &[u8],
    output_cap: u64,
    on_entry: impl FnOnce(),
) -> Result<Vec<u8>, JobError> {
    type RunResult = (Result<WasmList<u8>, WasmStr>,);
    let instance = workload
        .pre()
        .instantiate_async(&mut *store)
        .await
        .map_err(classify)?;
    let run = instance
        .get_typed_func::<(&[u8],), RunResult>(&mut *store, workload.run_export())
        .map_err(|e| JobError::Setup(format!("`run` has the wrong type: {e:#}")))?;
    on_entry();
    let (result,) = run
        .call_async(&mut *store, (input,))
        .await
        .map_err(classify)?;
    match result {
        Ok(output) => {
            let size = u64::try_from(output.len()).unwrap_or(u64::MAX);
            if size > output_cap {
                return Err(JobError::OutputTooLarge {
                    size,
                    limit: output_cap,
                });
            }
            Ok(output.as_le_slice(&*store).to_vec())
        }
        Err(message) => {
            let message = message.to_str(&*store).map_err(classify)?;
            let mut end = message.len().min(MAX_GUEST_ERROR_BYTES);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            Err(JobError::Guest(message[..end].to_owned()))
        }
    }
}

/// Turns a wasmtime error into the job's typed error.
fn classify(error: wasmtime::Error) -> JobError {
    if let Some(job_error) = error.downcast_ref::<JobError>() {
        return job_error.clone();
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => JobError::OutOfFuel { budget: 0 },
        Some(Trap::StackOverflow) => JobError::StackOverflow,
        _ => JobError::Trap(format!("{error:#}")),
    }
}
