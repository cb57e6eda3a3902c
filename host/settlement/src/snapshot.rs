//! The embedded chain's state file: the accounts it touched and its clock, so
//! a restart keeps every balance, stake and escrow.
//!
//! Format (JSON, versioned; a reader refuses any other `format` or `version`):
//!
//! ```json
//! { "format": "kiln-settlement-embedded", "version": 1,
//!   "clock": { "slot": 12, "unix_timestamp": 1763900000 },
//!   "accounts": [ { "address": "<base58>", "lamports": 1, "owner": "<base58>",
//!                   "executable": false, "rent_epoch": 0, "data": "<hex>" } ] }
//! ```
//!
//! Only wallets (system-owned) and the settlement program's own accounts are
//! kept; the program, sysvars and precompiles are rebuilt at every start from
//! the ELF and LiteSVM's genesis, so a new ELF takes effect on restart.
//! Writes are atomic: a temporary file in the same directory, fsynced, then
//! renamed over the old one, so a crash leaves the old state or the new one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use solana_account::Account;
use solana_address::Address;

use crate::error::{Error, Result};

/// The `format` field every state file carries.
pub const FORMAT: &str = "kiln-settlement-embedded";
/// The layout version this build reads and writes. Bump it on any change.
pub const VERSION: u32 = 1;

/// The cluster clock at save time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedClock {
    /// Slot.
    pub slot: u64,
    /// Unix seconds.
    pub unix_timestamp: i64,
}

/// One saved account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedAccount {
    address: String,
    lamports: u64,
    owner: String,
    executable: bool,
    rent_epoch: u64,
    data: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    clock: SavedClock,
    accounts: Vec<SavedAccount>,
}

/// What a state file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The clock.
    pub clock: SavedClock,
    /// The accounts, by address.
    pub accounts: Vec<(Address, Account)>,
}

fn snapshot_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Snapshot {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn address(path: &Path, text: &str) -> Result<Address> {
    Address::from_str(text)
        .map_err(|error| snapshot_error(path, format!("address {text}: {error}")))
}

impl Snapshot {
    /// Reads `path`; `Ok(None)` when there is no file yet.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(snapshot_error(path, error.to_string())),
        };
        let file: File =
            serde_json::from_str(&text).map_err(|error| snapshot_error(path, error.to_string()))?;
        if file.format != FORMAT || file.version != VERSION {
            return Err(snapshot_error(
                path,
                format!(
                    "format {} version {}, this build reads {FORMAT} version {VERSION}",
                    file.format, file.version
                ),
            ));
        }
        let mut accounts = Vec::with_capacity(file.accounts.len());
        for saved in file.accounts {
            let account = Account {
                lamports: saved.lamports,
                data: hex::decode(&saved.data)
                    .map_err(|error| snapshot_error(path, error.to_string()))?,
                owner: address(path, &saved.owner)?,
                executable: saved.executable,
                rent_epoch: saved.rent_epoch,
            };
            accounts.push((address(path, &saved.address)?, account));
        }
        Ok(Some(Self {
            clock: file.clock,
            accounts,
        }))
    }

    /// Writes to `path` atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = File {
            format: FORMAT.into(),
            version: VERSION,
            clock: self.clock,
            accounts: self
                .accounts
                .iter()
                .map(|(address, account)| SavedAccount {
                    address: address.to_string(),
                    lamports: account.lamports,
                    owner: account.owner.to_string(),
                    executable: account.executable,
                    rent_epoch: account.rent_epoch,
                    data: hex::encode(&account.data),
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|error| snapshot_error(path, error.to_string()))?;
        let temporary = temporary_path(path);
        let write = || -> std::io::Result<()> {
            let mut out = std::fs::File::create(&temporary)?;
            out.write_all(&json)?;
            out.sync_all()?;
            std::fs::rename(&temporary, path)?;
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|error| {
            // Best effort: a leftover temporary file is harmless but untidy.
            let _ = std::fs::remove_file(&temporary);
            snapshot_error(path, error.to_string())
        })
    }
}

/// `<path>.tmp-<pid>`, beside `path` so the rename stays on one filesystem.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}
