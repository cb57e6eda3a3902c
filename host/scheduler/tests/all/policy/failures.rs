//! Each way a plugin can fail a call, named; and what the scheduler does
//! then: the built-in answers, the fallback is counted, and after repeated
//! failures the plugin is unloaded. The hostile plugin misbehaves on the
//! command in the job's (or the first offer's) region.

use std::sync::Arc;
use std::time::Duration;

use kiln_protocol::JobSpec;
use kiln_scheduler::Scheduler;
use kiln_scheduler::matching::Candidate;
use kiln_scheduler::policy::{Cleared, PolicyCallError};

use super::{HOSTILE, candidate, cheap, host, host_with, plugin};
use crate::common::{NodeSpec, SOL, fast_config, link, rates, spec, sqlite, submit};

fn job(command: &str) -> JobSpec {
    JobSpec {
        region: Some(command.to_owned()),
        ..spec(command)
    }
}

fn two() -> Vec<Candidate> {
    vec![cheap("a", 10), cheap("b", 20)]
}

/// A host whose fuel cap, not its deadline, stops a spinning plugin.
fn fuel_bound_host() -> (kiln_scheduler::policy::PolicyHost, tempfile::TempDir) {
    host_with(&[HOSTILE], |config| {
        config.fuel = 20_000_000;
        config.deadline = Duration::from_secs(600);
    })
}

#[test]
fn each_misbehaviour_of_a_ranking_is_named() {
    let (host, _scratch) = fuel_bound_host();
    let rank = host.load_rank(&plugin(HOSTILE)).unwrap();
    // It behaves on any other command.
    assert_eq!(rank.call(&job("eu-west"), &two()), Ok(vec![0, 1]));
    let trap = rank.call(&job("trap"), &two());
    assert!(
        matches!(trap, Err(PolicyCallError::Trap { .. })),
        "{trap:?}"
    );
    let spin = rank.call(&job("spin"), &two());
    assert_eq!(spin, Err(PolicyCallError::OutOfFuel { fuel: 20_000_000 }));
    let grow = rank.call(&job("grow"), &two());
    assert!(
        matches!(grow, Err(PolicyCallError::Trap { .. })),
        "{grow:?}"
    );
    assert_eq!(
        rank.call(&job("out-of-range"), &two()),
        Err(PolicyCallError::BadIndex {
            index: 2,
            candidates: 2
        })
    );
    assert_eq!(
        rank.call(&job("repeat"), &two()),
        Err(PolicyCallError::BadIndex {
            index: 0,
            candidates: 2
        })
    );
}

#[test]
fn a_plugin_that_runs_past_its_deadline_is_stopped() {
    // Fuel far beyond the deadline's reach, so the deadline is what stops it.
    let deadline = Duration::from_millis(30);
    let (host, _scratch) = host_with(&[HOSTILE], |config| {
        config.fuel = u64::MAX / 2;
        config.deadline = deadline;
    });
    let rank = host.load_rank(&plugin(HOSTILE)).unwrap();
    assert_eq!(
        rank.call(&job("spin"), &two()),
        Err(PolicyCallError::Deadline { deadline })
    );
}

#[test]
fn each_misbehaviour_of_a_pricing_is_named() {
    let (host, _scratch) = fuel_bound_host();
    let pricing = host.load_pricing(&plugin(HOSTILE)).unwrap();
    let candidates = two();
    assert_eq!(
        pricing.call_clear(&job("eu-west"), 1, &candidates),
        Ok(Cleared::Quote(rates(20)))
    );
    let mut above = rates(100);
    above.per_million_fuel += 1;
    assert_eq!(
        pricing.call_clear(&job("bad-quote"), 0, &candidates),
        Err(PolicyCallError::BadQuote { rates: above })
    );
    assert_eq!(
        pricing.call_clear(&job("decline"), 0, &candidates),
        Ok(Cleared::Declined)
    );
    let trap = pricing.call_clear(&job("trap"), 0, &candidates);
    assert!(
        matches!(trap, Err(PolicyCallError::Trap { .. })),
        "{trap:?}"
    );
    let one = [candidate("x", rates(10), 500, 5, "eu-west")];
    assert_eq!(
        pricing.call_screen(&job("out-of-range"), &[rates(10)], &one),
        Err(PolicyCallError::BadFlag {
            index: 1,
            candidates: 1
        })
    );
    let spin = pricing.call_screen(&job("spin"), &[], &one);
    assert!(
        matches!(spin, Err(PolicyCallError::OutOfFuel { .. })),
        "{spin:?}"
    );
}

#[tokio::test]
async fn a_failing_plugin_falls_back_to_the_builtin_and_is_unloaded_after_repeated_failures() {
    // Given a scheduler ranking with the hostile plugin, and nodes in the
    // region that makes it trap,
    let (host, _scratch) = host(&[HOSTILE]);
    let (store, _dir) = sqlite().await;
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    scheduler.set_rank_policy(Arc::new(host.load_rank(&plugin(HOSTILE)).unwrap()));
    let crash_loop = host.config().crash_loop_failures;
    let mut cheap_node = NodeSpec::cpu("cheap");
    cheap_node.region = "trap".to_owned();
    cheap_node.floor = rates(10);
    let mut dear_node = NodeSpec::cpu("dear");
    dear_node.region = "trap".to_owned();
    dear_node.floor = rates(60);
    let _a = link(&scheduler, &cheap_node, 100 * SOL).await;
    let _b = link(&scheduler, &dear_node, 100 * SOL).await;

    // when jobs that make it trap are matched one pass at a time,
    for n in 0..crash_loop {
        let job = job("trap");
        let job = JobSpec {
            escrow: crate::common::id(&format!("trap/{n}")),
            ..job
        };
        scheduler.submit(&submit(&job)).await.unwrap();
        scheduler.match_pass().await.unwrap();
        // then each is still assigned, by the built-in (the cheaper node),
        let status = scheduler.status(&job.escrow).await.unwrap();
        assert_eq!(status.node_id, Some(cheap_node.node_id().to_string()));
        assert_eq!(scheduler.metrics().policy_fallbacks.get(), u64::from(n + 1));
    }
    // and after the crash-loop threshold the plugin is gone, reported once.
    assert_eq!(scheduler.metrics().policy_unloads.get(), 1);
    assert_eq!(scheduler.policy_names().0, "builtin-rank");
    let job = JobSpec {
        escrow: crate::common::id("after"),
        ..job("trap")
    };
    scheduler.submit(&submit(&job)).await.unwrap();
    scheduler.match_pass().await.unwrap();
    assert_eq!(
        scheduler.metrics().policy_fallbacks.get(),
        u64::from(crash_loop)
    );
    let rendered = scheduler.metrics().render();
    assert!(
        rendered.contains("kiln_scheduler_policy_unloads_total 1"),
        "{rendered}"
    );
}

#[test]
fn a_success_resets_the_crash_loop_count() {
    use kiln_scheduler::RankPolicy as _;
    let (host, _scratch) = host(&[HOSTILE]);
    let rank = host.load_rank(&plugin(HOSTILE)).unwrap();
    let threshold = host.config().crash_loop_failures;
    for _ in 0..3 {
        for _ in 1..threshold {
            assert!(rank.rank(&job("trap"), &two()).is_err());
        }
        assert_eq!(rank.rank(&job("fine"), &two()), Ok(vec![0, 1]));
    }
    assert!(!rank.unloaded());
    for _ in 0..threshold {
        assert!(rank.rank(&job("trap"), &two()).is_err());
    }
    assert!(rank.unloaded());
    // Unloaded, it does not run at all, even on input it would handle.
    let error = rank.rank(&job("fine"), &two()).unwrap_err();
    assert!(error.reason.contains("unloaded"), "{error}");
}
