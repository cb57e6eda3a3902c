//! The node's side of the compile, against real child processes: shell
//! scripts standing in for the compiler where the driver's would need a GPU.
//! The compiler binary itself is tested in `tests/all/cuda.rs`.

use std::time::{Duration, Instant};

use super::{PtxCompiler, compile};
use crate::bindings::cuda::CudaError;
use crate::limits::MAX_PTX_BYTES;

/// A compiler that runs `script` under `/bin/sh`; the device's ordinal is `$1`.
fn script(script: &str) -> PtxCompiler {
    PtxCompiler::new("/bin/sh", ["-c", script, "kiln-ptx-compile"])
}

fn in_a_minute() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn compiled(compiler: &PtxCompiler, ptx: &str) -> Result<Vec<u8>, CudaError> {
    compile(compiler, 3, ptx.to_owned(), in_a_minute())
}

/// `ptxas -arch=sm_52 sdk/examples/vecadd-cuda/src/vecadd.ptx` (12.9).
const VECADD_CUBIN: &[u8] = include_bytes!("vecadd_sm52.cubin");

fn fixture() -> String {
    format!(
        "{}/src/cuda/jit/vecadd_sm52.cubin",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn the_cubin_comes_back_for_the_ptx_sent_and_the_device_named() {
    let compiler = script(&format!(
        r#"test "$1" = 3 && test "$(cat)" = '.version 8.0' || exit 1; cat '{}'"#,
        fixture()
    ));
    let cubin = compiled(&compiler, ".version 8.0").unwrap();
    assert_eq!(cubin, VECADD_CUBIN);
}

/// Only what the driver reads reaches the compiler: not the node's
/// environment (its paths, its home), and the driver's disk cache is off.
#[test]
fn the_compiler_sees_only_the_drivers_environment_with_its_cache_off() {
    let compiler = script("cat >/dev/null; env >&2; exit 65");
    let Err(CudaError::InvalidModule(environment)) = compiled(&compiler, ".version 8.0") else {
        panic!("the script's exit was not read");
    };
    let names: Vec<&str> = environment
        .lines()
        .filter_map(|line| line.split('=').next())
        .filter(|name| !["PWD", "SHLVL", "_", "KILN_NODE_PID"].contains(name))
        .collect();
    assert!(
        environment
            .lines()
            .any(|line| line == "CUDA_CACHE_DISABLE=1")
    );
    let node = format!("KILN_NODE_PID={}", std::process::id());
    assert!(environment.lines().any(|line| line == node));
    for name in names {
        assert!(
            ["CUDA_", "NVIDIA_", "__NV", "LD_LIBRARY_PATH"]
                .iter()
                .any(|prefix| name.starts_with(prefix)),
            "{name} reached the compiler"
        );
    }
}

#[test]
fn a_driver_failure_is_launch_failed_not_the_modules_fault() {
    let failing = script("cat >/dev/null; echo 'device 0: CUDA_ERROR_OUT_OF_MEMORY' >&2; exit 75");
    match compiled(&failing, ".version 8.0") {
        Err(CudaError::LaunchFailed(message)) => {
            assert_eq!(message, "device 0: CUDA_ERROR_OUT_OF_MEMORY");
        }
        other => panic!("expected launch-failed, got {other:?}"),
    }
}

#[test]
fn a_compile_error_is_invalid_module_with_the_compilers_log() {
    let refusing = script("cat >/dev/null; echo 'ptxas fatal: syntax error' >&2; exit 65");
    match compiled(&refusing, "garbage") {
        Err(CudaError::InvalidModule(log)) => assert_eq!(log, "ptxas fatal: syntax error"),
        other => panic!("expected invalid-module, got {other:?}"),
    }
}

#[test]
fn a_compiler_crash_is_the_modules_invalid_module_not_the_nodes() {
    let crashing = script("ulimit -c 0; kill -SEGV $$");
    match compiled(&crashing, ".version 8.0") {
        Err(CudaError::InvalidModule(message)) => {
            assert!(message.contains("crashed"), "{message}");
            assert!(message.contains("signal 11"), "{message}");
        }
        other => panic!("expected invalid-module, got {other:?}"),
    }
}

#[test]
fn a_child_without_a_driver_is_no_driver() {
    let driverless = script("echo 'no CUDA driver (libcuda) on this node' >&2; exit 69");
    match compiled(&driverless, ".version 8.0") {
        Err(CudaError::NoDriver(message)) => {
            assert_eq!(message, "no CUDA driver (libcuda) on this node");
        }
        other => panic!("expected no-driver, got {other:?}"),
    }
}

/// The script's own child keeps the output pipes open: were it not killed
/// with the group, the output would stay open, and the compile would end as
/// "did not end" or "stayed open" instead. Neither reads its input, larger
/// than a pipe holds, so the node's write blocks until the kill.
#[test]
fn a_compile_past_the_deadline_is_killed_with_everything_it_started() {
    let endless = script("sleep 30 & wait");
    let deadline = Instant::now() + Duration::from_millis(200);
    let ptx = "/".repeat(MAX_PTX_BYTES);
    match compile(&endless, 0, ptx, deadline) {
        Err(CudaError::LaunchFailed(message)) => assert!(message.contains("deadline"), "{message}"),
        other => panic!("expected launch-failed, got {other:?}"),
    }
}

#[test]
fn output_past_its_bound_is_refused_and_the_compiler_stopped() {
    for flooding in [
        "trap '' PIPE; while :; do yes; done",
        "trap '' PIPE; while :; do yes >&2; done",
    ] {
        match compiled(&script(flooding), ".version 8.0") {
            Err(CudaError::InvalidModule(message)) => {
                assert!(message.contains("more than"), "{flooding}: {message}");
            }
            other => panic!("{flooding}: expected invalid-module, got {other:?}"),
        }
    }
}

#[test]
fn output_that_is_not_a_cubin_is_never_handed_to_the_driver() {
    // PTX, a fatbin's magic, the ELF magic, a cubin's ELF header alone, a
    // truncated cubin.
    let header = format!("head -c 64 '{}'", fixture());
    let truncated = format!("head -c 1000 '{}'", fixture());
    for image in [
        r"printf '.version 8.0'",
        r"printf '\120\355\125\272'",
        r"printf '\177ELF'",
        &header,
        &truncated,
    ] {
        let returning = script(&format!("cat >/dev/null; {image}"));
        match compiled(&returning, ".version 8.0") {
            Err(CudaError::LaunchFailed(message)) => {
                assert!(message.contains("wrote no cubin"), "{image}: {message}");
            }
            other => panic!("{image}: expected launch-failed, got {other:?}"),
        }
    }
}

/// A module larger than a pipe's buffer, to a child that never reads it.
#[test]
fn a_child_that_exits_without_reading_its_input_does_not_hang_the_node() {
    let ptx = "/".repeat(MAX_PTX_BYTES);
    let early = script("exit 70");
    match compile(&early, 0, ptx, in_a_minute()) {
        Err(CudaError::LaunchFailed(message)) => {
            assert!(message.contains("exit status: 70"), "{message}");
        }
        other => panic!("expected launch-failed, got {other:?}"),
    }
}

#[test]
fn a_compiler_that_cannot_start_is_launch_failed() {
    let missing = PtxCompiler::new("/nonexistent/kiln-ptx-compile", Vec::<String>::new());
    match compiled(&missing, ".version 8.0") {
        Err(CudaError::LaunchFailed(message)) => {
            assert!(
                message.contains("/nonexistent/kiln-ptx-compile"),
                "{message}"
            );
        }
        other => panic!("expected launch-failed, got {other:?}"),
    }
}

#[test]
fn the_compiler_process_refuses_a_command_line_it_cannot_use() {
    for args in [vec![], vec!["zero"], vec!["0", "1"], vec!["-1"]] {
        let args = args.into_iter().map(std::ffi::OsString::from);
        let Err((code, message)) = super::child::run(args) else {
            panic!("a bad command line was accepted");
        };
        assert_eq!(code, super::EXIT_USAGE, "{message}");
    }
}
