//! A workload built with the SDK is also a plain WASI command, as
//! `wasmtime run workload.wasm < input > output` runs it: this test does what
//! the wasmtime CLI does (stock WASI linker, `wasi:cli/run`), in-process, so
//! it needs no CLI on the machine.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::common::guest;

struct Cli {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Cli {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Runs `name` as a command with `input` on stdin: (exit ok, stdout, stderr).
fn run_command(name: &str, input: &[u8]) -> (bool, Vec<u8>, Vec<u8>) {
    let engine = Engine::default();
    let mut linker = Linker::<Cli>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let component = Component::new(&engine, guest(name)).unwrap();
    let (stdout, stderr) = (
        MemoryOutputPipe::new(1 << 20),
        MemoryOutputPipe::new(1 << 20),
    );
    let ctx = WasiCtx::builder()
        .stdin(MemoryInputPipe::new(input.to_vec()))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let table = ResourceTable::new();
    let mut store = Store::new(&engine, Cli { ctx, table });
    let command = Command::instantiate(&mut store, &component, &linker).unwrap();
    let exit = command.wasi_cli_run().call_run(&mut store).unwrap();
    (
        exit.is_ok(),
        stdout.contents().to_vec(),
        stderr.contents().to_vec(),
    )
}

#[test]
fn the_sha256_example_runs_as_a_wasi_command() {
    let input = b"hello from stdin".repeat(1000);
    let (ok, stdout, _) = run_command("kiln_example_sha256", &input);
    assert!(ok);
    assert_eq!(stdout, kiln_protocol::sha256(&[&input]).to_bytes());
}

#[test]
fn a_failing_workload_exits_non_zero_with_its_message_on_stderr() {
    let (ok, stdout, stderr) = run_command("kiln_example_matmul", b"bad");
    assert!(!ok);
    assert!(stdout.is_empty());
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(
        stderr.contains("input must be empty or 8 bytes"),
        "{stderr}"
    );
}
