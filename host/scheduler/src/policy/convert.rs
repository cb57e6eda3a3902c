//! Kiln's types as the `kiln:policy` records. Regions are interned: the job
//! carries each region name once and offers refer to them by index.

use std::sync::Arc;

use kiln_protocol::{JobSpec, Rates, WorkloadClass};

use super::bindings::types;
use crate::matching::Candidate;

pub(crate) fn rates(rates: &Rates) -> types::Rates {
    types::Rates {
        per_million_fuel: rates.per_million_fuel,
        per_gpu_second: rates.per_gpu_second,
        per_wall_second: rates.per_wall_second,
    }
}

pub(crate) fn from_rates(rates: &types::Rates) -> Rates {
    Rates {
        per_million_fuel: rates.per_million_fuel,
        per_gpu_second: rates.per_gpu_second,
        per_wall_second: rates.per_wall_second,
    }
}

/// Region names seen so far and their indices. The matcher interns region
/// names, so candidates of one region share one pointer: a direct-mapped
/// cache on the pointer answers almost every lookup with one compare, and a
/// miss falls back to comparing strings (a network has few regions).
#[derive(Default)]
struct Regions {
    names: Vec<Arc<str>>,
    cache: [Option<(usize, u32)>; REGION_CACHE_SLOTS],
}

/// Slots of [`Regions`]' pointer cache: a power of two above the handful of
/// regions a network has, so collisions are rare and cheap (a string compare).
const REGION_CACHE_SLOTS: usize = 32;

impl Regions {
    fn index(&mut self, region: &Arc<str>) -> u32 {
        let address = Arc::as_ptr(region).cast::<u8>() as usize;
        // Arc allocations are 8-aligned and at least 24 bytes apart. Every
        // candidate outlives this batch, so no address is reused within it.
        let slot = (address >> 4) % REGION_CACHE_SLOTS;
        if let Some((cached, index)) = self.cache[slot]
            && cached == address
        {
            return index;
        }
        let found = self.names.iter().position(|name| **name == **region);
        let index = found.unwrap_or_else(|| {
            self.names.push(Arc::clone(region));
            self.names.len() - 1
        });
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        self.cache[slot] = Some((address, index));
        index
    }
}

/// `spec` and `candidates` as a plugin sees them; the job's preferred region
/// is its own, else `home`.
pub(crate) fn batch(
    spec: &JobSpec,
    home: Option<&str>,
    candidates: &[Candidate],
) -> (types::Job, types::Offers) {
    let mut regions = Regions::default();
    let count = candidates.len();
    let mut offers = types::Offers {
        floor_per_million_fuel: Vec::with_capacity(count),
        floor_per_gpu_second: Vec::with_capacity(count),
        floor_per_wall_second: Vec::with_capacity(count),
        reputation: Vec::with_capacity(count),
        benchmark_class: Vec::with_capacity(count),
        stake_tier: Vec::with_capacity(count),
        free_slots: Vec::with_capacity(count),
        max_jobs: Vec::with_capacity(count),
        region: Vec::with_capacity(count),
    };
    // One pass over the candidates (they are large; the columns are not).
    for c in candidates {
        offers.floor_per_million_fuel.push(c.floor.per_million_fuel);
        offers.floor_per_gpu_second.push(c.floor.per_gpu_second);
        offers.floor_per_wall_second.push(c.floor.per_wall_second);
        offers.reputation.push(c.reputation);
        offers.benchmark_class.push(c.benchmark_class.0);
        offers.stake_tier.push(c.stake_tier);
        offers.free_slots.push(c.free_slots);
        offers.max_jobs.push(c.max_jobs);
        offers.region.push(regions.index(&c.region));
    }
    let preferred = spec.region.as_deref().or(home);
    let region = preferred.map(|name| regions.index(&Arc::from(name)));
    let job = types::Job {
        class: match spec.class {
            WorkloadClass::Cpu => types::WorkloadClass::Cpu,
            WorkloadClass::WebGpu => types::WorkloadClass::Webgpu,
            WorkloadClass::Cuda => types::WorkloadClass::Cuda,
        },
        min_benchmark_class: spec.min_benchmark_class.0,
        regions: regions.names.iter().map(|name| name.to_string()).collect(),
        region,
        fuel: spec.limits.fuel,
        wall_clock_ms: spec.limits.wall_clock_ms,
        max_rates: rates(&spec.max_rates),
    };
    (job, offers)
}
