//! Running a job under its receipt stream.
//!
//! [`run_metered`] owns a started job (kiln-runtime's `JobHandle`) and, every
//! [`MeteringConfig::interval`], reads its usage and issues the next receipt
//! to the renter; counter-signed receipts coming back are checked by the
//! [`ReceiptStream`]. When the stream says [`Flow::Pause`] the guest is paused
//! at its next fuel tick (an async yield inside wasmtime: stack and memory
//! stay, no fuel or wall time is billed while paused), and resumed as soon as
//! the renter catches up. When the job ends, however it ends, the final
//! receipt carries the proof of execution over the result.

use std::time::Duration;

use kiln_protocol::SignedReceipt;
use kiln_protocol::receipt::Usage;
use kiln_runtime::{JobHandle, JobReport};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::receipts::{Flow, IssueError, ReceiptStream};

/// Default [`MeteringConfig::interval`]: one receipt per second of wall clock,
/// DESIGN.md's default; short enough that little work is at risk, long enough
/// that signing and relaying are noise.
pub const DEFAULT_RECEIPT_INTERVAL: Duration = Duration::from_secs(1);

/// Default [`MeteringConfig::renter_silence`]: how long a job stays paused
/// for a renter who stopped counter-signing before the node ends it and
/// settles what was co-signed. A minute rides out a renter's reconnect.
pub const DEFAULT_RENTER_SILENCE: Duration = Duration::from_secs(60);

/// How a job is metered.
#[derive(Debug, Clone, Copy)]
pub struct MeteringConfig {
    /// Time between receipts.
    pub interval: Duration,
    /// How long the guest may stay paused for the renter before the job is
    /// ended (see [`DEFAULT_RENTER_SILENCE`]).
    pub renter_silence: Duration,
    /// Issue receipts by fuel instead of by time: a receipt once the guest
    /// has burnt this much fuel since the last one, checked every
    /// `interval` (set a short interval with it). `None`: every interval.
    pub fuel_step: Option<u64>,
}

impl Default for MeteringConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_RECEIPT_INTERVAL,
            renter_silence: DEFAULT_RENTER_SILENCE,
            fuel_step: None,
        }
    }
}

/// A receipt's flags: GPU time measured on the host, not the device, is
/// marked so the renter and a verifier know which clock billed it.
fn receipt_flags(gpu_time_host_measured: bool) -> u8 {
    if gpu_time_host_measured {
        kiln_protocol::receipt::flags::GPU_TIME_HOST_MEASURED
    } else {
        0
    }
}

/// How a metered job ended.
#[derive(Debug)]
pub struct MeteredReport {
    /// The sandbox's report (result, final usage, captured output).
    pub job: JobReport,
    /// The final receipt (proof of execution in `output`), when it could be issued.
    pub final_receipt: Result<SignedReceipt, IssueError>,
    /// Receipts issued, the final one included.
    pub issued: u64,
    /// Times the guest was paused for the renter.
    pub pauses: u64,
    /// True when the job was ended because the renter stayed silent past
    /// [`MeteringConfig::renter_silence`].
    pub renter_gave_up: bool,
}

/// Runs `job` to its end under `stream`: receipts go out on `to_renter`,
/// counter-signed ones come in on `from_renter` (left open, so the caller can
/// take the final receipt's counter-signature after the job). A renter that
/// goes away does not stop the job at once: the stream pauses it once the
/// lag limit is reached, and after [`MeteringConfig::renter_silence`] paused
/// it is killed, so the node settles what was co-signed.
pub async fn run_metered(
    job: JobHandle,
    stream: &mut ReceiptStream,
    config: MeteringConfig,
    to_renter: mpsc::Sender<SignedReceipt>,
    from_renter: &mut mpsc::Receiver<SignedReceipt>,
) -> MeteredReport {
    let control = job.control();
    let done = job.wait();
    tokio::pin!(done);
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + config.interval,
        config.interval,
    );
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut issued, mut pauses) = (0u64, 0u64);
    let mut last_usage = None;
    let mut paused_by_us = false;
    let mut paused_since = tokio::time::Instant::now();
    let mut renter_gave_up = false;
    let mut renter_open = true;

    let report = loop {
        tokio::select! {
            report = &mut done => break report,
            _ = ticker.tick() => {
                let usage = control.usage();
                let step_reached = config.fuel_step.is_none_or(|step| {
                    usage.fuel >= last_usage.map_or(0, |u: Usage| u.fuel).saturating_add(step)
                });
                // A paused guest uses nothing: no receipt for no new usage.
                // With a fuel step, the tick is only a chance to issue one.
                let due = match config.fuel_step {
                    None => last_usage != Some(usage),
                    Some(_) => step_reached && last_usage != Some(usage),
                };
                if due {
                    match stream.issue(usage, receipt_flags(control.gpu_time_host_measured())) {
                        Ok(receipt) => {
                            issued += 1;
                            last_usage = Some(usage);
                            // A full or closed channel must not block metering.
                            let _ = to_renter.try_send(receipt);
                        }
                        Err(error) => tracing::warn!(%error, "receipt not issued"),
                    }
                }
            }
            co_signed = from_renter.recv(), if renter_open => match co_signed {
                Some(co_signed) => {
                    if let Err(error) = stream.accept(&co_signed) {
                        tracing::warn!(%error, "counter-signed receipt refused");
                    }
                }
                None => renter_open = false,
            },
        }
        match stream.flow() {
            Flow::Pause(reason) if !paused_by_us => {
                tracing::info!(?reason, "pausing the guest for the renter");
                control.pause();
                paused_by_us = true;
                paused_since = tokio::time::Instant::now();
                pauses += 1;
            }
            Flow::Pause(_)
                if paused_since.elapsed() >= config.renter_silence && !renter_gave_up =>
            {
                tracing::warn!(
                    "the renter stayed silent; ending the job to settle what was co-signed"
                );
                renter_gave_up = true;
                control.kill();
            }
            Flow::Run if paused_by_us => {
                tracing::info!("renter caught up; resuming the guest");
                control.resume(0);
                paused_by_us = false;
            }
            _ => {}
        }
    };

    let result: &[u8] = report.result.as_deref().unwrap_or(&[]);
    let flags = receipt_flags(report.gpu_time_host_measured);
    let final_receipt = stream.issue_final(report.usage, flags, result);
    if let Ok(receipt) = &final_receipt {
        issued += 1;
        let _ = to_renter.try_send(*receipt);
    }
    MeteredReport {
        job: report,
        final_receipt,
        issued,
        pauses,
        renter_gave_up,
    }
}
