//! `cargo xtask sbf`: the settlement program as a real SBF ELF.
//!
//! Follows the recipe in `programs/settlement/README.md`: the pinned nightly
//! with `-Z build-std`, the `bpfel-unknown-none` target and sbpf-linker
//! (installed by `setup`), with
//! the target's flags in `programs/settlement/.cargo/config.toml`, which
//! cargo reads because the build runs in that directory. Its own target dir
//! (`<target>/sbf-build`) keeps the SBF profile from invalidating host
//! builds. The ELF is copied to `<target>/sbf/kiln_settlement.so`, and tests
//! find it through [`SO_ENV`].

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::command::{say, target_dir, workspace_root};
use crate::setup::NIGHTLY;

/// The environment variable that tells the LiteSVM tests where the ELF is.
pub const SO_ENV: &str = "KILN_SETTLEMENT_SO";

/// Builds the program and returns the ELF's path.
pub fn build() -> Result<PathBuf> {
    say("sbf: building programs/settlement for bpfel-unknown-none");
    let program_dir = workspace_root().join("programs/settlement");
    let build_dir = target_dir().join("sbf-build");
    let nightly = format!("+{NIGHTLY}");
    let args = [
        nightly.as_str(),
        "build",
        "-p",
        "kiln-settlement-program",
        "--locked",
        "--release",
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core,alloc",
        "--target-dir",
        &build_dir.to_string_lossy(),
    ];
    say(format!(
        "$ (cd programs/settlement) cargo {}",
        args.join(" ")
    ));
    let status = Command::new("cargo")
        .args(args)
        .current_dir(&program_dir)
        .status()
        .context("could not start cargo")?;
    if !status.success() {
        bail!("SBF build of kiln-settlement-program failed ({status})");
    }
    let built = build_dir.join("bpfel-unknown-none/release/libkiln_settlement_program.so");
    let out_dir = target_dir().join("sbf");
    std::fs::create_dir_all(&out_dir)?;
    let elf = out_dir.join("kiln_settlement.so");
    std::fs::copy(&built, &elf)
        .with_context(|| format!("copying {} to {}", built.display(), elf.display()))?;
    say(format!(
        "sbf: {} ({} bytes)",
        elf.display(),
        std::fs::metadata(&elf)?.len()
    ));
    Ok(elf)
}
