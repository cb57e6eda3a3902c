//! [`Rpc`]: the settlement program on a Solana cluster, through solana-client's
//! blocking `RpcClient`.
//!
//! Sending is: fetch a blockhash at the configured commitment, build the
//! transaction ([`crate::tx::build`], which refuses an oversized one before
//! anything is sent), send it with preflight, then poll its status until it
//! reaches the commitment. When its blockhash expires first (the block height
//! passes the blockhash's last valid height) or preflight says the blockhash is
//! unknown, it is rebuilt on a fresh blockhash and sent again, up to
//! [`SEND_ATTEMPTS`] times. Resending is safe: a transaction with a new
//! blockhash is a new transaction only if the old one never landed, which the
//! expiry guarantees.

use std::time::{Duration, Instant};

use kiln_settlement_interface::program_id;
use solana_account::Account;
use solana_address::Address;
use solana_client::client_error::{ClientError, ClientErrorKind};
use solana_client::rpc_client::RpcClient;
use solana_client::rpc_config::RpcSendTransactionConfig;
use solana_commitment_config::CommitmentConfig;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

use crate::chain::{Chain, Sent};
use crate::error::{Error, Result};
use crate::tx;

/// Times a transaction is built on a fresh blockhash and sent before giving
/// up with [`Error::NotConfirmed`]. Each attempt lasts until its blockhash
/// expires (about a minute on mainnet), so three bound a send to minutes.
pub const SEND_ATTEMPTS: u32 = 3;

/// Pause between status polls: about one slot (400 ms), so a confirmation is
/// seen within a slot of landing without hammering the node.
pub const POLL_INTERVAL: Duration = Duration::from_millis(400);

/// Longest one attempt waits for confirmation, whatever the block height says:
/// a node that stops producing blocks must not hang the caller. 90 s is
/// above a blockhash's ~60 s lifetime on mainnet.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(90);

/// Per-request HTTP timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Offset of `unix_timestamp` in the clock sysvar (after slot,
/// epoch_start_timestamp, epoch and leader_schedule_epoch, 8 bytes each).
const CLOCK_UNIX_TIMESTAMP_OFFSET: usize = 32;

/// A cluster reached over JSON-RPC.
pub struct Rpc {
    client: RpcClient,
    url: String,
    commitment: CommitmentConfig,
}

impl Rpc {
    /// Connects to `url` (one `getVersion` round trip, so an unreachable
    /// cluster is reported here, not at the first operation).
    pub fn connect(url: &str, commitment: CommitmentConfig) -> Result<Self> {
        let client = RpcClient::new_with_timeout_and_commitment(
            url.to_string(),
            REQUEST_TIMEOUT,
            commitment,
        );
        let rpc = Self {
            client,
            url: url.to_string(),
            commitment,
        };
        rpc.client.get_version().map_err(|error| rpc.error(error))?;
        Ok(rpc)
    }

    /// The URL this client talks to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Maps a client error: transport failures are [`Error::ClusterUnreachable`],
    /// a failed transaction is decoded like the embedded backend's.
    fn error(&self, error: ClientError) -> Error {
        self.error_for(error, None)
    }

    fn error_for(&self, error: ClientError, transaction: Option<&Transaction>) -> Error {
        if let Some(failed) = error.kind().get_transaction_error() {
            return match transaction {
                Some(transaction) => {
                    Error::from_transaction(failed, tx::is_settlement(transaction))
                }
                None => Error::Transaction(failed),
            };
        }
        match error.kind() {
            ClientErrorKind::Io(_) => self.unreachable(&error),
            ClientErrorKind::Reqwest(inner) if inner.is_connect() || inner.is_timeout() => {
                self.unreachable(&error)
            }
            _ => Error::Rpc {
                url: self.url.clone(),
                reason: error.to_string(),
            },
        }
    }

    fn unreachable(&self, error: &ClientError) -> Error {
        Error::ClusterUnreachable {
            url: self.url.clone(),
            reason: error.to_string(),
        }
    }

    /// One attempt: `Ok(None)` when the blockhash expired before confirmation.
    fn attempt(&self, instructions: &[Instruction], signers: &[&Keypair]) -> Result<Option<Sent>> {
        let (blockhash, last_valid_height) = self
            .client
            .get_latest_blockhash_with_commitment(self.commitment)
            .map_err(|error| self.error(error))?;
        let transaction = tx::build(instructions, signers, blockhash)?;
        let config = RpcSendTransactionConfig {
            preflight_commitment: Some(self.commitment.commitment),
            ..RpcSendTransactionConfig::default()
        };
        let signature = match self
            .client
            .send_transaction_with_config(&transaction, config)
        {
            Ok(signature) => signature,
            Err(error)
                if error.kind().get_transaction_error()
                    == Some(TransactionError::BlockhashNotFound) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(self.error_for(error, Some(&transaction))),
        };
        let started = Instant::now();
        while started.elapsed() < CONFIRM_TIMEOUT {
            let statuses = self
                .client
                .get_signature_statuses(&[signature])
                .map_err(|error| self.error(error))?;
            if let Some(Some(status)) = statuses.value.first() {
                if let Some(failed) = &status.err {
                    let is_program = tx::is_settlement(&transaction);
                    return Err(Error::from_transaction(failed.clone(), is_program));
                }
                if status.satisfies_commitment(self.commitment) {
                    return Ok(Some(Sent {
                        signature,
                        compute_units: None,
                        fee: None,
                    }));
                }
            }
            let height = self
                .client
                .get_block_height_with_commitment(self.commitment)
                .map_err(|error| self.error(error))?;
            if height > last_valid_height {
                return Ok(None);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        Ok(None)
    }
}

impl Chain for Rpc {
    fn send(&mut self, instructions: &[Instruction], signers: &[&Keypair]) -> Result<Sent> {
        for _ in 0..SEND_ATTEMPTS {
            if let Some(sent) = self.attempt(instructions, signers)? {
                return Ok(sent);
            }
        }
        Err(Error::NotConfirmed {
            attempts: SEND_ATTEMPTS,
        })
    }

    fn accounts(&self, addresses: &[Address]) -> Result<Vec<Option<Account>>> {
        self.client
            .get_multiple_accounts_with_commitment(addresses, self.commitment)
            .map(|response| response.value)
            .map_err(|error| self.error(error))
    }

    fn balance(&self, address: &Address) -> Result<u64> {
        self.client
            .get_balance_with_commitment(address, self.commitment)
            .map(|response| response.value)
            .map_err(|error| self.error(error))
    }

    fn now(&self) -> Result<i64> {
        let clock = solana_sdk_ids::sysvar::clock::id();
        let account = self
            .client
            .get_account_with_commitment(&clock, self.commitment)
            .map_err(|error| self.error(error))?
            .value;
        account
            .and_then(|account| {
                let end = CLOCK_UNIX_TIMESTAMP_OFFSET.checked_add(8)?;
                let bytes = account.data.get(CLOCK_UNIX_TIMESTAMP_OFFSET..end)?;
                Some(i64::from_le_bytes(bytes.try_into().ok()?))
            })
            .ok_or_else(|| Error::Rpc {
                url: self.url.clone(),
                reason: "the clock sysvar is missing or malformed".into(),
            })
    }

    fn check_program(&self) -> Result<()> {
        let program = program_id();
        let account = self
            .client
            .get_account_with_commitment(&program, self.commitment)
            .map_err(|error| self.error(error))?
            .value;
        let reason = match account {
            None => "no account at its address",
            Some(account) if !account.executable => "the account there is not executable",
            Some(_) => return Ok(()),
        };
        Err(Error::ProgramNotDeployed {
            program,
            url: self.url.clone(),
            reason,
        })
    }

    fn fund(&mut self, address: &Address, lamports: u64) -> Result<()> {
        let signature = self
            .client
            .request_airdrop(address, lamports)
            .map_err(|error| self.error(error))?;
        let started = Instant::now();
        while started.elapsed() < CONFIRM_TIMEOUT {
            let confirmed = self
                .client
                .confirm_transaction_with_commitment(&signature, self.commitment)
                .map_err(|error| self.error(error))?;
            if confirmed.value {
                return Ok(());
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        Err(Error::NotConfirmed { attempts: 1 })
    }

    fn rent_exempt_minimum(&self, len: usize) -> Result<u64> {
        self.client
            .get_minimum_balance_for_rent_exemption(len)
            .map_err(|error| self.error(error))
    }
}
