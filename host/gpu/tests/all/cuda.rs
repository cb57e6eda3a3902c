//! `kiln:gpu/cuda` on a machine without a CUDA driver: typed `no-driver`;
//! and the PTX compiler process, which runs with or without one.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use kiln_gpu::DeviceConfig;
use kiln_runtime::JobError;

use crate::common::{GpuSandbox, limits};

/// The example's kernel, as the guest sends it.
const VECADD_PTX: &str = include_str!("../../../../sdk/examples/vecadd-cuda/src/vecadd.ptx");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_driver_cuda_says_no_driver() {
    let sandbox = GpuSandbox::new();
    if sandbox.gpu.cuda_available() {
        // A CUDA machine: the example must run and check its sum.
        let report = sandbox.run("kiln_example_vecadd_cuda", b"", limits()).await;
        assert_eq!(report.result.unwrap().len(), 8);
        return;
    }
    let answer = sandbox.probe("cuda", limits()).await.unwrap();
    assert!(answer.starts_with("no-driver:"), "{answer}");
    let report = sandbox.run("kiln_example_vecadd_cuda", b"", limits()).await;
    match report.result {
        Err(JobError::Guest(message)) => {
            assert!(
                message.starts_with("no CUDA driver on this node"),
                "{message}"
            );
        }
        other => panic!("expected the example's no-driver message, got {other:?}"),
    }
    sandbox.assert_healthy().await;
}

/// Without a compiler process CUDA is off, whatever the machine has: the
/// driver's compiler never runs in the node's process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ptx_compiler_process_cuda_is_off() {
    let sandbox = GpuSandbox::with(DeviceConfig::default());
    assert!(!sandbox.gpu.cuda_available());
    let answer = sandbox.probe("cuda", limits()).await.unwrap();
    assert!(
        answer.starts_with("no-driver: CUDA is off on this node"),
        "{answer}"
    );
}

/// Runs `kiln-ptx-compile` with `args` and `stdin`.
fn ptx_compile(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln-ptx-compile"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The process may refuse before reading (a bad command line).
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn the_ptx_compiler_process_compiles_or_says_why_not() {
    let output = ptx_compile(&["0"], VECADD_PTX.as_bytes());
    let log = String::from_utf8_lossy(&output.stderr);
    if kiln_gpu::cuda::device_count() > 0 {
        // A CUDA machine: a cubin for device 0.
        assert!(output.status.success(), "{log}");
        assert!(output.stdout.starts_with(b"\x7fELF"), "{log}");
    } else {
        assert_eq!(output.status.code(), Some(69), "{log}");
        if !kiln_gpu::cuda::driver_present() {
            assert_eq!(log.trim(), "no CUDA driver (libcuda) on this node");
        }
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn the_ptx_compiler_process_refuses_what_it_must_not_compile() {
    let usage = ptx_compile(&[], VECADD_PTX.as_bytes());
    assert_eq!(usage.status.code(), Some(64));
    let too_large = vec![b' '; kiln_gpu::limits::MAX_PTX_BYTES + 1];
    let nul = format!("{VECADD_PTX}\0.entry hidden()");
    for input in [too_large, nul.into_bytes()] {
        let refused = ptx_compile(&["0"], &input);
        let log = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(65), "{log}");
        assert!(refused.stdout.is_empty());
    }
}

/// Before it reads anything, the compiler process makes itself first in
/// line for the OOM killer and turns core dumps off: it is seen so while
/// it waits for its input.
#[test]
fn the_ptx_compiler_process_contains_itself_before_reading() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln-ptx-compile"))
        .arg("0")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = std::path::PathBuf::from(format!("/proc/{}", child.id()));
    let contained = || {
        let oom = std::fs::read_to_string(proc.join("oom_score_adj")).unwrap_or_default();
        let limits = std::fs::read_to_string(proc.join("limits")).unwrap_or_default();
        let core = limits
            .lines()
            .find(|line| line.starts_with("Max core file size"))
            .map(|line| line.split_whitespace().skip(4).take(2).collect::<Vec<_>>());
        oom.trim() == "1000" && core == Some(vec!["0", "0"])
    };
    // Ten seconds at most for a process to start and make four calls.
    let seen = (0..1000).any(|_| {
        let seen = contained();
        if !seen {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        seen
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen,
        "no OOM score of 1000 and core limit of 0 on the compiler"
    );
}

/// A compiler whose node died before it armed its death signal has another
/// parent by then, and exits without compiling.
#[test]
fn the_ptx_compiler_process_exits_when_its_node_is_gone() {
    let not_the_parent = (std::process::id() + 1).to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_kiln-ptx-compile"))
        .arg("0")
        .env("KILN_NODE_PID", not_the_parent)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(75), "{log}");
    assert_eq!(log.trim(), "the node that started this compile is gone");
}
