//! `kiln scheduler serve`: run a scheduler (HTTP + WebSocket API, matching,
//! failover) on an embedded SQLite store or a shared PostgreSQL database.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kiln_scheduler::config::{DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_PROPOSAL_TIMEOUT};
use kiln_scheduler::server::{serve, shutdown_signal};
use kiln_scheduler::{Scheduler, SchedulerConfig, Store};

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
    /// This replica's name in the assignment log.
    #[arg(long, default_value = "replica-0")]
    replica: String,
}

pub fn run(args: SchedulerArgs) -> Result<ExitCode> {
    match args.command {
        SchedulerCommand::Serve(args) => serve_command(args),
    }
}

fn serve_command(args: ServeArgs) -> Result<ExitCode> {
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
            replica: args.replica,
            ..SchedulerConfig::default()
        };
        let scheduler = Scheduler::open(store.clone(), config).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let address = listener.local_addr()?;
        // One line on stdout, so a supervisor (or a test) knows where it listens.
        println!("kiln scheduler listening on {address}");
        serve(listener, scheduler, shutdown_signal())
            .await
            .context("serving")?;
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
