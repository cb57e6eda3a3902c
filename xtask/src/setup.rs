//! `cargo xtask setup`: bring a fresh machine to what the build and tests need.
//!
//! Every step probes first and says "present", or installs and says so; a
//! second run does nothing, and a failed install names its step.

use anyhow::Result;

use crate::command::{exec, probe, say};

/// Rust targets besides the host: guests and plugins are `wasm32-wasip2`
/// components; `wasm32v1-none` has no `std` at all, so building
/// kiln-protocol for it proves the crate stays `no_std`.
const RUST_TARGETS: &[&str] = &["wasm32-wasip2", "wasm32v1-none"];

/// Components of the stable toolchain that `xtask test` runs.
const RUST_COMPONENTS: &[&str] = &["rustfmt", "clippy"];

/// The pinned nightly: cargo-fuzz needs a nightly for its sanitizer flags, and
/// the SBF build needs this exact one (its LLVM 23 is what sbpf-linker loads;
/// see `programs/settlement/README.md`). One nightly serves both.
pub const NIGHTLY: &str = "nightly-2026-10-29";

/// Cargo tools, each with the cargo subcommand that proves it is installed.
/// Installed with `--locked` so their own dependencies are the tested ones.
const CARGO_TOOLS: &[(&str, &[&str])] = &[
    ("cargo-nextest", &["nextest", "--version"]),
    ("cargo-fuzz", &["fuzz", "--version"]),
];

/// The SBF linker, pinned: 0.2.6 loads the pinned nightly's LLVM 23 (`programs/settlement/README.md`).
const SBPF_LINKER: (&str, &str) = ("sbpf-linker", "0.2.6");

/// Debian packages the tests need: `postgresql`, the server the scheduler's
/// store tests and two-replica test run against (`postgres.rs`), and
/// `mesa-vulkan-drivers`, Mesa's lavapipe, a software Vulkan device, so every
/// GPU test runs for real on machines without a GPU (host/gpu/README.md).
const APT_PACKAGES: &[&str] = &["postgresql", "mesa-vulkan-drivers"];

/// Entry point for `cargo xtask setup`: installs whatever is missing.
pub fn run() -> Result<()> {
    say("setup: checking what this machine lacks");
    rust_targets()?;
    rust_components()?;
    nightly()?;
    cargo_tools()?;
    sbpf_linker()?;
    apt_packages(APT_PACKAGES)?;
    say("setup: done");
    Ok(())
}

/// Says `what` is present, or installs it with `program args…` and says so.
fn ensure(what: &str, present: bool, program: &str, args: &[&str]) -> Result<()> {
    if present {
        say(format!("{what}: present"));
        return Ok(());
    }
    say(format!("{what}: installing"));
    exec(program, args)
}

/// Lines of `rustup args…`' output, empty when rustup cannot say.
fn rustup_lines(args: &[&str]) -> Vec<String> {
    let output = probe("rustup", args).unwrap_or_default();
    output.lines().map(|line| line.trim().to_owned()).collect()
}

fn rust_targets() -> Result<()> {
    let installed = rustup_lines(&["target", "list", "--installed"]);
    for target in RUST_TARGETS {
        let present = installed.iter().any(|line| line == target);
        ensure(
            &format!("rust target {target}"),
            present,
            "rustup",
            &["target", "add", target],
        )?;
    }
    Ok(())
}

fn rust_components() -> Result<()> {
    let installed = rustup_lines(&["component", "list", "--installed"]);
    for component in RUST_COMPONENTS {
        let present = installed.iter().any(|line| line.starts_with(component));
        let what = format!("rust component {component}");
        ensure(&what, present, "rustup", &["component", "add", component])?;
    }
    Ok(())
}

/// The pinned nightly and its rust-src (cargo-fuzz and the SBF build use both).
fn nightly() -> Result<()> {
    let present = rustup_lines(&["toolchain", "list"])
        .iter()
        .any(|l| l.starts_with(NIGHTLY));
    let install = ["toolchain", "install", NIGHTLY, "--profile", "minimal"];
    ensure(&format!("toolchain {NIGHTLY}"), present, "rustup", &install)?;
    let components = rustup_lines(&["component", "list", "--installed", "--toolchain", NIGHTLY]);
    let present = components.iter().any(|line| line.starts_with("rust-src"));
    let add = ["component", "add", "rust-src", "--toolchain", NIGHTLY];
    ensure(&format!("{NIGHTLY} rust-src"), present, "rustup", &add)
}

/// Cargo tools, built from source by `cargo install` (a few minutes each).
fn cargo_tools() -> Result<()> {
    for (tool, check) in CARGO_TOOLS {
        let present = probe("cargo", check).is_some();
        ensure(tool, present, "cargo", &["install", "--locked", tool])?;
    }
    Ok(())
}

/// sbpf-linker at its pinned version (about 6 minutes to build on 2 cores).
fn sbpf_linker() -> Result<()> {
    let (tool, version) = SBPF_LINKER;
    let present = probe("cargo", &["install", "--list"])
        .is_some_and(|list| list.contains(&format!("{tool} v{version}:")));
    let install = ["install", "--locked", tool, "--version", version];
    ensure(&format!("{tool} {version}"), present, "cargo", &install)
}

/// Installs missing Debian packages, through sudo when not root.
fn apt_packages(packages: &[&str]) -> Result<()> {
    let mut missing = Vec::new();
    for package in packages {
        let status = probe("dpkg-query", &["-W", "-f=${Status}", package]);
        if status.is_some_and(|s| s.contains("install ok installed")) {
            say(format!("apt package {package}: present"));
        } else {
            missing.push(*package);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    say(format!("apt packages {}: installing", missing.join(" ")));
    let is_root = probe("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    let program = if is_root { "env" } else { "sudo" };
    let mut apt: Vec<&str> = if is_root { vec![] } else { vec!["env"] };
    apt.extend(["DEBIAN_FRONTEND=noninteractive", "apt-get"]);
    exec(program, &[apt.as_slice(), &["update", "-q"]].concat())?;
    let install = [
        apt.as_slice(),
        &["install", "-y", "-q", "--no-install-recommends"],
        &missing,
    ];
    exec(program, &install.concat())
}
