//! Keypair files in solana-keygen's format (a JSON array of the 64 bytes:
//! secret, then public), kept private: a file that its group or others can
//! read is refused, because whoever reads it can move the funds it holds.

use std::path::Path;

use kiln_protocol::signing::SigningKey;
use solana_keypair::Keypair;

use crate::error::{Error, Result};

/// The mode new keypair files get: read and write for the owner only.
pub const KEY_FILE_MODE: u32 = kiln_keyfile::PRIVATE_FILE_MODE;

fn key_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a keypair file, refusing one with any group or other permission
/// (`kiln-keyfile` checks the mode before reading).
pub fn read_keypair(path: &Path) -> Result<Keypair> {
    let bytes =
        kiln_keyfile::read_private(path).map_err(|error| key_error(path, error.to_string()))?;
    solana_keypair::read_keypair(&mut bytes.as_slice())
        .map_err(|error| key_error(path, format!("not a solana-keygen keypair: {error}")))
}

/// Writes a new random keypair to `path`, created with mode 0600; an existing
/// file is never overwritten.
pub fn create_keypair(path: &Path) -> Result<Keypair> {
    let keypair = Keypair::new();
    kiln_keyfile::create_key(path, &keypair.to_bytes())
        .map_err(|error| key_error(path, error.to_string()))?;
    Ok(keypair)
}

/// Reads `path` when it exists, else creates it (mode 0600).
pub fn read_or_create_keypair(path: &Path) -> Result<Keypair> {
    if path.exists() {
        read_keypair(path)
    } else {
        create_keypair(path)
    }
}

/// The same ed25519 key as a Kiln signing key: a renter counter-signs receipts
/// with its wallet key, and a node may use one keypair file as its receipt key.
pub fn signing_key(keypair: &Keypair) -> SigningKey {
    SigningKey::from_bytes(keypair.secret_bytes())
}
