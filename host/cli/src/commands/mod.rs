//! One module per subcommand.

pub mod chain;
pub mod demo;
pub mod gpu;
pub mod job;
pub mod keys;
pub mod node;
pub mod policy;
pub mod receipts;
pub mod run;
pub mod scheduler;
pub mod scheduler_policy;

use std::path::PathBuf;

/// This user's Kiln cache directory: `$XDG_CACHE_HOME/kiln`, else
/// `$HOME/.cache/kiln`; `None` with neither set.
pub fn cache_home() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("kiln"))
}

/// The scratch root for a one-process runtime (`kiln run`, the scheduler's
/// policy host): `scratch` under [`cache_home`], shared by every such
/// process of this user. Each runtime keeps its own directory in it and
/// removes it when dropped; a process killed first (ctrl-c, SIGKILL) leaves
/// it behind, and the next runtime on the root removes it, since it clears
/// the directories of processes that no longer run. Without a cache home, a
/// temporary directory, returned so the caller keeps it as long as the
/// runtime (a killed process leaves that one behind).
pub fn scratch_root() -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(home) = cache_home() {
        return Ok((home.join("scratch"), None));
    }
    let dir = tempfile::tempdir()?;
    Ok((dir.path().to_path_buf(), Some(dir)))
}
