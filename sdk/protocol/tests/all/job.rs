//! Job specs: limits within their ceilings, decoding.

use kiln_protocol::job::{MAX_MEMORY_BYTES, MAX_OUTPUT_BYTES, MAX_WALL_CLOCK_MS};
use kiln_protocol::{DecodeError, JobSpec, WorkloadClass};

use crate::common::{Edit, sample_job_spec};

#[test]
fn job_spec_round_trips() {
    let spec = sample_job_spec();
    assert_eq!(JobSpec::from_bytes(&spec.to_bytes()), Ok(spec.clone()));
    assert_ne!(
        spec.digest(),
        JobSpec {
            input_size: 1,
            ..spec
        }
        .digest()
    );
}

#[test]
fn each_limit_outside_its_range_is_refused() {
    let cases: &[(&str, Edit<JobSpec>)] = &[
        ("limits.fuel", |s| s.limits.fuel = 0),
        ("limits.memory_bytes", |s| s.limits.memory_bytes = 0),
        ("limits.memory_bytes", |s| {
            s.limits.memory_bytes = MAX_MEMORY_BYTES + 1
        }),
        ("limits.wall_clock_ms", |s| {
            s.limits.wall_clock_ms = MAX_WALL_CLOCK_MS + 1
        }),
        ("limits.output_bytes", |s| {
            s.limits.output_bytes = MAX_OUTPUT_BYTES + 1
        }),
        ("limits.gpu_memory_bytes", |s| {
            s.limits.gpu_memory_bytes = u64::MAX
        }),
        ("input_size", |s| s.input_size = u64::MAX),
        ("region", |s| s.region = Some("x".repeat(33))),
        ("min_benchmark_class", |s| s.min_benchmark_class.0 = 200),
        ("limits.gpu_memory_bytes", |s| s.class = WorkloadClass::Cpu),
    ];
    for &(field, edit) in cases {
        let mut spec = sample_job_spec();
        edit(&mut spec);
        assert!(
            matches!(JobSpec::from_bytes(&spec.to_bytes()), Err(DecodeError::InvalidField { field: f, .. }) if f == field),
            "{field}"
        );
    }
}

#[test]
fn truncated_job_spec_is_truncated() {
    let bytes = sample_job_spec().to_bytes();
    for len in 1..bytes.len() {
        assert_eq!(
            JobSpec::from_bytes(&bytes[..len]),
            Err(DecodeError::Truncated),
            "{len}"
        );
    }
}

#[test]
fn max_cost_bills_every_limit_and_gpu_time_only_for_gpu_classes() {
    let rates = kiln_protocol::Rates {
        per_million_fuel: 1_000,
        per_gpu_second: 500,
        per_wall_second: 10,
    };
    let mut spec = sample_job_spec();
    spec.limits.fuel = 3_000_000;
    spec.limits.wall_clock_ms = 4_000;
    spec.class = WorkloadClass::WebGpu;
    // 3 M fuel at 1000/M + 4 s GPU at 500/s + 4 s wall at 10/s.
    assert_eq!(spec.max_cost(&rates), Ok(3_000 + 2_000 + 40));
    spec.class = WorkloadClass::Cpu;
    spec.limits.gpu_memory_bytes = 0;
    assert_eq!(spec.max_cost(&rates), Ok(3_000 + 40));
    spec.limits.fuel = u64::MAX;
    let huge = kiln_protocol::Rates {
        per_million_fuel: u64::MAX,
        ..rates
    };
    assert!(spec.max_cost(&huge).is_err());
}
