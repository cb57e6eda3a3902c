//! `kiln run` as a user runs it: the real binary, the real example components.

use kiln_test_guests::guest_path as guest;
use std::path::Path;
use std::process::{Command, Output};

fn kiln(dir: &Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("run")
        .args(args)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Map<String, serde_json::Value> {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    match serde_json::from_str(&text).unwrap() {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn json_output_has_exactly_the_documented_keys_and_the_output_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::write(&input, b"kiln").unwrap();
    let sha = guest("kiln_example_sha256");
    let result = kiln(
        dir.path(),
        &[
            sha.as_os_str(),
            "--input".as_ref(),
            input.as_os_str(),
            "--output".as_ref(),
            output.as_os_str(),
            "--json".as_ref(),
        ],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let object = json(&result);
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["fuel", "gpu_ns", "output_sha256", "status", "wall_ms"]
    );
    assert_eq!(object["status"], "ok");
    assert!(object["fuel"].as_u64().unwrap() > 0);
    assert_eq!(object["gpu_ns"], 0);
    let written = std::fs::read(&output).unwrap();
    assert_eq!(written, kiln_protocol::sha256(&[b"kiln"]).to_bytes());
    assert_eq!(
        object["output_sha256"],
        kiln_protocol::sha256(&[&written]).to_string()
    );
}

#[test]
fn a_job_that_runs_out_of_fuel_says_so_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, b"spin").unwrap();
    let hostile = guest("kiln_test_hostile");
    let result = kiln(
        dir.path(),
        &[
            hostile.as_os_str(),
            "--input".as_ref(),
            input.as_os_str(),
            "--fuel".as_ref(),
            "5000000".as_ref(),
            "--json".as_ref(),
        ],
    );
    assert!(!result.status.success());
    let object = json(&result);
    assert_eq!(object["status"], "out-of-fuel");
    assert_eq!(object["fuel"], 5_000_000);
    assert_eq!(object["output_sha256"], serde_json::Value::Null);
}

#[test]
fn a_file_that_is_not_a_component_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"#!/bin/sh\necho hi\n").unwrap();
    let result = kiln(dir.path(), &[bogus.as_os_str()]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("not a WebAssembly file"), "{stderr}");
}

#[test]
fn text_output_prints_usage_and_the_guests_logs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, b"log:hello").unwrap();
    let hostile = guest("kiln_test_hostile");
    let result = kiln(
        dir.path(),
        &[hostile.as_os_str(), "--input".as_ref(), input.as_os_str()],
    );
    assert!(result.status.success());
    let stdout = String::from_utf8_lossy(&result.stdout);
    for line in [
        "status        ok",
        "fuel ",
        "wall_ms ",
        "gpu_ns ",
        "output_sha256 ",
    ] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
    assert!(String::from_utf8_lossy(&result.stderr).contains("hello"));
}

/// `kiln run` offers CUDA with its own `ptx-compile` as the compiler
/// process: without one the guest would hear "CUDA is off on this node".
/// With a driver, the example runs and checks its sum.
#[test]
fn a_cuda_workload_reaches_the_driver_with_the_binarys_ptx_compiler() {
    let dir = tempfile::tempdir().unwrap();
    let vecadd = guest("kiln_example_vecadd_cuda");
    let result = kiln(dir.path(), &[vecadd.as_os_str()]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    if kiln_gpu::cuda::device_count() > 0 {
        assert!(result.status.success(), "{stdout}");
    } else {
        // The example's own words for `no-driver`, and not for the node
        // having no compiler process.
        assert!(stdout.contains("no CUDA driver on this node"), "{stdout}");
        assert!(!stdout.contains("CUDA is off"), "{stdout}");
    }
}

/// The hidden subcommand a node runs for each CUDA module.
#[test]
fn ptx_compile_compiles_or_says_why_not() {
    let ptx = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/examples/vecadd-cuda/src/vecadd.ptx"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["ptx-compile", "0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &ptx).unwrap();
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    if kiln_gpu::cuda::device_count() > 0 {
        assert!(output.status.success(), "{log}");
        assert!(output.stdout.starts_with(b"\x7fELF"), "{log}");
    } else {
        // EX_UNAVAILABLE, and nothing but the reason on stderr.
        assert_eq!(output.status.code(), Some(69), "{log}");
        if !kiln_gpu::cuda::driver_present() {
            assert_eq!(log.trim(), "no CUDA driver (libcuda) on this node");
        }
    }
}
