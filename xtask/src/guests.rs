//! `cargo xtask guests`: build every guest component for `wasm32-wasip2`.
//!
//! Guests are workspace members left out of `default-members`, so host builds
//! never compile them for the host. They are built once per run with the
//! `guest` profile into `<target>/wasm32-wasip2/guest/`, where the tests and
//! benchmarks find them (`KILN_GUEST_DIR` says where, for tools run by hand).

use std::path::PathBuf;

use anyhow::Result;

use crate::command::{exec, say, target_dir};

/// Target triple of every guest.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Guest packages: example workloads, policy plugins, then test guests.
pub const GUEST_PACKAGES: &[&str] = &[
    "kiln-example-sha256",
    "kiln-example-matmul",
    "kiln-example-mandelbrot",
    "kiln-example-matmul-gpu",
    "kiln-example-vecadd-cuda",
    "kiln-plugin-rank-default",
    "kiln-plugin-rank-locality-first",
    "kiln-plugin-price-lowest-floor",
    "kiln-plugin-price-guard",
    "kiln-test-hostile",
    "kiln-test-hostile-policy",
    "kiln-test-net",
    "kiln-test-gpu-probe",
];

/// Where the built components land.
pub fn guest_dir() -> PathBuf {
    target_dir().join(GUEST_TARGET).join("guest")
}

fn package_args(command: &str) -> Vec<&str> {
    let mut args = vec![command, "--locked", "--target", GUEST_TARGET];
    for package in GUEST_PACKAGES {
        args.extend(["-p", package]);
    }
    args
}

/// Builds every guest.
pub fn build() -> Result<()> {
    say(format!(
        "guests: building {} components for {GUEST_TARGET}",
        GUEST_PACKAGES.len()
    ));
    let mut args = package_args("build");
    args.extend(["--profile", "guest"]);
    exec("cargo", &args)?;
    say(format!("guests: in {}", guest_dir().display()));
    Ok(())
}

/// Lints every guest for its own target.
pub fn clippy() -> Result<()> {
    let mut args = package_args("clippy");
    args.extend(["--", "-D", "warnings"]);
    exec("cargo", &args)
}
