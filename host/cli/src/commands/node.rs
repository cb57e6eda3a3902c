//! `kiln node run | status | keys`: the node agent an operator runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kiln_node::config::STATUS_FILE;
use kiln_node::keys::NodeKeys;
use kiln_node::settle::{ChainSettler, Settler};
use kiln_node::status::NodeStatus;
use kiln_node::{Node, NodeConfig};
use kiln_protocol::signing::public_key;
use kiln_protocol::{PublicKey, Rates};
use kiln_runtime::{Runtime, RuntimeConfig};
use kiln_settlement::{CommitmentConfig, Rpc, Settlement};

/// `kiln node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Register with a scheduler and run jobs until stopped (ctrl-c).
    Run(RunArgs),
    /// Print a running node's state, jobs, earnings and link health.
    Status {
        /// The node's data dir.
        #[arg(long, default_value = "kiln-node")]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create the node's keys if missing and print its public keys.
    Keys {
        /// The node's data dir.
        #[arg(long, default_value = "kiln-node")]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Data dir: keys (0600), component cache, scratch dirs, status.json.
    #[arg(long, default_value = "kiln-node")]
    dir: PathBuf,
    /// The scheduler's URL.
    #[arg(long, env = "KILN_SCHEDULER", default_value = "http://127.0.0.1:7400")]
    scheduler: String,
    /// A Solana RPC URL: the node checks escrows and closes them itself.
    /// Without it, claims are left to the renter (anyone may claim a
    /// co-signed receipt for the node).
    #[arg(long, env = "KILN_RPC")]
    rpc: Option<String>,
    /// The operator's wallet address (base58, as `solana-keygen pubkey`
    /// prints it, or 64 hex digits): it registered and staked this node on
    /// chain (`kiln chain node register --receipt-key <dir>/node-key.json`) and is
    /// paid for its jobs; its keypair stays off this machine. Without it the
    /// node key is its own operator.
    #[arg(long, env = "KILN_OPERATOR")]
    operator: Option<String>,
    /// The region the node is in.
    #[arg(long, default_value = "local")]
    region: String,
    /// Price floor: per million fuel, per GPU second, per wall second (lamports).
    #[arg(long, value_delimiter = ',', num_args = 1, default_values_t = [20u64, 2_000_000, 100_000])]
    floor: Vec<u64>,
    /// Jobs at once.
    #[arg(long, default_value_t = 2)]
    max_jobs: u16,
    /// Stake the registration declares, lamports.
    #[arg(long, default_value_t = 1_000_000_000)]
    stake: u64,
    /// The standard benchmark component (the sha256 example) that sets the
    /// manifest's benchmark class; without it the class is 0.
    #[arg(long)]
    benchmark: Option<PathBuf>,
    /// Print the progress lines as JSON objects (`{"event": "benchmark" |
    /// "linked", …}`) and log JSON lines on stderr.
    #[arg(long)]
    json: bool,
}

impl NodeArgs {
    /// See [`RunArgs::json`].
    pub fn json_logs(&self) -> bool {
        matches!(&self.command, NodeCommand::Run(args) if args.json)
    }
}

pub fn run(args: NodeArgs) -> Result<ExitCode> {
    match args.command {
        NodeCommand::Run(args) => run_node(args),
        NodeCommand::Status { dir, json } => status(&dir, json),
        NodeCommand::Keys { dir, json } => keys(&dir, json),
    }
}

/// An operator address: base58 (Solana's form) or 64 hex digits (Kiln's).
fn parse_operator(text: &str) -> Result<PublicKey> {
    if let Ok(address) = text.parse::<solana_address::Address>() {
        return Ok(PublicKey(address.to_bytes()));
    }
    kiln_scheduler_api::wire::hex_key("operator", text).with_context(|| {
        format!("--operator `{text}` is neither a base58 address nor 64 hex digits")
    })
}

fn keys(dir: &std::path::Path, json: bool) -> Result<ExitCode> {
    let keys = NodeKeys::load_or_create(dir)?;
    let node = public_key(&keys.signing);
    let seal = hex::encode(keys.seal.public_key().0);
    if json {
        println!(
            "{}",
            serde_json::json!({ "node_id": node.to_string(), "encryption_key": seal })
        );
    } else {
        println!("node id / receipt key             {node}");
        println!("input encryption key (X25519)     {seal}");
        println!("key files in {} (mode 0600)", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn status(dir: &std::path::Path, json: bool) -> Result<ExitCode> {
    let path = dir.join(STATUS_FILE);
    let status = NodeStatus::read(&path).with_context(|| {
        format!(
            "reading {} (is `kiln node run --dir {}` running?)",
            path.display(),
            dir.display()
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let age_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
        .saturating_sub(status.updated_ms);
    println!("node      {}", status.node_id);
    println!("state     {}", status.state);
    println!(
        "link      {} to {} ({} sessions); status {} ms old",
        if status.linked { "up" } else { "down" },
        status.scheduler,
        status.link_sessions,
        age_ms
    );
    println!(
        "done      {} jobs; co-signed earnings {} lamports",
        status.jobs_done, status.earned_co_signed
    );
    for job in &status.jobs {
        println!(
            "running   {} attempt {}: fuel {} gpu {} ns wall {} ms{}",
            job.job,
            job.attempt,
            job.fuel,
            job.gpu_ns,
            job.wall_ms,
            if job.paused {
                " (paused for the renter)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_node(args: RunArgs) -> Result<ExitCode> {
    let [fuel, gpu_rate, wall] = args.floor.as_slice() else {
        anyhow::bail!(
            "--floor takes three amounts: per million fuel, per GPU second, per wall second"
        );
    };
    let operator = args.operator.as_deref().map(parse_operator).transpose()?;
    let keys = NodeKeys::load_or_create(&args.dir)?;
    let node_key = solana_keypair::Keypair::new_from_array(*keys.signing.as_bytes());
    drop(keys);
    let settler: Option<Arc<dyn Settler>> = match &args.rpc {
        Some(url) => {
            let chain = Rpc::connect(url, CommitmentConfig::confirmed())?;
            Some(Arc::new(ChainSettler::new(
                Arc::new(Mutex::new(Settlement::new(chain))),
                node_key,
            )))
        }
        None => None,
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let gpu = kiln_gpu::GpuHost::new(super::gpu::device_config());
        let mut runtime_config = RuntimeConfig::new(args.dir.join("scratch"));
        runtime_config.cache_dir = Some(args.dir.join("compiled"));
        let runtime = Runtime::new(runtime_config.with_extension(gpu.extension()))?;
        let facts = kiln_node::probe::probe(&gpu);
        let class = match &args.benchmark {
            Some(path) => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let (took, class) = kiln_node::probe::benchmark(&runtime, &bytes).await?;
                let ms = took.as_secs_f64() * 1e3;
                if args.json {
                    let line =
                        serde_json::json!({ "event": "benchmark", "ms": ms, "class": class.0 });
                    println!("{line}");
                } else {
                    println!("benchmark: {ms:.1} ms, class {}", class.0);
                }
                class
            }
            None => kiln_protocol::BenchmarkClass(0),
        };
        let mut config = NodeConfig::new(&args.dir, &args.scheduler);
        config.region = args.region;
        config.price_floor = Rates {
            per_million_fuel: *fuel,
            per_gpu_second: *gpu_rate,
            per_wall_second: *wall,
        };
        config.max_parallel_jobs = args.max_jobs;
        config.stake = args.stake;
        config.operator = operator;
        let classes = facts.classes.clone();
        let node = Node::start(config, runtime, facts, class, settler).await?;
        if args.json {
            let line = serde_json::json!({
                "event": "linked",
                "node": node.id().to_string(),
                "scheduler": args.scheduler,
                "classes": classes.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>(),
            });
            println!("{line}");
        } else {
            println!(
                "kiln node {} linked to {} (classes {classes:?})",
                node.id(),
                args.scheduler
            );
        }
        kiln_scheduler::server::shutdown_signal().await;
        node.shutdown().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_operator;

    #[test]
    fn an_operator_is_a_base58_address_or_64_hex_digits() {
        let key = [7u8; 32];
        let base58 = solana_address::Address::new_from_array(key).to_string();
        assert_eq!(parse_operator(&base58).unwrap().0, key);
        assert_eq!(parse_operator(&hex::encode(key)).unwrap().0, key);
        let error = parse_operator("node-a-operator.json").unwrap_err();
        assert!(
            error.to_string().contains("neither a base58 address"),
            "{error}"
        );
        assert!(parse_operator(&hex::encode([7u8; 31])).is_err());
    }
}
