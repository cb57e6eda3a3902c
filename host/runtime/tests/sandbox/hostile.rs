//! Hostile guests: each is stopped with its exact typed error, and the host
//! runs the next job as if nothing happened.

use std::time::Duration;

use kiln_runtime::{JobError, JobLimits, Metering};

use crate::common::{Sandbox, tight};

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_hits_the_memory_cap() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("memory-bomb", tight()).await;
    assert_eq!(
        report.result,
        Err(JobError::MemoryLimit {
            limit_bytes: 64 << 20
        })
    );
    assert!(report.usage.fuel > 0, "usage is kept: {:?}", report.usage);
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fuel_bomb_runs_out_of_fuel_having_used_exactly_its_limit() {
    let sandbox = Sandbox::new();
    let limits = JobLimits {
        fuel: 50_000_000,
        ..tight()
    };
    let report = sandbox.command("spin", limits).await;
    assert_eq!(
        report.result,
        Err(JobError::OutOfFuel { limit: 50_000_000 })
    );
    assert_eq!(report.usage.fuel, 50_000_000);
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_with_ample_fuel_meets_the_deadline() {
    let sandbox = Sandbox::new();
    let limits = JobLimits {
        fuel: u64::MAX / 2,
        wall_clock: Duration::from_millis(300),
        ..tight()
    };
    let report = sandbox.command("spin", limits).await;
    assert_eq!(
        report.result,
        Err(JobError::Deadline {
            limit: Duration::from_millis(300)
        })
    );
    assert!(report.usage.wall_ms >= 300, "{:?}", report.usage);
    assert!(report.usage.fuel > 0, "fuel is metered up to the deadline");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_without_fuel_is_stopped_by_epochs() {
    let sandbox = Sandbox::metered(Metering::EpochsOnly);
    let limits = JobLimits {
        wall_clock: Duration::from_millis(300),
        ..tight()
    };
    let report = sandbox.command("spin", limits).await;
    assert_eq!(
        report.result,
        Err(JobError::Deadline {
            limit: Duration::from_millis(300)
        })
    );
    assert_eq!(report.usage.fuel, 0, "no fuel metering in this mode");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_recursion_overflows_the_wasm_stack() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("recurse", tight()).await;
    assert_eq!(report.result, Err(JobError::StackOverflow));
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overflowing_the_shadow_stack_is_an_out_of_bounds_trap() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("recurse-shadow", tight()).await;
    let Err(JobError::Trap(message)) = &report.result else {
        panic!("expected a trap, got {:?}", report.result);
    };
    assert!(message.contains("out of bounds memory access"), "{message}");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_output_is_refused_without_being_copied() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("output:3000000", tight()).await;
    assert_eq!(
        report.result,
        Err(JobError::OutputTooLarge {
            size: 3_000_000,
            limit: 1 << 20
        })
    );
    let exact = sandbox.command("output:1048576", tight()).await;
    assert_eq!(exact.result.unwrap().len(), 1 << 20, "the cap is inclusive");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_is_a_trap_and_an_error_is_the_guests_message() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("panic", tight()).await;
    assert!(
        matches!(&report.result, Err(JobError::Trap(m)) if m.contains("unreachable")),
        "{:?}",
        report.result
    );
    assert!(
        String::from_utf8_lossy(&report.stderr).contains("the guest panicked on purpose"),
        "the panic message is captured on stderr"
    );
    let report = sandbox.command("fail:no such input", tight()).await;
    assert_eq!(report.result, Err(JobError::Guest("no such input".into())));
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_environment_variables_or_arguments_reach_the_guest() {
    assert!(
        std::env::vars_os().count() > 0,
        "the host has variables to leak"
    );
    let sandbox = Sandbox::new();
    let report = sandbox.command("env", tight()).await;
    assert_eq!(report.result.unwrap(), b"0 0");
    sandbox.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_and_stderr_are_captured_up_to_their_cap() {
    let sandbox = Sandbox::new();
    let report = sandbox.command("log:hello from the guest", tight()).await;
    assert_eq!(report.result.unwrap(), b"logged");
    assert_eq!(report.stdout, b"hello from the guest\n");
    assert_eq!(report.stderr, b"hello from the guest\n");

    let limits = tight();
    let report = sandbox.command("flood:1000000", limits).await;
    assert_eq!(report.result.unwrap(), b"flooded");
    let written = 1_000_000u64.div_ceil(1024) * 1024;
    assert_eq!(report.stdout.len() as u64, limits.stdio_bytes);
    assert_eq!(report.stdout_dropped, written - limits.stdio_bytes);
    sandbox.assert_healthy().await;
}
