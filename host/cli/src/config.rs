//! `kiln.toml`: the scheduler URL, the RPC URL and the key paths a renter's
//! commands use, so they need not be repeated on every command line.
//!
//! Precedence, highest first: the command-line flag, the environment
//! (`KILN_SCHEDULER`, `KILN_RPC`, `KILN_KEY`, `KILN_EMBEDDED`), the file
//! named by `--config` or `KILN_CONFIG`, `./kiln.toml`, built-in defaults.
//!
//! ```toml
//! scheduler = "http://127.0.0.1:7400"
//! rpc = "http://127.0.0.1:8899"          # or: embedded = "chain.json"
//! key = "~/.config/kiln/renter.json"     # solana-keygen format, mode 0600
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// The file's contents; every field optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Scheduler base URL.
    pub scheduler: Option<String>,
    /// Solana JSON-RPC URL.
    pub rpc: Option<String>,
    /// Embedded chain state file (instead of `rpc`).
    pub embedded: Option<PathBuf>,
    /// The renter's keypair file.
    pub key: Option<PathBuf>,
}

/// Default scheduler URL (what `kiln scheduler serve` listens on).
pub const DEFAULT_SCHEDULER: &str = "http://127.0.0.1:7400";

/// Default renter key file.
pub const DEFAULT_KEY: &str = "renter.json";

/// Reads `explicit`, else `KILN_CONFIG`, else `./kiln.toml` when present.
pub fn load(explicit: Option<&Path>) -> Result<FileConfig> {
    let path = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("KILN_CONFIG").map(PathBuf::from))
        .or_else(|| Some(PathBuf::from("kiln.toml")).filter(|p| p.exists()));
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The first of `flag`, the environment variable `env`, the file's value.
pub fn pick<T: Clone + From<String>>(flag: Option<T>, env: &str, file: Option<T>) -> Option<T> {
    flag.or_else(|| std::env::var(env).ok().map(T::from))
        .or(file)
}
