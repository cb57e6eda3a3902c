//! The file system: only the job's scratch directory is reachable, and it is
//! gone when the job ends, however it ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_runtime::{JobError, JobLimits};

use crate::common::{Sandbox, endless, eventually, tight};

/// Runs `write:PATH` and expects a refusal, then checks the host file system.
async fn refused_write(sandbox: &Sandbox, path: &str, on_host: &Path) {
    let report = sandbox.command(&format!("write:{path}"), tight()).await;
    let Err(JobError::Guest(message)) = &report.result else {
        panic!("{path}: expected a refusal, got {:?}", report.result);
    };
    assert!(message.starts_with("write refused"), "{path}: {message}");
    assert!(!on_host.exists(), "{path} escaped to {}", on_host.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_outside_scratch_are_refused_and_land_nowhere() {
    let sandbox = Sandbox::new();
    let parent = sandbox.scratch_root.parent().unwrap().to_owned();
    refused_write(&sandbox, "../escape", &parent.join("escape")).await;
    refused_write(
        &sandbox,
        "/scratch/../escape",
        &sandbox.scratch_root.join("escape"),
    )
    .await;
    refused_write(&sandbox, "/scratch/../../escape", &parent.join("escape")).await;
    let etc = Path::new("/etc/kiln-sandbox-escape");
    refused_write(&sandbox, "/etc/kiln-sandbox-escape", etc).await;
    refused_write(
        &sandbox,
        "/tmp/kiln-sandbox-escape",
        Path::new("/tmp/kiln-sandbox-escape"),
    )
    .await;
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_files_cannot_be_read_directly_or_through_a_symlink() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("read:/etc/passwd", tight()).await;
    assert!(
        matches!(&report.result, Err(JobError::Guest(m)) if m.starts_with("read refused")),
        "{:?}",
        report.result
    );
    let report = sandbox.command("symlink-out", tight()).await;
    let Err(JobError::Guest(message)) = &report.result else {
        panic!("expected a refusal, got {:?}", report.result);
    };
    assert!(message.contains("refused"), "{message}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scratch_is_writable_and_removed_after_success() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("write:/scratch/result.bin", tight()).await;
    assert_eq!(report.result.unwrap(), b"written");
    // Removed right after the report, off the job's critical path.
    eventually("the scratch dir to go", || {
        sandbox.used_scratch_dirs().is_empty()
    })
    .await;
    sandbox.assert_healthy().await;
}

/// Starts `stash` (writes a file, then spins), waits until the file exists
/// and returns the job and its scratch directory on the host.
async fn stashed(sandbox: &Sandbox, limits: JobLimits) -> (kiln_runtime::JobHandle, PathBuf) {
    let job = sandbox
        .runtime
        .start(&sandbox.hostile(), b"stash".to_vec(), limits);
    eventually("the stash file", || !sandbox.used_scratch_dirs().is_empty()).await;
    let dir = sandbox.used_scratch_dirs().remove(0);
    assert!(dir.join("stash").exists());
    (job, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn scratch_is_removed_when_the_job_is_killed() {
    let sandbox = Sandbox::new();
    let (job, dir) = stashed(&sandbox, endless()).await;
    job.kill();
    assert_eq!(job.wait().await.result, Err(JobError::Killed));
    assert!(!dir.exists());
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scratch_is_removed_when_the_deadline_passes() {
    let sandbox = Sandbox::new();
    let limits = JobLimits {
        wall_clock: Duration::from_millis(500),
        ..endless()
    };
    let (job, dir) = stashed(&sandbox, limits).await;
    let report = job.wait().await;
    assert!(matches!(report.result, Err(JobError::Deadline { .. })));
    assert!(!dir.exists());
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scratch_is_removed_when_fuel_runs_out_or_the_guest_traps() {
    let sandbox = Sandbox::new();
    let limits = JobLimits {
        fuel: 100_000_000,
        ..tight()
    };
    let report = sandbox.command("stash", limits).await;
    assert!(matches!(report.result, Err(JobError::OutOfFuel { .. })));
    eventually("the scratch dir to go", || {
        sandbox.used_scratch_dirs().is_empty()
    })
    .await;
    let report = sandbox.command("panic", tight()).await;
    assert!(matches!(report.result, Err(JobError::Trap(_))));
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_handle_kills_the_job_and_removes_scratch() {
    let sandbox = Sandbox::new();
    let (job, dir) = stashed(&sandbox, endless()).await;
    drop(job);
    eventually("the scratch dir to go", || !dir.exists()).await;
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_runtime_clears_scratch_left_by_a_dead_process_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("scratch");
    // A process id above the kernel's maximum (2^22) never runs.
    let dead = root.join("kiln-rt-99999999-crashed");
    std::fs::create_dir_all(dead.join("kiln-job-x")).unwrap();
    std::fs::write(dead.join("kiln-job-x/data"), b"old").unwrap();
    std::fs::create_dir_all(root.join("not-ours")).unwrap();

    let sandbox = Sandbox::with(|config| config.scratch_root = root.clone());
    assert!(!dead.exists(), "a dead process's scratch is removed");
    assert!(root.join("not-ours").exists(), "only kiln-rt-* is touched");
    let (job, job_dir) = stashed(&sandbox, endless()).await;

    // A second runtime on the same root, in this live process, leaves the
    // first one's running job alone.
    let second = kiln_runtime::Runtime::new(kiln_runtime::RuntimeConfig::new(&root)).unwrap();
    assert!(job_dir.join("stash").exists());
    drop(second);
    job.kill();
    assert_eq!(job.wait().await.result, Err(JobError::Killed));
    assert!(!job_dir.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_runtime_removes_its_scratch_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("scratch");
    let runtime = kiln_runtime::Runtime::new(kiln_runtime::RuntimeConfig::new(&root)).unwrap();
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
    drop(runtime);
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scratch_root_can_be_removed_as_soon_as_the_runtime_is_dropped() {
    // A job's teardown and its workload's warm refill run after the report,
    // so they can outlast the runtime handle. Once it is dropped they must
    // make no directory, or removing the root right away would race a mkdir
    // (as it did: test runs left empty `scratch` directories in /tmp).
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("scratch");
        let runtime = kiln_runtime::Runtime::new(kiln_runtime::RuntimeConfig::new(&root)).unwrap();
        let workload = runtime
            .load(&crate::common::guest("kiln_test_hostile"))
            .unwrap();
        for _ in 0..2 {
            let report = runtime.run(&workload, b"echo:hi".to_vec(), tight()).await;
            assert_eq!(report.result.unwrap(), b"hi");
        }
        drop(runtime);
        std::fs::remove_dir_all(&root)
            .unwrap_or_else(|e| panic!("round {round}: the root could not be removed: {e}"));
        drop(workload);
    }
}
