//! `cargo xtask bench <suite>`: build what a benchmark needs, then run it in
//! release mode. Each suite prints its own ratios against a baseline measured
//! in the same run.

use std::ffi::OsString;

use anyhow::{Result, bail};

use crate::command::exec_env;
use crate::{guests, sbf};

/// What a suite needs built first, handed to it through the environment.
#[derive(Clone, Copy)]
enum Needs {
    /// Guest components (`KILN_GUEST_DIR`).
    Guests,
    /// The settlement program's SBF ELF (`KILN_SETTLEMENT_SO`).
    SettlementElf,
    /// Both: guests and the ELF (a whole network).
    Network,
}

/// Benchmark suites: name, package, bench target, prerequisite.
const SUITES: &[(&str, &str, &str, Needs)] = &[
    ("sandbox", "kiln-runtime", "sandbox", Needs::Guests),
    (
        "settlement",
        "kiln-settlement",
        "claims",
        Needs::SettlementElf,
    ),
    ("scheduler", "kiln-scheduler", "scheduler", Needs::Guests),
    ("gpu", "kiln-gpu", "gpu", Needs::Guests),
    ("e2e", "kiln-e2e", "e2e", Needs::Network),
];

/// Runs one suite by name.
pub fn run(suite: &str) -> Result<()> {
    let Some((_, package, bench, needs)) = SUITES.iter().find(|(name, ..)| *name == suite) else {
        let names: Vec<_> = SUITES.iter().map(|(name, ..)| *name).collect();
        bail!("unknown benchmark suite `{suite}`; known: {names:?}");
    };
    // Mesa's lavapipe wants a private runtime dir (the GPU bench); harmless elsewhere.
    let xdg_runtime = crate::command::target_dir().join("xdg-runtime");
    std::fs::create_dir_all(&xdg_runtime)?;
    std::fs::set_permissions(
        &xdg_runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let mut env: Vec<(&str, OsString)> = vec![("XDG_RUNTIME_DIR", xdg_runtime.into_os_string())];
    match needs {
        Needs::Guests => {
            guests::build()?;
            env.push(("KILN_GUEST_DIR", guests::guest_dir().into_os_string()));
        }
        Needs::SettlementElf => env.push((sbf::SO_ENV, sbf::build()?.into_os_string())),
        Needs::Network => {
            guests::build()?;
            env = crate::demo::demo_env(sbf::build()?.into_os_string())?;
        }
    }
    let env: Vec<(&str, &std::ffi::OsStr)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_os_str()))
        .collect();
    exec_env(
        "cargo",
        &["bench", "--locked", "-p", package, "--bench", bench],
        &env,
    )
}
