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

use kiln::policy::types::{Rates, WorkloadClass};

/// Milliseconds in a second; a million fuel.
const MS_PER_SECOND: u128 = 1_000;
const FUEL_PER_UNIT: u128 = 1_000_000;

/// The most `job` can cost at `floor` (its fuel budget, and its deadline as
/// wall time and, for GPU work, GPU time), in millionths of a base unit so
/// that no division is needed: the order is that of the exact cost. (u128
/// division is a library call in wasm, and one per term per candidate
/// dominated the call before this.)
fn worst_case_cost(job: &Job, floor: &Rates) -> u128 {
    let fuel = u128::from(job.fuel) * u128::from(floor.per_million_fuel); // < 2^128
    let wall_ms = u128::from(job.wall_clock_ms) * (FUEL_PER_UNIT / MS_PER_SECOND);
    let wall = wall_ms.saturating_mul(u128::from(floor.per_wall_second));
    let gpu = if job.class == WorkloadClass::Cpu {
        0
    } else {
        wall_ms.saturating_mul(u128::from(floor.per_gpu_second))
    };
    fuel.saturating_add(wall).saturating_add(gpu)
}

struct RankDefault;

impl Guest for RankDefault {
    fn rank(job: Job, candidates: Vec<Offer>) -> Vec<u32> {
        let mut keyed: Vec<_> = candidates
            .iter()
            .enumerate()
            .map(|(index, offer)| {
                let fit = offer
                    .benchmark_class
                    .saturating_sub(job.min_benchmark_class);
                let local = job.region == Some(offer.region);
                let key = (
                    fit,
                    u32::MAX - offer.reputation,
                    worst_case_cost(&job, &offer.floor),
                    !local,
                    u8::MAX - offer.stake_tier,
                    u16::MAX - offer.free_slots,
                );
                (key, index)
            })
            .collect();
        keyed.sort_unstable();
        keyed
            .into_iter()
            .filter_map(|(_, index)| u32::try_from(index).ok())
            .collect()
    }
}

export!(RankDefault);
