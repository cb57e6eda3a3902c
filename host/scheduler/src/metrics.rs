//! Prometheus metrics, in a registry of the scheduler's own (not the global
//! one), so several schedulers in one process (tests, benches) do not collide.

use prometheus::{Encoder as _, Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

/// The scheduler's metrics. Gauges of jobs are refreshed from the store when
/// scraped, so they are right across replicas.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Nodes linked to this replica.
    pub nodes_active: IntGauge,
    /// Jobs waiting for a node.
    pub jobs_queued: IntGauge,
    /// Jobs proposed or running.
    pub jobs_running: IntGauge,
    /// Time to pick a node and price for one job.
    pub match_latency: Histogram,
    /// Proposals made.
    pub assignments: IntCounter,
    /// Jobs put back in the queue after their node dropped, refused or timed out.
    pub reschedules: IntCounter,
    /// Faults recorded.
    pub faults: IntCounter,
    /// Policy answers replaced by the built-in defaults.
    pub policy_fallbacks: IntCounter,
    /// Policy plugins unloaded by the crash-loop guard.
    pub policy_unloads: IntCounter,
    /// Offers a pricing screen flagged as price manipulation.
    pub price_flags: IntCounter,
    /// Stake checks not started because `max_stake_reads` were in flight
    /// (the registration refused, or the link let through unchecked).
    pub stake_reads_refused: IntCounter,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter = IntCounter::new(name, help).expect("metric names are valid");
    registry
        .register(Box::new(counter.clone()))
        .expect("each metric is registered once");
    counter
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("metric names are valid");
    registry
        .register(Box::new(gauge.clone()))
        .expect("each metric is registered once");
    gauge
}

impl Metrics {
    /// Fresh metrics in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        // 1 µs to ~1 s: a pick is microseconds; the tail shows contention.
        let buckets = prometheus::exponential_buckets(1e-6, 4.0, 11).expect("valid buckets");
        let match_latency = Histogram::with_opts(
            HistogramOpts::new(
                "kiln_scheduler_match_latency_seconds",
                "Time to filter, rank and price one job",
            )
            .buckets(buckets),
        )
        .expect("metric names are valid");
        registry
            .register(Box::new(match_latency.clone()))
            .expect("each metric is registered once");
        Self {
            nodes_active: gauge(
                &registry,
                "kiln_scheduler_nodes_active",
                "Nodes linked to this replica",
            ),
            jobs_queued: gauge(
                &registry,
                "kiln_scheduler_jobs_queued",
                "Jobs waiting for a node",
            ),
            jobs_running: gauge(
                &registry,
                "kiln_scheduler_jobs_running",
                "Jobs proposed to or running on a node",
            ),
            match_latency,
            assignments: counter(
                &registry,
                "kiln_scheduler_assignments_total",
                "Assignments proposed",
            ),
            reschedules: counter(
                &registry,
                "kiln_scheduler_reschedules_total",
                "Jobs put back in the queue",
            ),
            faults: counter(
                &registry,
                "kiln_scheduler_faults_total",
                "Faults recorded against nodes",
            ),
            policy_fallbacks: counter(
                &registry,
                "kiln_scheduler_policy_fallbacks_total",
                "Policy answers replaced by the built-in defaults",
            ),
            policy_unloads: counter(
                &registry,
                "kiln_scheduler_policy_unloads_total",
                "Policy plugins unloaded after repeated failures",
            ),
            price_flags: counter(
                &registry,
                "kiln_scheduler_price_flags_total",
                "Offers flagged by the pricing screen and left out",
            ),
            stake_reads_refused: counter(
                &registry,
                "kiln_scheduler_stake_reads_refused_total",
                "Stake checks not started because as many as allowed were in flight",
            ),
            registry,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
