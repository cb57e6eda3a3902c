//! Usage while a job runs and after it ends; fuel determinism; pause and resume.

use std::time::{Duration, Instant};

use kiln_runtime::{JobError, JobLimits};

use crate::common::{Sandbox, endless, eventually, tight};

#[tokio::test(flavor = "multi_thread")]
async fn fuel_is_the_same_on_every_run_and_every_runtime() {
    let first = Sandbox::new();
    let second = Sandbox::new();
    let mut seen = Vec::new();
    for sandbox in [&first, &first, &second] {
        let report = sandbox.command("count:2000000", tight()).await;
        seen.push((report.result.unwrap(), report.usage.fuel));
    }
    assert!(seen[0].1 > 2_000_000, "fuel counts the loop: {}", seen[0].1);
    assert!(seen.iter().all(|run| *run == seen[0]), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fuel_grows_with_the_work_done() {
    let sandbox = Sandbox::new();
    let small = sandbox.command("count:100000", tight()).await.usage.fuel;
    let large = sandbox.command("count:1000000", tight()).await.usage.fuel;
    assert!(large > small * 5, "{small} then {large}");
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_can_be_read_while_the_job_runs_and_is_kept_when_it_is_killed() {
    let sandbox = Sandbox::new();
    let job = sandbox
        .runtime
        .start(&sandbox.hostile(), b"spin".to_vec(), endless());
    eventually("fuel to be reported", || job.usage().fuel > 0).await;
    let early = job.usage();
    eventually("fuel to grow", || job.usage().fuel > early.fuel).await;
    let later = job.usage();
    assert!(later.wall_ms >= early.wall_ms);
    job.kill();
    let report = job.wait().await;
    assert_eq!(report.result, Err(JobError::Killed));
    assert!(
        report.usage.fuel >= later.fuel,
        "{later:?} then {:?}",
        report.usage
    );
    assert_eq!(report.usage.gpu_ns, 0, "a CPU job uses no GPU time");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_started_paused_holds_before_its_first_instruction() {
    let sandbox = Sandbox::new();
    let unpaused = sandbox.command("count:1000", tight()).await;
    let job = sandbox
        .runtime
        .start_paused(&sandbox.hostile(), b"count:1000".to_vec(), tight());
    eventually("the guest to be suspended", || job.is_paused()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(job.is_paused());
    assert!(job.usage().fuel < unpaused.usage.fuel, "{:?}", job.usage());
    job.resume(0);
    let report = job.wait().await;
    assert_eq!(report.result, unpaused.result);
    assert_eq!(report.usage.fuel, unpaused.usage.fuel);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_holds_at_its_fuel_allowance_and_resumes_with_more_fuel() {
    let sandbox = Sandbox::new();
    let command = "count:200000000";
    let unpaused = sandbox.command(command, endless()).await;
    let needed = unpaused.usage.fuel;

    let limits = JobLimits {
        fuel_allowance: Some(needed / 4),
        ..endless()
    };
    let job = sandbox
        .runtime
        .start(&sandbox.hostile(), command.as_bytes().to_vec(), limits);
    eventually("the guest to hold at its allowance", || job.is_paused()).await;
    let held = job.usage();
    assert!(held.fuel >= needed / 4, "held early: {held:?}");
    assert!(held.fuel < needed, "held before the end: {held:?}");
    let paused_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(job.usage().fuel, held.fuel, "no fuel is used while held");

    job.resume(0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        job.is_paused(),
        "resume without more fuel keeps it at its allowance"
    );
    assert_eq!(job.fuel_allowance(), needed / 4);

    job.resume(needed);
    let report = job.wait().await;
    let total_ms = u64::try_from(paused_at.elapsed().as_millis()).unwrap();
    assert_eq!(report.result, unpaused.result, "the same output");
    assert_eq!(
        report.usage.fuel, needed,
        "the same fuel as without the hold"
    );
    assert!(
        report.usage.wall_ms + 250 <= total_ms + held.wall_ms,
        "held time is not billed: {:?}, {total_ms} ms since the hold",
        report.usage
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_paused_mid_run_uses_no_fuel_until_resumed_and_the_same_fuel_in_total() {
    let sandbox = Sandbox::new();
    let command = "count:300000000";
    let unpaused = sandbox.command(command, endless()).await;

    let job = sandbox
        .runtime
        .start(&sandbox.hostile(), command.as_bytes().to_vec(), endless());
    eventually("the guest to be running", || job.usage().fuel > 0).await;
    job.pause();
    eventually("the guest to be suspended", || job.is_paused()).await;
    let at_pause = job.usage();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        job.usage().fuel,
        at_pause.fuel,
        "no fuel is used while paused"
    );
    assert!(at_pause.fuel < unpaused.usage.fuel, "paused before the end");

    job.resume(0);
    let report = job.wait().await;
    assert_eq!(report.result, unpaused.result);
    assert_eq!(
        report.usage.fuel, unpaused.usage.fuel,
        "fuel is deterministic across a pause"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fuel_limit_holds_whatever_the_allowance() {
    let sandbox = Sandbox::new();
    let limits = JobLimits {
        fuel: 30_000_000,
        fuel_allowance: Some(u64::MAX),
        ..tight()
    };
    let report = sandbox.command("spin", limits).await;
    assert_eq!(
        report.result,
        Err(JobError::OutOfFuel { limit: 30_000_000 })
    );
    assert_eq!(report.usage.fuel, 30_000_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_job_can_be_killed() {
    let sandbox = Sandbox::new();
    let job = sandbox
        .runtime
        .start(&sandbox.hostile(), b"spin".to_vec(), endless());
    job.pause();
    eventually("the guest to be suspended", || job.is_paused()).await;
    job.kill();
    assert_eq!(job.wait().await.result, Err(JobError::Killed));
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_ran_reports_when_it_entered_run() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("echo:x", tight()).await;
    assert!(report.time_to_entry.is_some());
    let refused = sandbox
        .runtime
        .run(
            &sandbox.hostile(),
            b"echo:x".to_vec(),
            JobLimits {
                memory_bytes: u64::MAX,
                ..tight()
            },
        )
        .await;
    assert!(matches!(refused.result, Err(JobError::Setup(_))));
    assert_eq!(refused.time_to_entry, None);
}
