//! `price-lowest-floor`: the default pricing plugin (`kiln:policy/pricing`).
//!
//! The clearing rate is the lowest floor that satisfies the request: the
//! chosen node's own floor, every rate of which must be within the job's
//! maximum (else no quote). The screen flags nothing.

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
    world: "kiln:policy/pricing",
});

use kiln_policy_kit::within;

struct LowestFloor;

impl Guest for LowestFloor {
    fn clear(job: Job, chosen: u32, market: Offers) -> Option<Quote> {
        let i = usize::try_from(chosen).ok()?;
        let floor = [
            *market.floor_per_million_fuel.get(i)?,
            *market.floor_per_gpu_second.get(i)?,
            *market.floor_per_wall_second.get(i)?,
        ];
        let max = &job.max_rates;
        let max = [
            max.per_million_fuel,
            max.per_gpu_second,
            max.per_wall_second,
        ];
        within(floor, max).then_some(Quote {
            rates: Rates {
                per_million_fuel: floor[0],
                per_gpu_second: floor[1],
                per_wall_second: floor[2],
            },
        })
    }

    fn screen(_job: Job, _history: Vec<Rates>, _offers: Offers) -> Vec<Flag> {
        Vec::new()
    }
}

export!(LowestFloor);
