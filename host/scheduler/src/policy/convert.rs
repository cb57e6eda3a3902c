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

/// Region names seen so far and their indices. A network has few regions, so
/// a linear search (pointer first: candidates of one node index share it)
/// beats hashing.
#[derive(Default)]
struct Regions {
    names: Vec<Arc<str>>,
}

impl Regions {
    fn index(&mut self, region: &Arc<str>) -> u32 {
        let found = self
            .names
            .iter()
            .position(|name| Arc::ptr_eq(name, region) || **name == **region);
        let index = found.unwrap_or_else(|| {
            self.names.push(Arc::clone(region));
            self.names.len() - 1
        });
        u32::try_from(index).unwrap_or(u32::MAX)
    }
}

/// `spec` and `candidates` as a plugin sees them; the job's preferred region
/// is its own, else `home`.
pub(crate) fn batch(
    spec: &JobSpec,
    home: Option<&str>,
    candidates: &[Candidate],
) -> (types::Job, Vec<types::Offer>) {
    let mut regions = Regions::default();
    let offers = candidates
        .iter()
        .map(|candidate| types::Offer {
            floor: rates(&candidate.floor),
            reputation: candidate.reputation,
            benchmark_class: candidate.benchmark_class.0,
            stake_tier: candidate.stake_tier,
            free_slots: candidate.free_slots,
            max_jobs: candidate.max_jobs,
            region: regions.index(&candidate.region),
        })
        .collect();
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
