//! Per-job scratch directories.
//!
//! Each job gets a fresh, empty directory under the runtime's scratch root,
//! preopened to the guest as `/scratch` through cap-std (so `..`, absolute
//! paths and symlinks cannot leave it). [`ScratchDir`] removes it on drop,
//! which covers every way a job ends: output, error, trap, timeout, kill, and
//! the job's task being dropped. A process crash leaves directories behind;
//! [`clear_stale`] removes them when the next runtime starts.

use std::io;
use std::path::{Path, PathBuf};

/// Prefix of every scratch directory's name, so cleanup only touches ours.
const PREFIX: &str = "kiln-job-";

/// A job's scratch directory; deleted when dropped.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    dir: tempfile::TempDir,
}

impl ScratchDir {
    pub(crate) fn create(root: &Path) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix(PREFIX).tempdir_in(root)?;
        Ok(Self { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Creates `root` (mode 0700) and removes scratch directories a previous
/// process left behind.
pub(crate) fn clear_stale(root: &Path) -> io::Result<()> {
    std::fs::create_dir_all(root)?;
    set_private(root)?;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(PREFIX) {
            let path: PathBuf = entry.path();
            if let Err(error) = std::fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), %error, "could not remove stale scratch dir");
            }
        }
    }
    Ok(())
}

/// Restricts `dir` to its owner (mode 0700).
pub(crate) fn set_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
