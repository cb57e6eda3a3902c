//! `kiln chain serve`: the embedded chain (the real settlement ELF in
//! LiteSVM, state in a file) behind a local Solana JSON-RPC endpoint, so a
//! scheduler, several `kiln node run` and `kiln job submit` processes and
//! one-shot `kiln chain … --rpc URL` commands share one chain on one machine.
//!
//! It is a development endpoint, not a validator: one LiteSVM in this
//! process, no consensus, no votes, no leader schedule, no fees market, no
//! websocket subscriptions. It answers exactly the JSON-RPC methods that
//! solana-client's `RpcClient` calls on Kiln's code paths (the `Rpc` backend
//! of kiln-settlement), with the shapes agave answers with; the list is
//! [`methods::METHODS`], and anything else is JSON-RPC's "method not found".
//!
//! How it behaves like a cluster, and where it does not:
//!
//! - **Blocks.** Each accepted transaction or airdrop is a block of its own:
//!   the slot and block height move on and a new blockhash is issued. A
//!   transaction is accepted on any of the last [`MAX_PROCESSING_AGE`]
//!   blockhashes, as on a validator, so processes that fetched a blockhash
//!   before someone else's transaction landed are not refused; an older one
//!   is refused with `BlockhashNotFound`, which `RpcClient` users retry on a
//!   fresh blockhash. A signature already processed is refused.
//! - **Preflight always.** Every transaction is simulated first; one that
//!   fails is refused without landing (no fee charged), with agave's
//!   preflight error (`-32002`, the `TransactionError` and the program's
//!   logs in `data`), so `RpcClient` surfaces the program error exactly as
//!   a validator's preflight does. `skipPreflight` is ignored: nothing that
//!   fails ever lands here.
//! - **Finality.** What is accepted is final at once: statuses say
//!   `finalized`, whatever commitment is asked for.
//! - **Clock.** LiteSVM's clock moves only when told to. Here it follows the
//!   wall clock: before every answer its unix time catches up with the
//!   machine's (it never goes back, and a restart from a state file saved in
//!   the future keeps the saved time), so job deadlines, expiry grace and
//!   unstake cooldowns pass in real time, as on a cluster. There is no way
//!   to move it ahead while serving; `kiln chain advance-clock` works on the
//!   state file while the server is stopped.
//! - **State.** Loaded from the state file at start and saved (atomically)
//!   after every accepted transaction and airdrop, so a restart keeps
//!   balances and program accounts; transaction history and blockhashes do
//!   not survive it. While the server runs, it owns the file: talk to it
//!   with `--rpc`, not `--embedded` on the same file.
//!
//! One mutex serialises every request against the chain; LiteSVM runs a
//! transaction in about a millisecond, so that is not the bottleneck of a
//! development network. Requests run on tokio's blocking pool, never on the
//! async workers.

mod methods;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Args;
use jsonrpc_core::IoHandler;
use kiln_settlement::{Chain, Embedded};
use kiln_settlement_interface::program_id;
use serde_json::json;
pub use solana_clock::MAX_PROCESSING_AGE;

use super::args::Backend;
use methods::Ledger;

/// Largest request body accepted, in bytes. The largest legitimate request
/// is a `getMultipleAccounts` of 100 addresses (about 4.5 KiB) or a
/// transaction (at most 1,232 bytes, 1,644 as base64); 64 KiB is well above
/// both and keeps a careless or hostile client from making the server buffer
/// megabytes. A larger body is answered 413 before it is read.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Where `kiln chain serve` listens unless told: the port a local Solana
/// validator uses, on loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8899";

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
    let chain = Embedded::open(&elf, Some(state))?.without_blockhash_check();
    chain.check_program()?;
    let io = Arc::new(methods::handler(Arc::new(Mutex::new(Ledger::new(chain)))));
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
        axum::serve(listener, app(io))
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

/// The HTTP side: JSON-RPC 2.0 over `POST /`, bodies capped at
/// [`MAX_REQUEST_BYTES`].
fn app(io: Arc<IoHandler>) -> Router {
    Router::new()
        .route("/", post(handle))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(io)
}

/// One HTTP request: its body is handed to jsonrpc-core as text (which
/// answers malformed JSON, a missing method and unknown methods with the
/// standard JSON-RPC errors, and batches with an array), on the blocking
/// pool because answering takes the chain's lock and may run a transaction.
async fn handle(State(io): State<Arc<IoHandler>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let answered = tokio::task::spawn_blocking(move || io.handle_request_sync(&text)).await;
    match answered {
        Ok(Some(answer)) => ([(header::CONTENT_TYPE, "application/json")], answer).into_response(),
        // A notification (no id) gets no JSON-RPC answer.
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => {
            tracing::error!(target: "kiln.chain.serve", %error, "request handler failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
