//! Finding the guests and building runtimes for the tests.

use std::path::PathBuf;
use std::time::Duration;

use kiln_runtime::{JobLimits, JobReport, Metering, Runtime, RuntimeConfig, Workload};
use tempfile::TempDir;

pub use kiln_test_guests::guest;

/// A runtime with its own scratch root, removed with it.
pub struct Sandbox {
    pub runtime: Runtime,
    pub scratch_root: PathBuf,
    _dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(configure: impl FnOnce(&mut RuntimeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let scratch_root = dir.path().join("scratch");
        let mut config = RuntimeConfig::new(&scratch_root);
        configure(&mut config);
        Self {
            scratch_root: config.scratch_root.clone(),
            runtime: Runtime::new(config).unwrap(),
            _dir: dir,
        }
    }

    pub fn metered(metering: Metering) -> Self {
        Self::with(|config| config.metering = metering)
    }

    pub fn hostile(&self) -> Workload {
        self.runtime.load(&guest("kiln_test_hostile")).unwrap()
    }

    /// Runs one hostile command to its end.
    pub async fn command(&self, command: &str, limits: JobLimits) -> JobReport {
        self.runtime
            .run(&self.hostile(), command.as_bytes().to_vec(), limits)
            .await
    }

    /// Job scratch directories currently on disk (in use, or empty and
    /// ready), inside the runtime's own directory under the scratch root.
    pub fn scratch_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.scratch_root)
            .unwrap()
            .flat_map(|runtime_dir| std::fs::read_dir(runtime_dir.unwrap().path()).unwrap())
            .map(|entry| entry.unwrap().path())
            .collect()
    }

    /// Scratch directories with something in them: a job's files.
    pub fn used_scratch_dirs(&self) -> Vec<PathBuf> {
        self.scratch_dirs()
            .into_iter()
            .filter(|dir| std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()))
            .collect()
    }

    /// The runtime still runs a job correctly, no job's files are left, and
    /// no more empty directories remain than the scratch pool and the
    /// prepared instances hold.
    pub async fn assert_healthy(&self) {
        let report = self.command("echo:still here", JobLimits::default()).await;
        assert_eq!(report.result.unwrap(), b"still here");
        // Jobs' directories go right after their reports, off their path.
        eventually("no job's files left", || {
            self.used_scratch_dirs().is_empty()
        })
        .await;
        // Once the teardowns are over: the pool's and the prepared
        // instances' directories, no more.
        let most = kiln_runtime::config::POOLED_SCRATCH_DIRS
            + usize::try_from(kiln_runtime::config::MAX_WARM_INSTANCES).unwrap();
        eventually(&format!("at most {most} scratch dirs"), || {
            self.scratch_dirs().len() <= most
        })
        .await;
    }
}

/// Limits small enough that a runaway guest is stopped quickly.
pub fn tight() -> JobLimits {
    JobLimits {
        fuel: 200_000_000,
        fuel_allowance: None,
        memory_bytes: 64 << 20,
        wall_clock: Duration::from_secs(20),
        gpu_memory_bytes: 0,
        output_bytes: 1 << 20,
        stdio_bytes: 64 << 10,
    }
}

/// Limits for a job that should only end when the test ends it.
pub fn endless() -> JobLimits {
    JobLimits {
        fuel: 1 << 50,
        wall_clock: Duration::from_secs(120),
        ..tight()
    }
}

/// Polls `condition` every few milliseconds, failing after a generous timeout.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}
