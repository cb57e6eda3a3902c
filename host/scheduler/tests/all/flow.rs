//! A job's life on one scheduler: submit, match, confirm, run, result; the
//! filters and policies that decide the match.

use std::sync::Arc;

use kiln_protocol::{JobSpec, Rates, WorkloadClass};
use kiln_scheduler::matching::{Candidate, PolicyError};
use kiln_scheduler::model::{JobState, RenterAction};
use kiln_scheduler::{PricingPolicy, RankPolicy, Scheduler, SchedulerError};
use kiln_scheduler_api::link::{FromNode, ToNode};

use crate::common::{NodeSpec, SOL, fast_config, link, next, rates, renter_signed, spec, submit};
use crate::on_both_stores;

on_both_stores!(a_job_runs_from_submit_to_result, |store| {
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let node = NodeSpec::cpu("worker");
    let (mut link_rx, _) = link(&scheduler, &node, 10 * SOL).await;
    let job = spec("one");

    // Given a submitted job, when the scheduler matches,
    scheduler.submit(&submit(&job)).await.unwrap();
    assert_eq!(scheduler.match_pass().await.unwrap(), 1);
    // then the node is offered it at its floor (the lowest floor within the maximum).
    let ToNode::Proposal {
        job_id,
        attempt,
        price,
        ..
    } = next(&mut link_rx).await
    else {
        panic!("expected a proposal");
    };
    assert_eq!(
        (job_id.as_str(), attempt),
        (job.escrow.to_string().as_str(), 1)
    );
    assert_eq!(Rates::from(price), node.floor);
    let status = scheduler.status(&job.escrow).await.unwrap();
    assert_eq!(status.state, "proposed");
    assert_eq!(
        status.node_encryption_key,
        Some(node.manifest().encryption_key.to_string())
    );

    // When both confirm, it runs.
    scheduler
        .on_node_message(
            &node.node_id(),
            FromNode::Accept {
                job_id: job_id.clone(),
                attempt,
            },
        )
        .await
        .unwrap();
    let wrong = renter_signed(&job.escrow, RenterAction::Confirm, 2);
    let error = scheduler
        .confirm_by_renter(&job.escrow, &wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SchedulerError::StaleAttempt {
                current: 1,
                given: 2,
                ..
            }
        ),
        "{error}"
    );
    let confirmed = scheduler
        .confirm_by_renter(
            &job.escrow,
            &renter_signed(&job.escrow, RenterAction::Confirm, 1),
        )
        .await
        .unwrap();
    assert_eq!(confirmed.state, "running");
    assert_eq!(
        next(&mut link_rx).await,
        ToNode::Start {
            job_id: job_id.clone(),
            attempt: 1
        }
    );

    // The node's log and result reach the renter.
    let node_id = node.node_id();
    scheduler
        .on_node_message(
            &node_id,
            FromNode::Log {
                job_id: job_id.clone(),
                text: "hello\n".into(),
            },
        )
        .await
        .unwrap();
    scheduler
        .on_node_message(
            &node_id,
            FromNode::Result {
                job_id: job_id.clone(),
                attempt: 1,
                output: "c0ffee".into(),
            },
        )
        .await
        .unwrap();
    let result = scheduler.result(&job.escrow).await.unwrap();
    assert_eq!(result.output, "c0ffee");
    assert_eq!(
        result.output_digest,
        kiln_protocol::sha256(&[&[0xc0, 0xff, 0xee]]).to_string()
    );
    assert_eq!(scheduler.logs(&job.escrow).await.unwrap().logs, "hello\n");
    assert_eq!(
        scheduler.job(&job.escrow).await.unwrap().state,
        JobState::Done
    );
    // A second result for the same attempt changes nothing.
    let again = scheduler
        .on_node_message(
            &node_id,
            FromNode::Result {
                job_id,
                attempt: 1,
                output: "00".into(),
            },
        )
        .await;
    assert!(again.is_err());
    assert_eq!(
        scheduler.result(&job.escrow).await.unwrap().output,
        "c0ffee"
    );
});

on_both_stores!(filters_pick_class_region_benchmark_and_price, |store| {
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let mut cheap_slow = NodeSpec::cpu("cheap-slow");
    cheap_slow.benchmark = 1;
    cheap_slow.floor = rates(1);
    let mut pricey = NodeSpec::cpu("pricey");
    pricey.floor = rates(500);
    let mut elsewhere = NodeSpec::cpu("elsewhere");
    elsewhere.region = "us-east".into();
    elsewhere.floor = rates(2);
    let mut gpu = NodeSpec::cpu("gpu");
    gpu.classes = vec![WorkloadClass::Cuda];
    gpu.floor = rates(3);
    let mut right = NodeSpec::cpu("right");
    right.floor = rates(50);
    let mut cheaper_right = NodeSpec::cpu("cheaper-right");
    cheaper_right.floor = rates(40);
    let mut links = Vec::new();
    for node in [
        &cheap_slow,
        &pricey,
        &elsewhere,
        &gpu,
        &right,
        &cheaper_right,
    ] {
        links.push(link(&scheduler, node, 10 * SOL).await);
    }
    // A CPU job in eu-west, benchmark ≥ 3, paying at most 100.
    let mut job = spec("filtered");
    job.region = Some("eu-west".into());
    job.min_benchmark_class = kiln_protocol::BenchmarkClass(3);
    scheduler.submit(&submit(&job)).await.unwrap();
    scheduler.match_pass().await.unwrap();
    let status = scheduler.status(&job.escrow).await.unwrap();
    assert_eq!(status.node_id, Some(cheaper_right.node_id().to_string()));
    assert_eq!(status.price.map(Rates::from), Some(rates(40)));
});

on_both_stores!(
    a_node_holds_no_more_jobs_than_its_stake_tier_allows,
    |store| {
        let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
        let node = NodeSpec::cpu("tier0");
        let (_rx, _) = link(&scheduler, &node, SOL).await;
        for name in ["a", "b", "c"] {
            scheduler.submit(&submit(&spec(name))).await.unwrap();
        }
        // Tier 0 allows one job at a time.
        assert_eq!(scheduler.match_pass().await.unwrap(), 1);
        assert_eq!(scheduler.match_pass().await.unwrap(), 0);
        let mut states = Vec::new();
        for name in ["a", "b", "c"] {
            states.push(scheduler.job(&spec(name).escrow).await.unwrap().state);
        }
        // (Jobs submitted in the same millisecond queue in job-id order.)
        let proposed = states.iter().filter(|s| **s == JobState::Proposed).count();
        let queued = states.iter().filter(|s| **s == JobState::Queued).count();
        assert_eq!((proposed, queued), (1, 2));
    }
);

struct Failing;
impl RankPolicy for Failing {
    fn name(&self) -> &str {
        "failing"
    }
    fn rank(&self, _: &JobSpec, _: &[Candidate]) -> Result<Vec<usize>, PolicyError> {
        Err(PolicyError {
            policy: "failing".into(),
            reason: "trapped".into(),
        })
    }
}

struct Greedy;
impl PricingPolicy for Greedy {
    fn name(&self) -> &str {
        "greedy"
    }
    fn clear(&self, job: &JobSpec, _: &Candidate, _: &[Candidate]) -> Result<Rates, PolicyError> {
        let mut price = job.max_rates;
        price.per_wall_second += 1;
        Ok(price)
    }
}

/// Picks the most expensive candidate and prices at the job's maximum: a
/// legitimate, if unkind, policy the scheduler must follow.
struct Priciest;
impl RankPolicy for Priciest {
    fn name(&self) -> &str {
        "priciest"
    }
    fn rank(&self, _: &JobSpec, candidates: &[Candidate]) -> Result<Vec<usize>, PolicyError> {
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(candidates[i].floor.per_wall_second));
        Ok(order)
    }
}
impl PricingPolicy for Priciest {
    fn name(&self) -> &str {
        "max"
    }
    fn clear(&self, job: &JobSpec, _: &Candidate, _: &[Candidate]) -> Result<Rates, PolicyError> {
        Ok(job.max_rates)
    }
}

on_both_stores!(
    policies_plug_in_and_bad_answers_fall_back_to_the_defaults,
    |store| {
        let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
        let mut cheap = NodeSpec::cpu("cheap");
        cheap.floor = rates(10);
        let mut dear = NodeSpec::cpu("dear");
        dear.floor = rates(60);
        let _a = link(&scheduler, &cheap, 100 * SOL).await;
        let _b = link(&scheduler, &dear, 100 * SOL).await;

        // A plugged-in policy decides.
        scheduler.set_policies(Arc::new(Priciest), Arc::new(Priciest));
        scheduler.submit(&submit(&spec("plugged"))).await.unwrap();
        scheduler.match_pass().await.unwrap();
        let status = scheduler.status(&spec("plugged").escrow).await.unwrap();
        assert_eq!(status.node_id, Some(dear.node_id().to_string()));
        assert_eq!(status.price.map(Rates::from), Some(rates(100)));
        assert_eq!(scheduler.metrics().policy_fallbacks.get(), 0);

        // A failing rank and a price above the maximum are both overruled.
        scheduler.set_policies(Arc::new(Failing), Arc::new(Greedy));
        scheduler.submit(&submit(&spec("fallback"))).await.unwrap();
        scheduler.match_pass().await.unwrap();
        let status = scheduler.status(&spec("fallback").escrow).await.unwrap();
        assert_eq!(status.node_id, Some(cheap.node_id().to_string()));
        assert_eq!(status.price.map(Rates::from), Some(rates(10)));
        assert_eq!(scheduler.metrics().policy_fallbacks.get(), 2);
    }
);

on_both_stores!(a_rejected_proposal_goes_to_another_node, |store| {
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let mut first = NodeSpec::cpu("first");
    first.floor = rates(1);
    let (mut first_rx, _) = link(&scheduler, &first, SOL).await;
    let (mut second_rx, _) = link(&scheduler, &NodeSpec::cpu("second"), SOL).await;
    let job = spec("rejected");
    scheduler.submit(&submit(&job)).await.unwrap();
    scheduler.match_pass().await.unwrap();
    let ToNode::Proposal {
        job_id, attempt, ..
    } = next(&mut first_rx).await
    else {
        panic!()
    };
    scheduler
        .on_node_message(&first.node_id(), FromNode::Reject { job_id, attempt })
        .await
        .unwrap();
    // The first node's slot is free again, so it would win again on price;
    // the assignment log shows the job moving on regardless of who gets it.
    scheduler.match_pass().await.unwrap();
    let assignments = scheduler
        .store()
        .assignments(Some(&job.escrow))
        .await
        .unwrap();
    assert_eq!(assignments.len(), 2);
    assert_eq!(assignments[1].attempt, 2);
    assert_eq!(scheduler.metrics().reschedules.get(), 1);
    drop(second_rx.try_recv());
});
