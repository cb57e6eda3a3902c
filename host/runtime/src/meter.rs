//! A running job's meter and controls, shared by its task and its
//! [`JobHandle`], and the epoch callback that connects the two.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_protocol::Usage;
use tokio::sync::watch;
use wasmtime::{StoreContextMut, UpdateDeadline};

use crate::error::JobError;
use crate::job::{JobReport, JobState};

/// What the job's owner asks of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Control {
    /// Hold at the next tick.
    pub(crate) paused: bool,
    /// Hold once this much fuel is used.
    pub(crate) allowance: u64,
}

impl Control {
    fn holds(self, fuel_used: u64) -> bool {
        self.paused || fuel_used >= self.allowance
    }
}

/// State shared by a running job and its handle.
#[derive(Debug)]
pub(crate) struct Meter {
    started: Instant,
    fuel_limit: u64,
    fuel_used: AtomicU64,
    gpu_ns: AtomicU64,
    gpu_host_measured: AtomicBool,
    paused_total_ns: AtomicU64,
    paused_since: Mutex<Option<Instant>>,
    control: watch::Sender<Control>,
    kill: watch::Sender<bool>,
}

impl Meter {
    pub(crate) fn new(fuel_limit: u64, control: Control) -> Self {
        Self {
            started: Instant::now(),
            fuel_limit,
            fuel_used: AtomicU64::new(0),
            gpu_ns: AtomicU64::new(0),
            gpu_host_measured: AtomicBool::new(false),
            paused_total_ns: AtomicU64::new(0),
            paused_since: Mutex::new(None),
            control: watch::channel(control).0,
            kill: watch::channel(false).0,
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// True when the job must hold before its first instruction.
    pub(crate) fn holds_at_start(&self) -> bool {
        self.control.borrow().holds(0)
    }

    pub(crate) fn killed(&self) -> watch::Receiver<bool> {
        self.kill.subscribe()
    }

    /// Records fuel from the store's remaining fuel.
    pub(crate) fn record_remaining_fuel(&self, remaining: u64) {
        self.fuel_used
            .store(self.fuel_limit.saturating_sub(remaining), Ordering::Relaxed);
    }

    fn wall_ms(&self) -> u64 {
        let paused_now = self
            .lock_paused_since()
            .map_or(Duration::ZERO, |since| since.elapsed());
        let paused =
            Duration::from_nanos(self.paused_total_ns.load(Ordering::Relaxed)) + paused_now;
        let active = self.started.elapsed().saturating_sub(paused);
        u64::try_from(active.as_millis()).unwrap_or(u64::MAX)
    }

    /// Adds GPU time reported by a host extension ([`crate::extension`]).
    pub(crate) fn record_gpu_time(&self, ns: u64, host_measured: bool) {
        // Saturating: GPU time is cumulative and must never wrap to less.
        let _ = self
            .gpu_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                Some(total.saturating_add(ns))
            });
        if host_measured {
            self.gpu_host_measured.store(true, Ordering::Relaxed);
        }
    }

    /// True once any of the job's GPU time was measured on the host.
    pub(crate) fn gpu_time_host_measured(&self) -> bool {
        self.gpu_host_measured.load(Ordering::Relaxed)
    }

    pub(crate) fn usage(&self) -> Usage {
        Usage {
            fuel: self.fuel_used.load(Ordering::Relaxed),
            gpu_ns: self.gpu_ns.load(Ordering::Relaxed),
            wall_ms: self.wall_ms(),
        }
    }

    fn lock_paused_since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.paused_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        let mut since = self.lock_paused_since();
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
    control: JobControl,
    /// Where the job's task sends its report, before it tears the job down.
    report: Option<tokio::sync::oneshot::Receiver<JobReport>>,
}

/// The controls of a running job without the job itself: cheap to clone, so a
/// metering loop can read usage and pause or resume the guest while another
/// task waits on the [`JobHandle`]. Controls of an ended job do nothing.
#[derive(Debug, Clone)]
pub struct JobControl {
    meter: Arc<Meter>,
}

impl JobControl {
    /// Usage so far: fuel as of the last tick (at most
    /// [`crate::config::FUEL_YIELD_INTERVAL`] behind), wall-clock time now
    /// (paused time excluded), GPU time as reported by GPU host calls.
    pub fn usage(&self) -> Usage {
        self.meter.usage()
    }

    /// True when some of the job's GPU time was measured on the host rather
    /// than by the device (see [`crate::extension::GpuClock`]); receipts then
    /// set `kiln_protocol::flags::GPU_TIME_HOST_MEASURED`.
    pub fn gpu_time_host_measured(&self) -> bool {
        self.meter.gpu_time_host_measured()
    }

    /// Asks the job to pause at the next tick. See [`crate::job`].
    pub fn pause(&self) {
        self.meter
            .control
            .send_modify(|control| control.paused = true);
    }

    /// True while the guest is suspended, by [`JobControl::pause`] or because
    /// it reached its fuel allowance.
    pub fn is_paused(&self) -> bool {
        self.meter.lock_paused_since().is_some()
    }

    /// Fuel the job may use before it holds, waiting for [`JobControl::resume`].
    pub fn fuel_allowance(&self) -> u64 {
        self.meter.control.borrow().allowance
    }

    /// Lifts a pause and grants `extra_fuel` more allowance. The guest
    /// continues unless it is still at or past its allowance.
    pub fn resume(&self, extra_fuel: u64) {
        self.meter.control.send_modify(|control| {
            control.paused = false;
            control.allowance = control.allowance.saturating_add(extra_fuel);
        });
    }

    /// Stops the job; its report says [`JobError::Killed`].
    pub fn kill(&self) {
        self.meter.kill.send_replace(true);
    }
}

impl JobHandle {
    pub(crate) fn new(
        meter: Arc<Meter>,
        report: tokio::sync::oneshot::Receiver<JobReport>,
    ) -> Self {
        Self {
            control: JobControl { meter },
            report: Some(report),
        }
    }

    /// A clone of the job's controls (see [`JobControl`]).
    pub fn control(&self) -> JobControl {
        self.control.clone()
    }

    /// See [`JobControl::usage`].
    pub fn usage(&self) -> Usage {
        self.control.usage()
    }

    /// See [`JobControl::gpu_time_host_measured`].
    pub fn gpu_time_host_measured(&self) -> bool {
        self.control.gpu_time_host_measured()
    }

    /// See [`JobControl::pause`].
    pub fn pause(&self) {
        self.control.pause();
    }

    /// See [`JobControl::is_paused`].
    pub fn is_paused(&self) -> bool {
        self.control.is_paused()
    }

    /// See [`JobControl::fuel_allowance`].
    pub fn fuel_allowance(&self) -> u64 {
        self.control.fuel_allowance()
    }

    /// See [`JobControl::resume`].
    pub fn resume(&self, extra_fuel: u64) {
        self.control.resume(extra_fuel);
    }

    /// See [`JobControl::kill`].
    pub fn kill(&self) {
        self.control.kill();
    }

    /// Waits for the job to end.
    pub async fn wait(mut self) -> JobReport {
        let report = self
            .report
            .take()
            .expect("a handle's report is taken only by wait");
        match report.await {
            Ok(report) => report,
            // The task ended without a report: it panicked.
            Err(_) => JobReport {
                result: Err(JobError::Setup("job task failed before its report".into())),
                usage: self.control.usage(),
                gpu_time_host_measured: self.control.gpu_time_host_measured(),
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
        if self.report.is_some() {
            self.kill();
        }
    }
}

/// The per-tick callback: publish usage, hold while paused or at the
/// allowance, otherwise yield to the executor (unless a host call handed the
/// job's worker away since the last tick, [`JobState::note_worker_handed_off`])
/// and wait for the next tick.
pub(crate) fn epoch_callback(
    meter: Arc<Meter>,
) -> impl FnMut(StoreContextMut<'_, JobState>) -> wasmtime::Result<UpdateDeadline> + Send + Sync + 'static
{
    move |mut store| {
        let handed_off = std::mem::take(&mut store.data_mut().worker_handed_off);
        if let Ok(remaining) = store.get_fuel() {
            meter.record_remaining_fuel(remaining);
        }
        let used = meter.fuel_used.load(Ordering::Relaxed);
        if meter.control.borrow().holds(used) {
            meter.set_paused(true);
            let mut control = meter.control.subscribe();
            // Delta 0: the callback runs again as soon as the hold ends,
            // which records the end of the pause.
            return Ok(UpdateDeadline::YieldCustom(
                0,
                Box::pin(async move {
                    let _ = control.wait_for(|control| !control.holds(used)).await;
                }),
            ));
        }
        meter.set_paused(false);
        Ok(if handed_off {
            UpdateDeadline::Continue(1)
        } else {
            UpdateDeadline::Yield(1)
        })
    }
}
