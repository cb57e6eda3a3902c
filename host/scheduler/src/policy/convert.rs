//! Kiln's types as the `kiln:policy` records.

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

/// `spec` as a plugin sees it; its preferred region is its own, else `home`.
pub(crate) fn job(spec: &JobSpec, home: Option<&str>) -> types::Job {
    types::Job {
        class: match spec.class {
            WorkloadClass::Cpu => types::WorkloadClass::Cpu,
            WorkloadClass::WebGpu => types::WorkloadClass::Webgpu,
            WorkloadClass::Cuda => types::WorkloadClass::Cuda,
        },
        min_benchmark_class: spec.min_benchmark_class.0,
        region: spec.region.clone().or_else(|| home.map(str::to_owned)),
        fuel: spec.limits.fuel,
        wall_clock_ms: spec.limits.wall_clock_ms,
        max_rates: rates(&spec.max_rates),
    }
}

pub(crate) fn offer(candidate: &Candidate) -> types::Offer {
    types::Offer {
        floor: rates(&candidate.floor),
        reputation: candidate.reputation,
        benchmark_class: candidate.benchmark_class.0,
        stake_tier: candidate.stake_tier,
        free_slots: candidate.free_slots,
        max_jobs: candidate.max_jobs,
        region: candidate.region.to_string(),
    }
}
