//! The node's two keys, created on first run and kept 0600.
//!
//! - `node-key.json`: the ed25519 receipt key in solana-keygen's layout (64
//!   bytes, secret then public), so `solana-keygen pubkey node-key.json` shows
//!   the same key the node signs manifests and receipts with.
//! - `node-x25519.json`: the X25519 key renters seal job inputs to (32 bytes).
//!
//! A key file that the group or others can read stops the node from starting
//! ([`kiln_keyfile::KeyFileError::TooOpen`]).

use std::path::{Path, PathBuf};

use kiln_keyfile::KeyFileError;
use kiln_protocol::signing::{SigningKey, public_key};
use kiln_seal::SecretKey;

/// File name of the ed25519 receipt key inside the node's key directory.
pub const NODE_KEY_FILE: &str = "node-key.json";
/// File name of the X25519 input key inside the node's key directory.
pub const SEAL_KEY_FILE: &str = "node-x25519.json";

/// Why the node's keys cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A key file is missing its permissions, unreadable or malformed.
    #[error(transparent)]
    File(#[from] KeyFileError),
    /// The public half of the keypair file is not the secret half's key.
    #[error("{}: the public key does not belong to the secret key", path.display())]
    Mismatched {
        /// The file.
        path: PathBuf,
    },
    /// The key directory cannot be created.
    #[error("key directory {}: {source}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The node's keys.
pub struct NodeKeys {
    /// Signs manifests, receipts and results.
    pub signing: SigningKey,
    /// Opens inputs sealed to this node.
    pub seal: SecretKey,
}

impl NodeKeys {
    /// Loads the keys from `dir`, creating any that are missing (0600).
    pub fn load_or_create(dir: &Path) -> Result<Self, KeysError> {
        std::fs::create_dir_all(dir).map_err(|source| KeysError::Directory {
            path: dir.to_path_buf(),
            source,
        })?;
        let signing_path = dir.join(NODE_KEY_FILE);
        if !signing_path.exists() {
            let mut secret = zeroize::Zeroizing::new([0u8; 32]);
            rand_core::RngCore::fill_bytes(
                &mut rand_core::UnwrapErr(rand_core::OsRng),
                secret.as_mut(),
            );
            let key = SigningKey::from_bytes(&secret);
            let mut pair = zeroize::Zeroizing::new([0u8; 64]);
            pair[..32].copy_from_slice(key.as_bytes());
            pair[32..].copy_from_slice(&public_key(&key).0);
            kiln_keyfile::create_key(&signing_path, pair.as_ref())?;
            tracing::info!(path = %signing_path.display(), "created the node key");
        }
        let seal_path = dir.join(SEAL_KEY_FILE);
        if !seal_path.exists() {
            kiln_keyfile::create_key(&seal_path, SecretKey::generate().to_bytes().as_ref())?;
            tracing::info!(path = %seal_path.display(), "created the input key");
        }
        Self::load(dir)
    }

    /// Loads existing keys from `dir`.
    pub fn load(dir: &Path) -> Result<Self, KeysError> {
        let signing_path = dir.join(NODE_KEY_FILE);
        let pair = kiln_keyfile::read_key::<64>(&signing_path)?;
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&pair[..32]);
        let signing = SigningKey::from_bytes(&secret);
        if public_key(&signing).0[..] != pair[32..] {
            return Err(KeysError::Mismatched { path: signing_path });
        }
        let seal_path = dir.join(SEAL_KEY_FILE);
        let seal_bytes = kiln_keyfile::read_key::<32>(&seal_path)?;
        let seal = SecretKey::from_bytes(&seal_bytes)
            .map_err(|_| KeysError::Mismatched { path: seal_path })?;
        Ok(Self { signing, seal })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keys_are_created_once_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = NodeKeys::load_or_create(dir.path()).unwrap();
        let again = NodeKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(public_key(&first.signing), public_key(&again.signing));
        assert_eq!(first.seal.public_key(), again.seal.public_key());
        for name in [NODE_KEY_FILE, SEAL_KEY_FILE] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn a_readable_key_stops_the_node() {
        let dir = tempfile::tempdir().unwrap();
        NodeKeys::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(SEAL_KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            NodeKeys::load(dir.path()),
            Err(KeysError::File(KeyFileError::TooOpen { mode: 0o644, .. }))
        ));
    }

    #[test]
    fn a_keypair_whose_halves_disagree_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        NodeKeys::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        let mut pair = *kiln_keyfile::read_key::<64>(&path).unwrap();
        pair[63] ^= 1;
        std::fs::remove_file(&path).unwrap();
        kiln_keyfile::create_key(&path, &pair).unwrap();
        assert!(matches!(
            NodeKeys::load(dir.path()),
            Err(KeysError::Mismatched { .. })
        ));
    }
}
