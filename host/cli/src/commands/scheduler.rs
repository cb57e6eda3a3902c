//! `kiln scheduler serve`: run a scheduler (HTTP + WebSocket API, matching,
//! failover) on an embedded SQLite store or a shared PostgreSQL database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kiln_devnet::SettlementLedger;
use kiln_scheduler::config::{
    DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MAX_STAKE_READS, DEFAULT_PROPOSAL_TIMEOUT,
};
use kiln_scheduler::policy::{LoadedPolicy, Pins, PolicyConfig, PolicyHost, PolicyKind};
use kiln_scheduler::server::{serve, shutdown_signal};
use kiln_scheduler::{Scheduler, SchedulerConfig, StakeLedger, Store};
use kiln_settlement::{Chain as _, Rpc, Settlement};

/// `kiln scheduler …`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    #[command(subcommand)]
    command: SchedulerCommand,
}

#[derive(Debug, Subcommand)]
enum SchedulerCommand {
    /// Serve the scheduler API until ctrl-c or SIGTERM.
    Serve(ServeArgs),
    /// A running scheduler's policy plugins.
    Policy(PolicyArgs),
}

/// `kiln scheduler policy …`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Swap plugins through the admin API, without a restart.
    Set(super::scheduler_policy::SetArgs),
}

/// Arguments of `kiln scheduler serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7400")]
    listen: SocketAddr,
    /// Store: `sqlite://FILE` (embedded, created when missing) or
    /// `postgres://…` (shared by several replicas).
    #[arg(long, default_value = "sqlite://kiln-scheduler.db")]
    database: String,
    /// How often nodes send heartbeats, in milliseconds; a node silent for
    /// three intervals is offline and its jobs move.
    #[arg(long, default_value_t = DEFAULT_HEARTBEAT_INTERVAL.as_millis() as u64)]
    heartbeat_interval_ms: u64,
    /// How long a proposal waits for both confirmations, in seconds.
    #[arg(long, default_value_t = DEFAULT_PROPOSAL_TIMEOUT.as_secs())]
    proposal_timeout_s: u64,
    /// Stake checks (reads of node accounts on chain) in flight at once;
    /// registrations beyond it are answered 503 `chain_busy` (0 counts as 1).
    #[arg(long, default_value_t = DEFAULT_MAX_STAKE_READS)]
    max_stake_reads: usize,
    /// This replica's name in the assignment log.
    #[arg(long, default_value = "replica-0")]
    replica: String,
    /// SHA-256 (hex) of a policy plugin this scheduler may load; repeat for
    /// each. Plugins given at start or through the admin API must be pinned.
    #[arg(long = "policy-pin")]
    policy_pins: Vec<String>,
    /// A ranking plugin (`kiln:policy/scheduler`) to start with; built-in otherwise.
    #[arg(long)]
    rank_policy: Option<PathBuf>,
    /// A pricing plugin (`kiln:policy/pricing`) to start with; built-in otherwise.
    #[arg(long)]
    pricing_policy: Option<PathBuf>,
    /// The region this scheduler serves: plugins see it as a job's preferred
    /// region when the job names none.
    #[arg(long)]
    home_region: Option<String>,
    /// File holding the admin API's bearer token; without it the admin API
    /// (swapping plugins) is off.
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// The settlement program's cluster (JSON-RPC URL): each registration's
    /// declared stake is checked against the node's account there, and the
    /// tier comes from the stake on chain. Without it declared stakes are
    /// trusted (a warning says so): for tests and closed networks.
    #[arg(long, env = "KILN_RPC")]
    rpc: Option<String>,
    /// Commitment of the stake reads: processed, confirmed or finalized.
    #[arg(long, default_value = "confirmed")]
    commitment: String,
    /// Print the ready line as a JSON object (`{"event": "listening",
    /// "address": …}`) and log JSON lines on stderr.
    #[arg(long)]
    json: bool,
}

impl SchedulerArgs {
    /// See [`ServeArgs::json`].
    pub fn json_logs(&self) -> bool {
        matches!(&self.command, SchedulerCommand::Serve(args) if args.json)
    }
}

pub fn run(args: SchedulerArgs) -> Result<ExitCode> {
    match args.command {
        SchedulerCommand::Serve(args) => serve_command(args),
        SchedulerCommand::Policy(PolicyArgs {
            command: PolicyCommand::Set(args),
        }) => super::scheduler_policy::set(args),
    }
}

fn serve_command(args: ServeArgs) -> Result<ExitCode> {
    // Connected before the async runtime starts: the RPC client blocks.
    let stake_ledger = args
        .rpc
        .as_deref()
        .map(|url| stake_ledger(url, &args.commitment))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = Store::connect(&args.database)
            .await
            .with_context(|| format!("opening the store at {}", args.database))?;
        let config = SchedulerConfig {
            heartbeat_interval: Duration::from_millis(args.heartbeat_interval_ms.max(1)),
            proposal_timeout: Duration::from_secs(args.proposal_timeout_s),
            replica: args.replica.clone(),
            admin_token: args
                .admin_token_file
                .as_deref()
                .map(super::scheduler_policy::read_token)
                .transpose()?,
            stake_ledger,
            max_stake_reads: args.max_stake_reads,
            ..SchedulerConfig::default()
        };
        let scheduler = Scheduler::open(store.clone(), config).await?;
        let _policy_scratch = start_policies(&args, &scheduler)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let address = listener.local_addr()?;
        // One line on stdout, so a supervisor (or a test) knows where it listens.
        if args.json {
            let ready = serde_json::json!({ "event": "listening", "address": address.to_string() });
            println!("{ready}");
        } else {
            println!("kiln scheduler listening on {address}");
        }
        serve(listener, scheduler, shutdown_signal())
            .await
            .context("serving")?;
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Reads node accounts from the cluster at `url`.
fn stake_ledger(url: &str, commitment: &str) -> Result<Arc<dyn StakeLedger>> {
    let commitment = super::chain::parse_commitment(commitment)?;
    let rpc = Rpc::connect(url, commitment).with_context(|| format!("connecting to {url}"))?;
    // A cluster without the program would refuse every node as unknown.
    rpc.check_program()
        .with_context(|| format!("the settlement program at {url}"))?;
    let settlement = Arc::new(Mutex::new(Settlement::new(rpc)));
    Ok(Arc::new(SettlementLedger::new(settlement)))
}

/// Sets up the policy host when any plugin is pinned, and loads the plugins
/// named at start. The runtime's scratch directories (unused by policies,
/// required by the runtime) are under [`super::scratch_root`]; what it
/// returns is to keep until the scheduler stops.
fn start_policies(args: &ServeArgs, scheduler: &Scheduler) -> Result<Option<tempfile::TempDir>> {
    if args.policy_pins.is_empty() {
        if args.rank_policy.is_some() || args.pricing_policy.is_some() {
            anyhow::bail!("a policy plugin was given but no --policy-pin: pin its SHA-256");
        }
        return Ok(None);
    }
    let (scratch_root, scratch_guard) =
        super::scratch_root().context("making the policy runtime's scratch directory")?;
    let runtime = kiln_runtime::Runtime::new(kiln_scheduler::policy::runtime_config(scratch_root))
        .context("starting the policy runtime")?;
    let mut config = PolicyConfig::new(Pins::from_hex(&args.policy_pins)?);
    config.home_region = args.home_region.clone();
    let host = PolicyHost::new(runtime, config)?;
    for (kind, file) in [
        (PolicyKind::Rank, &args.rank_policy),
        (PolicyKind::Pricing, &args.pricing_policy),
    ] {
        let Some(file) = file else { continue };
        let loaded = host
            .load_file(kind, file)
            .with_context(|| format!("loading the {kind:?} plugin {}", file.display()))?;
        match loaded {
            LoadedPolicy::Rank(policy) => scheduler.set_rank_policy(policy as Arc<_>),
            LoadedPolicy::Pricing(policy) => scheduler.set_pricing_policy(policy as Arc<_>),
        }
    }
    scheduler.set_policy_host(host);
    Ok(scratch_guard)
}
