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
use kiln_runtime::Runtime;
use kiln_scheduler::matching::Candidate;
use kiln_scheduler::policy::{Cleared, Pins, PolicyConfig, PolicyHost};
use kiln_scheduler_api::wire::RatesJson;

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
    /// Print one JSON object (the report below) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PolicyArgs) -> Result<ExitCode> {
    match args.command {
        PolicyCommand::Check(args) => check(&args.file, args.json),
    }
}

/// What `check` found, world by world (`--json` prints it as is).
#[derive(Debug, Default, serde::Serialize)]
struct Report {
    file: String,
    sha256: String,
    /// The `scheduler` world, when the plugin exports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduler: Option<RankReport>,
    /// The `pricing` world, when the plugin exports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing: Option<PricingReport>,
    /// Why the plugin is not a `kiln:policy` plugin at all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_a_plugin: Vec<String>,
    ok: bool,
}

#[derive(Debug, serde::Serialize)]
struct RankReport {
    candidates: usize,
    #[serde(flatten)]
    outcome: Outcome<Vec<usize>>,
}

#[derive(Debug, serde::Serialize)]
struct PricingReport {
    clear: Outcome<Option<RatesJson>>,
    screen: Outcome<Vec<(usize, String)>>,
}

/// One call on the sample job: its answer or why it failed.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome<T> {
    Answer(T),
    Failed(String),
}

impl<T> Outcome<T> {
    fn failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
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

fn check(file: &std::path::Path, json: bool) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let scratch = tempfile::tempdir().context("making a scratch directory")?;
    let runtime = Runtime::new(kiln_scheduler::policy::runtime_config(scratch.path()))
        .context("starting the wasm runtime")?;
    let mut policy = PolicyConfig::new(Pins::default());
    policy.home_region = Some("eu-west".to_owned());
    let host = PolicyHost::new(runtime, policy).context("starting the policy host")?;
    let report = report(&host, file, &bytes);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(if report.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(crate::cli::EXIT_USAGE)
        });
    }
    print_text(&report)
}

/// Loads `bytes` as each world and runs what loads on the sample job.
fn report(host: &PolicyHost, file: &std::path::Path, bytes: &[u8]) -> Report {
    let mut report = Report {
        file: file.display().to_string(),
        sha256: hex::encode(sha256(&[bytes]).0),
        ..Report::default()
    };
    let job = sample_job();
    let candidates = sample_candidates();
    let rank = host.check_rank_unpinned(bytes);
    let pricing = host.check_pricing_unpinned(bytes);
    if let (Err(rank), Err(pricing)) = (&rank, &pricing) {
        report.not_a_plugin = vec![
            format!("as scheduler: {rank}"),
            format!("as pricing: {pricing}"),
        ];
        return report;
    }
    if let Ok(rank) = rank {
        report.scheduler = Some(RankReport {
            candidates: candidates.len(),
            outcome: match rank.call(&job, &candidates) {
                Ok(order) => Outcome::Answer(order),
                Err(error) => Outcome::Failed(error.to_string()),
            },
        });
    }
    if let Ok(pricing) = pricing {
        let clear = match pricing.call_clear(&job, 0, &candidates) {
            Ok(Cleared::Quote(rates)) => Outcome::Answer(Some(RatesJson::from(rates))),
            Ok(Cleared::Declined) => Outcome::Answer(None),
            Err(error) => Outcome::Failed(error.to_string()),
        };
        let history = vec![rates(20); 16];
        let screen = match pricing.call_screen(&job, &history, &candidates) {
            Ok(flags) => Outcome::Answer(
                flags
                    .iter()
                    .map(|flag| (flag.index, format!("{:?}", flag.kind)))
                    .collect(),
            ),
            Err(error) => Outcome::Failed(error.to_string()),
        };
        report.pricing = Some(PricingReport { clear, screen });
    }
    report.ok = !report
        .scheduler
        .as_ref()
        .is_some_and(|r| r.outcome.failed())
        && !report
            .pricing
            .as_ref()
            .is_some_and(|p| p.clear.failed() || p.screen.failed());
    report
}

fn print_text(report: &Report) -> Result<ExitCode> {
    println!("plugin {} sha256 {}", report.file, report.sha256);
    if !report.not_a_plugin.is_empty() {
        bail!(
            "not a kiln:policy plugin:\n  {}",
            report.not_a_plugin.join("\n  ")
        );
    }
    if let Some(rank) = &report.scheduler {
        match &rank.outcome {
            Outcome::Answer(order) => println!(
                "scheduler world: rank over {} sample candidates -> {order:?}",
                rank.candidates
            ),
            Outcome::Failed(error) => {
                println!("scheduler world: rank FAILED on the sample job: {error}");
            }
        }
    }
    if let Some(pricing) = &report.pricing {
        match &pricing.clear {
            Outcome::Answer(Some(rates)) => {
                println!(
                    "pricing world: clear (chosen 0) -> {:?}",
                    Rates::from(*rates)
                );
            }
            Outcome::Answer(None) => println!("pricing world: clear (chosen 0) -> declined"),
            Outcome::Failed(error) => {
                println!("pricing world: clear FAILED on the sample job: {error}");
            }
        }
        match &pricing.screen {
            Outcome::Answer(flags) => {
                println!("pricing world: screen -> {} flag(s) {flags:?}", flags.len());
            }
            Outcome::Failed(error) => {
                println!("pricing world: screen FAILED on the sample offers: {error}");
            }
        }
    }
    if !report.ok {
        bail!("the plugin loads but failed on the sample job");
    }
    println!("ok: pin it with `--policy-pin {}`", report.sha256);
    Ok(ExitCode::SUCCESS)
}
