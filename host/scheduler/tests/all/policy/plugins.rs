//! The shipped plugins do what their docs say, and swapping one at run time
//! changes what the scheduler assigns.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use kiln_protocol::JobSpec;
use kiln_protocol::class::BenchmarkClass;
use kiln_scheduler::matching::{Candidate, Flag, FlagKind, PolicyError};
use kiln_scheduler::policy::{Cleared, WasmRank};
use kiln_scheduler::{RankPolicy, Scheduler};

use super::{
    PRICE_GUARD, PRICE_LOWEST_FLOOR, RANK_DEFAULT, RANK_LOCALITY_FIRST, candidate, cheap, host,
    host_with, nodes, plugin,
};
use crate::common::{NodeSpec, SOL, fast_config, id, link, rates, spec, sqlite, submit};

fn field() -> Vec<Candidate> {
    let mut more_stake = candidate("more-stake", rates(20), 800, 1, "eu-west");
    more_stake.stake_tier = 3;
    vec![
        candidate("fast", rates(10), 900, 9, "eu-west"),
        candidate("low-reputation", rates(10), 100, 1, "eu-west"),
        candidate("dear", rates(50), 800, 1, "eu-west"),
        candidate("remote", rates(20), 800, 1, "us-east"),
        candidate("local", rates(20), 800, 1, "eu-west"),
        more_stake,
    ]
}

fn job_needing_tier_one() -> JobSpec {
    JobSpec {
        min_benchmark_class: BenchmarkClass(1),
        ..spec("ranked")
    }
}

#[test]
fn rank_default_orders_by_class_fit_reputation_price_locality_then_reliability() {
    let (host, _scratch) = host_with(&[RANK_DEFAULT], |config| {
        config.home_region = Some("eu-west".to_owned());
    });
    let rank = host.load_rank(&plugin(RANK_DEFAULT)).unwrap();
    let field = field();
    let order = rank.call(&job_needing_tier_one(), &field).unwrap();
    let expected = [
        "more-stake",
        "local",
        "remote",
        "dear",
        "low-reputation",
        "fast",
    ];
    assert_eq!(nodes(&field, &order), expected.map(id).to_vec());
}

#[test]
fn rank_default_orders_costs_past_two_to_the_64_exactly() {
    // Floors so high that the worst-case cost needs more than 64 bits (in
    // millionths), which takes the plugin off its narrow-key path: the order
    // must still be that of the exact costs.
    let (host, _scratch) = host(&[RANK_DEFAULT]);
    let rank = host.load_rank(&plugin(RANK_DEFAULT)).unwrap();
    let field = vec![
        candidate("dearest", rates(u64::MAX), 500, 1, "eu-west"),
        candidate("cheap", rates(3), 500, 1, "eu-west"),
        candidate("dear", rates(u64::MAX - 1), 500, 1, "eu-west"),
        candidate("dear-but-reputed", rates(u64::MAX), 600, 1, "eu-west"),
    ];
    let order = rank.call(&job_needing_tier_one(), &field).unwrap();
    let expected = ["dear-but-reputed", "cheap", "dear", "dearest"];
    assert_eq!(nodes(&field, &order), expected.map(id).to_vec());
}

#[test]
fn rank_locality_first_puts_local_nodes_first_then_price() {
    let (host, _scratch) = host_with(&[RANK_LOCALITY_FIRST], |config| {
        config.home_region = Some("eu-west".to_owned());
    });
    let rank = host.load_rank(&plugin(RANK_LOCALITY_FIRST)).unwrap();
    let field = field();
    let order = rank.call(&job_needing_tier_one(), &field).unwrap();
    let expected = [
        "fast",
        "low-reputation",
        "local",
        "more-stake",
        "dear",
        "remote",
    ];
    assert_eq!(nodes(&field, &order), expected.map(id).to_vec());
}

#[test]
fn price_lowest_floor_clears_at_the_chosen_floor_or_declines() {
    let (host, _scratch) = host(&[PRICE_LOWEST_FLOOR]);
    let pricing = host.load_pricing(&plugin(PRICE_LOWEST_FLOOR)).unwrap();
    let offers = vec![cheap("a", 10), cheap("b", 40), cheap("over", 200)];
    let job = spec("priced");
    assert_eq!(
        pricing.call_clear(&job, 1, &offers),
        Ok(Cleared::Quote(rates(40)))
    );
    assert_eq!(pricing.call_clear(&job, 2, &offers), Ok(Cleared::Declined));
    assert_eq!(
        pricing.call_screen(&job, &[rates(10)], &offers),
        Ok(Vec::new())
    );
}

#[test]
fn price_guard_flags_offers_far_above_the_average_or_below_the_minimum() {
    let (host, _scratch) = host(&[PRICE_GUARD]);
    let pricing = host.load_pricing(&plugin(PRICE_GUARD)).unwrap();
    // Recent prices: reference 30 each (three rates of 10): average 30, minimum 30.
    let history = vec![rates(10); 5];
    let offers = vec![
        cheap("normal", 10),
        cheap("at-three-times", 30), // 90: not above 3x
        cheap("gouging", 31),        // 93 > 90
        cheap("at-a-tenth", 1),      // 3: not below 0.1x
        cheap("dumping", 0),         // 0 < 3
    ];
    assert_eq!(
        pricing.call_screen(&spec("screened"), &history, &offers),
        Ok(vec![
            Flag {
                index: 2,
                kind: FlagKind::AboveMarket
            },
            Flag {
                index: 4,
                kind: FlagKind::BelowMinimum
            },
        ])
    );
    // Without history there is no market to compare with.
    assert_eq!(
        pricing.call_screen(&spec("screened"), &[], &offers),
        Ok(Vec::new())
    );
}

/// Links a cheaper node in us-east and a dearer one in eu-west (where the
/// tests' scheduler serves), equally reputed: rank-default picks the
/// remote one, locality-first the local one. The links stay up while the
/// returned guards live.
async fn remote_and_local(scheduler: &Scheduler) -> (NodeSpec, NodeSpec, impl Sized) {
    let mut remote = NodeSpec::cpu("remote");
    remote.region = "us-east".to_owned();
    remote.floor = rates(10);
    let mut local = NodeSpec::cpu("local");
    local.floor = rates(30);
    let links = (
        link(scheduler, &remote, 100 * SOL).await,
        link(scheduler, &local, 100 * SOL).await,
    );
    (remote, local, links)
}

#[tokio::test]
async fn swapping_the_rank_plugin_at_run_time_changes_assignments() {
    // Given a remote node that is cheaper and a local one (the scheduler
    // serves eu-west), equally reputed,
    let (host, _scratch) = host_with(&[RANK_DEFAULT, RANK_LOCALITY_FIRST], |config| {
        config.home_region = Some("eu-west".to_owned());
    });
    let (store, _dir) = sqlite().await;
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let (remote, local, _links) = remote_and_local(&scheduler).await;

    // when rank-default ranks, the cheaper remote node wins;
    scheduler.set_rank_policy(Arc::new(host.load_rank(&plugin(RANK_DEFAULT)).unwrap()));
    scheduler.submit(&submit(&spec("first"))).await.unwrap();
    scheduler.match_pass().await.unwrap();
    let first = scheduler.status(&spec("first").escrow).await.unwrap();
    assert_eq!(first.node_id, Some(remote.node_id().to_string()));

    // after a swap to locality-first, without a restart, the local one does.
    scheduler.set_rank_policy(Arc::new(
        host.load_rank(&plugin(RANK_LOCALITY_FIRST)).unwrap(),
    ));
    scheduler.submit(&submit(&spec("second"))).await.unwrap();
    scheduler.match_pass().await.unwrap();
    let second = scheduler.status(&spec("second").escrow).await.unwrap();
    assert_eq!(second.node_id, Some(local.node_id().to_string()));
    assert_eq!(scheduler.metrics().policy_fallbacks.get(), 0);
}

/// A ranking policy that stops inside its call until the test lets it go,
/// then ranks with the plugin it wraps: a pick held in flight.
struct Held {
    plugin: WasmRank,
    entered: mpsc::Sender<()>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl RankPolicy for Held {
    fn name(&self) -> &str {
        RankPolicy::name(&self.plugin)
    }

    fn rank(&self, job: &JobSpec, candidates: &[Candidate]) -> Result<Vec<usize>, PolicyError> {
        self.entered.send(()).unwrap();
        let released = self.release.lock().unwrap().recv_timeout(HOLD_LIMIT);
        released.expect("the test releases the held pick");
        self.plugin.rank(job, candidates)
    }
}

/// How long a held pick or the test waits for the other before failing.
const HOLD_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_lands_at_once_and_the_pick_in_flight_finishes_on_the_old_plugin() {
    // Given a cheaper remote node and a dearer local one (the scheduler
    // serves eu-west): rank-default picks the remote, locality-first the local;
    let (host, _scratch) = host_with(&[RANK_DEFAULT, RANK_LOCALITY_FIRST], |config| {
        config.home_region = Some("eu-west".to_owned());
    });
    let (store, _dir) = sqlite().await;
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let (remote, local, _links) = remote_and_local(&scheduler).await;
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    scheduler.set_rank_policy(Arc::new(Held {
        plugin: host.load_rank(&plugin(RANK_DEFAULT)).unwrap(),
        entered: entered_tx,
        release: Mutex::new(release_rx),
    }));

    // when a pick is inside rank-default and the operator swaps in
    // locality-first,
    scheduler.submit(&submit(&spec("in-flight"))).await.unwrap();
    let pass = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.match_pass().await }
    });
    entered
        .recv_timeout(HOLD_LIMIT)
        .expect("the pick reaches the plugin");
    let new = host.load_rank(&plugin(RANK_LOCALITY_FIRST)).unwrap();
    let new_name = RankPolicy::name(&new).to_owned();
    // (the swap returns while the match pass still holds the matcher)
    scheduler.set_rank_policy(Arc::new(new));
    assert_eq!(scheduler.policy_names().0, new_name);
    release.send(()).unwrap();
    pass.await.unwrap().unwrap();

    // then the pick in flight finished on the old plugin (the remote node),
    let first = scheduler.status(&spec("in-flight").escrow).await.unwrap();
    assert_eq!(first.node_id, Some(remote.node_id().to_string()));
    // and the next pick uses the new one (the local node).
    scheduler.submit(&submit(&spec("next"))).await.unwrap();
    scheduler.match_pass().await.unwrap();
    let next = scheduler.status(&spec("next").escrow).await.unwrap();
    assert_eq!(next.node_id, Some(local.node_id().to_string()));
    assert_eq!(scheduler.metrics().policy_fallbacks.get(), 0);
}

#[tokio::test]
async fn the_price_guard_keeps_a_dumping_node_out_of_the_match() {
    // Given a market that has cleared at 50,
    let (host, _scratch) = host(&[PRICE_GUARD]);
    let (store, _dir) = sqlite().await;
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    scheduler.set_pricing_policy(Arc::new(host.load_pricing(&plugin(PRICE_GUARD)).unwrap()));
    let mut normal = NodeSpec::cpu("normal");
    normal.floor = rates(50);
    let _n = link(&scheduler, &normal, 100 * SOL).await;
    for name in ["m1", "m2"] {
        scheduler.submit(&submit(&spec(name))).await.unwrap();
        scheduler.match_pass().await.unwrap();
    }
    // when a node offering far below that minimum links,
    let mut dumper = NodeSpec::cpu("dumper");
    dumper.floor = rates(1);
    let _d = link(&scheduler, &dumper, 100 * SOL).await;
    scheduler.submit(&submit(&spec("m3"))).await.unwrap();
    scheduler.match_pass().await.unwrap();
    // then it is flagged and left out, though it is the cheapest.
    let status = scheduler.status(&spec("m3").escrow).await.unwrap();
    assert_eq!(status.node_id, Some(normal.node_id().to_string()));
    assert_eq!(scheduler.metrics().price_flags.get(), 1);
}
