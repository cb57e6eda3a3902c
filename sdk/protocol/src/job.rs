//! Job specs: what a renter asks for when it submits a workload.
//!
//! A [`JobSpec`] names the component by SHA-256 (the node fetches the bytes
//! and checks the hash), sizes the input, states the hardware it needs, the
//! limits the sandbox enforces and the most the renter will pay. Every limit
//! has a protocol-wide ceiling below; [`JobSpec::validate`] enforces them on
//! decode, so a node never sizes a sandbox from an unchecked number.

use alloc::string::String;
use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::bytes::{Digest, PublicKey, sha256};
use crate::class::{BenchmarkClass, WorkloadClass};
use crate::codec::{self, DecodeError, invalid};
use crate::manifest::is_valid_region;
use crate::rates::Rates;

/// The job-spec layout this build reads and writes.
pub const JOB_SPEC_VERSION: u8 = 1;

/// Ceiling on a job's linear memory: wasm32 addresses at most 4 GiB.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// Ceiling on a job's input. Inputs travel encrypted through the scheduler's
/// relay; larger data belongs in a store the workload fetches from.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Ceiling on a job's output, for the same reason as [`MAX_INPUT_BYTES`].
pub const MAX_OUTPUT_BYTES: u64 = 1 << 30;

/// Ceiling on a job's wall-clock deadline: 7 days. Longer work is split into
/// jobs so escrow and receipts settle at least weekly.
pub const MAX_WALL_CLOCK_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Ceiling on a job's GPU memory: 1 TiB, above any single device today; the
/// node further caps it at what its device has.
pub const MAX_GPU_MEMORY_BYTES: u64 = 1 << 40;

/// The limits a node's sandbox enforces on a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct JobLimits {
    /// Fuel budget: the guest traps when it is spent. At least 1.
    pub fuel: u64,
    /// Linear memory cap in bytes, 1 to [`MAX_MEMORY_BYTES`].
    pub memory_bytes: u64,
    /// Wall-clock deadline in milliseconds, 1 to [`MAX_WALL_CLOCK_MS`].
    pub wall_clock_ms: u64,
    /// GPU memory cap in bytes, up to [`MAX_GPU_MEMORY_BYTES`]; 0 for CPU jobs.
    pub gpu_memory_bytes: u64,
    /// Output cap in bytes, up to [`MAX_OUTPUT_BYTES`].
    pub output_bytes: u64,
}

/// A renter's request. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct JobSpec {
    /// Layout version, [`JOB_SPEC_VERSION`].
    pub version: u8,
    /// SHA-256 of the component's bytes.
    pub component: Digest,
    /// Size of the (plaintext) input in bytes, up to [`MAX_INPUT_BYTES`].
    pub input_size: u64,
    /// The kind of work, and so the node class needed.
    pub class: WorkloadClass,
    /// The slowest benchmark tier acceptable.
    pub min_benchmark_class: BenchmarkClass,
    /// A region the node must be in, or any.
    pub region: Option<String>,
    /// Sandbox limits.
    pub limits: JobLimits,
    /// The most the renter pays per unit.
    pub max_rates: Rates,
    /// The job's escrow account on chain.
    pub escrow: PublicKey,
}

fn check_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), DecodeError> {
    if value < min || value > max {
        return Err(invalid(field, "outside its allowed range"));
    }
    Ok(())
}

impl JobSpec {
    /// The most this job can cost at `rates`: its whole fuel budget, and its
    /// whole wall-clock deadline both as wall time and (for GPU classes) as
    /// GPU time. This is the escrow a node asks for when it accepts the job,
    /// so a job that runs to every limit is still paid in full; the renter's
    /// own budget may stop it earlier (it stops counter-signing).
    pub fn max_cost(&self, rates: &Rates) -> Result<u64, crate::rates::CostError> {
        let wall_ms = self.limits.wall_clock_ms;
        let gpu_ns = match self.class {
            WorkloadClass::Cpu => 0,
            WorkloadClass::WebGpu | WorkloadClass::Cuda => wall_ms.saturating_mul(1_000_000),
        };
        let usage = crate::receipt::Usage {
            fuel: self.limits.fuel,
            gpu_ns,
            wall_ms,
        };
        crate::rates::usage_cost(&usage, rates)
    }

    /// Checks every ceiling and rule of the module docs.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.version != JOB_SPEC_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                kind: "job spec",
                found: self.version,
                supported: JOB_SPEC_VERSION,
            });
        }
        check_range("input_size", self.input_size, 0, MAX_INPUT_BYTES)?;
        if self.min_benchmark_class > BenchmarkClass::MAX {
            return Err(invalid("min_benchmark_class", "above BenchmarkClass::MAX"));
        }
        if let Some(region) = &self.region
            && !is_valid_region(region)
        {
            return Err(invalid("region", "must be 1-32 bytes of a-z, 0-9 and '-'"));
        }
        let limits = &self.limits;
        check_range("limits.fuel", limits.fuel, 1, u64::MAX)?;
        check_range(
            "limits.memory_bytes",
            limits.memory_bytes,
            1,
            MAX_MEMORY_BYTES,
        )?;
        check_range(
            "limits.wall_clock_ms",
            limits.wall_clock_ms,
            1,
            MAX_WALL_CLOCK_MS,
        )?;
        check_range(
            "limits.gpu_memory_bytes",
            limits.gpu_memory_bytes,
            0,
            MAX_GPU_MEMORY_BYTES,
        )?;
        check_range(
            "limits.output_bytes",
            limits.output_bytes,
            0,
            MAX_OUTPUT_BYTES,
        )?;
        if self.class == WorkloadClass::Cpu && limits.gpu_memory_bytes != 0 {
            return Err(invalid(
                "limits.gpu_memory_bytes",
                "must be 0 for a CPU job",
            ));
        }
        Ok(())
    }

    /// The borsh encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes and validates exactly one job spec.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_version(bytes, "job spec", JOB_SPEC_VERSION)?;
        let spec: Self = codec::decode_exact(bytes)?;
        spec.validate()?;
        Ok(spec)
    }

    /// SHA-256 of the encoding: a stable name for this exact request.
    pub fn digest(&self) -> Digest {
        sha256(&[&self.to_bytes()])
    }
}
