//! Part 4 of the scheduler benchmark: the same matching with the wasm policy
//! plugins (`rank-default`, `price-lowest-floor`) in place of the built-ins,
//! and one policy call over 10,000 candidates each way. Ratios compare
//! figures taken in this run, interleaved, so a noisy host moves both.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_protocol::JobSpec;
use kiln_protocol::class::BenchmarkClass;
use kiln_runtime::Runtime;
use kiln_scheduler::matching::{Candidate, MAX_CLEAR_MARKET, Matcher};
use kiln_scheduler::model::NodeRecord;
use kiln_scheduler::policy::{Pins, PolicyConfig, PolicyHost, WasmPricing, WasmRank};
use kiln_scheduler::{DefaultPricing, DefaultRank, PricingPolicy, RankPolicy};

/// Candidates per call in the per-call comparison (the target size).
pub const CANDIDATES_PER_CALL: usize = 10_000;

fn load(host: &PolicyHost) -> (Arc<WasmRank>, Arc<WasmPricing>) {
    let rank = kiln_test_guests::guest("kiln_plugin_rank_default");
    let pricing = kiln_test_guests::guest("kiln_plugin_price_lowest_floor");
    (
        Arc::new(host.load_rank(&rank).expect("rank-default loads")),
        Arc::new(
            host.load_pricing(&pricing)
                .expect("price-lowest-floor loads"),
        ),
    )
}

/// A policy host pinning the two plugins, on a small runtime.
pub fn host() -> (PolicyHost, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(kiln_scheduler::policy::runtime_config(scratch.path())).unwrap();
    let pins: Vec<String> = [
        "kiln_plugin_rank_default",
        "kiln_plugin_price_lowest_floor",
        "kiln_test_hostile_policy",
    ]
    .iter()
    .map(|name| hex::encode(kiln_protocol::sha256(&[&kiln_test_guests::guest(name)]).0))
    .collect();
    let mut policy = PolicyConfig::new(Pins::from_hex(&pins).unwrap());
    policy.home_region = Some("eu-west".to_owned());
    (PolicyHost::new(runtime, policy).unwrap(), scratch)
}

fn candidates(count: usize, mix: fn(u64, u64) -> u64, regions: &[&str]) -> Vec<Candidate> {
    // One shared name per region, as the matcher's live-node index keeps them.
    let regions: Vec<Arc<str>> = regions.iter().map(|name| Arc::from(*name)).collect();
    (0..count as u64)
        .map(|i| Candidate {
            node: kiln_protocol::PublicKey(kiln_protocol::sha256(&[&i.to_le_bytes()]).0),
            floor: kiln_protocol::Rates {
                per_million_fuel: 1 + mix(i, 1) % 50,
                per_gpu_second: 1 + mix(i, 2) % 50,
                per_wall_second: 1 + mix(i, 3) % 50,
            },
            reputation: (mix(i, 4) % 1001) as u32,
            benchmark_class: BenchmarkClass((mix(i, 5) % 16) as u8),
            stake_tier: (mix(i, 6) % 4) as u8,
            free_slots: 1 + (mix(i, 7) % 8) as u16,
            max_jobs: 8,
            region: Arc::clone(&regions[usize::try_from(mix(i, 8)).unwrap_or(0) % regions.len()]),
        })
        .collect()
}

/// What the matcher hands `clear`: the best-ranked candidates, the chosen first.
fn ranked_market(order: &[usize], candidates: &[Candidate]) -> Vec<Candidate> {
    order
        .iter()
        .take(MAX_CLEAR_MARKET)
        .map(|&i| candidates[i].clone())
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// One call of each kind (rank, then clear on the best), built-in and wasm
/// interleaved `rounds` times over the same 10,000 candidates.
pub fn bench_per_call(job: &JobSpec, rounds: usize, mix: fn(u64, u64) -> u64, regions: &[&str]) {
    let (host, _scratch) = host();
    let (rank, pricing) = load(&host);
    // The hostile test plugin, behaving: it answers the candidates in the
    // order given, so a call of it is the crossing alone (records in, an
    // instance, the answer out) with no ranking work.
    let identity = host
        .load_rank(&kiln_test_guests::guest("kiln_test_hostile_policy"))
        .expect("the test plugin loads");
    let candidates = candidates(CANDIDATES_PER_CALL, mix, regions);
    let (mut builtin, mut wasm, mut wasm_rank_only) = (Vec::new(), Vec::new(), Vec::new());
    let mut crossing = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let order = DefaultRank.rank(job, &candidates).unwrap();
        let market = ranked_market(&order, &candidates);
        std::hint::black_box(DefaultPricing.clear(job, &market[0], &market).unwrap());
        builtin.push(t.elapsed());

        let t = Instant::now();
        let order = rank.rank(job, &candidates).unwrap();
        let market = ranked_market(&order, &candidates);
        std::hint::black_box(pricing.clear(job, &market[0], &market).unwrap());
        wasm.push(t.elapsed());

        let t = Instant::now();
        std::hint::black_box(rank.call(job, &candidates).unwrap());
        wasm_rank_only.push(t.elapsed());

        let t = Instant::now();
        std::hint::black_box(identity.call(job, &candidates).unwrap());
        crossing.push(t.elapsed());
    }
    let (builtin, wasm, rank_only) = (median(builtin), median(wasm), median(wasm_rank_only));
    let crossing = median(crossing);
    println!(
        "policy call, {CANDIDATES_PER_CALL} candidates (rank, then clear on the best), median of {rounds} interleaved rounds"
    );
    println!("  built-in (DefaultRank + DefaultPricing)               {builtin:>10.2?}");
    println!(
        "  wasm (rank-default + price-lowest-floor, fuel+epochs) {wasm:>10.2?}   (rank alone {rank_only:.2?})"
    );
    println!("  of which crossing (a plugin answering the order given)  {crossing:>8.2?}");
    println!(
        "  wasm / built-in = {:.2}x   (target: at most 2x)",
        wasm.as_secs_f64() / builtin.as_secs_f64()
    );
}

/// Part 1's matching again, built-in then wasm, over the same nodes and jobs.
pub fn bench_matching(records: &[NodeRecord], jobs: &[JobSpec]) {
    let (host, _scratch) = host();
    let (rank, pricing) = load(&host);
    let run = |wasm: bool| {
        let mut matcher = Matcher::new(kiln_scheduler::config::DEFAULT_MAX_CANDIDATES);
        for node in records {
            matcher.nodes.link(node, 0);
        }
        if wasm {
            matcher.set_policies(rank.clone(), pricing.clone());
        }
        let started = Instant::now();
        let mut assigned = 0usize;
        let mut fallbacks = 0usize;
        for spec in jobs {
            if let Some(pick) = matcher.pick(spec) {
                assigned += 1;
                fallbacks += pick.fallbacks.len();
            }
        }
        (assigned, fallbacks, started.elapsed())
    };
    let (builtin_assigned, _, builtin_time) = run(false);
    let (wasm_assigned, wasm_fallbacks, wasm_time) = run(true);
    let builtin_rate = builtin_assigned as f64 / builtin_time.as_secs_f64();
    let wasm_rate = wasm_assigned as f64 / wasm_time.as_secs_f64();
    println!(
        "matching with wasm policies: {} nodes, {} jobs, up to {} candidates per pick",
        records.len(),
        jobs.len(),
        kiln_scheduler::config::DEFAULT_MAX_CANDIDATES
    );
    println!(
        "  built-in: {builtin_assigned} assigned in {builtin_time:.2?}: {builtin_rate:.0} assignments/s"
    );
    println!(
        "  wasm:     {wasm_assigned} assigned in {wasm_time:.2?}: {wasm_rate:.0} assignments/s ({wasm_fallbacks} fallbacks)"
    );
    println!(
        "  wasm / built-in time per assignment = {:.1}x",
        builtin_rate / wasm_rate
    );
}
