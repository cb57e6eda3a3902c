//! Per-job scratch directories.
//!
//! Each job gets a fresh, empty directory under the runtime's scratch root,
//! preopened to the guest as `/scratch` through cap-std (so `..`, absolute
//! paths and symlinks cannot leave it). [`ScratchDir`] removes it on drop,
//! which covers every way a job ends: output, error, trap, timeout, kill, and
//! the job's task being dropped. A process crash leaves directories behind;
//! [`clear_stale`] removes them when the next runtime starts.
//!
//! Creating a directory costs tens of microseconds, more than the rest of a
//! cached job's start, so a [`ScratchPool`] keeps a few fresh, empty ones
//! made ahead of time. A directory is never reused: each job takes a new one,
//! and the pool makes its replacement when a job ends, off the start path.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config::POOLED_SCRATCH_DIRS;

/// Prefix of every scratch directory's name, so cleanup only touches ours.
const PREFIX: &str = "kiln-job-";

/// Empty scratch directories made ahead of time.
#[derive(Debug)]
pub(crate) struct ScratchPool {
    root: PathBuf,
    ready: Mutex<Vec<ScratchDir>>,
}

impl ScratchPool {
    /// A pool under `root`, filled.
    pub(crate) fn new(root: &Path) -> io::Result<Self> {
        let pool = Self {
            root: root.to_owned(),
            ready: Mutex::new(Vec::with_capacity(POOLED_SCRATCH_DIRS)),
        };
        pool.refill()?;
        Ok(pool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ScratchDir>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh, empty directory: a ready one, or a new one if none is.
    pub(crate) fn take(&self) -> io::Result<ScratchDir> {
        match self.lock().pop() {
            Some(dir) => Ok(dir),
            None => ScratchDir::create(&self.root),
        }
    }

    /// Tops the pool up to [`POOLED_SCRATCH_DIRS`].
    pub(crate) fn refill(&self) -> io::Result<()> {
        while self.lock().len() < POOLED_SCRATCH_DIRS {
            let dir = ScratchDir::create(&self.root)?;
            self.lock().push(dir);
        }
        Ok(())
    }
}

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
