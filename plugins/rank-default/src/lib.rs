//! `rank-default`: the default ranking plugin (`kiln:policy/scheduler`).
//!
//! Candidates are ordered by, in turn:
//!
//! 1. **class fit**: the benchmark tier closest above the job's minimum
//!    first, so fast nodes stay free for jobs that need them;
//! 2. **reputation**, higher first;
//! 3. **price**: the job's worst-case cost at the node's floor, lower first;
//! 4. **locality**: a node in the job's preferred region first;
//!
//! and ties go to the more reliable node: the higher stake tier (it has
//! more to lose), then more free slots, then the earlier candidate.

#![allow(missing_docs, reason = "the generated bindings carry the WIT's docs")]
#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated canonical-ABI glue; this crate writes no unsafe code"
)]
#![allow(
    clippy::too_many_arguments,
    reason = "wit-bindgen's generated export glue takes a record's flattened fields as arguments"
)]

wit_bindgen::generate!({
    path: "../../wit/policy",
    world: "kiln:policy/scheduler",
});

use kiln::policy::types::WorkloadClass;
use kiln_policy_kit::WorstCase;

struct RankDefault;

impl Guest for RankDefault {
    fn rank(job: Job, candidates: Offers) -> Vec<u32> {
        let worst = WorstCase::new(job.fuel, job.wall_clock_ms, job.class != WorkloadClass::Cpu);
        let offers = &candidates;
        // One key per offer, compared in order: (class fit, reputation)
        // packed, the cost, then (locality, stake, free slots, index)
        // packed. The index makes every key distinct, so an unstable sort is
        // deterministic, and it is the answer. Keys are arrays of u64: a
        // tuple of six fields, or one holding a u128, sorts at half the
        // speed in wasm. A cost needs its high half only past 2^64
        // millionths (18 trillion base units), so most calls sort 24-byte keys.
        let keys = (0..offers.reputation.len()).zip(0u32..).map(|(i, index)| {
            let fit = offers.benchmark_class[i].saturating_sub(job.min_benchmark_class);
            let first = (u64::from(fit) << 32) | u64::from(u32::MAX - offers.reputation[i]);
            let cost = worst.cost(
                offers.floor_per_million_fuel[i],
                offers.floor_per_gpu_second[i],
                offers.floor_per_wall_second[i],
            );
            let remote = job.region != Some(offers.region[i]);
            let last = (u64::from(remote) << 56)
                | (u64::from(u8::MAX - offers.stake_tier[i]) << 48)
                | (u64::from(u16::MAX - offers.free_slots[i]) << 32)
                | u64::from(index);
            (first, cost, last)
        });
        let mut narrow: Vec<[u64; 3]> = Vec::with_capacity(offers.reputation.len());
        for (first, cost, last) in keys.clone() {
            match u64::try_from(cost) {
                Ok(cost) => narrow.push([first, cost, last]),
                Err(_) => {
                    let wide = keys.map(|(first, cost, last)| {
                        let [high, low] = halves(cost);
                        [first, high, low, last]
                    });
                    return sorted_indices(wide.collect());
                }
            }
        }
        sorted_indices(narrow)
    }
}

/// The high and low 64 bits of a cost.
#[expect(
    clippy::cast_possible_truncation,
    reason = "taking the halves is the point"
)]
fn halves(cost: u128) -> [u64; 2] {
    [(cost >> 64) as u64, cost as u64]
}

/// The low 32 bits of a key's last word: the candidate's index.
#[expect(
    clippy::cast_possible_truncation,
    reason = "the index is the low 32 bits"
)]
fn low_u32(word: u64) -> u32 {
    word as u32
}

/// Sorts `keys` and answers the index each one ends with.
fn sorted_indices<const N: usize>(mut keys: Vec<[u64; N]>) -> Vec<u32> {
    keys.sort_unstable();
    keys.into_iter().map(|key| low_u32(key[N - 1])).collect()
}

export!(RankDefault);
