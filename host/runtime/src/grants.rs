//! What a workload may import: the WASI 0.2 interfaces Kiln grants, and
//! nothing else (no sockets, no HTTP).
//!
//! The linker is built from this list, and a component's imports are checked
//! against it before linking so a refusal names the import.

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::filesystem::WasiFilesystem;
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiView, p2};

/// Interfaces (without version) a workload may import. Everything the Rust
/// standard library needs on `wasm32-wasip2`, minus the network.
pub const GRANTED_INTERFACES: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

/// True when `import` (`namespace:package/interface@version`) is granted.
pub fn is_granted(import: &str) -> bool {
    let unversioned = import.split_once('@').map_or(import, |(name, _)| name);
    GRANTED_INTERFACES.contains(&unversioned)
}

struct HasTable;

impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds exactly [`GRANTED_INTERFACES`] to `linker`.
pub(crate) fn add_granted<T: WasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::WasiCliView as _;
    use wasmtime_wasi::clocks::WasiClocksView as _;
    use wasmtime_wasi::filesystem::WasiFilesystemView as _;

    let l = linker;
    p2::bindings::io::error::add_to_linker::<T, HasTable>(l, |t| t.ctx().table)?;
    p2::bindings::io::poll::add_to_linker::<T, HasTable>(l, |t| t.ctx().table)?;
    p2::bindings::io::streams::add_to_linker::<T, HasTable>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_granted;

    #[test]
    fn grants_match_by_interface_whatever_the_version() {
        assert!(is_granted("wasi:cli/stdout@0.2.6"));
        assert!(is_granted("wasi:filesystem/preopens@0.2.12"));
        assert!(!is_granted("wasi:sockets/tcp@0.2.12"));
        assert!(!is_granted("wasi:http/outgoing-handler@0.2.12"));
        assert!(!is_granted("wasi:cli/stdout-evil@0.2.6"));
    }
}
