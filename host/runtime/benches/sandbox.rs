//! `cargo xtask bench sandbox`: what the sandbox costs, measured in one run on
//! one machine so the ratios hold even on a shared, noisy host.
//!
//! 1. Cached job start: from [`Runtime::start`] to the guest's `run` being
//!    entered, for a component already loaded (the sha256 example, its
//!    `InstancePre` reused),
//!    next to spawning `/bin/true` and waiting for it. Target: under 1/100.
//! 2. Metering: the matmul example under fuel + epochs, epochs only and no
//!    metering, and the same kernel compiled natively. Target: fuel + epochs
//!    within 1.3x of unmetered wasm.
//!
//! Each figure is the median of several interleaved rounds. Set
//! `KILN_BENCH_QUICK=1` for a short smoke run.

use kiln_test_guests::guest;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln_runtime::{JobLimits, Metering, Runtime, RuntimeConfig, Workload};

/// Matrix size for the metering comparison: 2·256³ ≈ 33 M flops, long enough
/// (tens of ms) that start-up noise is small, short enough for many rounds.
const MATMUL_N: u32 = 256;

struct Plan {
    starts: usize,
    spawns: usize,
    rounds: usize,
}

fn plan() -> Plan {
    if std::env::var_os("KILN_BENCH_QUICK").is_some() {
        Plan {
            starts: 200,
            spawns: 20,
            rounds: 3,
        }
    } else {
        Plan {
            starts: 5000,
            spawns: 300,
            rounds: 11,
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn runtime(scratch: &std::path::Path, metering: Metering) -> Runtime {
    let mut config = RuntimeConfig::new(scratch);
    config.metering = metering;
    Runtime::new(config).expect("runtime")
}

async fn start_latency(runtime: &Runtime, workload: &Workload, count: usize) -> Duration {
    let limits = JobLimits::default();
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let report = runtime.run(workload, Vec::new(), limits).await;
        assert!(report.result.is_ok(), "{:?}", report.result);
        samples.push(report.time_to_entry.expect("entered run"));
    }
    median(samples)
}

fn spawn_latency(count: usize) -> Duration {
    let samples = (0..count)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new("/bin/true").status().expect("spawn /bin/true");
            assert!(status.success());
            started.elapsed()
        })
        .collect();
    median(samples)
}

async fn timed_run(runtime: &Runtime, workload: &Workload, input: &[u8]) -> (Duration, Vec<u8>) {
    let limits = JobLimits {
        fuel: u64::MAX / 4,
        ..JobLimits::default()
    };
    let started = Instant::now();
    let report = runtime.run(workload, input.to_vec(), limits).await;
    (started.elapsed(), report.result.expect("matmul ran"))
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let plan = plan();
    let scratch = tempfile::tempdir().expect("scratch root");
    let matmul = guest("kiln_example_matmul");

    println!(
        "kiln sandbox benchmark ({} CPUs)",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    // 1. Cached start against a process spawn.
    let metered = runtime(scratch.path(), Metering::FuelAndEpochs);
    let sha256 = metered.load(&guest("kiln_example_sha256")).expect("load");
    // Jobs are started from a task on the runtime, as the node's request
    // handlers start them.
    let start = tokio::spawn({
        let (metered, sha256) = (metered.clone(), sha256.clone());
        async move {
            start_latency(&metered, &sha256, plan.starts / 10).await; // warm up
            start_latency(&metered, &sha256, plan.starts).await
        }
    })
    .await
    .expect("start benchmark");
    let starts = metered.start_stats();
    let spawn = spawn_latency(plan.spawns);
    println!();
    println!(
        "cached job start (request to guest `run`), median of {}: {start:?}",
        plan.starts
    );
    println!(
        "process spawn (/bin/true), median of {}:                {spawn:?}",
        plan.spawns
    );
    println!(
        "start / spawn = 1/{:.0}   (target: under 1/100); {} warm starts, {} cold",
        ratio(spawn, start),
        starts.warm,
        starts.cold
    );

    // 2. Metering cost on a CPU-bound kernel.
    let input = [MATMUL_N.to_le_bytes(), 1u32.to_le_bytes()].concat();
    let modes = [
        ("fuel + epochs", Metering::FuelAndEpochs),
        ("epochs only", Metering::EpochsOnly),
        ("fuel only", Metering::FuelOnly),
        ("unmetered", Metering::Unmetered),
    ];
    let runtimes: Vec<_> = modes
        .iter()
        .map(|(_, metering)| {
            let runtime = runtime(scratch.path(), *metering);
            let workload = runtime.load(&matmul).expect("load matmul");
            (runtime, workload)
        })
        .collect();
    let expected = kiln_example_matmul::run_job(&input).expect("native matmul");
    let mut wasm: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    let mut native = Vec::new();
    for _ in 0..plan.rounds {
        for (samples, (runtime, workload)) in wasm.iter_mut().zip(&runtimes) {
            let (took, output) = timed_run(runtime, workload, &input).await;
            assert_eq!(output, expected, "wasm and native agree");
            samples.push(took);
        }
        let started = Instant::now();
        let output = kiln_example_matmul::run_job(std::hint::black_box(&input)).expect("native");
        native.push(started.elapsed());
        assert_eq!(output, expected);
    }
    let wasm: Vec<Duration> = wasm.into_iter().map(median).collect();
    let native = median(native);
    let unmetered = wasm[3];
    println!();
    println!("matmul n={MATMUL_N}, median of {} rounds:", plan.rounds);
    for ((name, _), took) in modes.iter().zip(&wasm) {
        println!(
            "  {name:<14} {took:>12?}   {:.2}x unmetered wasm   {:.2}x native",
            ratio(*took, unmetered),
            ratio(*took, native)
        );
    }
    println!("  {:<14} {native:>12?}", "native");
    println!(
        "fuel + epochs / unmetered = {:.2}x   (target: within 1.3x)",
        ratio(wasm[0], unmetered)
    );
}
