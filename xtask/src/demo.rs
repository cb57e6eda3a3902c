//! `cargo xtask demo`: the README's first command. Installs what the machine
//! lacks (as `setup` does), builds the example guests and the settlement
//! program's ELF, then runs `kiln demo` with both found through the
//! environment.

use std::ffi::OsString;

use anyhow::Result;

use crate::command::exec_env;
use crate::{guests, sbf, setup};

/// Sets up, builds and runs the demo; extra arguments go to `kiln demo`.
pub fn run(extra: &[&str]) -> Result<()> {
    setup::run()?;
    guests::build()?;
    let elf = sbf::build()?;
    let env = demo_env(elf.into_os_string())?;
    let env: Vec<(&str, &std::ffi::OsStr)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_os_str()))
        .collect();
    let mut args = vec!["run", "--locked", "-q", "-p", "kiln", "--", "demo"];
    args.extend_from_slice(extra);
    exec_env("cargo", &args, &env)
}

/// What the demo (and the e2e benchmark) need: the guests, the ELF and a
/// private runtime dir for Mesa's lavapipe.
pub fn demo_env(elf: OsString) -> Result<Vec<(&'static str, OsString)>> {
    let xdg_runtime = crate::command::target_dir().join("xdg-runtime");
    std::fs::create_dir_all(&xdg_runtime)?;
    std::fs::set_permissions(
        &xdg_runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    Ok(vec![
        ("XDG_RUNTIME_DIR", xdg_runtime.into_os_string()),
        ("KILN_GUEST_DIR", guests::guest_dir().into_os_string()),
        (sbf::SO_ENV, elf),
    ])
}
