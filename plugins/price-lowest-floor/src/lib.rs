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

/// True when no rate of `rates` exceeds the same rate of `max`.
fn within(rates: &Rates, max: &Rates) -> bool {
    rates.per_million_fuel <= max.per_million_fuel
        && rates.per_gpu_second <= max.per_gpu_second
        && rates.per_wall_second <= max.per_wall_second
}

struct LowestFloor;

impl Guest for LowestFloor {
    fn clear(job: Job, chosen: u32, offers: Vec<Offer>) -> Option<Quote> {
        let offer = offers.get(usize::try_from(chosen).ok()?)?;
        within(&offer.floor, &job.max_rates).then_some(Quote { rates: offer.floor })
    }

    fn screen(_job: Job, _history: Vec<Rates>, _offers: Vec<Offer>) -> Vec<Flag> {
        Vec::new()
    }
}

export!(LowestFloor);
