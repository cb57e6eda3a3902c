//! Several scheduler replicas on one PostgreSQL database never assign one
//! job twice.

use std::collections::{HashMap, HashSet};

use kiln_scheduler::store::QueueCursor;
use kiln_scheduler::{Scheduler, SchedulerConfig, Store};

use crate::common::{NodeSpec, SOL, fast_config, link, postgres_url, spec, submit};

/// Jobs in the two-replica test; more than one claim page would hold if the
/// batch were small, which the test makes it.
const JOBS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_locked_claims_are_disjoint() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    let scheduler = Scheduler::open(store.clone(), fast_config()).await.unwrap();
    for i in 0..20 {
        scheduler
            .submit(&submit(&spec(&format!("claim-{i}"))))
            .await
            .unwrap();
    }
    // Given one transaction holding a claim of 10 queued jobs,
    let mut first = store.begin().await.unwrap();
    let a = store
        .claim_queued(&mut first, QueueCursor::START, 10)
        .await
        .unwrap();
    // when another transaction claims at the same time,
    let mut second = store.begin().await.unwrap();
    let b = store
        .claim_queued(&mut second, QueueCursor::START, 20)
        .await
        .unwrap();
    // then it gets only the other 10.
    let a: HashSet<_> = a.iter().map(|j| j.id).collect();
    let b: HashSet<_> = b.iter().map(|j| j.id).collect();
    assert_eq!((a.len(), b.len()), (10, 10));
    assert!(a.is_disjoint(&b));
    first.rollback().await.unwrap();
    second.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_assign_one_job_twice() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let replica = |name: &str| SchedulerConfig {
        replica: name.to_owned(),
        match_batch: 16,
        ..fast_config()
    };
    let one = Scheduler::open(Store::connect(&url).await.unwrap(), replica("one"))
        .await
        .unwrap();
    let two = Scheduler::open(Store::connect(&url).await.unwrap(), replica("two"))
        .await
        .unwrap();
    // Each replica has its own linked nodes, 10 × 32 slots each: room for every job on either.
    let mut owner = HashMap::new();
    let mut links = Vec::new();
    for i in 0..20 {
        let mut node = NodeSpec::cpu(&format!("n{i}"));
        node.max_parallel = 32;
        let (scheduler, name) = if i % 2 == 0 {
            (&one, "one")
        } else {
            (&two, "two")
        };
        links.push(link(scheduler, &node, 100 * SOL).await);
        owner.insert(node.node_id(), name);
    }
    for i in 0..JOBS {
        one.submit(&submit(&spec(&format!("job-{i}"))))
            .await
            .unwrap();
    }
    // When both match at once, repeatedly,
    for _ in 0..3 {
        let (a, b) = tokio::join!(one.match_pass(), two.match_pass());
        a.unwrap();
        b.unwrap();
    }
    // then every job was proposed exactly once, by the replica whose node got it.
    let log = one.store().assignments(None).await.unwrap();
    assert_eq!(log.len(), JOBS);
    let jobs: HashSet<_> = log.iter().map(|a| a.job).collect();
    assert_eq!(jobs.len(), JOBS);
    for assignment in &log {
        assert_eq!(assignment.attempt, 1);
        assert_eq!(owner[&assignment.node], assignment.replica);
    }
    let replicas: HashSet<_> = log.iter().map(|a| a.replica.as_str()).collect();
    assert_eq!(replicas.len(), 2, "both replicas took part");
    let total = one.metrics().assignments.get() + two.metrics().assignments.get();
    assert_eq!(total, JOBS as u64);
}
