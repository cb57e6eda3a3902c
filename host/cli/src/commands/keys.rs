//! `kiln keys new`: a keypair file in solana-keygen's format, mode 0600;
//! `kiln keys address`: the address of one (to give a wallet's address to a
//! node without its keypair).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use solana_signer::Signer as _;

/// `kiln keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a new keypair file (refuses to overwrite one).
    New {
        /// Where to write it.
        #[arg(long, default_value = "renter.json")]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the base58 address of a keypair file (as `solana-keygen pubkey`).
    Address {
        /// The keypair file.
        file: PathBuf,
    },
}

pub fn run(args: KeysArgs) -> Result<ExitCode> {
    let (out, json) = match args.command {
        KeysCommand::New { out, json } => (out, json),
        KeysCommand::Address { file } => {
            println!("{}", kiln_settlement::keys::read_keypair(&file)?.pubkey());
            return Ok(ExitCode::SUCCESS);
        }
    };
    let keypair = kiln_settlement::keys::create_keypair(&out)?;
    let public = hex::encode(keypair.pubkey().to_bytes());
    if json {
        println!(
            "{}",
            serde_json::json!({ "path": out.display().to_string(), "public_key": public, "address": keypair.pubkey().to_string() })
        );
    } else {
        println!("wrote {} (mode 0600)", out.display());
        println!("public key  {public}");
        println!("address     {}", keypair.pubkey());
    }
    Ok(ExitCode::SUCCESS)
}
