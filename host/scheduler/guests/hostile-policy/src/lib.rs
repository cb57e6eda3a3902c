//! A hostile policy plugin for the policy host's tests. It exports both
//! `kiln:policy` worlds and misbehaves on command: the job's preferred
//! region names what to do. Any other region: it behaves (candidates in order, the chosen
//! floor, no flags).
//!
//! | command | what it does |
//! |---|---|
//! | `trap` | panics (a trap) |
//! | `spin` | loops forever (fuel or the deadline stops it) |
//! | `grow` | allocates far past the memory cap |
//! | `out-of-range` | ranks an index past the candidates / flags one |
//! | `repeat` | ranks candidate 0 twice |
//! | `bad-quote` | quotes above the job's maximum |
//! | `decline` | declines to quote |

#![allow(missing_docs, reason = "the generated bindings carry the WIT's docs")]
#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated canonical-ABI glue; this crate writes no unsafe code"
)]
#![allow(
    clippy::too_many_arguments,
    reason = "wit-bindgen's generated export glue takes a record's flattened fields as arguments"
)]

mod rank {
    wit_bindgen::generate!({
        path: "../../../../wit/policy",
        world: "kiln:policy/scheduler",
    });
}

mod pricing {
    wit_bindgen::generate!({
        path: "../../../../wit/policy",
        world: "kiln:policy/pricing",
        with: { "kiln:policy/types@0.1.0": crate::rank::kiln::policy::types },
    });
}

use rank::kiln::policy::types::{Flag, FlagKind, Job, Offers, Quote, Rates};

/// The job's preferred region's name: the command.
fn command(job: &Job) -> Option<&str> {
    let index = usize::try_from(job.region?).ok()?;
    job.regions.get(index).map(String::as_str)
}

/// Acts on a command that means the same in every export.
fn common(command: Option<&str>) {
    match command {
        Some("trap") => panic!("hostile policy: trap on command"),
        Some("spin") => {
            let mut counter = 0u64;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        Some("grow") => {
            // Capacity only: growing memory costs no fuel per byte, so
            // the memory cap, not the fuel cap, is what stops this.
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                hog.push(Vec::with_capacity(16 << 20));
                std::hint::black_box(&hog);
            }
        }
        _ => {}
    }
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

struct Hostile;

impl rank::Guest for Hostile {
    fn rank(job: Job, candidates: Offers) -> Vec<u32> {
        common(command(&job));
        let count = len_u32(candidates.reputation.len());
        match command(&job) {
            Some("out-of-range") => vec![count],
            Some("repeat") => vec![0, 0],
            _ => (0..count).collect(),
        }
    }
}

impl pricing::Guest for Hostile {
    fn clear(job: Job, chosen: u32, market: Offers) -> Option<Quote> {
        common(command(&job));
        match command(&job) {
            Some("bad-quote") => Some(Quote {
                rates: Rates {
                    per_million_fuel: job.max_rates.per_million_fuel.saturating_add(1),
                    ..job.max_rates
                },
            }),
            Some("decline") => None,
            _ => {
                let i = usize::try_from(chosen).ok()?;
                Some(Quote {
                    rates: Rates {
                        per_million_fuel: *market.floor_per_million_fuel.get(i)?,
                        per_gpu_second: *market.floor_per_gpu_second.get(i)?,
                        per_wall_second: *market.floor_per_wall_second.get(i)?,
                    },
                })
            }
        }
    }

    fn screen(job: Job, _history: Vec<Rates>, offers: Offers) -> Vec<Flag> {
        common(command(&job));
        match command(&job) {
            Some("out-of-range") => vec![Flag {
                offer: len_u32(offers.reputation.len()),
                kind: FlagKind::AboveMarket,
            }],
            _ => Vec::new(),
        }
    }
}

rank::export!(Hostile with_types_in rank);
pricing::export!(Hostile with_types_in pricing);
