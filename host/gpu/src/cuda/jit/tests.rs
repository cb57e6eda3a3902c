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

#[test]
fn the_cubin_comes_back_for_the_ptx_sent_and_the_device_named() {
    let echo = script(r#"test "$1" = 3 || exit 1; printf '\177ELF'; cat"#);
    let cubin = compiled(&echo, ".version 8.0").unwrap();
    assert_eq!(cubin, b"\x7fELF.version 8.0");
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
    let crashing = script("kill -SEGV $$");
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
/// with the group, reading the output would wait the 1000 s out.
#[test]
fn a_compile_past_the_deadline_is_killed_with_everything_it_started() {
    let endless = script("sleep 1000 & wait");
    let deadline = Instant::now() + Duration::from_millis(200);
    match compile(&endless, 0, ".version 8.0".into(), deadline) {
        Err(CudaError::LaunchFailed(message)) => assert!(message.contains("deadline"), "{message}"),
        other => panic!("expected launch-failed, got {other:?}"),
    }
}

/// Without the bound the compile would run to the deadline a minute away,
/// and fail as launch-failed; the bound stops it as the module's fault.
#[test]
fn output_past_its_bound_is_refused_and_the_compiler_stopped() {
    for flooding in ["yes", "yes >&2"] {
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
    for image in ["'.version 8.0'", "'\\120\\355\\060\\272'"] {
        let returning = script(&format!("cat >/dev/null; printf {image}"));
        match compiled(&returning, ".version 8.0") {
            Err(CudaError::LaunchFailed(message)) => {
                assert!(message.contains("no ELF"), "{message}")
            }
            other => panic!("expected launch-failed, got {other:?}"),
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
