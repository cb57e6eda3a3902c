//! `cargo xtask test`: the whole check, in the order a failure is cheapest to
//! find: format, lints, cross builds, guests, tests, then a short fuzz run.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::command::{exec, exec_env, say, target_dir, workspace_root};
use crate::setup::{self, NIGHTLY};
use crate::{guests, postgres, sbf};

/// Seconds each fuzz target runs inside `xtask test`: long enough to get past
/// the seed corpus and shake out shallow crashes, short enough for every CI
/// run. `cargo xtask fuzz` runs longer. Override with `KILN_FUZZ_SECONDS`.
pub const DEFAULT_FUZZ_SECONDS: u64 = 20;

/// Crates with cargo-fuzz targets (under `<crate>/fuzz`), and their targets.
const FUZZ_CRATES: &[(&str, &[&str])] = &[("sdk/protocol", &["decode_receipt", "decode_manifest"])];

/// Targets kiln-protocol must build for besides the host, each with and
/// without its default features: what guests link, and a target with no
/// `std` at all, which proves the crate stays `no_std`.
const PROTOCOL_TARGETS: &[&str] = &["wasm32-wasip2", "wasm32v1-none"];

/// Crates renters and operators build, and what they must never pull in: the
/// scheduler service (its database, HTTP server and plugin host) stays out of
/// a renter's client and a node agent, which talk to it through
/// `kiln-scheduler-api` (ARCHITECTURE.md, "Architecture invariants").
const FORBIDDEN_DEPENDENCIES: &[(&str, &[&str])] = &[
    (
        "kiln-scheduler-api",
        &["kiln-scheduler", "sqlx", "axum", "wasmtime"],
    ),
    (
        "kiln-client",
        &["kiln-scheduler", "sqlx", "axum", "wasmtime"],
    ),
    ("kiln-node", &["kiln-scheduler", "sqlx", "axum"]),
];

/// Fails when a crate of [`FORBIDDEN_DEPENDENCIES`] depends, directly or not,
/// on one it must not.
fn check_dependency_rules() -> Result<()> {
    for (package, forbidden) in FORBIDDEN_DEPENDENCIES {
        let args = [
            "tree", "--locked", "-p", package, "-e", "normal", "--prefix", "none", "-f", "{p}",
        ];
        let output = Command::new("cargo")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .context("could not start `cargo tree`")?;
        if !output.status.success() {
            bail!("`cargo {}` failed ({})", args.join(" "), output.status);
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        for name in *forbidden {
            if tree
                .lines()
                .any(|line| line.split(' ').next() == Some(*name))
            {
                bail!("{package} depends on {name}; see `cargo tree -p {package} -i {name}`");
            }
        }
    }
    Ok(())
}

/// Entry point for `cargo xtask test`.
pub fn run() -> Result<()> {
    setup::run()?;

    say("test: formatting");
    exec("cargo", &["fmt", "--all", "--check"])?;
    for (dir, _) in FUZZ_CRATES {
        let manifest = format!("{dir}/fuzz/Cargo.toml");
        exec("cargo", &["fmt", "--manifest-path", &manifest, "--check"])?;
    }

    say("test: clippy, warnings are errors (host crates; protocol without ed25519; guests)");
    let deny = ["--", "-D", "warnings"];
    exec(
        "cargo",
        &[&["clippy", "--all-targets", "--locked"][..], &deny].concat(),
    )?;
    let no_default = [
        "clippy",
        "-p",
        "kiln-protocol",
        "--no-default-features",
        "--locked",
    ];
    exec("cargo", &[&no_default[..], &deny].concat())?;
    guests::clippy()?;

    say("test: API docs, warnings are errors (rustdoc: broken and private links)");
    // After clippy, whose check builds of the dependencies rustdoc reuses.
    // Not all: without the dev-dependencies, tokio's features differ, so
    // the crates above tokio (reqwest, solana-client, ...) are checked once
    // more on a new machine (kept in the target dir after that).
    exec_env(
        "cargo",
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", std::ffi::OsStr::new("-D warnings"))],
    )?;

    say("test: dependency rules (no scheduler service in a renter's or a node's build)");
    check_dependency_rules()?;

    say("test: kiln-protocol for the guest and no_std targets");
    for target in PROTOCOL_TARGETS {
        let build = [
            "build",
            "-p",
            "kiln-protocol",
            "--locked",
            "--target",
            target,
        ];
        exec("cargo", &build)?;
        exec("cargo", &[&build[..], &["--no-default-features"]].concat())?;
    }
    say("test: kiln-protocol for bpfel-unknown-none (the Solana program's target, no ed25519)");
    let nightly = format!("+{NIGHTLY}");
    let sbf = [
        "build",
        "-p",
        "kiln-protocol",
        "--locked",
        "--release",
        "--no-default-features",
    ];
    let sbf_target = [
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core,alloc",
    ];
    exec(
        "cargo",
        &[&[nightly.as_str()][..], &sbf, &sbf_target].concat(),
    )?;

    guests::build()?;
    say("test: settlement program ELF, for the LiteSVM tests");
    let elf = sbf::build()?;

    say("test: PostgreSQL for the scheduler's store tests");
    let postgres_url = postgres::ensure()?;

    say("test: test suite (cargo-nextest) and doc tests");
    // Mesa warns on every device it opens unless XDG_RUNTIME_DIR names a
    // directory; the GPU tests get a private one.
    let xdg_runtime = target_dir().join("xdg-runtime");
    std::fs::create_dir_all(&xdg_runtime)?;
    std::fs::set_permissions(
        &xdg_runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let artifacts = [
        ("KILN_GUEST_DIR", guests::guest_dir().into_os_string()),
        (sbf::SO_ENV, elf.into_os_string()),
        (postgres::URL_ENV, postgres_url.into()),
        (postgres::REQUIRE_ENV, "1".into()),
        ("XDG_RUNTIME_DIR", xdg_runtime.into_os_string()),
    ];
    let env: Vec<_> = artifacts.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    exec_env(
        "cargo",
        &["nextest", "run", "--locked", "--no-fail-fast"],
        &env,
    )?;
    exec_env("cargo", &["test", "--locked", "--doc"], &env)?;

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
    let fuzz_dir = workspace_root().join(dir).join("fuzz");
    let corpus = target_dir().join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&corpus)?;
    let seeds = fuzz_dir.join("seeds").join(target);
    let fuzz_target_dir = target_dir().join("fuzz");
    let nightly = format!("+{NIGHTLY}");
    let max_time = format!("-max_total_time={seconds}");
    let paths = [&fuzz_dir, &fuzz_target_dir, &corpus, &seeds].map(|p| p.to_string_lossy());
    let [fuzz_dir, fuzz_target_dir, corpus, seeds] = &paths;
    exec(
        "cargo",
        &[
            &nightly,
            "fuzz",
            "run",
            "--fuzz-dir",
            fuzz_dir,
            "--target-dir",
            fuzz_target_dir,
            "--debug-assertions",
            target,
            corpus,
            seeds,
            "--",
            &max_time,
        ],
    )
}
