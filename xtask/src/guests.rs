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

/// The Cargo profile guests are built with (the workspace's `[profile.guest]`),
/// which also names their output directory.
const GUEST_PROFILE: &str = "guest";

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

/// Guests whose final compile gets extra `rustc` flags, and why. The flags go
/// to the guest's own crate only (`cargo rustc`), which with the `guest`
/// profile's fat LTO is where the whole component is optimized, so the shared
/// dependencies are built once for every guest.
///
/// Mandelbrot: at LLVM's default inline threshold the PNG encoder's bit
/// writer (fdeflate) stays a call in wasm, where natively it is inlined; at
/// 400 it is inlined, and the job's PNG step takes ~70 µs (15%) less
/// (host/gpu/README.md, "Changes kept"). Not for every guest: the CPU matmul
/// example ran 5 to 7% slower with it, and the GPU matmul example did not
/// change.
pub const TUNED_GUESTS: &[(&str, &[&str])] = &[(
    "kiln-example-mandelbrot",
    &["-C", "llvm-args=-inline-threshold=400"],
)];

/// Where the built components land.
pub fn guest_dir() -> PathBuf {
    target_dir().join(GUEST_TARGET).join(GUEST_PROFILE)
}

/// `cargo <command>` for the guests that `include` accepts.
fn package_args(command: &str, include: impl Fn(&str) -> bool) -> Vec<&str> {
    let mut args = vec![command, "--locked", "--target", GUEST_TARGET];
    for package in GUEST_PACKAGES.iter().filter(|package| include(package)) {
        args.extend(["-p", package]);
    }
    args
}

fn is_tuned(package: &str) -> bool {
    TUNED_GUESTS.iter().any(|(tuned, _)| *tuned == package)
}

/// Builds every guest: one `cargo build` for those built as they are, then
/// one `cargo rustc` for each of [`TUNED_GUESTS`].
pub fn build() -> Result<()> {
    say(format!(
        "guests: building {} components for {GUEST_TARGET}",
        GUEST_PACKAGES.len()
    ));
    let mut args = package_args("build", |package| !is_tuned(package));
    args.extend(["--profile", GUEST_PROFILE]);
    exec("cargo", &args)?;
    for (package, flags) in TUNED_GUESTS {
        let mut args = package_args("rustc", |guest| guest == *package);
        args.extend(["--profile", GUEST_PROFILE, "--"]);
        args.extend_from_slice(flags);
        exec("cargo", &args)?;
    }
    say(format!("guests: in {}", guest_dir().display()));
    Ok(())
}

/// Lints every guest for its own target.
pub fn clippy() -> Result<()> {
    let mut args = package_args("clippy", |_| true);
    args.extend(["--", "-D", "warnings"]);
    exec("cargo", &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tuned_guest_is_a_guest_and_is_built_once() {
        for (package, flags) in TUNED_GUESTS {
            assert!(GUEST_PACKAGES.contains(package), "{package} is not a guest");
            assert!(!flags.is_empty(), "{package} has no flags");
        }
        let plain = package_args("build", |package| !is_tuned(package));
        let built: Vec<_> = plain
            .iter()
            .filter(|arg| GUEST_PACKAGES.contains(arg))
            .collect();
        assert_eq!(built.len() + TUNED_GUESTS.len(), GUEST_PACKAGES.len());
        assert!(built.iter().all(|package| !is_tuned(package)));
    }
}
