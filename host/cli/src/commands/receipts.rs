//! `kiln receipts verify FILE [--rpc URL]`: check a receipts file offline,
//! with no wallet and no browser. Exit 0 when it verifies; exit 1 naming the
//! first bad receipt (or what the program paid differently) otherwise.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use clap::{Args, Subcommand};
use kiln_client::{Ledger, ReceiptsFile, SharedLedger};
use kiln_settlement::{CommitmentConfig, Rpc, Settlement};

/// `kiln receipts`.
#[derive(Debug, Args)]
pub struct ReceiptsArgs {
    #[command(subcommand)]
    command: ReceiptsCommand,
}

#[derive(Debug, Subcommand)]
enum ReceiptsCommand {
    /// Check the chain, both signatures and the cost; with --rpc, what the program paid.
    Verify {
        /// A receipts file (`kiln job submit` writes one).
        file: PathBuf,
        /// A Solana JSON-RPC URL: also compare with the job account on chain.
        #[arg(long, env = "KILN_RPC")]
        rpc: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Exit code for a file that does not verify.
const EXIT_INVALID: u8 = 1;

pub fn run(args: ReceiptsArgs) -> Result<ExitCode> {
    let ReceiptsCommand::Verify { file, rpc, json } = args.command;
    let receipts = ReceiptsFile::read(&file)?;
    let ledger: Option<Box<dyn Ledger>> = match rpc {
        Some(url) => Some(Box::new(SharedLedger(Arc::new(Mutex::new(
            Settlement::new(Rpc::connect(&url, CommitmentConfig::confirmed())?),
        ))))),
        None => None,
    };
    match receipts.verify(ledger.as_deref()) {
        Ok(verified) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "valid": true,
                        "receipts": verified.receipts,
                        "payable_seq": verified.payable.receipt.seq,
                        "owed": verified.owed,
                        "payable": verified.payable_amount,
                        "on_chain": verified.on_chain.map(|(paid, seq)| serde_json::json!({"paid": paid, "last_paid_seq": seq})),
                    })
                );
            } else {
                println!(
                    "valid: {} receipts, chained and signed by node and renter",
                    verified.receipts
                );
                println!(
                    "payable: seq {} owes {} lamports, {} payable from the escrow of {}",
                    verified.payable.receipt.seq,
                    verified.owed,
                    verified.payable_amount,
                    receipts.escrow
                );
                match verified.on_chain {
                    Some((paid, seq)) => {
                        println!("on chain: paid {paid} through seq {seq}, as the receipts say")
                    }
                    None => {
                        println!("on chain: not checked (no --rpc), or the job account is closed")
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "valid": false, "error": error.to_string() })
                );
            } else {
                println!("invalid: {error}");
            }
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}
