//! Where tests and benches find the guest components `cargo xtask guests`
//! built: `KILN_GUEST_DIR` (what `cargo xtask test` and `bench` set), else
//! `<CARGO_TARGET_DIR or target/>/wasm32-wasip2/guest`, the place xtask writes
//! them. One lookup for every crate's tests, so they cannot disagree.

use std::path::{Path, PathBuf};

/// The directory holding the built guests.
pub fn guest_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KILN_GUEST_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("wasm32-wasip2").join("guest")
}

/// The path of guest `name` (e.g. `kiln_example_sha256`); panics, saying how
/// to build it, when it is missing.
pub fn guest_path(name: &str) -> PathBuf {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "guest {} is missing; build the guests with `cargo xtask guests`",
        path.display()
    );
    path
}

/// The bytes of guest `name`; panics, saying how to build it, when missing.
pub fn guest(name: &str) -> Vec<u8> {
    let path = guest_path(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading guest {}: {error}", path.display()))
}
