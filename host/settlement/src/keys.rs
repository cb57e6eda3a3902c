//! Keypair files in solana-keygen's format (a JSON array of the 64 bytes:
//! secret, then public), kept private: a file that its group or others can
//! read is refused, because whoever reads it can move the funds it holds.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use kiln_protocol::signing::SigningKey;
use solana_keypair::Keypair;

use crate::error::{Error, Result};

/// The mode new keypair files get: read and write for the owner only.
pub const KEY_FILE_MODE: u32 = 0o600;

/// Permission bits that must be clear on a keypair file: any access by the
/// group or by others.
const GROUP_OTHER_BITS: u32 = 0o077;

fn key_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a keypair file, refusing one with any group or other permission.
pub fn read_keypair(path: &Path) -> Result<Keypair> {
    let metadata = std::fs::metadata(path).map_err(|error| key_error(path, error.to_string()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(key_error(
            path,
            format!(
                "mode {mode:04o} lets others read it; run `chmod 600 {}`",
                path.display()
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| key_error(path, error.to_string()))?;
    solana_keypair::read_keypair(&mut bytes.as_slice())
        .map_err(|error| key_error(path, format!("not a solana-keygen keypair: {error}")))
}

/// Writes a new random keypair to `path`, created with mode 0600; an existing
/// file is never overwritten.
pub fn create_keypair(path: &Path) -> Result<Keypair> {
    let keypair = Keypair::new();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(path)
        .map_err(|error| key_error(path, error.to_string()))?;
    solana_keypair::write_keypair(&keypair, &mut file)
        .map_err(|error| key_error(path, error.to_string()))?;
    file.sync_all()
        .and_then(|()| file.flush())
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
