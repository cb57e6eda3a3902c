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

struct LowestFloor;

impl Guest for LowestFloor {
    kiln_policy_kit::clear_at_the_chosen_floor!();

    fn screen(_job: Job, _history: Vec<Rates>, _offers: Offers) -> Vec<Flag> {
        Vec::new()
    }
}

export!(LowestFloor);
