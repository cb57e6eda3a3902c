//! `KILN_BENCH_PROFILE=timeline`: where a Mandelbrot job's time goes, step
//! by step, through the guest and natively.
//!
//! kiln-runtime (task started, `run` entered and returned, report sent),
//! kiln-gpu (each host call's start and return) and this bench (the native
//! program's steps) emit `trace` events of the [`TARGET`] target. A
//! [`Recorder`] installed as the global subscriber notes each event's label
//! and time; every other target stays off, so nothing else pays for it.
//! [`print`] then shows, for each step between two consecutive events, the
//! median over the runs, and the steps too short to list as one sum.

use std::fmt::{Debug, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

use crate::median;

/// The events' target.
pub const TARGET: &str = "kiln.timeline";

/// Steps shorter than this (median) are summed into one line, not listed:
/// a job has ~140 steps, most of them a host call of a microsecond or less.
const LISTED: Duration = Duration::from_micros(5);

/// Marks a step of the native program.
pub fn mark(step: &'static str) {
    tracing::trace!(target: TARGET, "{step}");
}

/// One run's events: label and time, in order.
pub type Run = Vec<(String, Instant)>;

/// Notes every [`TARGET`] event.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Run>>);

impl Recorder {
    /// Installs a recorder as the process's subscriber.
    pub fn install() -> Self {
        let recorder = Self::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(recorder.clone()),
        )
        .expect("no other subscriber in the bench");
        recorder
    }

    /// The events since the last call.
    pub fn take(&self) -> Run {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// An event's message, then its `call` field if any.
#[derive(Default)]
struct Label {
    message: String,
    call: String,
}

impl Visit for Label {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let into = if field.name() == "call" {
            &mut self.call
        } else {
            &mut self.message
        };
        let _ = write!(into, "{value:?}");
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.target() == TARGET {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target() == TARGET
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let at = Instant::now();
        let mut label = Label::default();
        event.record(&mut label);
        let label = if label.call.is_empty() {
            label.message
        } else {
            format!("{} {}", label.message, label.call)
        };
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((label, at));
    }
}

/// Prints `runs`' steps: each step's median, the short ones summed, and the
/// median of the whole run. Runs whose steps differ from the first's (a
/// job that took another path) are left out and counted.
pub fn print(path: &str, runs: &[Run]) {
    let Some(first) = runs.first() else {
        return;
    };
    let labels: Vec<&str> = first.iter().map(|(label, _)| label.as_str()).collect();
    let same: Vec<&Run> = runs
        .iter()
        .filter(|run| {
            run.iter()
                .map(|(label, _)| label.as_str())
                .eq(labels.iter().copied())
        })
        .collect();
    println!(
        "{path}: {} runs ({} left out: other steps), medians",
        same.len(),
        runs.len() - same.len()
    );
    let mut short = (0, Duration::ZERO);
    for step in 1..labels.len() {
        let took = median(
            same.iter()
                .map(|run| run[step].1 - run[step - 1].1)
                .collect(),
        );
        if took >= LISTED {
            println!(
                "  {:>9.1}µs  {} -> {}",
                took.as_secs_f64() * 1e6,
                labels[step - 1],
                labels[step]
            );
        } else {
            short = (short.0 + 1, short.1 + took);
        }
    }
    let whole = median(
        same.iter()
            .map(|run| run[run.len() - 1].1 - run[0].1)
            .collect(),
    );
    println!(
        "  {:>9.1}µs  the other {} steps, each under {LISTED:?}",
        short.1.as_secs_f64() * 1e6,
        short.0
    );
    println!("  {:>9.1}µs  whole run", whole.as_secs_f64() * 1e6);
}
