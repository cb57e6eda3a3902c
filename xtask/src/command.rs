//! Running external programs loudly: each command is printed before it runs,
//! and a failure names the command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// The cargo target dir: `CARGO_TARGET_DIR` when set (CI points it at a cache
/// outside the clone), else `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Says what xtask is doing, prefixed so it stands out from tool output.
pub fn say(message: impl AsRef<str>) {
    println!("xtask: {}", message.as_ref());
}

/// Runs `program args…` in the workspace root, inheriting stdio; fails unless it exits 0.
pub fn exec(program: &str, args: &[&str]) -> Result<()> {
    say(format!("$ {program} {}", args.join(" ")));
    let status = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("could not start `{program}`"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `program args…` like [`exec`], with one extra environment variable.
pub fn exec_with_env(program: &str, args: &[&str], (key, value): (&str, &str)) -> Result<()> {
    say(format!("$ {key}={value} {program} {}", args.join(" ")));
    let status = Command::new(program)
        .args(args)
        .env(key, value)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("could not start `{program}`"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `program args…` quietly and returns its stdout, or `None` when it
/// cannot start or exits non-zero. For probing what is installed.
pub fn probe(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}
