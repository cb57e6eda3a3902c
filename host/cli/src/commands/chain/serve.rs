//! `kiln chain serve`: the embedded chain behind a local Solana JSON-RPC
//! endpoint. What it answers and how it behaves like a cluster (and where it
//! does not) is `kiln-chain-serve`'s to say; this is the command around it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use kiln_chain_serve::{DEFAULT_LISTEN, Served};
use kiln_settlement::{Chain, Embedded};
use kiln_settlement_interface::program_id;
use serde_json::json;

use super::args::Backend;

/// Arguments of `kiln chain serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port, printed when ready).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
}

/// Serves the embedded chain at `backend.embedded` until ctrl-c or SIGTERM.
/// Prints one line once it accepts requests: the URL (with `--json`, an
/// object with `url`, `state` and `program`), for scripts and tests to wait on.
pub fn serve(backend: &Backend, json: bool, args: &ServeArgs) -> Result<ExitCode> {
    let (None, Some(state)) = (&backend.rpc, &backend.embedded) else {
        bail!("serve runs the embedded chain: use --embedded STATE_FILE (not --rpc)");
    };
    let elf = Embedded::elf_path(backend.elf.as_deref())?;
    let chain = Embedded::open(&elf, Some(state))?;
    chain.check_program()?;
    let served = Served::new(chain);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let url = format!("http://{}", listener.local_addr()?);
        ready(json, &url, state);
        axum::serve(listener, served.router())
            .with_graceful_shutdown(kiln_scheduler::server::shutdown_signal())
            .await
            .context("serving")?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// The one line that says the endpoint is up.
fn ready(json: bool, url: &str, state: &Path) {
    if json {
        let line = json!({
            "url": url,
            "state": state.display().to_string(),
            "program": program_id().to_string(),
        });
        println!("{line}");
    } else {
        println!(
            "kiln chain serving JSON-RPC at {url} (program {}, state {})",
            program_id(),
            state.display()
        );
    }
}
