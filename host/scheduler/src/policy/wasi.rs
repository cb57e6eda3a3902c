//! What a policy plugin may import, and what it gets for it.
//!
//! A Rust `wasm32-wasip2` component imports a few WASI interfaces whatever
//! its code does: the standard library links stdio (for panic messages),
//! exit and the environment. A policy may import exactly those, and the
//! world's own `types` — by name. It gets **nothing** for them: every
//! function of an allowed WASI interface is a stub that traps when called
//! (wasmtime's `define_unknown_imports_as_traps`). A plugin that never
//! prints never calls them; one that prints, or panics (the panic message
//! goes to stderr), traps, which fails that call like any other trap. No
//! clocks, no randomness, no files, no network are even importable: a
//! component importing any of them is refused at load, the import named.
//!
//! So a policy is a pure function of its arguments, and no WASI
//! implementation (with its own async plumbing) runs inside a policy call.

use wasmtime::component::{Component, Linker};

use super::host::PolicyState;

/// Interfaces (without version) a plugin may import.
pub const POLICY_IMPORTS: &[&str] = &[
    "kiln:policy/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
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

/// True when `import` (`namespace:package/interface@version`) is allowed.
pub fn is_allowed(import: &str) -> bool {
    let unversioned = import.split_once('@').map_or(import, |(name, _)| name);
    POLICY_IMPORTS.contains(&unversioned)
}

/// A linker for `component`, whose imports were checked with [`is_allowed`]:
/// every imported function traps, every imported resource is an empty host
/// type, and `types` (types only) needs nothing.
pub(crate) fn linker_for(component: &Component) -> wasmtime::Result<Linker<PolicyState>> {
    let mut linker = Linker::new(component.engine());
    linker.define_unknown_imports_as_traps(component)?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::is_allowed;

    #[test]
    fn policies_may_import_stdio_plumbing_but_no_clock_randomness_files_or_network() {
        assert!(is_allowed("wasi:cli/stderr@0.2.6"));
        assert!(is_allowed("kiln:policy/types@0.1.0"));
        assert!(!is_allowed("wasi:clocks/wall-clock@0.2.6"));
        assert!(!is_allowed("wasi:random/random@0.2.6"));
        assert!(!is_allowed("wasi:filesystem/preopens@0.2.6"));
        assert!(!is_allowed("wasi:sockets/tcp@0.2.6"));
        assert!(!is_allowed("wasi:cli/stderr-evil@0.2.6"));
    }
}
