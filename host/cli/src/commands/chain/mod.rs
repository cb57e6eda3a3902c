//! `kiln chain …`: the settlement program from the command line, on the
//! embedded chain (`--embedded STATE`, the real ELF in LiteSVM, state kept in
//! a file) or a cluster (`--rpc URL`). Program errors print their name, code
//! and meaning; `--json` prints one JSON object per command. `kiln chain
//! --embedded STATE serve` puts the embedded chain behind a local JSON-RPC
//! endpoint ([`serve`]), so separate processes share it through `--rpc`.

mod args;
mod serve;
mod show;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use kiln_protocol::SignedReceipt;
use kiln_settlement::keys::{read_keypair, read_or_create_keypair, signing_key};
use kiln_settlement::{Acceptance, Chain, CommitmentConfig, Embedded, Rpc, Sent, Settlement};
use kiln_settlement_interface::instruction::{ConfigParams, NodeParams, OpenJobParams};
use serde_json::json;
use solana_address::Address;
use solana_signer::Signer;

pub use args::ChainArgs;
use args::{Backend, ChainCommand, JobCommand, NodeArgs, NodeCommand};

type Client = Settlement<Box<dyn Chain>>;

/// Exit code when the settlement program refused the transaction (as
/// opposed to 2, a command line or input the command could not use), so a
/// script can tell "the chain said no" from "I typed it wrong".
pub const EXIT_PROGRAM_REFUSED: u8 = 3;

/// Lamports a brand-new admin gets on the embedded chain, the way a local
/// validator's faucet funds its first key: enough for `init`'s rent and fees
/// many times over, so `kiln chain --embedded F init` works on its own.
pub const EMBEDDED_ADMIN_AIRDROP: u64 = 10_000_000_000;

/// Runs one `kiln chain` command.
pub fn run(args: ChainArgs) -> Result<ExitCode> {
    match execute(args) {
        Err(error) if refused_by_program(&error) => {
            eprintln!("kiln: error: {error:#}");
            Ok(ExitCode::from(EXIT_PROGRAM_REFUSED))
        }
        outcome => outcome,
    }
}

fn refused_by_program(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<kiln_settlement::Error>(),
        Some(
            kiln_settlement::Error::Program { .. }
                | kiln_settlement::Error::UnknownProgramCode { .. }
        )
    )
}

fn execute(args: ChainArgs) -> Result<ExitCode> {
    match &args.command {
        ChainCommand::AdvanceClock { seconds } => {
            return advance_clock(&args.backend, args.json, *seconds);
        }
        ChainCommand::Serve(serve_args) => {
            return serve::serve(&args.backend, args.json, serve_args);
        }
        _ => {}
    }
    let mut client = connect(&args.backend)?;
    let json = args.json;
    match args.command {
        ChainCommand::Init(init) => {
            let admin = read_or_create_keypair(&init.admin)?;
            let scheduler = address_or_key(&init.scheduler)?;
            let params = ConfigParams {
                scheduler: scheduler.to_bytes(),
                fee_bps: init.fee_bps,
                slash_cap_bps: init.slash_cap_bps,
                tier_min_stake: init
                    .tier_stake
                    .as_slice()
                    .try_into()
                    .context("--tier-stake takes four amounts")?,
                unstake_cooldown_seconds: init.cooldown_s,
                expire_grace_seconds: init.grace_s,
            };
            client.check_program()?;
            if args.backend.embedded.is_some() && client.balance(&admin.pubkey())? == 0 {
                client.fund(&admin.pubkey(), EMBEDDED_ADMIN_AIRDROP)?;
            }
            Ok(report(json, "init", client.init_config(&admin, params)?))
        }
        ChainCommand::Airdrop { to, lamports } => {
            let to = address_or_key(&to)?;
            client.fund(&to, lamports)?;
            let balance = client.balance(&to)?;
            Ok(print(
                json,
                json!({ "address": to.to_string(), "balance": balance }),
                || format!("{to} now holds {balance} lamports"),
            ))
        }
        ChainCommand::Node { command } => {
            let (register, node) = match command {
                NodeCommand::Register(node) => (true, node),
                NodeCommand::Update(node) => (false, node),
            };
            let operator = read_keypair(&node.operator)?;
            let params = node_params(&node)?;
            let sent = if register {
                client.register_node(&operator, params)?
            } else {
                client.update_node(&operator, params)?
            };
            Ok(report(
                json,
                if register {
                    "node register"
                } else {
                    "node update"
                },
                sent,
            ))
        }
        ChainCommand::Stake { operator, lamports } => Ok(report(
            json,
            "stake",
            client.stake(&read_keypair(&operator)?, lamports)?,
        )),
        ChainCommand::Unstake { operator, lamports } => {
            let operator = read_keypair(&operator)?;
            Ok(report(
                json,
                "unstake",
                client.begin_unstake(&operator, lamports)?,
            ))
        }
        ChainCommand::Withdraw { operator } => Ok(report(
            json,
            "withdraw",
            client.withdraw(&read_keypair(&operator)?)?,
        )),
        ChainCommand::Job { command } => job(&mut client, json, command),
        ChainCommand::Claim { payer, receipt } => {
            let receipt = read_receipt(&receipt)?;
            Ok(report(
                json,
                "claim",
                client.claim(&read_keypair(&payer)?, &receipt)?,
            ))
        }
        ChainCommand::Close {
            signer,
            job,
            receipt,
        } => {
            let receipt = receipt.as_deref().map(read_receipt).transpose()?;
            let job = parse_address(&job)?;
            let sent = client.close(&read_keypair(&signer)?, &job, receipt.as_ref())?;
            Ok(report(json, "close", sent))
        }
        ChainCommand::Expire { payer, job } => {
            let job = parse_address(&job)?;
            Ok(report(
                json,
                "expire",
                client.expire(&read_keypair(&payer)?, &job)?,
            ))
        }
        ChainCommand::Fault {
            scheduler,
            operator,
            slash_bps,
            evidence,
        } => {
            let operator = address_or_key(&operator)?;
            let evidence = args::hash(&evidence)?;
            let scheduler = read_keypair(&scheduler)?;
            Ok(report(
                json,
                "fault",
                client.record_fault(&scheduler, &operator, slash_bps, evidence)?,
            ))
        }
        ChainCommand::AdvanceClock { .. } | ChainCommand::Serve(_) => {
            unreachable!("handled before connecting")
        }
        ChainCommand::Show { what } => show::show(&client, json, what),
    }
}

fn job(client: &mut Client, json: bool, command: JobCommand) -> Result<ExitCode> {
    let JobCommand::Open(open) = command;
    let renter = read_keypair(&open.renter)?;
    let operator = address_or_key(&open.operator)?;
    // The node's acceptance is signed here with its receipt key; in the
    // network the node signs it and the scheduler relays it (see the README).
    let node_key = signing_key(&read_keypair(&open.node_receipt_key)?);
    let params = OpenJobParams {
        job_id: open.job_id,
        escrow: open.escrow,
        rates: args::rates(&open.rates)?,
        deadline: client.now()?.saturating_add(open.deadline_in_s),
    };
    let acceptance = Acceptance::sign(&node_key, &renter.pubkey(), &operator, &params);
    let (address, sent) = client.open_job(&renter, &operator, &acceptance, params)?;
    let value = json!({ "job": address.to_string(), "signature": sent.signature.to_string() });
    Ok(print(json, value, || {
        format!(
            "job {} opened at {address} ({})",
            open.job_id, sent.signature
        )
    }))
}

/// Only the embedded chain's clock is ours to move; a cluster's is not.
fn advance_clock(backend: &Backend, json: bool, seconds: u32) -> Result<ExitCode> {
    let (None, Some(state)) = (&backend.rpc, &backend.embedded) else {
        bail!("advance-clock moves the embedded chain's clock: use --embedded STATE_FILE");
    };
    let mut chain = Embedded::open(&Embedded::elf_path(backend.elf.as_deref())?, Some(state))?;
    chain.advance_clock(i64::from(seconds));
    chain.save()?;
    let now = chain.now()?;
    Ok(print(json, json!({ "unix_timestamp": now }), || {
        format!("the embedded clock reads {now}")
    }))
}

/// `processed`, `confirmed` or `finalized`, as `--commitment` takes it.
pub(crate) fn parse_commitment(commitment: &str) -> Result<CommitmentConfig> {
    commitment
        .parse::<CommitmentConfig>()
        .ok()
        .with_context(|| {
            format!("unknown commitment `{commitment}` (processed, confirmed, finalized)")
        })
}

fn connect(backend: &Backend) -> Result<Client> {
    let chain: Box<dyn Chain> = match (&backend.rpc, &backend.embedded) {
        (Some(url), None) => Box::new(Rpc::connect(url, parse_commitment(&backend.commitment)?)?),
        (None, Some(state)) => {
            let elf = Embedded::elf_path(backend.elf.as_deref())?;
            Box::new(Embedded::open(&elf, Some(state))?)
        }
        _ => bail!("say where the chain is: --rpc URL or --embedded STATE_FILE"),
    };
    Ok(Settlement::new(chain))
}

fn node_params(node: &NodeArgs) -> Result<NodeParams> {
    Ok(NodeParams {
        receipt_key: address_or_key(&node.receipt_key)?.to_bytes(),
        class: node.class,
        region: args::region(&node.region)?,
        price_floor: args::rates(&node.floor)?,
    })
}

/// A base58 address, or a keypair file whose public key is meant.
fn address_or_key(text: &str) -> Result<Address> {
    if Path::new(text).is_file() {
        return Ok(read_keypair(Path::new(text))?.pubkey());
    }
    parse_address(text)
}

fn parse_address(text: &str) -> Result<Address> {
    text.parse()
        .ok()
        .with_context(|| format!("`{text}` is neither a base58 address nor a keypair file"))
}

fn read_receipt(path: &Path) -> Result<SignedReceipt> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SignedReceipt::from_bytes(&bytes)
        .map_err(|error| anyhow::anyhow!("{}: not a signed receipt: {error:?}", path.display()))
}

fn report(json: bool, what: &str, sent: Sent) -> ExitCode {
    let value = json!({
        "operation": what,
        "signature": sent.signature.to_string(),
        "compute_units": sent.compute_units,
        "fee": sent.fee,
    });
    print(json, value, || {
        let mut line = format!("{what}: confirmed {}", sent.signature);
        if let (Some(units), Some(fee)) = (sent.compute_units, sent.fee) {
            line.push_str(&format!(" ({units} compute units, fee {fee} lamports)"));
        }
        line
    })
}

fn print(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> ExitCode {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
    ExitCode::SUCCESS
}
