//! `cargo xtask bench <suite>`: build what a benchmark needs, then run it in
//! release mode. Each suite prints its own ratios against a baseline measured
//! in the same run.

use anyhow::{Result, bail};

use crate::command::exec_env;
use crate::guests;

/// Benchmark suites: name, package, bench target.
const SUITES: &[(&str, &str, &str)] = &[
    ("sandbox", "kiln-runtime", "sandbox"),
    ("gpu", "kiln-gpu", "gpu"),
];

/// Runs one suite by name.
pub fn run(suite: &str) -> Result<()> {
    let Some((_, package, bench)) = SUITES.iter().find(|(name, _, _)| *name == suite) else {
        let names: Vec<_> = SUITES.iter().map(|(name, _, _)| *name).collect();
        bail!("unknown benchmark suite `{suite}`; known: {names:?}");
    };
    guests::build()?;
    let dir = guests::guest_dir();
    let xdg_runtime = crate::command::target_dir().join("xdg-runtime");
    std::fs::create_dir_all(&xdg_runtime)?;
    std::fs::set_permissions(
        &xdg_runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    exec_env(
        "cargo",
        &["bench", "--locked", "-p", package, "--bench", bench],
        &[
            ("KILN_GUEST_DIR", dir.as_os_str()),
            ("XDG_RUNTIME_DIR", xdg_runtime.as_os_str()),
        ],
    )
}
