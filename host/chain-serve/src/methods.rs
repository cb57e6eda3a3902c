//! The Solana JSON-RPC methods `kiln chain serve` answers, over one
//! [`Ledger`]: the embedded chain plus what a validator would track around
//! it (block height, the window of blockhashes a transaction may use).
//!
//! Responses are solana-rpc-client-api's and its client-types crates' own
//! types (`Response`, `RpcBlockhash`, `TransactionStatus`, `UiAccount` from
//! solana-account-decoder's encoder, `RpcCustomError` for agave's error
//! codes), serialized as they are, so what `RpcClient` parses is what it
//! would parse from agave. Parameters are positional, as agave takes them;
//! a trailing optional configuration object may be left out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jsonrpc_core::{Error, ErrorCode, IoHandler, Params, Result};
use kiln_settlement::{Chain, Embedded, tx};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use solana_account_decoder::{MAX_BASE58_BYTES, UiAccount, UiAccountEncoding, encode_ui_account};
use solana_address::Address;
use solana_hash::Hash;
use solana_rpc_client_api::config::{
    RpcAccountInfoConfig, RpcContextConfig, RpcSendTransactionConfig,
};
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_api::request::{
    MAX_GET_SIGNATURE_STATUSES_QUERY_ITEMS, MAX_MULTIPLE_ACCOUNTS,
};
use solana_rpc_client_api::response::{
    Response, RpcBlockhash, RpcResponseContext, RpcSimulateTransactionResult, RpcVersionInfo,
};
use solana_signature::Signature;
use solana_transaction::Transaction;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status_client_types::{
    TransactionBinaryEncoding, TransactionConfirmationStatus, TransactionStatus,
    UiTransactionEncoding,
};

use crate::MAX_PROCESSING_AGE;

/// The agave release whose RPC shapes these answers follow: the one
/// solana-client in Cargo.lock speaks. `getVersion` reports it, because a
/// client may pick request shapes by the server's version.
const AGAVE_VERSION: &str = "4.2.2";

/// One JSON-RPC method: the ledger, locked and its clock caught up, and the
/// positional parameters.
type Method = fn(&mut Ledger, &[Value]) -> Result<Value>;

/// Every method served, by the name `RpcClient` sends. These are what the
/// settlement client's `Rpc` backend calls: `getVersion` (connect),
/// `getLatestBlockhash`, `sendTransaction`, `getSignatureStatuses` and
/// `getBlockHeight` (send and confirm), `getAccountInfo` (the clock sysvar,
/// the program), `getMultipleAccounts`, `getBalance`,
/// `getMinimumBalanceForRentExemption` and `requestAirdrop`.
pub const METHODS: &[(&str, Method)] = &[
    ("getVersion", get_version),
    ("getLatestBlockhash", get_latest_blockhash),
    ("getBlockHeight", get_block_height),
    ("sendTransaction", send_transaction),
    ("getSignatureStatuses", get_signature_statuses),
    ("getAccountInfo", get_account_info),
    ("getMultipleAccounts", get_multiple_accounts),
    ("getBalance", get_balance),
    (
        "getMinimumBalanceForRentExemption",
        get_minimum_balance_for_rent_exemption,
    ),
    ("requestAirdrop", request_airdrop),
];

/// The chain and the block bookkeeping a validator does around it.
pub struct Ledger {
    chain: Embedded,
    /// Blocks so far: one per accepted transaction or airdrop.
    height: u64,
    /// The blockhashes a transaction may carry, oldest first: the last
    /// [`MAX_PROCESSING_AGE`] issued, the latest at the back.
    recent: VecDeque<Hash>,
}

impl Ledger {
    /// Serves `chain`, turning its own blockhash check off: the window of
    /// recent blockhashes here replaces it (see
    /// [`Embedded::without_blockhash_check`]).
    pub fn new(chain: Embedded) -> Self {
        let chain = chain.without_blockhash_check();
        let mut recent = VecDeque::with_capacity(MAX_PROCESSING_AGE);
        recent.push_back(chain.latest_blockhash());
        Self {
            chain,
            height: 1,
            recent,
        }
    }

    /// As if [`MAX_PROCESSING_AGE`] blocks had passed: every blockhash
    /// issued so far is forgotten, so a transaction signed on one is refused
    /// with `BlockhashNotFound` and its sender must fetch a fresh one. For
    /// testing clients' retry path; the served chain never does it alone.
    pub fn expire_blockhashes(&mut self) {
        self.recent.clear();
        self.chain.new_block();
        self.record_block();
    }

    /// A block was made: count it and open its blockhash to transactions.
    fn record_block(&mut self) {
        self.height = self.height.saturating_add(1);
        let latest = self.chain.latest_blockhash();
        if self.recent.back() != Some(&latest) {
            if self.recent.len() == MAX_PROCESSING_AGE {
                self.recent.pop_front();
            }
            self.recent.push_back(latest);
        }
    }

    fn context(&self) -> RpcResponseContext {
        RpcResponseContext::new(self.chain.slot())
    }

    fn with_context<T: serde::Serialize>(&self, value: T) -> Result<Value> {
        to_value(Response {
            context: self.context(),
            value,
        })
    }
}

/// The methods of [`METHODS`] over `ledger`, in jsonrpc-core's handler,
/// which also answers the envelope's errors (parse error, invalid request,
/// method not found).
pub fn handler(ledger: Arc<Mutex<Ledger>>) -> IoHandler {
    let mut io = IoHandler::new();
    for &(name, method) in METHODS {
        let ledger = Arc::clone(&ledger);
        io.add_sync_method(name, move |params: Params| {
            let params = positional(params)?;
            let mut ledger = ledger.lock().map_err(|_| {
                tracing::error!(target: "kiln.chain.serve", "the chain's lock is poisoned");
                Error::internal_error()
            })?;
            ledger.chain.catch_up_clock();
            method(&mut ledger, &params)
        });
    }
    io
}

fn positional(params: Params) -> Result<Vec<Value>> {
    match params {
        Params::None => Ok(Vec::new()),
        Params::Array(values) => Ok(values),
        Params::Map(_) => Err(Error::invalid_params("Expected an array of parameters")),
    }
}

/// Parameter `index`; one left out reads as `null`, which an `Option` takes
/// as `None` and anything else refuses.
fn param<T: DeserializeOwned>(params: &[Value], index: usize) -> Result<T> {
    let value = params.get(index).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value)
        .map_err(|error| Error::invalid_params(format!("Invalid param #{index}: {error}")))
}

fn address(text: &str) -> Result<Address> {
    text.parse()
        .map_err(|error| Error::invalid_params(format!("Invalid param: {error:?}")))
}

fn to_value<T: serde::Serialize>(value: T) -> Result<Value> {
    serde_json::to_value(value).map_err(|error| {
        tracing::error!(target: "kiln.chain.serve", %error, "an answer did not serialize");
        Error::internal_error()
    })
}

fn get_version(_: &mut Ledger, _: &[Value]) -> Result<Value> {
    to_value(RpcVersionInfo {
        solana_core: AGAVE_VERSION.to_owned(),
        feature_set: None,
    })
}

fn get_latest_blockhash(ledger: &mut Ledger, _: &[Value]) -> Result<Value> {
    let lifetime = u64::try_from(MAX_PROCESSING_AGE).unwrap_or(u64::MAX);
    ledger.with_context(RpcBlockhash {
        blockhash: ledger.chain.latest_blockhash().to_string(),
        last_valid_block_height: ledger.height.saturating_add(lifetime),
    })
}

#[expect(
    clippy::unnecessary_wraps,
    reason = "every method has the one signature of `Method`"
)]
fn get_block_height(ledger: &mut Ledger, _: &[Value]) -> Result<Value> {
    Ok(json!(ledger.height))
}

/// Decodes, checks the blockhash window, runs the transaction with
/// preflight semantics (a failure is refused, not landed) and starts the
/// next block.
fn send_transaction(ledger: &mut Ledger, params: &[Value]) -> Result<Value> {
    let encoded: String = param(params, 0)?;
    let config: Option<RpcSendTransactionConfig> = param(params, 1)?;
    // JSON-RPC's default encoding for sendTransaction is base58.
    let encoding = config
        .and_then(|config| config.encoding)
        .unwrap_or(UiTransactionEncoding::Base58);
    let bytes = match encoding.into_binary_encoding() {
        Some(TransactionBinaryEncoding::Base58) => bs58::decode(&encoded).into_vec().ok(),
        Some(TransactionBinaryEncoding::Base64) => BASE64.decode(&encoded).ok(),
        None => {
            return Err(Error::invalid_params(format!(
                "unsupported encoding: {encoding}. Supported encodings: base58, base64"
            )));
        }
    }
    .ok_or_else(|| Error::invalid_params(format!("invalid {encoding} encoding")))?;
    if bytes.len() > tx::MAX_TRANSACTION_SIZE {
        return Err(Error::invalid_params(format!(
            "transaction too large: {} bytes (max: {} bytes)",
            bytes.len(),
            tx::MAX_TRANSACTION_SIZE
        )));
    }
    let versioned: VersionedTransaction = bincode::deserialize(&bytes)
        .map_err(|error| Error::invalid_params(format!("failed to deserialize: {error}")))?;
    let Some(transaction) = versioned.into_legacy_transaction() else {
        return Err(RpcCustomError::UnsupportedTransactionVersion(0).into());
    };
    if !ledger
        .recent
        .contains(&transaction.message.recent_blockhash)
    {
        return Err(preflight_failure(
            TransactionError::BlockhashNotFound,
            Vec::new(),
        ));
    }
    run(ledger, &transaction)
}

/// Preflight, then the transaction lands. Without the simulation a failing
/// transaction would still cost its payer the fee in LiteSVM, which a
/// validator's preflight refusal does not.
fn run(ledger: &mut Ledger, transaction: &Transaction) -> Result<Value> {
    if let Err(failed) = ledger.chain.simulate(transaction) {
        return Err(preflight_failure(failed.error, failed.logs));
    }
    let outcome = ledger.chain.execute(transaction).map_err(|error| {
        tracing::error!(target: "kiln.chain.serve", %error, "saving the chain failed");
        Error::internal_error()
    })?;
    match outcome {
        Ok(sent) => {
            tracing::info!(target: "kiln.chain.serve", signature = %sent.signature, "transaction landed");
            ledger.chain.new_block();
            ledger.record_block();
            Ok(json!(sent.signature.to_string()))
        }
        Err(failed) => Err(preflight_failure(failed.error, failed.logs)),
    }
}

/// Agave's answer to a transaction that fails its preflight simulation.
fn preflight_failure(error: TransactionError, logs: Vec<String>) -> Error {
    RpcCustomError::SendTransactionPreflightFailure {
        message: format!("Transaction simulation failed: {error}"),
        result: RpcSimulateTransactionResult {
            err: Some(error.into()),
            logs: Some(logs),
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
        },
    }
    .into()
}

fn get_signature_statuses(ledger: &mut Ledger, params: &[Value]) -> Result<Value> {
    let signatures: Vec<String> = param(params, 0)?;
    if signatures.len() > MAX_GET_SIGNATURE_STATUSES_QUERY_ITEMS {
        return Err(Error::invalid_params(format!(
            "Too many inputs provided; max {MAX_GET_SIGNATURE_STATUSES_QUERY_ITEMS}"
        )));
    }
    let slot = ledger.chain.slot();
    let mut statuses = Vec::with_capacity(signatures.len());
    for text in &signatures {
        let signature: Signature = text
            .parse()
            .map_err(|error| Error::invalid_params(format!("Invalid param: {error:?}")))?;
        statuses.push(
            ledger
                .chain
                .status(&signature)
                .map(|outcome| TransactionStatus {
                    slot,
                    // None: rooted. Whatever lands here is final at once.
                    confirmations: None,
                    err: outcome.clone().err(),
                    status: outcome,
                    confirmation_status: Some(TransactionConfirmationStatus::Finalized),
                }),
        );
    }
    ledger.with_context(statuses)
}

/// An account as agave encodes it; `None` where there is none.
fn encoded_account(
    ledger: &Ledger,
    address: &Address,
    config: &RpcAccountInfoConfig,
) -> Result<Option<UiAccount>> {
    // getAccountInfo's default encoding is base58 ("binary").
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    let Some(account) = ledger
        .chain
        .accounts(&[*address])
        .map_err(internal)?
        .pop()
        .flatten()
    else {
        return Ok(None);
    };
    if matches!(
        encoding,
        UiAccountEncoding::Binary | UiAccountEncoding::Base58
    ) {
        let len = config
            .data_slice
            .map_or(account.data.len(), |slice| slice.length)
            .min(account.data.len());
        if len > MAX_BASE58_BYTES {
            return Err(Error::invalid_params(format!(
                "Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, \
                 please use Base64 encoding."
            )));
        }
    }
    Ok(Some(encode_ui_account(
        address,
        &account,
        encoding,
        None,
        config.data_slice,
    )))
}

fn internal(error: kiln_settlement::Error) -> Error {
    tracing::error!(target: "kiln.chain.serve", %error, "reading the chain failed");
    Error::internal_error()
}

fn get_account_info(ledger: &mut Ledger, params: &[Value]) -> Result<Value> {
    let address = address(&param::<String>(params, 0)?)?;
    let config: RpcAccountInfoConfig = param::<Option<_>>(params, 1)?.unwrap_or_default();
    let account = encoded_account(ledger, &address, &config)?;
    ledger.with_context(account)
}

fn get_multiple_accounts(ledger: &mut Ledger, params: &[Value]) -> Result<Value> {
    let addresses: Vec<String> = param(params, 0)?;
    if addresses.len() > MAX_MULTIPLE_ACCOUNTS {
        return Err(Error::invalid_params(format!(
            "Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}"
        )));
    }
    let config: RpcAccountInfoConfig = param::<Option<_>>(params, 1)?.unwrap_or_default();
    let accounts = addresses
        .iter()
        .map(|text| encoded_account(ledger, &address(text)?, &config))
        .collect::<Result<Vec<_>>>()?;
    ledger.with_context(accounts)
}

fn get_balance(ledger: &mut Ledger, params: &[Value]) -> Result<Value> {
    let address = address(&param::<String>(params, 0)?)?;
    let _: Option<RpcContextConfig> = param(params, 1)?;
    let lamports = ledger.chain.balance(&address).map_err(internal)?;
    ledger.with_context(lamports)
}

fn get_minimum_balance_for_rent_exemption(ledger: &mut Ledger, params: &[Value]) -> Result<Value> {
    let len: usize = param(params, 0)?;
    let lamports = ledger.chain.rent_exempt_minimum(len).map_err(internal)?;
    Ok(json!(lamports))
}

/// An airdrop is a transfer from LiteSVM's faucet in a block of its own.
fn request_airdrop(ledger: &mut Ledger, params: &[Value]) -> Result<Value> {
    let address = address(&param::<String>(params, 0)?)?;
    let lamports: u64 = param(params, 1)?;
    let signature = ledger.chain.airdrop(&address, lamports).map_err(|error| {
        tracing::warn!(target: "kiln.chain.serve", %error, "airdrop failed");
        Error {
            code: ErrorCode::InternalError,
            message: format!("airdrop failed: {error}"),
            data: None,
        }
    })?;
    ledger.record_block();
    Ok(json!(signature.to_string()))
}
