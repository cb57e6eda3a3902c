//! Shared fixtures: deterministic keys and chains.

use kiln_protocol::signing::{SigningKey, public_key};
use kiln_protocol::{Digest, Parties, PublicKey, Receipt, SignedReceipt, Usage};

/// A key from a one-byte seed pattern, so tests and vectors are reproducible.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub struct Party {
    pub node: SigningKey,
    pub renter: SigningKey,
    pub job: PublicKey,
}

impl Party {
    pub fn new() -> Self {
        Self {
            node: key(1),
            renter: key(2),
            job: PublicKey([3; 32]),
        }
    }

    pub fn parties(&self) -> Parties {
        Parties {
            job: self.job,
            node: public_key(&self.node),
            renter: public_key(&self.renter),
        }
    }

    /// A chain with one receipt per usage, every one counter-signed.
    pub fn co_signed_chain(&self, usages: &[Usage]) -> Vec<SignedReceipt> {
        self.chain(usages, usages.len())
    }

    /// A chain where only the first `co_signed` receipts are counter-signed.
    pub fn chain(&self, usages: &[Usage], co_signed: usize) -> Vec<SignedReceipt> {
        let mut receipts: Vec<Receipt> = Vec::new();
        for usage in usages {
            let receipt = match receipts.last() {
                None => Receipt::first(self.parties(), *usage, 0, Digest::ZERO),
                Some(last) => last
                    .next(*usage, 0, Digest::ZERO)
                    .expect("usages are cumulative"),
            };
            receipts.push(receipt);
        }
        receipts
            .into_iter()
            .enumerate()
            .map(|(i, receipt)| {
                let mut signed = SignedReceipt::signed_by_node(receipt, &self.node).unwrap();
                if i < co_signed {
                    signed.counter_sign(&self.renter).unwrap();
                }
                signed
            })
            .collect()
    }
}

/// `n` cumulative usages growing by a fixed step.
pub fn growing_usages(n: u64) -> Vec<Usage> {
    (1..=n)
        .map(|i| Usage {
            fuel: i * 1_000_000,
            gpu_ns: i * 5_000,
            wall_ms: i * 1_000,
        })
        .collect()
}

use kiln_protocol::job::JOB_SPEC_VERSION;
use kiln_protocol::manifest::{CpuInfo, DeviceKind, GpuBackend, GpuInfo, MANIFEST_VERSION};
use kiln_protocol::{
    BenchmarkClass, CapabilityManifest, EncryptionKey, JobLimits, JobSpec, Rates, WorkloadClass,
};

/// A valid manifest for `node_key`.
pub fn sample_manifest(node_key: &SigningKey) -> CapabilityManifest {
    CapabilityManifest {
        version: MANIFEST_VERSION,
        node_id: PublicKey([0x11; 32]),
        operator: PublicKey([0x22; 32]),
        receipt_key: public_key(node_key),
        encryption_key: EncryptionKey([0x33; 32]),
        cpu: CpuInfo {
            model: "AMD EPYC 9654".into(),
            cores: 16,
        },
        ram_bytes: 64 << 30,
        gpus: vec![GpuInfo {
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            backend: GpuBackend::Vulkan,
            kind: DeviceKind::Software,
            memory_bytes: 0,
        }],
        benchmark_class: BenchmarkClass(3),
        region: "eu-west".into(),
        price_floor: Rates {
            per_million_fuel: 10,
            per_gpu_second: 2_000,
            per_wall_second: 1,
        },
        workload_classes: vec![WorkloadClass::Cpu, WorkloadClass::WebGpu],
        max_parallel_jobs: 4,
        client_version: "kiln-node 0.1.0".into(),
        issued_at: 1_795_000_000,
    }
}

/// A valid GPU job spec.
pub fn sample_job_spec() -> JobSpec {
    JobSpec {
        version: JOB_SPEC_VERSION,
        component: Digest([0x44; 32]),
        input_size: 4096,
        class: WorkloadClass::WebGpu,
        min_benchmark_class: BenchmarkClass(2),
        region: Some("eu-west".into()),
        limits: JobLimits {
            fuel: 10_000_000_000,
            memory_bytes: 256 << 20,
            wall_clock_ms: 60_000,
            gpu_memory_bytes: 512 << 20,
            output_bytes: 16 << 20,
        },
        max_rates: Rates {
            per_million_fuel: 20,
            per_gpu_second: 5_000,
            per_wall_second: 2,
        },
        escrow: PublicKey([3; 32]),
    }
}

/// One edit that breaks one rule of a record, for table-driven tests.
pub type Edit<T> = fn(&mut T);
