//! Helpers shared by the end-to-end tests: a network on a temporary dir and
//! the standard requests.

use std::time::Duration;

use kiln_client::JobRequest;
use kiln_devnet::{Devnet, DevnetConfig};
use kiln_protocol::{BenchmarkClass, JobLimits, Rates, WorkloadClass};

/// A network of `nodes` nodes in a fresh temporary dir (kept alive with it).
pub async fn network(
    nodes: usize,
    tune: impl FnOnce(&mut DevnetConfig),
) -> (Devnet, tempfile::TempDir) {
    // Logs with `KILN_LOG=info` (nextest shows them for failing tests).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,litesvm=off")),
        )
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("temporary dir");
    let elf = kiln_settlement::Embedded::elf_path(None)
        .expect("KILN_SETTLEMENT_SO names the program (cargo xtask test sets it)");
    let mut config = DevnetConfig::new(dir.path(), elf);
    config.nodes = nodes;
    tune(&mut config);
    let devnet = Devnet::start(config).await.expect("the network starts");
    (devnet, dir)
}

/// A built guest's bytes.
pub fn guest(name: &str) -> Vec<u8> {
    let path = kiln_devnet::guest_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "guest {} missing ({e}); build it with `cargo xtask guests`",
            path.display()
        )
    })
}

/// The most the tests' renters pay per unit.
pub const MAX_RATES: Rates = Rates {
    per_million_fuel: 100,
    per_gpu_second: 10_000_000,
    per_wall_second: 1_000_000,
};

/// A CPU job of `component` on `input`.
pub fn cpu_job(component: Vec<u8>, input: Vec<u8>) -> JobRequest {
    JobRequest {
        component,
        input,
        class: WorkloadClass::Cpu,
        limits: JobLimits {
            fuel: 2_000_000_000,
            memory_bytes: 256 << 20,
            wall_clock_ms: 60_000,
            gpu_memory_bytes: 0,
            output_bytes: 4 << 20,
        },
        max_rates: MAX_RATES,
        region: None,
        min_benchmark_class: BenchmarkClass(0),
        budget: None,
        timeout: Duration::from_secs(120),
        settle_timeout: Duration::from_secs(20),
    }
}
