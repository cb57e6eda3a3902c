//! `cargo xtask test`: the whole check, in the order a failure is cheapest to
//! find: format, lints, cross builds, tests, then a short fuzz run.

use anyhow::{Result, bail};

use crate::command::{exec, say, target_dir, workspace_root};
use crate::setup::{self, NIGHTLY};

/// Seconds each fuzz target runs inside `xtask test`: long enough to get past
/// the seed corpus and shake out shallow crashes, short enough for every CI
/// run. `cargo xtask fuzz` runs longer. Override with `KILN_FUZZ_SECONDS`.
pub const DEFAULT_FUZZ_SECONDS: u64 = 20;

/// Crates with cargo-fuzz targets (under `<crate>/fuzz`), and their targets.
const FUZZ_CRATES: &[(&str, &[&str])] = &[("sdk/protocol", &["decode_receipt", "decode_manifest"])];

/// Entry point for `cargo xtask test`.
pub fn run() -> Result<()> {
    setup::run()?;

    say("test: formatting");
    exec("cargo", &["fmt", "--all", "--check"])?;
    for (dir, _) in FUZZ_CRATES {
        exec(
            "cargo",
            &[
                "fmt",
                "--manifest-path",
                &format!("{dir}/fuzz/Cargo.toml"),
                "--check",
            ],
        )?;
    }

    say("test: clippy (host, every target, warnings are errors)");
    exec(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    exec(
        "cargo",
        &[
            "clippy",
            "-p",
            "kiln-protocol",
            "--no-default-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;

    say("test: kiln-protocol for wasm32-wasip2 (guests) and wasm32v1-none (no std at all)");
    for target in ["wasm32-wasip2", "wasm32v1-none"] {
        exec(
            "cargo",
            &[
                "build",
                "-p",
                "kiln-protocol",
                "--locked",
                "--target",
                target,
            ],
        )?;
        exec(
            "cargo",
            &[
                "build",
                "-p",
                "kiln-protocol",
                "--locked",
                "--no-default-features",
                "--target",
                target,
            ],
        )?;
    }

    say("test: kiln-protocol for bpfel-unknown-none (the Solana program's target, no ed25519)");
    exec(
        "cargo",
        &[
            &format!("+{NIGHTLY}"),
            "build",
            "-p",
            "kiln-protocol",
            "--locked",
            "--release",
            "--no-default-features",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core,alloc",
        ],
    )?;

    say("test: test suite (cargo-nextest) and doc tests");
    exec(
        "cargo",
        &[
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ],
    )?;
    exec("cargo", &["test", "--workspace", "--locked", "--doc"])?;

    let seconds = match std::env::var("KILN_FUZZ_SECONDS") {
        Ok(value) => value.parse()?,
        Err(_) => DEFAULT_FUZZ_SECONDS,
    };
    for target in FUZZ_CRATES.iter().flat_map(|(_, targets)| targets.iter()) {
        fuzz(target, seconds)?;
    }
    say("test: all passed");
    Ok(())
}

/// Runs one fuzz target for `seconds`, seeded from its committed seeds; a
/// crash fails the run and leaves the input under `fuzz/artifacts/`.
pub fn fuzz(target: &str, seconds: u64) -> Result<()> {
    let Some((dir, _)) = FUZZ_CRATES
        .iter()
        .find(|(_, targets)| targets.contains(&target))
    else {
        bail!("unknown fuzz target `{target}`; known: {FUZZ_CRATES:?}");
    };
    say(format!("fuzz: {target} for {seconds} s"));
    let root = workspace_root();
    let corpus = target_dir().join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&corpus)?;
    let seeds = root.join(dir).join("fuzz/seeds").join(target);
    let fuzz_target_dir = target_dir().join("fuzz");
    let toolchain = format!("+{NIGHTLY}");
    exec(
        "cargo",
        &[
            &toolchain,
            "fuzz",
            "run",
            "--fuzz-dir",
            &root.join(dir).join("fuzz").to_string_lossy(),
            "--target-dir",
            &fuzz_target_dir.to_string_lossy(),
            "--debug-assertions",
            target,
            &corpus.to_string_lossy(),
            &seeds.to_string_lossy(),
            "--",
            &format!("-max_total_time={seconds}"),
        ],
    )
}
