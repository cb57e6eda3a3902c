//! Many jobs at once on one runtime.

use kiln_runtime::JobLimits;

use crate::common::{Sandbox, endless, tight};

/// Jobs started together in the big test: more than a node runs in practice.
const JOBS_AT_ONCE: usize = 1000;

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_jobs_at_once_each_get_their_own_answer() {
    let sandbox = Sandbox::new();
    let workload = sandbox.hostile();
    let limits = JobLimits {
        memory_bytes: 16 << 20,
        ..tight()
    };
    let jobs: Vec<_> = (0..JOBS_AT_ONCE)
        .map(|i| {
            let command = format!("echo:job {i}").into_bytes();
            sandbox.runtime.start(&workload, command, limits)
        })
        .collect();
    for (i, job) in jobs.into_iter().enumerate() {
        let report = job.wait().await;
        assert_eq!(report.result.unwrap(), format!("job {i}").into_bytes());
    }
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_beyond_the_slots_wait_for_one_instead_of_failing() {
    let sandbox = Sandbox::with(|config| config.max_concurrent_jobs = 2);
    let workload = sandbox.hostile();
    let jobs: Vec<_> = (0..20)
        .map(|i| {
            let command = format!("count:{}", 10_000 * (i + 1)).into_bytes();
            sandbox.runtime.start(&workload, command, tight())
        })
        .collect();
    for job in jobs {
        assert!(job.wait().await.result.is_ok());
    }
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runaway_job_does_not_starve_the_others() {
    let sandbox = Sandbox::with(|config| config.max_concurrent_jobs = 8);
    let workload = sandbox.hostile();
    let spinner = sandbox
        .runtime
        .start(&workload, b"spin".to_vec(), endless());
    for i in 0..20 {
        let report = sandbox
            .runtime
            .run(&workload, format!("echo:{i}").into_bytes(), tight())
            .await;
        assert_eq!(report.result.unwrap(), i.to_string().into_bytes());
    }
    spinner.kill();
    assert!(spinner.wait().await.result.is_err());
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn later_jobs_start_warm_with_the_same_output_and_fuel_as_a_cold_start() {
    let sandbox = Sandbox::new();
    let first = sandbox.command("count:1000", tight()).await;
    let mut runs = Vec::new();
    for _ in 0..6 {
        // Leave the background refill time to make the next instance.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        runs.push(sandbox.command("count:1000", tight()).await);
    }
    let stats = sandbox.runtime.start_stats();
    assert!(stats.cold >= 1, "{stats:?}");
    assert!(stats.warm >= 3, "{stats:?}");
    for run in &runs {
        assert_eq!(run.result, first.result);
        assert_eq!(
            run.usage.fuel, first.usage.fuel,
            "warm and cold starts bill the same fuel"
        );
    }
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_cap_below_the_components_initial_memory_is_refused_warm_or_cold() {
    let sandbox = Sandbox::new();
    let small = JobLimits {
        memory_bytes: 64 << 10,
        ..tight()
    };
    for _ in 0..3 {
        let report = sandbox.command("echo:x", small).await;
        assert_eq!(
            report.result,
            Err(kiln_runtime::JobError::MemoryLimit {
                limit_bytes: 64 << 10
            })
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(sandbox.runtime.start_stats().warm >= 1);
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_job_sees_the_scratch_files_of_the_job_before() {
    let sandbox = Sandbox::new();
    for _ in 0..4 {
        let report = sandbox.command("read:/scratch/secret", tight()).await;
        assert!(
            matches!(&report.result, Err(kiln_runtime::JobError::Guest(m)) if m.starts_with("read refused")),
            "{:?}",
            report.result
        );
        let report = sandbox.command("write:/scratch/secret", tight()).await;
        assert_eq!(report.result.unwrap(), b"written");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    sandbox.assert_healthy().await;
}
