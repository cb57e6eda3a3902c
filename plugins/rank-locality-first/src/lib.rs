//! `rank-locality-first`: an alternative ranking (`kiln:policy/scheduler`).
//!
//! A node in the job's preferred region first, then the job's worst-case
//! cost at the node's floor (lower first), then reputation (higher first),
//! then the earlier candidate. Swapping it for `rank-default` moves jobs
//! to local nodes even when a remote one is better reputed: the tests show
//! that a swap changes assignments.

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

struct LocalityFirst;

impl Guest for LocalityFirst {
    fn rank(job: Job, candidates: Offers) -> Vec<u32> {
        let worst = WorstCase::new(job.fuel, job.wall_clock_ms, job.class != WorkloadClass::Cpu);
        let offers = &candidates;
        // (remote, cost, reputation, index): the index makes keys distinct
        // and is the answer.
        let mut keyed: Vec<(bool, u128, u64)> = (0..offers.reputation.len())
            .zip(0u32..)
            .map(|(i, index)| {
                let remote = job.region != Some(offers.region[i]);
                let cost = worst.cost(
                    offers.floor_per_million_fuel[i],
                    offers.floor_per_gpu_second[i],
                    offers.floor_per_wall_second[i],
                );
                let last = (u64::from(u32::MAX - offers.reputation[i]) << 32) | u64::from(index);
                (remote, cost, last)
            })
            .collect();
        keyed.sort_unstable();
        keyed
            .into_iter()
            .map(|(_, _, last)| low_u32(last))
            .collect()
    }
}

/// The low 32 bits of a key's last word: the candidate's index.
#[expect(
    clippy::cast_possible_truncation,
    reason = "the index is the low 32 bits"
)]
fn low_u32(word: u64) -> u32 {
    word as u32
}

export!(LocalityFirst);
