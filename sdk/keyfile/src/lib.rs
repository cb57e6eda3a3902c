//! Private key files, the one way Kiln keeps secrets on disk.
//!
//! - New files are created with mode [`PRIVATE_FILE_MODE`] (0600) through
//!   `create_new`, so an existing key is never overwritten, and synced before
//!   the call returns.
//! - A file whose group or other permission bits are set is refused before it
//!   is read ([`KeyFileError::TooOpen`], with the `chmod` to run): whoever can
//!   read a key can spend or impersonate with it.
//! - Contents are a JSON array of byte values, solana-keygen's format, so
//!   `solana-keygen` and Kiln read the same wallet and node-key files.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Mode of new key files: read and write for the owner only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Permission bits that must be clear on a key file: any group or other access.
pub const GROUP_OTHER_BITS: u32 = 0o077;

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading, creating or syncing failed.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Readable by the group or others.
    #[error("key file {} has mode {mode:04o}, which lets others read it; run `chmod 600 {}`", path.display(), path.display())]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a JSON array of `expected` bytes.
    #[error("key file {} is not a JSON array of {expected} bytes: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Bytes the key has.
        expected: usize,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses a file that the group or others may access.
pub fn check_private(path: &Path) -> Result<(), KeyFileError> {
    let mode = std::fs::metadata(path)
        .map_err(io(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Reads a private file's bytes after [`check_private`].
pub fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    check_private(path)?;
    std::fs::read(path).map(Zeroizing::new).map_err(io(path))
}

/// Creates `path` with mode 0600 holding `contents`; fails if it exists.
pub fn create_private(path: &Path, contents: &[u8]) -> Result<(), KeyFileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
        .map_err(io(path))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io(path))
}

/// Reads a key of `N` bytes stored as a JSON array of numbers.
pub fn read_key<const N: usize>(path: &Path) -> Result<Zeroizing<[u8; N]>, KeyFileError> {
    let text = read_private(path)?;
    let malformed = |reason: String| KeyFileError::Malformed {
        path: path.to_path_buf(),
        expected: N,
        reason,
    };
    let numbers: Zeroizing<Vec<u8>> = serde_json::from_slice(&text)
        .map(Zeroizing::new)
        .map_err(|error| malformed(error.to_string()))?;
    let mut key = Zeroizing::new([0u8; N]);
    if numbers.len() != N {
        return Err(malformed(format!("it has {} bytes", numbers.len())));
    }
    key.copy_from_slice(&numbers);
    Ok(key)
}

/// Creates a key file (0600) holding `key` as a JSON array of numbers.
pub fn create_key(path: &Path, key: &[u8]) -> Result<(), KeyFileError> {
    let text = Zeroizing::new(serde_json::to_vec(key).expect("bytes always serialize"));
    create_private(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        create_key(&path, &[7u8; 32]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, PRIVATE_FILE_MODE);
        assert_eq!(*read_key::<32>(&path).unwrap(), [7u8; 32]);
        assert!(matches!(
            create_key(&path, &[8u8; 32]),
            Err(KeyFileError::Io { .. })
        ));
        assert_eq!(
            *read_key::<32>(&path).unwrap(),
            [7u8; 32],
            "never overwritten"
        );
    }

    #[test]
    fn an_open_or_malformed_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        create_key(&path, &[1u8; 16]).unwrap();
        assert!(matches!(
            read_key::<32>(&path),
            Err(KeyFileError::Malformed { expected: 32, .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = read_key::<16>(&path).unwrap_err();
        assert!(matches!(error, KeyFileError::TooOpen { mode: 0o640, .. }));
        assert!(error.to_string().contains("chmod 600"));
        let junk = dir.path().join("junk.json");
        create_private(&junk, b"not json").unwrap();
        assert!(matches!(
            read_key::<16>(&junk),
            Err(KeyFileError::Malformed { .. })
        ));
    }
}
