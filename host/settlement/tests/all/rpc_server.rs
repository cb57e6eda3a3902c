//! A Solana JSON-RPC server on loopback that answers from an [`Embedded`]
//! chain, so the RPC backend's `RpcClient` runs unchanged over real HTTP and
//! real JSON-RPC. It implements only what `RpcClient` calls for the
//! settlement client, with the shapes agave's RPC returns (the response types
//! come from solana-rpc-client-api and its client-types crates where they
//! exist). Each accepted transaction is its own block: the block height and
//! blockhash move on after it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kiln_settlement::Embedded;
use serde_json::{Value, json};
use solana_account::Account;
use solana_account_decoder_client_types::{UiAccount, UiAccountData, UiAccountEncoding};
use solana_address::Address;
use solana_rpc_client_api::response::RpcSimulateTransactionResult;
use solana_signature::Signature;
use solana_transaction::Transaction;
use solana_transaction_status_client_types::UiTransactionError;
use tokio::sync::oneshot;

/// Blocks a blockhash stays valid for, as on mainnet (`MAX_PROCESSING_AGE`).
const BLOCKHASH_LIFETIME: u64 = 150;

/// JSON-RPC's "method not found".
const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC's "invalid params".
const INVALID_PARAMS: i64 = -32602;
/// Agave's code for a transaction that failed preflight simulation.
const PREFLIGHT_FAILURE: i64 = -32002;

/// What the server holds: the chain and a log of the methods called.
pub struct Ledger {
    /// The chain the answers come from.
    pub chain: Embedded,
    /// Every method called, in order.
    pub calls: Vec<String>,
    /// Block height: one block per accepted transaction.
    pub height: u64,
    /// Sends to fail as if their blockhash had expired in flight (the next N).
    pub expire_next_sends: u32,
}

/// The running server; stops when dropped.
pub struct RpcServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RpcServer {
    /// Serves `chain` on a free loopback port.
    pub fn start(chain: Embedded) -> Self {
        let ledger = Arc::new(Mutex::new(Ledger {
            chain,
            calls: Vec::new(),
            height: 1,
            expire_next_sends: 0,
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let state = Arc::clone(&ledger);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new().route("/", post(handle)).with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let address = address.recv().unwrap();
        Self {
            url: format!("http://{address}"),
            ledger,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The server's state, locked.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    Json(request): Json<Value>,
) -> Json<Value> {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request["method"].as_str().unwrap_or_default().to_string();
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let mut ledger = ledger.lock().unwrap();
    ledger.calls.push(method.clone());
    let body = match answer(&mut ledger, &method, &params) {
        Ok(result) => json!({ "jsonrpc": "2.0", "result": result, "id": id }),
        Err(error) => json!({ "jsonrpc": "2.0", "error": error, "id": id }),
    };
    Json(body)
}

fn rpc_error(code: i64, message: impl Into<String>) -> Value {
    json!({ "code": code, "message": message.into() })
}

fn with_context(ledger: &Ledger, value: Value) -> Value {
    json!({ "context": { "slot": ledger.height, "apiVersion": "4.2.2" }, "value": value })
}

fn address(value: &Value) -> Result<Address, Value> {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| rpc_error(INVALID_PARAMS, format!("invalid address {value}")))
}

fn answer(ledger: &mut Ledger, method: &str, params: &Value) -> Result<Value, Value> {
    match method {
        "getVersion" => Ok(json!({ "solana-core": "4.2.2", "feature-set": 0 })),
        "getLatestBlockhash" => {
            let blockhash = ledger.chain.latest_blockhash().to_string();
            let last_valid = ledger.height + BLOCKHASH_LIFETIME;
            Ok(with_context(
                ledger,
                json!({ "blockhash": blockhash, "lastValidBlockHeight": last_valid }),
            ))
        }
        "getBlockHeight" => Ok(json!(ledger.height)),
        "sendTransaction" => send_transaction(ledger, params),
        "getSignatureStatuses" => {
            let statuses = params[0]
                .as_array()
                .ok_or_else(|| rpc_error(INVALID_PARAMS, "expected signatures"))?
                .iter()
                .map(|text| {
                    let signature: Signature = text.as_str()?.parse().ok()?;
                    let outcome = ledger.chain.status(&signature)?;
                    let err = outcome.err().map(UiTransactionError::from);
                    let status = match &err {
                        None => json!({ "Ok": null }),
                        Some(err) => json!({ "Err": err }),
                    };
                    Some(json!({
                        "slot": ledger.height, "confirmations": null, "status": status,
                        "err": err, "confirmationStatus": "finalized",
                    }))
                })
                .collect::<Vec<_>>();
            Ok(with_context(ledger, json!(statuses)))
        }
        "getAccountInfo" => {
            let address = address(&params[0])?;
            let encoding = encoding(&params[1])?;
            let account = account(ledger, &address).map(|a| ui_account(&a, encoding));
            Ok(with_context(ledger, json!(account)))
        }
        "getMultipleAccounts" => {
            let encoding = encoding(&params[1])?;
            let mut accounts = Vec::new();
            for value in params[0].as_array().into_iter().flatten() {
                let address = address(value)?;
                accounts.push(account(ledger, &address).map(|a| ui_account(&a, encoding)));
            }
            Ok(with_context(ledger, json!(accounts)))
        }
        "getBalance" => {
            let address = address(&params[0])?;
            let lamports = ledger.chain.svm().get_balance(&address).unwrap_or(0);
            Ok(with_context(ledger, json!(lamports)))
        }
        "getMinimumBalanceForRentExemption" => {
            let len = params[0].as_u64().unwrap_or(0);
            let len = usize::try_from(len).map_err(|_| rpc_error(INVALID_PARAMS, "length"))?;
            Ok(json!(
                ledger.chain.svm().minimum_balance_for_rent_exemption(len)
            ))
        }
        "requestAirdrop" => {
            let address = address(&params[0])?;
            let lamports = params[1].as_u64().unwrap_or(0);
            let signature = ledger
                .chain
                .airdrop(&address, lamports)
                .map_err(|error| rpc_error(-32603, error.to_string()))?;
            ledger.height += 1;
            Ok(json!(signature.to_string()))
        }
        other => Err(rpc_error(
            METHOD_NOT_FOUND,
            format!("Method not found: {other}"),
        )),
    }
}

/// `sendTransaction` with preflight: a failing transaction is refused with
/// agave's preflight error (its `TransactionError` and logs in `data`).
fn send_transaction(ledger: &mut Ledger, params: &Value) -> Result<Value, Value> {
    let encoded = params[0].as_str().unwrap_or_default();
    let bytes = BASE64
        .decode(encoded)
        .map_err(|error| rpc_error(INVALID_PARAMS, error.to_string()))?;
    let transaction: Transaction = bincode::deserialize(&bytes)
        .map_err(|error| rpc_error(INVALID_PARAMS, error.to_string()))?;
    if ledger.expire_next_sends > 0 {
        ledger.expire_next_sends -= 1;
        ledger.chain.new_block();
    }
    match ledger
        .chain
        .execute(&transaction)
        .expect("the server's chain saves")
    {
        Ok(sent) => {
            ledger.height += 1;
            ledger.chain.new_block();
            Ok(json!(sent.signature.to_string()))
        }
        Err(failed) => {
            let result = RpcSimulateTransactionResult {
                err: Some(UiTransactionError::from(failed.error.clone())),
                logs: Some(failed.logs),
                accounts: None,
                units_consumed: None,
                loaded_accounts_data_size: None,
                return_data: None,
                inner_instructions: None,
                replacement_blockhash: None,
                fee: None,
                pre_balances: None,
                post_balances: None,
                pre_token_balances: None,
                post_token_balances: None,
                loaded_addresses: None,
            };
            Err(json!({
                "code": PREFLIGHT_FAILURE,
                "message": format!("Transaction simulation failed: {}", failed.error),
                "data": result,
            }))
        }
    }
}

/// An account as RPC shows it: none when it holds no lamports.
fn account(ledger: &Ledger, address: &Address) -> Option<Account> {
    ledger
        .chain
        .svm()
        .get_account(address)
        .filter(|a| a.lamports > 0)
}

fn encoding(config: &Value) -> Result<UiAccountEncoding, Value> {
    match config.get("encoding").and_then(Value::as_str) {
        Some("base64") => Ok(UiAccountEncoding::Base64),
        Some("base64+zstd") => Ok(UiAccountEncoding::Base64Zstd),
        other => Err(rpc_error(
            INVALID_PARAMS,
            format!("unsupported encoding {other:?}"),
        )),
    }
}

fn ui_account(account: &Account, encoding: UiAccountEncoding) -> UiAccount {
    let data = match encoding {
        UiAccountEncoding::Base64Zstd => zstd::encode_all(account.data.as_slice(), 0).unwrap(),
        _ => account.data.clone(),
    };
    UiAccount {
        lamports: account.lamports,
        data: UiAccountData::Binary(BASE64.encode(data), encoding),
        owner: account.owner.to_string(),
        executable: account.executable,
        rent_epoch: account.rent_epoch,
        space: Some(account.data.len() as u64),
    }
}
