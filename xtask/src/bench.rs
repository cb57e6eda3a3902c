//! `cargo xtask bench <suite>`: build what a benchmark needs, then run it in
//! release mode. Each suite prints its own ratios against a baseline measured
//! in the same run.

use anyhow::{Result, bail};

use crate::command::exec_env;
use crate::guests;

/// Benchmark suites: name, package, bench target, whether it loads guests.
const SUITES: &[(&str, &str, &str, bool)] = &[
    ("sandbox", "kiln-runtime", "sandbox", true),
    ("scheduler", "kiln-scheduler", "scheduler", false),
];

/// Runs one suite by name.
pub fn run(suite: &str) -> Result<()> {
    let Some((_, package, bench, needs_guests)) = SUITES.iter().find(|(name, ..)| *name == suite)
    else {
        let names: Vec<_> = SUITES.iter().map(|(name, ..)| *name).collect();
        bail!("unknown benchmark suite `{suite}`; known: {names:?}");
    };
    if !needs_guests {
        return exec_env(
            "cargo",
            &["bench", "--locked", "-p", package, "--bench", bench],
            &[],
        );
    }
    guests::build()?;
    let dir = guests::guest_dir();
    exec_env(
        "cargo",
        &["bench", "--locked", "-p", package, "--bench", bench],
        &[("KILN_GUEST_DIR", dir.as_os_str())],
    )
}
