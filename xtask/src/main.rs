//! `cargo xtask`: everything beyond `cargo build`.
//!
//! - `demo`: the main job: setup, build the guests and the program, run
//!   `kiln demo` (a whole network in one process runs a GPU and a CPU job).
//! - `setup`: install what a fresh machine lacks (rustup targets and
//!   toolchains, cargo tools, Debian packages), each said as it is done and
//!   skipped when present.
//! - `test`: setup, then fmt check, clippy, guest and no_std builds, the whole
//!   test suite with cargo-nextest, doc tests and a short fuzz run. This is
//!   the README's test command and what `.ci/run` calls.
//! - `guests`: build the guest components for `wasm32-wasip2`.
//! - `bench SUITE`: run a benchmark suite in release mode (`sandbox`, `settlement`, `scheduler`, `gpu`).
//! - `fuzz TARGET [SECONDS]`: run one fuzz target for longer.
//! - `sbf`: build the settlement program's SBF ELF (see `sbf.rs`).
//! - `postgres`: start the PostgreSQL server the scheduler's tests use, print its URL.
//!
//! xtask keeps its dependencies to `anyhow`: it shells out to cargo, rustup
//! and apt, so it builds in seconds on a new machine.

mod bench;
mod command;
mod demo;
mod guests;
mod postgres;
mod sbf;
mod setup;
mod test;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo                     the main job: set up, build, run a GPU and a CPU job on a local network
  setup                    install missing toolchains, targets, cargo tools and packages
  guests                   build the guest components (examples, test guests) for wasm32-wasip2
  bench <suite>            run a benchmark suite in release mode (sandbox, settlement, scheduler, gpu, e2e)
  test                     setup, then fmt, clippy, guest builds, PostgreSQL, tests, doc tests, fuzz smoke
  fuzz <target> [seconds]  run a fuzz target (decode_receipt, decode_manifest)
  sbf                      build the settlement program to an SBF ELF (target/sbf/)
  postgres                 start the scheduler tests' PostgreSQL server (if not running); print its URL";

fn main() {
    if let Err(error) = run() {
        eprintln!("xtask: error: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["demo", extra @ ..] => demo::run(extra),
        ["setup"] => setup::run(),
        ["test"] => test::run(),
        ["guests"] => guests::build(),
        ["bench", suite] => bench::run(suite),
        ["fuzz", target] => test::fuzz(target, test::DEFAULT_FUZZ_SECONDS * 10),
        ["fuzz", target, seconds] => test::fuzz(target, seconds.parse()?),
        ["sbf"] => sbf::build().map(drop),
        ["postgres"] => postgres::ensure().map(|url| println!("{url}")),
        ["help" | "--help" | "-h"] | [] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command {args:?}\n\n{USAGE}"),
    }
}
