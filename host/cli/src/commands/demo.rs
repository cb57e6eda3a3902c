//! `kiln demo`: the main job. A whole network in this process on real
//! parts (kiln-devnet): the settlement program in LiteSVM, a scheduler on
//! SQLite, two nodes; a renter runs the Mandelbrot GPU example (1024², 4096
//! iterations) and the matmul CPU example (1024 × 1024) at once, receipts stream and are counter-signed, the
//! node closes each escrow on chain, and the receipts verify offline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use kiln_client::{JobOutcome, JobRequest, Progress};
use kiln_devnet::{Devnet, DevnetConfig, guest_path};
use kiln_protocol::{BenchmarkClass, JobLimits, PublicKey, Rates, WorkloadClass};

/// Arguments of `kiln demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the image, the receipts and the network's files are written.
    #[arg(long, default_value = "kiln-demo")]
    out: PathBuf,
    /// The settlement program's ELF (default: $KILN_SETTLEMENT_SO).
    #[arg(long)]
    elf: Option<PathBuf>,
    /// Print one JSON summary at the end (jobs, costs, balances, files)
    /// instead of the narrative.
    #[arg(long)]
    json: bool,
}

/// `println!` unless the summary is JSON.
macro_rules! say {
    ($json:expr) => {
        if !$json {
            println!();
        }
    };
    ($json:expr, $($arg:tt)*) => {
        if !$json {
            println!($($arg)*);
        }
    };
}

/// The renter's starting balance: 100 SOL.
const RENTER_AIRDROP: u64 = 100_000_000_000;

/// The most the demo's renter pays per unit (above the nodes' floors).
const MAX_RATES: Rates = Rates {
    per_million_fuel: 50,
    per_gpu_second: 5_000_000,
    per_wall_second: 200_000,
};

fn request(component: Vec<u8>, input: Vec<u8>, class: WorkloadClass) -> JobRequest {
    JobRequest {
        component,
        input,
        class,
        limits: JobLimits {
            fuel: 5_000_000_000,
            memory_bytes: 256 << 20,
            wall_clock_ms: 120_000,
            gpu_memory_bytes: if class == WorkloadClass::Cpu {
                0
            } else {
                256 << 20
            },
            output_bytes: 4 << 20,
        },
        max_rates: MAX_RATES,
        region: None,
        min_benchmark_class: BenchmarkClass(0),
        budget: None,
        timeout: Duration::from_secs(300),
        settle_timeout: Duration::from_secs(30),
    }
}

fn read_guest(name: &str) -> Result<Vec<u8>> {
    let path = guest_path(name);
    std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (build the examples with `cargo xtask guests`, or run `cargo xtask demo`)",
            path.display()
        )
    })
}

fn sol(lamports: u64) -> String {
    format!(
        "{}.{:09} SOL",
        lamports / 1_000_000_000,
        lamports % 1_000_000_000
    )
}

fn short(key: &PublicKey) -> String {
    key.to_string()[..8].to_owned()
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let elf = kiln_settlement::Embedded::elf_path(args.elf.as_deref())?;
    let mandelbrot = read_guest("kiln_example_mandelbrot")?;
    let matmul = read_guest("kiln_example_matmul")?;
    if args.out.join("scheduler.db").exists() {
        std::fs::remove_dir_all(&args.out)
            .with_context(|| format!("clearing the previous demo in {}", args.out.display()))?;
    }
    std::fs::create_dir_all(&args.out)?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(demo(args.out, elf, mandelbrot, matmul, args.json))
}

/// The Mandelbrot job's input: 1024 × 1024 pixels, 4096 iterations (a few
/// hundred milliseconds of GPU time on lavapipe, so receipts stream).
fn mandelbrot_input() -> Vec<u8> {
    [1024u32, 1024, 4096]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// The matmul job's input: n = 1024, seed 7 (a few hundred milliseconds of
/// metered wasm).
const MATMUL_N: u32 = 1024;

async fn demo(
    out: PathBuf,
    elf: PathBuf,
    mandelbrot: Vec<u8>,
    matmul: Vec<u8>,
    json: bool,
) -> Result<ExitCode> {
    say!(json, "kiln demo: a whole network in one process");
    let mut config = DevnetConfig::new(out.join("network"), elf);
    config.gpu = super::gpu::device_config();
    let devnet = Devnet::start(config)
        .await
        .context("starting the network")?;
    say!(
        json,
        "  chain      the settlement program (SBF ELF) in LiteSVM, config and treasury created"
    );
    say!(json, "  scheduler  {} (SQLite)", devnet.scheduler_url);
    for node in &devnet.nodes {
        say!(
            json,
            "  node       {} registered by operator {}, staked {}",
            short(&node.id),
            short(&node.operator),
            sol(kiln_devnet::NODE_STAKE)
        );
    }
    let renter = devnet.renter(RENTER_AIRDROP)?;
    let renter_before = renter.balance()?;
    let nodes_before: Vec<u64> = devnet
        .nodes
        .iter()
        .map(|n| devnet.balance(&n.operator))
        .collect();
    let treasury_before = devnet.treasury_balance();
    say!(
        json,
        "  renter     {} funded with {}",
        short(&renter.id()),
        sol(renter_before)
    );
    say!(json);

    let matmul_input: Vec<u8> = [MATMUL_N, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    let log = |name: &'static str| {
        move |progress: &Progress| match progress {
            Progress::EscrowOpened { node, escrow, .. } => {
                say!(
                    json,
                    "  [{name}] node {} accepted; escrow {} opened on chain",
                    short(node),
                    sol(*escrow)
                );
            }
            Progress::Receipt {
                seq,
                usage,
                cost,
                co_signed,
            } => say!(
                json,
                "  [{name}] receipt #{seq}: fuel {} gpu {:.1} ms wall {} ms cost {} {}",
                usage.fuel,
                usage.gpu_ns as f64 / 1e6,
                usage.wall_ms,
                sol(*cost),
                if *co_signed {
                    "counter-signed"
                } else {
                    "not counter-signed"
                }
            ),
            Progress::Settled => say!(json, "  [{name}] the node closed the escrow"),
            _ => {}
        }
    };
    let gpu_job = request(mandelbrot, mandelbrot_input(), WorkloadClass::WebGpu);
    let cpu_job = request(matmul, matmul_input, WorkloadClass::Cpu);
    let (image, product) = tokio::join!(
        renter.run(&gpu_job, log("mandelbrot")),
        renter.run(&cpu_job, log("matmul"))
    );
    let image = image.context("the Mandelbrot job")?;
    let product = product.context("the matmul job")?;
    say!(json);

    let png = out.join("mandelbrot.png");
    std::fs::write(&png, image.output.as_deref().unwrap_or_default())?;
    let sum = product.output.clone().unwrap_or_default();
    anyhow::ensure!(
        sum.len() == 12 && sum[8..] == MATMUL_N.to_le_bytes(),
        "the matmul job's result is not a checksum of a {MATMUL_N} × {MATMUL_N} product"
    );
    let checksum = f64::from_le_bytes(sum[..8].try_into().expect("12 bytes"));
    say!(json, "matmul: the product's elements sum to {checksum:.6}");
    for (name, outcome) in [("mandelbrot", &image), ("matmul", &product)] {
        let file = out.join(format!("receipts-{name}.json"));
        outcome.receipts.write(&file)?;
        let verified = kiln_client::ReceiptsFile::read(&file)?
            .verify(None)
            .map_err(|e| anyhow::anyhow!("{name} receipts: {e}"))?;
        summary(name, outcome, verified.receipts, &file, json);
    }
    say!(json);
    say!(json, "balances (lamports moved on chain)");
    let renter_after = renter.balance()?;
    say!(
        json,
        "  renter    {} -> {} (paid {})",
        sol(renter_before),
        sol(renter_after),
        sol(renter_before - renter_after)
    );
    for (node, &before) in devnet.nodes.iter().zip(&nodes_before) {
        let after = devnet.balance(&node.operator);
        say!(
            json,
            "  operator {} (node {})  {} -> {} (earned {})",
            short(&node.operator),
            short(&node.id),
            sol(before),
            sol(after),
            sol(after.saturating_sub(before))
        );
    }
    let treasury_after = devnet.treasury_balance();
    say!(
        json,
        "  treasury  {} -> {} (fees {})",
        sol(treasury_before),
        sol(treasury_after),
        sol(treasury_after - treasury_before)
    );
    say!(json);
    say!(json, "files");
    say!(
        json,
        "  {}  the Mandelbrot set, rendered by a WGSL shader on the node's GPU",
        png.display()
    );
    say!(
        json,
        "  {}/receipts-*.json  verify them: kiln receipts verify FILE",
        out.display()
    );
    if json {
        let job = |outcome: &JobOutcome| {
            serde_json::json!({
                "job": outcome.job.to_string(),
                "node": outcome.node.to_string(),
                "state": outcome.state,
                "receipts": outcome.receipts.receipts.len(),
                "co_signed_cost": outcome.co_signed_cost,
                "escrow": outcome.escrow,
                "settled": outcome.settled,
                "seconds": outcome.elapsed.as_secs_f64(),
            })
        };
        let nodes: Vec<_> = devnet
            .nodes
            .iter()
            .zip(&nodes_before)
            .map(|(node, before)| {
                serde_json::json!({
                    "node": node.id.to_string(),
                    "operator": node.operator.to_string(),
                    "before": before,
                    "after": devnet.balance(&node.operator),
                })
            })
            .collect();
        let summary = serde_json::json!({
            "mandelbrot": job(&image),
            "matmul": job(&product),
            "matmul_checksum": checksum,
            "balances": {
                "renter": { "before": renter_before, "after": renter_after },
                "nodes": nodes,
                "treasury": { "before": treasury_before, "after": treasury_after },
            },
            "files": {
                "png": png.display().to_string(),
                "receipts": [
                    out.join("receipts-mandelbrot.json").display().to_string(),
                    out.join("receipts-matmul.json").display().to_string(),
                ],
            },
        });
        println!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(name: &str, outcome: &JobOutcome, receipts: usize, file: &std::path::Path, json: bool) {
    let last = outcome.receipts.receipts.len();
    say!(
        json,
        "{name}: {} on node {} in {:.2} s; {receipts} receipts ({last} kept), co-signed cost {}, escrow closed: {}; {} verifies offline",
        outcome.state,
        short(&outcome.node),
        outcome.elapsed.as_secs_f64(),
        sol(outcome.co_signed_cost),
        outcome.settled,
        file.display()
    );
}
