//! Files refused before anything runs, each with its typed error.

use kiln_runtime::LoadError;

use crate::common::{Sandbox, guest};

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_or_non_wasm_file_is_not_wasm() {
    let sandbox = Sandbox::new();
    for bytes in [&b""[..], b"hello, world", b"\x7fELF\x02\x01\x01\0"] {
        let error = sandbox.runtime.load(bytes).unwrap_err();
        assert!(matches!(error, LoadError::NotWasm), "{bytes:?}: {error}");
    }
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_is_not_a_component() {
    let sandbox = Sandbox::new();
    // The smallest valid core module: header and version 1, no sections.
    let error = sandbox.runtime.load(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(error, LoadError::NotAComponent), "{error}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_component_is_invalid() {
    let sandbox = Sandbox::new();
    let bytes = guest("kiln_test_hostile");
    for len in [6, 9, 100, bytes.len() / 3, bytes.len() - 1] {
        let error = sandbox.runtime.load(&bytes[..len]).unwrap_err();
        assert!(
            matches!(error, LoadError::Invalid { .. }),
            "cut at {len}: {error}"
        );
    }
    // The header alone is a valid, empty component: it has nothing to run.
    let error = sandbox.runtime.load(&bytes[..8]).unwrap_err();
    assert!(matches!(error, LoadError::MissingRunExport), "{error}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_opens_sockets_is_refused_at_load() {
    let sandbox = Sandbox::new();
    let error = sandbox.runtime.load(&guest("kiln_test_net")).unwrap_err();
    let LoadError::ImportNotGranted { import } = &error else {
        panic!("expected ImportNotGranted, got {error}");
    };
    assert!(import.starts_with("wasi:sockets/"), "{import}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn granted_imports_are_exactly_the_documented_set() {
    for granted in [
        "wasi:clocks/monotonic-clock@0.2.6",
        "wasi:clocks/wall-clock@0.2.0",
        "wasi:random/random@0.2.3",
        "wasi:filesystem/preopens@0.2.0",
        "wasi:cli/stdout@0.2.0",
        "wasi:io/streams@0.2.0",
    ] {
        assert!(kiln_runtime::grants::is_granted(granted), "{granted}");
    }
    for refused in [
        "wasi:sockets/tcp@0.2.0",
        "wasi:sockets/ip-name-lookup@0.2.0",
        "wasi:http/outgoing-handler@0.2.0",
        "wasi:cli/environment-extra@0.2.0",
        "kiln:gpu/cuda@0.1.0",
        "wasi:clocks",
    ] {
        assert!(!kiln_runtime::grants::is_granted(refused), "{refused}");
    }
}
