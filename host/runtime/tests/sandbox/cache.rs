//! The compiled-component cache: on disk across runtimes, in memory within one.

use std::os::unix::fs::PermissionsExt as _;

use kiln_runtime::{CacheStats, Metering, Runtime, RuntimeConfig};

use crate::common::guest;

fn runtime(cache: &std::path::Path, scratch: &std::path::Path, metering: Metering) -> Runtime {
    let mut config = RuntimeConfig::new(scratch).with_cache_dir(cache);
    config.metering = metering;
    Runtime::new(config).unwrap()
}

fn artifacts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
        .collect();
    paths.sort();
    paths
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_is_compiled_once_then_read_from_disk_by_later_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, scratch) = (dir.path().join("cache"), dir.path().join("scratch"));
    let bytes = guest("kiln_example_sha256");

    let first = runtime(&cache, &scratch, Metering::FuelAndEpochs);
    let workload = first.load(&bytes).unwrap();
    first.load(&bytes).unwrap();
    let expected = CacheStats {
        compiled: 1,
        from_disk: 0,
        from_memory: 1,
    };
    assert_eq!(first.cache_stats(), expected);
    let saved = artifacts(&cache);
    assert_eq!(saved.len(), 1);
    let name = saved[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&workload.digest().to_string()), "{name}");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&saved[0]), 0o600);
    assert_eq!(mode(&cache), 0o700);

    let second = runtime(&cache, &scratch, Metering::FuelAndEpochs);
    let again = second.load(&bytes).unwrap();
    assert_eq!(second.cache_stats().from_disk, 1);
    assert_eq!(second.cache_stats().compiled, 0);
    let report = second
        .run(&again, b"abc".to_vec(), Default::default())
        .await;
    let digest = kiln_protocol::sha256(&[b"abc"]);
    assert_eq!(report.result.unwrap(), digest.0.to_vec());
}

#[tokio::test(flavor = "multi_thread")]
async fn another_engine_configuration_gets_its_own_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, scratch) = (dir.path().join("cache"), dir.path().join("scratch"));
    let bytes = guest("kiln_example_sha256");
    runtime(&cache, &scratch, Metering::FuelAndEpochs)
        .load(&bytes)
        .unwrap();
    let unmetered = runtime(&cache, &scratch, Metering::Unmetered);
    unmetered.load(&bytes).unwrap();
    assert_eq!(
        unmetered.cache_stats().compiled,
        1,
        "fuel-free code is not reused"
    );
    assert_eq!(artifacts(&cache).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_artifact_is_discarded_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, scratch) = (dir.path().join("cache"), dir.path().join("scratch"));
    let bytes = guest("kiln_example_sha256");
    runtime(&cache, &scratch, Metering::FuelAndEpochs)
        .load(&bytes)
        .unwrap();
    let artifact = artifacts(&cache).remove(0);
    std::fs::write(&artifact, b"\x7fELF but not really").unwrap();

    let runtime = runtime(&cache, &scratch, Metering::FuelAndEpochs);
    let workload = runtime.load(&bytes).unwrap();
    assert_eq!(runtime.cache_stats().compiled, 1);
    let report = runtime
        .run(&workload, b"".to_vec(), Default::default())
        .await;
    assert_eq!(
        report.result.unwrap(),
        kiln_protocol::sha256(&[b""]).0.to_vec()
    );
}
