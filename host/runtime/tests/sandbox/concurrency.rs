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
