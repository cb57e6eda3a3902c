//! Example workload: the SHA-256 digest of the input (32 bytes of output).
//!
//! ```sh
//! cargo xtask guests
//! wasmtime run target/wasm32-wasip2/guest/kiln_example_sha256.wasm < README.md | xxd
//! cargo run -p kiln -- run target/wasm32-wasip2/guest/kiln_example_sha256.wasm --input README.md
//! ```

use sha2::{Digest, Sha256};

struct Sha256Workload;

impl kiln_guest::Workload for Sha256Workload {
    fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
        Ok(Sha256::digest(&input).to_vec())
    }
}

kiln_guest::export_workload!(Sha256Workload);
