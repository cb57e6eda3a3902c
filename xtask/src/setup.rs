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
/// see SOLANA.md). One nightly serves both.
pub const NIGHTLY: &str = "nightly-2026-10-29";

/// Cargo tools, each with the cargo subcommand that proves it is installed.
/// Installed with `--locked` so their own dependencies are the tested ones.
const CARGO_TOOLS: &[(&str, &[&str])] = &[
    ("cargo-nextest", &["nextest", "--version"]),
    ("cargo-fuzz", &["fuzz", "--version"]),
];

/// Debian packages the tests need. None yet: the GPU issue adds
/// `mesa-vulkan-drivers` (lavapipe) and the scheduler issue `postgresql`.
const APT_PACKAGES: &[&str] = &[];

/// Entry point for `cargo xtask setup`: installs whatever is missing.
pub fn run() -> Result<()> {
    say("setup: checking what this machine lacks");
    rust_targets()?;
    rust_components()?;
    nightly()?;
    cargo_tools()?;
    apt_packages(APT_PACKAGES)?;
    say("setup: done");
    Ok(())
}

fn rust_targets() -> Result<()> {
    let installed = probe("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    for target in RUST_TARGETS {
        if installed.lines().any(|line| line.trim() == *target) {
            say(format!("rust target {target}: present"));
        } else {
            say(format!("rust target {target}: installing"));
            exec("rustup", &["target", "add", target])?;
        }
    }
    Ok(())
}

fn rust_components() -> Result<()> {
    let installed = probe("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    for component in RUST_COMPONENTS {
        if installed.lines().any(|line| line.starts_with(component)) {
            say(format!("rust component {component}: present"));
        } else {
            say(format!("rust component {component}: installing"));
            exec("rustup", &["component", "add", component])?;
        }
    }
    Ok(())
}

fn nightly() -> Result<()> {
    let toolchains = probe("rustup", &["toolchain", "list"]).unwrap_or_default();
    if toolchains.lines().any(|line| line.starts_with(NIGHTLY)) {
        say(format!("toolchain {NIGHTLY}: present"));
    } else {
        say(format!(
            "toolchain {NIGHTLY}: installing (for cargo-fuzz and the SBF build)"
        ));
        exec(
            "rustup",
            &["toolchain", "install", NIGHTLY, "--profile", "minimal"],
        )?;
    }
    let components = probe(
        "rustup",
        &["component", "list", "--installed", "--toolchain", NIGHTLY],
    )
    .unwrap_or_default();
    if components.lines().any(|line| line.starts_with("rust-src")) {
        say(format!("{NIGHTLY} rust-src: present"));
    } else {
        say(format!("{NIGHTLY} rust-src: installing"));
        exec(
            "rustup",
            &["component", "add", "rust-src", "--toolchain", NIGHTLY],
        )?;
    }
    Ok(())
}

fn cargo_tools() -> Result<()> {
    for (tool, check) in CARGO_TOOLS {
        if probe("cargo", check).is_some() {
            say(format!("{tool}: present"));
        } else {
            say(format!(
                "{tool}: installing with cargo install (a few minutes)"
            ));
            exec("cargo", &["install", "--locked", tool])?;
        }
    }
    Ok(())
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
