//! Per-job scratch directories.
//!
//! Each job gets a fresh, empty directory, preopened to the guest as
//! `/scratch` through cap-std (so `..`, absolute paths and symlinks cannot
//! leave it). [`ScratchDir`] removes it on drop, which covers every way a job
//! ends: output, error, trap, timeout, kill, and the job's task being dropped.
//!
//! Each runtime keeps its job directories inside its own directory under the
//! scratch root, `kiln-rt-<pid>-<random>`, removed when the runtime is
//! dropped. A process crash leaves that directory behind; [`clear_stale`]
//! removes the directories of processes that no longer exist (checked in
//! `/proc`) when the next runtime starts, and never those of a live one, so
//! several runtimes and processes may share a scratch root.
//!
//! Creating a directory costs tens of microseconds, more than the rest of a
//! cached job's start, so a [`ScratchPool`] keeps a few fresh, empty ones
//! made ahead of time. A directory is never reused: each job takes a new one,
//! and the pool makes its replacement when a job ends, off the start path.
//! Both the removal and the replacement happen after the job's report is
//! sent, while the job still holds its slot (`job::tear_down`): on an ext4
//! disk mounted with `discard`, an `rmdir` and a `mkdir` cost about 50 and
//! 25 µs, which a renter waiting for the result should not pay.
//!
//! A job's teardown can outlast the last [`crate::Runtime`] handle, so the
//! pool is closed when that handle goes ([`ScratchPool::close`]): from then
//! on only jobs already started make directories, never the pool or the
//! warm instances. Whoever dropped the runtime may remove the scratch root
//! at once without racing a `mkdir` into it; what is left goes with the
//! last job.

use std::io;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use crate::config::POOLED_SCRATCH_DIRS;

/// Prefix of a runtime's directory under the scratch root.
const RUNTIME_PREFIX: &str = "kiln-rt-";

/// Prefix of a job's directory inside its runtime's.
const JOB_PREFIX: &str = "kiln-job-";

/// One runtime's scratch directories: its own directory, and empty job
/// directories made ahead of time.
#[derive(Debug)]
pub(crate) struct ScratchPool {
    ready: Mutex<Vec<ScratchDir>>,
    /// True once the runtime is closed. Spares are made under the read
    /// lock, so once [`Self::close`] holds the write lock none is being made.
    closed: RwLock<bool>,
    // Declared last: dropped after the job directories inside it.
    dir: tempfile::TempDir,
}

impl ScratchPool {
    /// Creates this runtime's directory under `root` and fills the pool.
    pub(crate) fn new(root: &Path) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{RUNTIME_PREFIX}{}-", std::process::id()))
            .tempdir_in(root)?;
        set_private(dir.path())?;
        let pool = Self {
            ready: Mutex::new(Vec::with_capacity(POOLED_SCRATCH_DIRS)),
            closed: RwLock::new(false),
            dir,
        };
        pool.refill()?;
        Ok(pool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ScratchDir>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh, empty directory for a job: a ready one, or a new one if none
    /// is. Works after [`Self::close`], for jobs started before it.
    pub(crate) fn take(&self) -> io::Result<ScratchDir> {
        match self.lock().pop() {
            Some(dir) => Ok(dir),
            None => ScratchDir::create(self.dir.path()),
        }
    }

    /// A fresh, empty directory for an instance made ahead of time; `None`
    /// once the runtime is closed.
    pub(crate) fn take_spare(&self) -> io::Result<Option<ScratchDir>> {
        let closed = self.closed.read().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return Ok(None);
        }
        self.take().map(Some)
    }

    /// Tops the pool up to [`POOLED_SCRATCH_DIRS`], unless the runtime is
    /// closed. Several jobs' teardowns may refill at once; a directory made
    /// when the pool is already full again is removed rather than pooled, so
    /// the pool never holds more.
    pub(crate) fn refill(&self) -> io::Result<()> {
        let closed = self.closed.read().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return Ok(());
        }
        while self.lock().len() < POOLED_SCRATCH_DIRS {
            let dir = ScratchDir::create(self.dir.path())?;
            let mut ready = self.lock();
            if ready.len() >= POOLED_SCRATCH_DIRS {
                drop(ready);
                drop(dir);
                break;
            }
            ready.push(dir);
        }
        Ok(())
    }

    /// Stops making spare directories and removes the ready ones. Returns
    /// after any spare being made has been made (and is about to be used or
    /// dropped), so nothing but a started job's `mkdir` follows.
    pub(crate) fn close(&self) {
        *self.closed.write().unwrap_or_else(|e| e.into_inner()) = true;
        let ready = std::mem::take(&mut *self.lock());
        drop(ready);
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A job's scratch directory; deleted when dropped.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    dir: tempfile::TempDir,
}

impl ScratchDir {
    fn create(parent: &Path) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(JOB_PREFIX)
            .tempdir_in(parent)?;
        Ok(Self { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Creates `root` (mode 0700) and removes the runtime directories of
/// processes that no longer run.
pub(crate) fn clear_stale(root: &Path) -> io::Result<()> {
    std::fs::create_dir_all(root)?;
    set_private(root)?;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|name| name.strip_prefix(RUNTIME_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(owner.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        if let Err(error) = std::fs::remove_dir_all(&path) {
            tracing::warn!(path = %path.display(), %error, "could not remove stale scratch dir");
        }
    }
    Ok(())
}

/// Restricts `dir` to its owner (mode 0700).
pub(crate) fn set_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
