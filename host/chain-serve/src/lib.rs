//! The embedded chain (the real settlement ELF in LiteSVM, state in a file)
//! behind a local Solana JSON-RPC endpoint: what `kiln chain serve` runs, so
//! a scheduler, several `kiln node run` and `kiln job submit` processes and
//! one-shot `kiln chain … --rpc URL` commands share one chain on one machine,
//! and what the settlement client's RPC tests talk to.
//!
//! It is a development endpoint, not a validator: one LiteSVM in this
//! process, no consensus, no votes, no leader schedule, no fees market, no
//! websocket subscriptions. It answers exactly the JSON-RPC methods that
//! solana-client's `RpcClient` calls on Kiln's code paths (the `Rpc` backend
//! of kiln-settlement), with the shapes agave answers with; the list is
//! [`METHODS`], and anything else is JSON-RPC's "method not found".
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

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
pub use jsonrpc_core::IoHandler;
use kiln_settlement::Embedded;
pub use solana_clock::MAX_PROCESSING_AGE;

pub use methods::{Ledger, METHODS, handler};

/// Largest request body accepted, in bytes. The largest legitimate request
/// is a `getMultipleAccounts` of 100 addresses (about 4.5 KiB) or a
/// transaction (at most 1,232 bytes, 1,644 as base64); 64 KiB is well above
/// both and keeps a careless or hostile client from making the server buffer
/// megabytes. A larger body is answered 413 before it is read.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Where `kiln chain serve` listens unless told: the port a local Solana
/// validator uses, on loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8899";

/// The served chain: the ledger (shared with whoever serves it) and the
/// JSON-RPC methods over it.
pub struct Served {
    /// The chain and its block bookkeeping, locked by every request.
    pub ledger: Arc<Mutex<Ledger>>,
    /// [`METHODS`] over [`Self::ledger`].
    pub io: Arc<IoHandler>,
}

impl Served {
    /// Serves `chain` (see [`Ledger::new`]).
    pub fn new(chain: Embedded) -> Self {
        let ledger = Arc::new(Mutex::new(Ledger::new(chain)));
        Self {
            io: Arc::new(handler(Arc::clone(&ledger))),
            ledger,
        }
    }

    /// The HTTP side: JSON-RPC 2.0 over `POST /`, bodies capped at
    /// [`MAX_REQUEST_BYTES`].
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", post(handle))
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .with_state(Arc::clone(&self.io))
    }
}

/// Answers one JSON-RPC request body (a call, a notification or a batch) as
/// the server would, on the caller's thread: it takes the chain's lock and
/// may run a transaction. `None` for a notification.
pub fn answer(io: &IoHandler, body: &[u8]) -> Option<String> {
    io.handle_request_sync(&String::from_utf8_lossy(body))
}

/// One HTTP request: its body is handed to jsonrpc-core as text (which
/// answers malformed JSON, a missing method and unknown methods with the
/// standard JSON-RPC errors, and batches with an array), on the blocking
/// pool because answering takes the chain's lock and may run a transaction.
async fn handle(State(io): State<Arc<IoHandler>>, body: Bytes) -> Response {
    let answered = tokio::task::spawn_blocking(move || answer(&io, &body)).await;
    respond(answered.map_err(|error| error.to_string()))
}

/// The HTTP response for an answer: JSON, 204 for a notification, 500 when
/// the handler failed.
pub fn respond(answered: Result<Option<String>, String>) -> Response {
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
