//! The guest SDK: what a Kiln workload links.
//!
//! A workload is a `cdylib` built for `wasm32-wasip2` that implements
//! [`Workload`] and names its type in [`export_workload!`]:
//!
//! ```ignore
//! struct Hasher;
//!
//! impl kiln_guest::Workload for Hasher {
//!     fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
//!         Ok(my_hash(&input).to_vec())
//!     }
//! }
//!
//! kiln_guest::export_workload!(Hasher);
//! ```
//!
//! The macro exports two things from the one component:
//!
//! - `run`, the `kiln:workload` export a Kiln node calls with the job input;
//! - `wasi:cli/run`, so the same file also works as a plain WASI command:
//!   `wasmtime run workload.wasm < input > output` reads the input from
//!   stdin, writes the output to stdout, and on error prints the message to
//!   stderr and exits non-zero. This is how a renter tests a workload locally
//!   with the stock wasmtime CLI before paying for it.
//!
//! Inside `run` a workload may use the Rust standard library as usual for
//! what Kiln grants (see `wit/workload/world.wit`): clocks, randomness,
//! files under `/scratch`, printing to stdout/stderr (captured, capped).

/// Bindings generated from `wit/workload`. Public for [`export_workload!`].
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/workload",
        world: "kiln:workload/workload",
        pub_export_macro: true,
        export_macro_name: "__export_workload_bindings",
        default_bindings_module: "kiln_guest::bindings",
    });
}

#[doc(hidden)]
pub use wasip2;

/// Bindings generated from `wit/gpu` (the vendored `wasi:webgpu` and
/// `kiln:gpu/cuda`), with wit-bindgen's defaults: the WIT's `async func`s
/// (`request-adapter`, `map-async`, `pop-error-scope`) are async-lowered and
/// the wrappers run them with `wit_bindgen::block_on`. Kiln's host finishes
/// them before returning, so `block_on` never waits (a workload's `run` is a
/// synchronous export, which the component model does not let block).
#[cfg(feature = "gpu")]
#[allow(missing_docs, reason = "generated from the WIT, whose docs it carries")]
mod gpu_bindings {
    wit_bindgen::generate!({
        path: "../../wit/gpu",
        world: "kiln:gpu/imports",
        generate_all,
    });
}

#[cfg(feature = "gpu")]
pub mod cuda;
#[cfg(feature = "gpu")]
pub mod gpu;

/// A job a Kiln node can run.
pub trait Workload {
    /// Runs the job on `input` and returns its output, or a message saying
    /// why it failed. A panic traps the job instead (it is still billed for
    /// the resources it used).
    fn run(input: Vec<u8>) -> Result<Vec<u8>, String>;
}

/// Runs `W` as a WASI command: input from stdin, output to stdout, an error
/// message to stderr. Used by [`export_workload!`]'s `wasi:cli/run` export.
#[doc(hidden)]
#[expect(clippy::result_unit_err, reason = "the signature of `wasi:cli/run`")]
pub fn run_as_command<W: Workload>() -> Result<(), ()> {
    let input = read_all(&wasip2::cli::stdin::get_stdin());
    match W::run(input) {
        Ok(output) => {
            write_all(&wasip2::cli::stdout::get_stdout(), &output);
            Ok(())
        }
        Err(message) => {
            let stderr = wasip2::cli::stderr::get_stderr();
            write_all(&stderr, message.as_bytes());
            write_all(&stderr, b"\n");
            Err(())
        }
    }
}

fn read_all(stream: &wasip2::io::streams::InputStream) -> Vec<u8> {
    /// Bytes asked for per read; the stream returns what it has.
    const READ_CHUNK: u64 = 64 * 1024;
    let mut input = Vec::new();
    while let Ok(chunk) = stream.blocking_read(READ_CHUNK) {
        input.extend_from_slice(&chunk);
    }
    input
}

fn write_all(stream: &wasip2::io::streams::OutputStream, mut bytes: &[u8]) {
    /// `blocking-write-and-flush` takes at most 4096 bytes per call (WASI 0.2).
    const WRITE_CHUNK: usize = 4096;
    while !bytes.is_empty() {
        let (chunk, rest) = bytes.split_at(bytes.len().min(WRITE_CHUNK));
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
        bytes = rest;
    }
}

/// Exports a [`Workload`] as both `kiln:workload`'s `run` and `wasi:cli/run`.
/// See the crate docs.
#[macro_export]
macro_rules! export_workload {
    ($workload:ty) => {
        #[doc(hidden)]
        struct __KilnWorkloadExport;

        impl $crate::bindings::Guest for __KilnWorkloadExport {
            fn run(
                input: ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                <$workload as $crate::Workload>::run(input)
            }
        }

        impl $crate::wasip2::exports::cli::run::Guest for __KilnWorkloadExport {
            fn run() -> ::core::result::Result<(), ()> {
                $crate::run_as_command::<$workload>()
            }
        }

        $crate::bindings::__export_workload_bindings!(
            __KilnWorkloadExport with_types_in $crate::bindings
        );
        $crate::wasip2::cli::command::export!(__KilnWorkloadExport);
    };
}
