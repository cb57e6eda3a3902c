//! `kiln job submit | status | logs | result | cancel` for renters.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kiln_client::job::Abandoned;
use kiln_client::job::{open_result, parse_key};
use kiln_client::{JobRequest, Ledger, Progress, Renter, SchedulerApi, SharedLedger};
use kiln_protocol::{BenchmarkClass, JobLimits, Rates, WorkloadClass};
use kiln_scheduler_api::messages::{RenterAction, renter_action_message};
use kiln_scheduler_api::wire::RenterSigned;
use kiln_settlement::keys::{read_or_create_keypair, signing_key};
use kiln_settlement::{CommitmentConfig, Embedded, Rpc, Settlement};

use crate::config::{self, DEFAULT_KEY, DEFAULT_SCHEDULER};

/// `kiln job`.
#[derive(Debug, Args)]
pub struct JobArgs {
    #[command(subcommand)]
    command: JobCommand,
    /// A kiln.toml (default: $KILN_CONFIG, else ./kiln.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The scheduler's URL.
    #[arg(long, global = true)]
    scheduler: Option<String>,
    /// The renter's keypair file (created 0600 if missing).
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Submit a workload, pay as receipts arrive, write the result.
    Submit(SubmitArgs),
    /// A job's state, node and price.
    Status {
        /// Job id (hex).
        job: String,
    },
    /// What the job printed.
    Logs {
        /// Job id (hex).
        job: String,
    },
    /// Fetch, open and write a finished job's result.
    Result {
        /// Job id (hex).
        job: String,
        /// Where to write it (default: stdout).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Cancel a job.
    Cancel {
        /// Job id (hex).
        job: String,
    },
}

#[derive(Debug, Args)]
struct SubmitArgs {
    /// The workload component (.wasm for wasm32-wasip2).
    workload: PathBuf,
    /// Input file (default: empty).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Where to write the result.
    #[arg(long, default_value = "result.bin")]
    output: PathBuf,
    /// Where to write the receipts (for `kiln receipts verify`).
    #[arg(long, default_value = "receipts.json")]
    receipts: PathBuf,
    /// cpu, webgpu or cuda.
    #[arg(long, default_value = "cpu")]
    class: String,
    /// Most per million fuel, per GPU second, per wall second (lamports).
    #[arg(long, value_delimiter = ',', num_args = 1, default_values_t = [50u64, 5_000_000, 200_000])]
    max_rate: Vec<u64>,
    /// The most to counter-sign for, lamports (default: the escrow).
    #[arg(long)]
    budget: Option<u64>,
    /// Fuel limit.
    #[arg(long, default_value_t = 5_000_000_000)]
    fuel: u64,
    /// Wall-clock limit, seconds.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// A Solana JSON-RPC URL for the escrow.
    #[arg(long)]
    rpc: Option<String>,
    /// An embedded chain state file for the escrow (single-machine testing).
    #[arg(long, conflicts_with = "rpc")]
    embedded: Option<PathBuf>,
}

fn class(name: &str) -> Result<WorkloadClass> {
    Ok(match name {
        "cpu" => WorkloadClass::Cpu,
        "webgpu" | "gpu" => WorkloadClass::WebGpu,
        "cuda" => WorkloadClass::Cuda,
        other => bail!("unknown class `{other}` (cpu, webgpu, cuda)"),
    })
}

pub fn run(args: JobArgs) -> Result<ExitCode> {
    let file = config::load(args.config.as_deref())?;
    let scheduler = config::pick(args.scheduler, "KILN_SCHEDULER", file.scheduler.clone())
        .unwrap_or_else(|| DEFAULT_SCHEDULER.to_owned());
    let key_path = config::pick(args.key, "KILN_KEY", file.key.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_KEY));
    let keypair = read_or_create_keypair(&key_path)?;
    let api = SchedulerApi::new(&scheduler);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let json = args.json;
    match args.command {
        JobCommand::Submit(submit) => {
            let rpc = config::pick(submit.rpc.clone(), "KILN_RPC", file.rpc.clone());
            let embedded = config::pick(
                submit.embedded.clone(),
                "KILN_EMBEDDED",
                file.embedded.clone(),
            );
            let ledger: Arc<dyn Ledger> = match (rpc, embedded) {
                (Some(url), _) => Arc::new(SharedLedger(Arc::new(Mutex::new(Settlement::new(
                    Rpc::connect(&url, CommitmentConfig::confirmed())?,
                ))))),
                (None, Some(state)) => {
                    let elf = Embedded::elf_path(None)?;
                    Arc::new(SharedLedger(Arc::new(Mutex::new(Settlement::new(
                        Embedded::open(&elf, Some(&state))?,
                    )))))
                }
                (None, None) => {
                    bail!("say where the escrow lives: --rpc URL (or --embedded STATE)")
                }
            };
            let renter = Renter::new(keypair, api, ledger);
            tokio.block_on(submit_job(&renter, submit, json))
        }
        JobCommand::Status { job } => {
            let id = parse_key(&job).context("job id must be 32 bytes of hex")?;
            let status = tokio.block_on(api.status(&id))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("job      {}", status.job_id);
                println!("state    {} (attempt {})", status.state, status.attempt);
                println!("node     {}", status.node_id.as_deref().unwrap_or("-"));
                if let Some(price) = status.price {
                    println!(
                        "price    {} / M fuel, {} / GPU s, {} / wall s",
                        price.per_million_fuel, price.per_gpu_second, price.per_wall_second
                    );
                }
                if let Some(error) = &status.error {
                    println!("error    {error}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Logs { job } => {
            let id = parse_key(&job).context("job id must be 32 bytes of hex")?;
            let logs = tokio.block_on(api.logs(&id))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&logs)?);
            } else {
                print!("{}", logs.logs);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Result { job, output } => {
            let id = parse_key(&job).context("job id must be 32 bytes of hex")?;
            let (status, result) = tokio
                .block_on(async { anyhow::Ok((api.status(&id).await?, api.result(&id).await?)) })?;
            let sealed = hex::decode(&result.output)?;
            let plain = open_result(&signing_key(&keypair), &id, status.attempt, &sealed)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &plain)?;
                    println!("{} bytes written to {}", plain.len(), path.display());
                }
                None => std::io::Write::write_all(&mut std::io::stdout(), &plain)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Cancel { job } => {
            let id = parse_key(&job).context("job id must be 32 bytes of hex")?;
            let key = signing_key(&keypair);
            let status = tokio.block_on(async {
                let attempt = api.status(&id).await?.attempt;
                let signature = kiln_protocol::signing::sign(
                    &key,
                    &renter_action_message(&id, RenterAction::Cancel, attempt),
                );
                api.cancel(
                    &id,
                    &RenterSigned {
                        attempt,
                        signature: signature.to_string(),
                    },
                )
                .await
            })?;
            println!("job {} is {}", status.job_id, status.state);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn submit_job(renter: &Renter, args: SubmitArgs, json: bool) -> Result<ExitCode> {
    let component = std::fs::read(&args.workload)
        .with_context(|| format!("reading {}", args.workload.display()))?;
    let input = match &args.input {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => Vec::new(),
    };
    let [fuel_rate, gpu_rate, wall_rate] = args.max_rate.as_slice() else {
        bail!("--max-rate takes three amounts: per million fuel, per GPU second, per wall second");
    };
    let class = class(&args.class)?;
    let request = JobRequest {
        component,
        input,
        class,
        limits: JobLimits {
            fuel: args.fuel,
            memory_bytes: 256 << 20,
            wall_clock_ms: args.timeout_s.saturating_mul(1000),
            gpu_memory_bytes: if class == WorkloadClass::Cpu {
                0
            } else {
                256 << 20
            },
            output_bytes: 4 << 20,
        },
        max_rates: Rates {
            per_million_fuel: *fuel_rate,
            per_gpu_second: *gpu_rate,
            per_wall_second: *wall_rate,
        },
        region: None,
        min_benchmark_class: BenchmarkClass(0),
        budget: args.budget,
        timeout: Duration::from_secs(args.timeout_s.saturating_add(120)),
        settle_timeout: Duration::from_secs(30),
    };
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let outcome = renter
        .run(&request, |progress| match progress {
            Progress::Submitted { job } => bar.set_message(format!("submitted {job}")),
            Progress::EscrowOpened { node, escrow, .. } => {
                bar.set_message(format!("node {node} accepted; {escrow} lamports in escrow"));
            }
            Progress::Receipt {
                seq,
                usage,
                cost,
                co_signed,
            } => bar.set_message(format!(
                "receipt #{seq}: fuel {} | GPU {:.1} ms | cost {cost} lamports{}",
                usage.fuel,
                usage.gpu_ns as f64 / 1e6,
                if *co_signed {
                    ""
                } else {
                    " (not counter-signed: budget)"
                }
            )),
            Progress::BudgetReached { budget, .. } => {
                bar.set_message(format!(
                    "budget of {budget} lamports reached; stopping the job"
                ));
            }
            Progress::Resubmitted { job } => {
                bar.set_message(format!("node vanished; resubmitted as {job}"))
            }
            Progress::Settled => bar.set_message("escrow settled"),
        })
        .await?;
    bar.finish_and_clear();
    let abandoned = tokio::task::block_in_place(|| claim_abandoned(renter, &outcome.abandoned));
    outcome.receipts.write(&args.receipts)?;
    if let Some(output) = &outcome.output {
        std::fs::write(&args.output, output)?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "job": outcome.job.to_string(),
                "node": outcome.node.to_string(),
                "state": outcome.state,
                "co_signed_cost": outcome.co_signed_cost,
                "escrow": outcome.escrow,
                "settled": outcome.settled,
                "output": outcome.output.as_ref().map(|_| args.output.display().to_string()),
                "receipts": args.receipts.display().to_string(),
                "abandoned": abandoned,
            })
        );
    } else {
        println!("job       {} ({})", outcome.job, outcome.state);
        println!("node      {}", outcome.node);
        println!(
            "cost      {} lamports co-signed (escrow {})",
            outcome.co_signed_cost, outcome.escrow
        );
        if outcome.output.is_some() {
            println!(
                "result    {} (checked against the proof of execution)",
                args.output.display()
            );
        }
        println!("receipts  {}", args.receipts.display());
        for left in &abandoned {
            println!(
                "abandoned escrow {} (node {} vanished): {}; the rest returns with \
                 `kiln chain expire --payer KEY --job {}` after its deadline and grace",
                left["escrow"].as_str().unwrap_or_default(),
                left["node"].as_str().unwrap_or_default(),
                match left["claimed_seq"].as_u64() {
                    Some(seq) => format!("claimed co-signed receipt #{seq} for the node"),
                    None => "nothing co-signed to claim".to_owned(),
                },
                left["escrow"].as_str().unwrap_or_default(),
            );
        }
    }
    Ok(if outcome.output.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Escrows left by nodes that vanished mid-job. A vanished node cannot
/// close its escrow, and only this process holds the receipt the renter
/// co-signed for it, so the receipt is claimed now (the program pays the
/// node, whoever sends the claim; the renter pays the fee). The rest of the
/// escrow is the renter's after the deadline and grace (`kiln chain
/// expire`). A failed claim is reported, not fatal: the job itself is done.
fn claim_abandoned(renter: &Renter, abandoned: &[Abandoned]) -> Vec<serde_json::Value> {
    abandoned
        .iter()
        .map(|left| {
            let (claimed_seq, claim_error) = match &left.payable {
                None => (None, None),
                Some(receipt) => match renter.ledger().claim(renter.keypair(), receipt) {
                    Ok(()) => (Some(receipt.receipt.seq), None),
                    Err(error) => {
                        eprintln!("kiln: claiming for vanished node {}: {error}", left.node);
                        (None, Some(error.to_string()))
                    }
                },
            };
            serde_json::json!({
                "job": left.job.to_string(),
                "escrow": solana_address::Address::new_from_array(left.job.0).to_string(),
                "node": left.node.to_string(),
                "claimed_seq": claimed_seq,
                "claim_error": claim_error,
            })
        })
        .collect()
}
