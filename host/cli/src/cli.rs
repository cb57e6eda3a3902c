//! Command-line definition and dispatch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

/// Kiln: decentralized GPU compute on WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workload component locally in Kiln's sandbox and print its usage.
    Run(commands::run::RunArgs),
    /// The settlement program: config, nodes, stake, jobs, claims (embedded or a cluster).
    Chain(commands::chain::ChainArgs),
    /// Run a scheduler: node registry, matching, failover, receipts relay.
    Scheduler(commands::scheduler::SchedulerArgs),
    /// Run a node: register, link to a scheduler, run jobs, settle.
    Node(commands::node::NodeArgs),
    /// Submit jobs and read their status, logs and results (renters).
    Job(commands::job::JobArgs),
    /// Verify a receipts file offline.
    Receipts(commands::receipts::ReceiptsArgs),
    /// Create keypair files.
    Keys(commands::keys::KeysArgs),
    /// The main job: a whole network in this process runs a GPU and a CPU job.
    Demo(commands::demo::DemoArgs),
    /// Policy plugins: check one before pinning or loading it.
    Policy(commands::policy::PolicyArgs),
    /// The PTX compiler process a node runs for each CUDA module.
    #[command(hide = true)]
    PtxCompile(commands::gpu::PtxCompileArgs),
}

/// Exit code for a command line or input the command could not use.
pub const EXIT_USAGE: u8 = 2;

/// Log filter when `KILN_LOG` is unset: warnings, but not LiteSVM's own
/// error lines for a failed transaction, which the command reports itself.
const DEFAULT_LOG_FILTER: &str = "warn,litesvm=off";

impl Command {
    /// True for a long-running server started with `--json`: its log lines
    /// on stderr are JSON objects too, so a supervisor parses one format.
    fn json_logs(&self) -> bool {
        match self {
            Command::Scheduler(args) => args.json_logs(),
            Command::Node(args) => args.json_logs(),
            _ => false,
        }
    }
}

/// Logs to stderr, filtered by `KILN_LOG`; JSON lines for `json`.
fn init_logs(json: bool) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A node's PTX compiler: its stderr is the compile log, no log lines there.
    if !matches!(cli.command, Command::PtxCompile(_)) {
        init_logs(cli.command.json_logs());
    }
    let outcome = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Chain(args) => commands::chain::run(args),
        Command::Scheduler(args) => commands::scheduler::run(args),
        Command::Node(args) => commands::node::run(args),
        Command::Job(args) => commands::job::run(args),
        Command::Receipts(args) => commands::receipts::run(args),
        Command::Keys(args) => commands::keys::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Policy(args) => commands::policy::run(args),
        Command::PtxCompile(args) => Ok(commands::gpu::ptx_compile(args)),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kiln: error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
