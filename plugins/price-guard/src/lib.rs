//! `price-guard`: pricing with a manipulation screen (`kiln:policy/pricing`).
//!
//! Clears as `price-lowest-floor` does (the chosen node's floor, if within
//! the job's maximum). The screen compares each offer's reference price (the
//! sum of its three rates) with the prices the market recently cleared at:
//! above `ABOVE_MARKET_FACTOR` times their average it is flagged
//! `above-market`; below their minimum divided by `BELOW_MINIMUM_DIVISOR` (0.1x),
//! `below-minimum` (dumping to win jobs). With no history nothing is flagged.

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

use kiln::policy::types::FlagKind;

/// An offer above this multiple of the recent average is flagged.
const ABOVE_MARKET_FACTOR: u128 = 3;

/// An offer below the recent minimum divided by this (0.1x) is flagged.
/// Integer arithmetic: the guest compares `price * 10 < minimum`.
const BELOW_MINIMUM_DIVISOR: u128 = 10;

/// A price as one number: the sum of its three rates.
fn reference(rates: &Rates) -> u128 {
    u128::from(rates.per_million_fuel)
        + u128::from(rates.per_gpu_second)
        + u128::from(rates.per_wall_second)
}

struct Guard;

impl Guest for Guard {
    kiln_policy_kit::clear_at_the_chosen_floor!();

    fn screen(_job: Job, history: Vec<Rates>, offers: Offers) -> Vec<Flag> {
        let Some(minimum) = history.iter().map(reference).min() else {
            return Vec::new();
        };
        let count = history.len() as u128;
        let total: u128 = history.iter().map(reference).sum();
        let mut flags = Vec::new();
        let floors = offers
            .floor_per_million_fuel
            .iter()
            .zip(&offers.floor_per_gpu_second)
            .zip(&offers.floor_per_wall_second);
        for (index, ((fuel, gpu), wall)) in floors.enumerate() {
            let price = u128::from(*fuel) + u128::from(*gpu) + u128::from(*wall);
            // price > 3 * average  <=>  price * count > 3 * total (no division).
            let kind = if price.saturating_mul(count) > ABOVE_MARKET_FACTOR.saturating_mul(total) {
                Some(FlagKind::AboveMarket)
            } else if price.saturating_mul(BELOW_MINIMUM_DIVISOR) < minimum {
                Some(FlagKind::BelowMinimum)
            } else {
                None
            };
            if let (Some(kind), Ok(offer)) = (kind, u32::try_from(index)) {
                flags.push(Flag { offer, kind });
            }
        }
        flags
    }
}

export!(Guard);
