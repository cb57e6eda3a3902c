//! Running one job: its store, its limits, its meter and its controls.
//!
//! A job runs as a tokio task on the runtime's engine. What holds while it runs:
//!
//! - **Fuel** is the deterministic cost: the store starts with the job's fuel
//!   limit and wasm traps when it is spent ([`JobError::OutOfFuel`]). The same
//!   component and input consume the same fuel on every run and every node.
//! - **Epochs** tick every [`crate::config::DEFAULT_EPOCH_TICK`]. At each tick
//!   the store's epoch callback publishes a usage snapshot (what
//!   [`JobHandle::usage`] reads, and what receipts are made from), holds the
//!   guest if asked to, and otherwise yields to the async executor so many
//!   jobs share few threads fairly (not when a host call gave the job's
//!   worker away since the last tick: [`JobState::note_worker_handed_off`]).
//!   Compiled wasm writes its fuel count back to the store only at calls,
//!   returns and fuel yields, so the store also yields every
//!   [`crate::config::FUEL_YIELD_INTERVAL`] units: a snapshot is never
//!   staler than that, and the final usage is exact.
//! - **Pause** is an async yield: when [`JobHandle::pause`] was called, or the
//!   job has used its *fuel allowance* ([`JobLimits::fuel_allowance`]), the
//!   tick's callback returns `UpdateDeadline::YieldCustom` with a future that
//!   completes on [`JobHandle::resume`]. The guest's stack and memory stay as
//!   they are; no fuel is consumed and no wall-clock time is billed while
//!   paused. `resume(extra_fuel)` raises the allowance, so "resume with more
//!   fuel" is exact and deterministic: the node sets the allowance to what
//!   the renter has counter-signed plus a window, and the job holds within a
//!   tick of reaching it. The hard fuel limit itself is never changed while
//!   wasm runs: the running code keeps its fuel in a register, so a
//!   `Store::set_fuel` from the callback would be partly overwritten and the
//!   count would drift. The store's first epoch deadline is immediate, so a
//!   job started with [`crate::Runtime::start_paused`] holds before `run`
//!   does any work.
//! - **Warm starts**: the component is instantiated ahead of time for the
//!   next job of a workload ([`crate::warm`]); a job only applies its limits
//!   to the prepared store. Instantiation is not billed, warm or cold.
//! - **Deadline and kill** race the guest's call in a `select!`: the call
//!   yields at every tick, so either wins within one tick even inside a tight
//!   loop. The deadline counts wall-clock time since the job started, paused
//!   time included (it bounds how long the node holds the job's resources).
//! - **Memory** is capped by [`crate::limiter`]; **output** is copied out as
//!   wasmtime lifts it (at most the guest's own memory) and refused if over
//!   its cap; **stdout/stderr** are captured up to a cap (`crate::stdio`).
//! - **Teardown** follows the report: the host extensions' state ends before
//!   it (a GPU job's last timestamps are billed, its GPU objects released);
//!   the store, the scratch directory (`crate::scratch`) and the job's
//!   slot are released right after, on the same task, so the report does
//!   not wait for them. However the job ended, they are released.
//!
//! Whatever ends the job, its [`JobReport`] carries the usage consumed.
//!
//! The job's steps (task started, `run` entered and returned, report sent)
//! are `trace` events of the `kiln.timeline` target, off unless a subscriber
//! asks for them; kiln-gpu's benchmark uses them to time a job step by step.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::SemaphorePermit;

use kiln_protocol::Usage;
use wasmtime::Trap;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::Inner;
use crate::cache::Workload;
use crate::error::JobError;
use crate::limiter::JobLimiter;
use crate::meter::{Control, Meter};
pub use crate::meter::{JobControl, JobHandle};
use crate::warm::{self, Prepared};

/// Default fuel limit: 200 billion units. Cranelift code burns about 15
/// billion a second in a tight loop on the 2-core x86 machines Kiln is tested
/// on, so this is 10–30 s of CPU-bound work; renters set their own in the job spec.
pub const DEFAULT_FUEL: u64 = 200_000_000_000;
/// Default linear memory cap: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 << 20;
/// Default wall-clock deadline: one minute.
pub const DEFAULT_WALL_CLOCK: Duration = Duration::from_secs(60);
/// Default GPU memory cap: 256 MiB of buffers, enough for the examples and
/// small next to any device; job specs carry their own
/// (`kiln_protocol::JobLimits::gpu_memory_bytes`). Only GPU host extensions
/// read it; a job over it gets a typed out-of-memory error, not a trap.
pub const DEFAULT_GPU_MEMORY_BYTES: u64 = 256 << 20;
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
    /// Fuel limit: the guest traps with [`JobError::OutOfFuel`] when it is spent.
    pub fuel: u64,
    /// Fuel after which the job holds until [`JobHandle::resume`] grants
    /// more; `None` runs it up to `fuel`. See the module docs.
    pub fuel_allowance: Option<u64>,
    /// Linear memory cap in bytes (at most the runtime's `max_memory_bytes`).
    pub memory_bytes: u64,
    /// Wall-clock deadline.
    pub wall_clock: Duration,
    /// GPU memory cap in bytes: the most the job's live GPU buffers may hold
    /// at once. Enforced by GPU host extensions.
    pub gpu_memory_bytes: u64,
    /// Output cap in bytes.
    pub output_bytes: u64,
    /// Cap on captured stdout, and separately on stderr, in bytes.
    pub stdio_bytes: u64,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            fuel_allowance: None,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            wall_clock: DEFAULT_WALL_CLOCK,
            gpu_memory_bytes: DEFAULT_GPU_MEMORY_BYTES,
            output_bytes: DEFAULT_OUTPUT_BYTES,
            stdio_bytes: DEFAULT_STDIO_BYTES,
        }
    }
}

impl From<&kiln_protocol::JobLimits> for JobLimits {
    fn from(limits: &kiln_protocol::JobLimits) -> Self {
        Self {
            fuel: limits.fuel,
            fuel_allowance: None,
            memory_bytes: limits.memory_bytes,
            wall_clock: Duration::from_millis(limits.wall_clock_ms),
            gpu_memory_bytes: limits.gpu_memory_bytes,
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
    /// True when some of `usage.gpu_ns` was measured on the host, not the
    /// device; see [`JobHandle::gpu_time_host_measured`].
    pub gpu_time_host_measured: bool,
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

/// Store data of a job: WASI state, the memory limiter, and the state of
/// each host extension the workload uses ([`crate::extension`]).
pub struct JobState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: JobLimiter,
    pub(crate) extensions: Vec<Option<Box<dyn std::any::Any + Send>>>,
    /// Set by [`JobState::note_worker_handed_off`], cleared by the next tick.
    pub(crate) worker_handed_off: bool,
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

pub(crate) fn start(
    runtime: Arc<Inner>,
    workload: Workload,
    input: Vec<u8>,
    limits: JobLimits,
    paused: bool,
) -> JobHandle {
    let control = Control {
        paused,
        allowance: limits.fuel_allowance.unwrap_or(u64::MAX),
    };
    let meter = Arc::new(Meter::new(limits.fuel, control));
    let (report, reported) = tokio::sync::oneshot::channel();
    tokio::spawn(execute(
        runtime,
        workload,
        input,
        limits,
        meter.clone(),
        report,
    ));
    JobHandle::new(meter, reported)
}

async fn execute(
    runtime: Arc<Inner>,
    workload: Workload,
    input: Vec<u8>,
    limits: JobLimits,
    meter: Arc<Meter>,
    report: tokio::sync::oneshot::Sender<JobReport>,
) {
    tracing::trace!(target: "kiln.timeline", "job task started");
    let mut kill = meter.killed();
    let mut time_to_entry = None;
    let mut pipes = None;
    // The instance after `run` returned, for the teardown.
    let mut finished = None;
    let mut teardown = None;
    let result = 'job: {
        let Ok(slot) = runtime.slots.acquire().await else {
            break 'job Err(JobError::Setup("runtime is shutting down".into()));
        };
        let warm = warm::take(&workload);
        let counter = if warm.is_some() {
            &runtime.starts.warm
        } else {
            &runtime.starts.cold
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(warm::refill(runtime.clone(), workload.clone()));
        let result = {
            let call = async {
                let mut prepared = match warm {
                    Some(prepared) => prepared,
                    None => {
                        let scratch = runtime
                            .scratch
                            .take()
                            .map_err(|e| JobError::Setup(format!("scratch dir: {e}")))?;
                        Prepared::make(&runtime, &workload, scratch).await?
                    }
                };
                pipes = Some((prepared.stdout.clone(), prepared.stderr.clone()));
                prepared.configure(&runtime, &workload, &limits, &meter)?;
                let result = call_run(
                    &mut prepared,
                    &workload,
                    &input,
                    limits.output_bytes,
                    || {
                        time_to_entry = Some(meter.elapsed());
                        tracing::trace!(target: "kiln.timeline", "run entered");
                    },
                )
                .await;
                tracing::trace!(target: "kiln.timeline", "run returned");
                if let Ok(remaining) = prepared.store.get_fuel() {
                    meter.record_remaining_fuel(remaining);
                }
                finished = Some(prepared);
                result
            };
            tokio::pin!(call);
            tokio::select! {
                biased;
                result = &mut call => result,
                _ = kill.wait_for(|killed| *killed) => Err(JobError::Killed),
                () = tokio::time::sleep(limits.wall_clock.saturating_sub(meter.elapsed())) => {
                    Err(JobError::Deadline { limit: limits.wall_clock })
                }
            }
        };
        // After a kill or a deadline the call, and with it the store and
        // scratch dir, is dropped by now; after `run` returned, they are
        // in `finished`. Its host extensions end now, before the report
        // reads the meter; the rest after the report is sent.
        let finished = finished.take().map(|mut prepared| {
            prepared.store.data_mut().extensions.clear();
            prepared
        });
        teardown = Some((finished, slot));
        match result {
            Err(JobError::OutOfFuel { .. }) => Err(JobError::OutOfFuel { limit: limits.fuel }),
            other => other,
        }
    };
    meter.set_paused(false);
    let ((stdout, stdout_dropped), (stderr, stderr_dropped)) = match &pipes {
        Some((stdout, stderr)) => (stdout.take(), stderr.take()),
        None => ((Vec::new(), 0), (Vec::new(), 0)),
    };
    tracing::trace!(target: "kiln.timeline", "report sent");
    let _ = report.send(JobReport {
        result,
        usage: meter.usage(),
        gpu_time_host_measured: meter.gpu_time_host_measured(),
        stdout,
        stdout_dropped,
        stderr,
        stderr_dropped,
        time_to_entry,
    });
    if let Some((finished, slot)) = teardown {
        tear_down(&runtime, finished, slot);
    }
}

/// Ends a job's resources after its report is sent, on the job's own task:
/// dropping the store (decommitting its memory), removing the scratch
/// directory and making its replacement (tens of microseconds each on a disk
/// mounted with `discard`). The job's slot is held until they are done, so a
/// runtime never holds more jobs' resources than it has slots. (The host
/// extensions' state ended before the report: a GPU job's last timestamps
/// are in its usage, its GPU objects released.) Not on a blocking thread:
/// waking one cost back-to-back tiny jobs more than it saved (see the
/// kiln-runtime README's benchmark).
fn tear_down(runtime: &Inner, finished: Option<Prepared>, slot: SemaphorePermit<'_>) {
    drop(finished);
    if let Err(error) = runtime.scratch.refill() {
        tracing::warn!(%error, "could not make scratch directories ahead of time");
    }
    drop(slot);
}

/// Calls `run` on a configured instance and checks its output's size.
///
/// The output is copied out of the guest while wasmtime lifts the result:
/// wasmtime runs the guest's post-return function (which frees the output's
/// buffer) before `call_async` returns, so a borrowed `WasmList` would be read
/// from freed guest memory. The copy is bounded by the guest's own linear
/// memory (the job's memory limit) and refused right after if it is over
/// the output cap.
async fn call_run(
    prepared: &mut Prepared,
    workload: &Workload,
    input: &[u8],
    output_cap: u64,
    on_entry: impl FnOnce(),
) -> Result<Vec<u8>, JobError> {
    type RunResult = (Result<Vec<u8>, String>,);
    let store = &mut prepared.store;
    let run = prepared
        .instance
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
            Ok(output)
        }
        Err(mut message) => {
            let mut end = message.len().min(MAX_GUEST_ERROR_BYTES);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            Err(JobError::Guest(message))
        }
    }
}

/// Turns a wasmtime error into the job's typed error.
pub(crate) fn classify(error: wasmtime::Error) -> JobError {
    if let Some(job_error) = error.downcast_ref::<JobError>() {
        return job_error.clone();
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => JobError::OutOfFuel { limit: 0 },
        Some(Trap::StackOverflow) => JobError::StackOverflow,
        _ => JobError::Trap(format!("{error:#}")),
    }
}
