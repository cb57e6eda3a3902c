//! `kiln policy check FILE`: validate a policy plugin against the
//! `kiln:policy` worlds and run it on a sample job, before pinning or loading
//! it. Nothing is installed anywhere; the pins are not consulted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kiln_protocol::class::{BenchmarkClass, WorkloadClass};
use kiln_protocol::job::{JOB_SPEC_VERSION, JobLimits};
use kiln_protocol::{Digest, JobSpec, PublicKey, Rates, sha256};
use kiln_runtime::{Runtime, RuntimeConfig};
use kiln_scheduler::matching::Candidate;
use kiln_scheduler::policy::{Cleared, Pins, PolicyConfig, PolicyHost};

/// `kiln policy …`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Check a plugin against the worlds and run it on a sample job.
    Check(CheckArgs),
}

/// Arguments of `kiln policy check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin component (`.wasm`).
    file: PathBuf,
}

pub fn run(args: PolicyArgs) -> Result<ExitCode> {
    match args.command {
        PolicyCommand::Check(args) => check(&args.file),
    }
}

/// Sample rates: `rate` for every unit.
fn rates(rate: u64) -> Rates {
    Rates {
        per_million_fuel: rate,
        per_gpu_second: rate,
        per_wall_second: rate,
    }
}

fn sample_job() -> JobSpec {
    JobSpec {
        version: JOB_SPEC_VERSION,
        component: Digest([0; 32]),
        input_size: 0,
        class: WorkloadClass::Cpu,
        min_benchmark_class: BenchmarkClass(1),
        region: None,
        limits: JobLimits {
            fuel: 1_000_000_000,
            memory_bytes: 64 << 20,
            wall_clock_ms: 60_000,
            gpu_memory_bytes: 0,
            output_bytes: 1 << 20,
        },
        max_rates: rates(100),
        escrow: PublicKey([0; 32]),
    }
}

fn sample_candidates() -> Vec<Candidate> {
    let regions = ["eu-west", "us-east", "eu-west", "ap-south"];
    (0u8..8)
        .map(|i| Candidate {
            node: PublicKey(sha256(&[b"kiln policy check", &[i]]).0),
            floor: rates(10 + u64::from(i) * 7 % 40),
            reputation: 400 + u32::from(i) * 70,
            benchmark_class: BenchmarkClass(1 + i % 4),
            stake_tier: i % 4,
            free_slots: u16::from(i % 3) + 1,
            max_jobs: 4,
            region: Arc::from(regions[usize::from(i) % regions.len()]),
        })
        .collect()
}

fn check(file: &std::path::Path) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let scratch = tempfile::tempdir().context("making a scratch directory")?;
    let mut config = RuntimeConfig::new(scratch.path());
    config.max_concurrent_jobs = 4;
    let runtime = Runtime::new(config).context("starting the wasm runtime")?;
    let mut policy = PolicyConfig::new(Pins::default());
    policy.home_region = Some("eu-west".to_owned());
    let host = PolicyHost::new(runtime, policy).context("starting the policy host")?;
    println!(
        "plugin {} sha256 {}",
        file.display(),
        hex::encode(sha256(&[&bytes]).0)
    );

    let job = sample_job();
    let candidates = sample_candidates();
    let rank = host.check_rank_unpinned(&bytes);
    let pricing = host.check_pricing_unpinned(&bytes);
    if let (Err(rank), Err(pricing)) = (&rank, &pricing) {
        bail!("not a kiln:policy plugin:\n  as scheduler: {rank}\n  as pricing: {pricing}");
    }
    let mut failed = false;
    if let Ok(rank) = rank {
        match rank.call(&job, &candidates) {
            Ok(order) => println!(
                "scheduler world: rank over {} sample candidates -> {order:?}",
                candidates.len()
            ),
            Err(error) => {
                failed = true;
                println!("scheduler world: rank FAILED on the sample job: {error}");
            }
        }
    }
    if let Ok(pricing) = pricing {
        match pricing.call_clear(&job, 0, &candidates) {
            Ok(Cleared::Quote(rates)) => println!("pricing world: clear (chosen 0) -> {rates:?}"),
            Ok(Cleared::Declined) => println!("pricing world: clear (chosen 0) -> declined"),
            Err(error) => {
                failed = true;
                println!("pricing world: clear FAILED on the sample job: {error}");
            }
        }
        let history = vec![rates(20); 16];
        match pricing.call_screen(&job, &history, &candidates) {
            Ok(flags) => println!("pricing world: screen -> {} flag(s) {flags:?}", flags.len()),
            Err(error) => {
                failed = true;
                println!("pricing world: screen FAILED on the sample offers: {error}");
            }
        }
    }
    if failed {
        bail!("the plugin loads but failed on the sample job");
    }
    println!(
        "ok: pin it with `--policy-pin {}`",
        hex::encode(sha256(&[&bytes]).0)
    );
    Ok(ExitCode::SUCCESS)
}
