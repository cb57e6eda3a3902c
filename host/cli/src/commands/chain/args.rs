//! The command line of `kiln chain`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use kiln_protocol::Rates;
use kiln_settlement_interface::state::DEFAULT_UNSTAKE_COOLDOWN_SECONDS;

/// Arguments of `kiln chain`.
#[derive(Debug, Args)]
pub struct ChainArgs {
    #[command(flatten)]
    pub backend: Backend,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ChainCommand,
}

/// Where the settlement program runs.
#[derive(Debug, Args)]
pub struct Backend {
    /// A cluster's JSON-RPC URL.
    #[arg(long, global = true, conflicts_with = "embedded")]
    pub rpc: Option<String>,
    /// The embedded chain's state file (created on first use).
    #[arg(long, global = true)]
    pub embedded: Option<PathBuf>,
    /// The settlement ELF for --embedded (default: $KILN_SETTLEMENT_SO).
    #[arg(long, global = true)]
    pub elf: Option<PathBuf>,
    /// Commitment for --rpc: processed, confirmed or finalized.
    #[arg(long, global = true, default_value = "confirmed")]
    pub commitment: String,
}

/// `kiln chain` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Create the config and treasury (the admin keypair is created if missing).
    Init(InitArgs),
    /// Airdrop lamports (embedded chain or a test cluster).
    Airdrop {
        /// Address or keypair file.
        #[arg(long)]
        to: String,
        /// Lamports.
        #[arg(long)]
        lamports: u64,
    },
    /// Register or update a node.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Add stake to the operator's node.
    Stake {
        /// Operator keypair file.
        #[arg(long)]
        operator: PathBuf,
        /// Lamports.
        #[arg(long)]
        lamports: u64,
    },
    /// Begin unstaking (withdrawable after the cooldown).
    Unstake {
        /// Operator keypair file.
        #[arg(long)]
        operator: PathBuf,
        /// Lamports.
        #[arg(long)]
        lamports: u64,
    },
    /// Withdraw stake whose cooldown has passed.
    Withdraw {
        /// Operator keypair file.
        #[arg(long)]
        operator: PathBuf,
    },
    /// Open a job.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Claim a co-signed receipt (a file of `SignedReceipt` bytes).
    Claim {
        /// Keypair file that pays the fee (anyone).
        #[arg(long)]
        payer: PathBuf,
        /// Receipt file.
        #[arg(long)]
        receipt: PathBuf,
    },
    /// Close a job, with an optional final receipt. The pay goes to the
    /// node's operator whoever signs.
    Close {
        /// Keypair file of the node's operator or of its receipt key (the
        /// node key; it also pays the fee).
        #[arg(long, alias = "operator")]
        signer: PathBuf,
        /// The job's address.
        #[arg(long)]
        job: String,
        /// Final receipt file.
        #[arg(long)]
        receipt: Option<PathBuf>,
    },
    /// Refund a job's renter after its deadline and grace.
    Expire {
        /// Keypair file that pays the fee (anyone).
        #[arg(long)]
        payer: PathBuf,
        /// The job's address.
        #[arg(long)]
        job: String,
    },
    /// Record a fault against a node and slash its stake (scheduler authority).
    Fault {
        /// The config's scheduler keypair file.
        #[arg(long)]
        scheduler: PathBuf,
        /// The node's operator: address or keypair file.
        #[arg(long)]
        operator: String,
        /// Stake to slash, basis points (at most the config's cap).
        #[arg(long)]
        slash_bps: u16,
        /// SHA-256 of the evidence, 64 hex digits.
        #[arg(long)]
        evidence: String,
    },
    /// Move the embedded chain's clock ahead (to test deadlines and cooldowns).
    AdvanceClock {
        /// Seconds.
        #[arg(long)]
        seconds: u32,
    },
    /// Serve the embedded chain as a local Solana JSON-RPC endpoint (development only).
    Serve(super::serve::ServeArgs),
    /// Show an account.
    Show {
        #[command(subcommand)]
        what: ShowWhat,
    },
}

/// `kiln chain init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Admin keypair file (pays; created 0600 when missing).
    #[arg(long)]
    pub admin: PathBuf,
    /// Scheduler authority: address or keypair file.
    #[arg(long)]
    pub scheduler: String,
    /// Treasury fee, basis points.
    #[arg(long, default_value_t = 250)]
    pub fee_bps: u16,
    /// Slash cap, basis points.
    #[arg(long, default_value_t = 1_000)]
    pub slash_cap_bps: u16,
    /// Stake of tiers 0 to 3, lamports, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000_000_000u64, 10_000_000_000, 50_000_000_000, 100_000_000_000])]
    pub tier_stake: Vec<u64>,
    /// Unstake cooldown, seconds.
    #[arg(long, default_value_t = DEFAULT_UNSTAKE_COOLDOWN_SECONDS)]
    pub cooldown_s: u64,
    /// Grace after a job's deadline, seconds.
    #[arg(long, default_value_t = 3_600)]
    pub grace_s: u64,
}

/// `kiln chain node …`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Register the operator's node.
    Register(NodeArgs),
    /// Update the operator's node.
    Update(NodeArgs),
}

/// A node's fields.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Operator keypair file.
    #[arg(long)]
    pub operator: PathBuf,
    /// The node's receipt key: its address (`kiln keys address
    /// <node dir>/node-key.json`) or the keypair file.
    #[arg(long)]
    pub receipt_key: String,
    /// Benchmark class, 0 to 15.
    #[arg(long)]
    pub class: u8,
    /// Region label (a-z, 0-9, '-'; at most 32 bytes).
    #[arg(long)]
    pub region: String,
    /// Price floor: lamports per million fuel, per GPU second, per wall second.
    #[arg(long, value_delimiter = ',', required = true)]
    pub floor: Vec<u64>,
}

/// `kiln chain job …`.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Open a job on a node.
    Open(OpenArgs),
}

/// `kiln chain job open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Renter keypair file (pays the escrow).
    #[arg(long)]
    pub renter: PathBuf,
    /// The node's operator: address or keypair file.
    #[arg(long)]
    pub operator: String,
    /// The node's receipt-key keypair file, to sign its acceptance.
    #[arg(long)]
    pub node_receipt_key: PathBuf,
    /// The renter's id for this job (never reuse one).
    #[arg(long)]
    pub job_id: u64,
    /// Lamports in escrow.
    #[arg(long)]
    pub escrow: u64,
    /// Rates: per million fuel, per GPU second, per wall second.
    #[arg(long, value_delimiter = ',', required = true)]
    pub rates: Vec<u64>,
    /// Deadline, seconds from now.
    #[arg(long, default_value_t = 3_600)]
    pub deadline_in_s: i64,
}

/// `kiln chain show …`.
#[derive(Debug, Subcommand)]
pub enum ShowWhat {
    /// The config.
    Config,
    /// The treasury.
    Treasury,
    /// An operator's node.
    Node {
        /// Operator address or keypair file.
        operator: String,
    },
    /// A job.
    Job {
        /// The job's address.
        job: String,
    },
    /// An address's lamports.
    Balance {
        /// Address or keypair file.
        address: String,
    },
}

/// Three comma-separated rates.
pub fn rates(values: &[u64]) -> Result<Rates> {
    let [per_million_fuel, per_gpu_second, per_wall_second] = values else {
        bail!("rates are three numbers: per million fuel, per GPU second, per wall second");
    };
    Ok(Rates {
        per_million_fuel: *per_million_fuel,
        per_gpu_second: *per_gpu_second,
        per_wall_second: *per_wall_second,
    })
}

/// A region label, zero-padded to 32 bytes.
pub fn region(label: &str) -> Result<[u8; 32]> {
    let mut region = [0; 32];
    let Some(slot) = region.get_mut(..label.len()) else {
        bail!("region `{label}` is longer than 32 bytes");
    };
    slot.copy_from_slice(label.as_bytes());
    Ok(region)
}

/// 32 bytes from 64 hex digits.
pub fn hash(hex_text: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out)
        .map_err(|error| anyhow::anyhow!("`{hex_text}` is not 64 hex digits: {error}"))?;
    Ok(out)
}
