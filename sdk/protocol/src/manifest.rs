//! Capability manifests: what a node offers, signed by the node.
//!
//! A node sends a [`SignedManifest`] when it registers with a scheduler. The
//! signature is by the manifest's own `receipt_key` (the node key), over
//! [`MANIFEST_DOMAIN`] followed by the borsh bytes, so it cannot be confused
//! with a receipt signature. Variable-length fields are bounded by the
//! constants below; [`CapabilityManifest::validate`] enforces them and runs on
//! every decode and before every signature.

use alloc::string::String;
use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::bytes::{EncryptionKey, PublicKey, Signature};
use crate::class::{BenchmarkClass, WorkloadClass};
use crate::codec::{self, DecodeError, invalid};
use crate::rates::Rates;

/// The manifest layout this build reads and writes.
pub const MANIFEST_VERSION: u8 = 1;

/// Domain tag prefixed to a manifest's bytes before signing.
pub const MANIFEST_DOMAIN: &[u8; 16] = b"kiln/manifest/1\0";

/// Most GPUs one manifest lists. A machine with more runs several nodes, which
/// keeps one node's scheduling unit (and its stake at risk) bounded.
pub const MAX_GPUS: usize = 16;

/// Longest CPU or GPU model name, in bytes. Longer names are truncated by the
/// prober; a manifest carrying one is refused.
pub const MAX_MODEL_NAME_LEN: usize = 128;

/// Longest region label, in bytes (`eu-west`, `us-east-2`, …).
pub const MAX_REGION_LEN: usize = 32;

/// Longest client version string, in bytes (a semver with build metadata fits).
pub const MAX_CLIENT_VERSION_LEN: usize = 64;

/// Most jobs one node may run at once. Bounds the scheduler's per-node state
/// and the node's per-job scratch space.
pub const MAX_PARALLEL_JOBS: u16 = 1024;

/// The graphics API a GPU is driven through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
pub enum GpuBackend {
    /// Vulkan (including Mesa's lavapipe software rasteriser).
    Vulkan = 0,
    /// Apple Metal.
    Metal = 1,
    /// Direct3D 12.
    Dx12 = 2,
    /// NVIDIA CUDA driver.
    Cuda = 3,
}

/// What kind of device a GPU is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
pub enum DeviceKind {
    /// A discrete GPU.
    Discrete = 0,
    /// A GPU integrated with the CPU.
    Integrated = 1,
    /// A virtualised GPU.
    Virtual = 2,
    /// A software implementation running on the CPU (lavapipe).
    Software = 3,
}

/// One GPU a node offers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct GpuInfo {
    /// Model name as the driver reports it.
    pub name: String,
    /// API it is driven through.
    pub backend: GpuBackend,
    /// Kind of device.
    pub kind: DeviceKind,
    /// Device memory in bytes (0 when the driver does not say).
    pub memory_bytes: u64,
}

/// The node's CPU.
#[derive(Debug, Clone, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct CpuInfo {
    /// Model name.
    pub model: String,
    /// Logical cores available to jobs.
    pub cores: u16,
}

/// What a node offers. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct CapabilityManifest {
    /// Layout version, [`MANIFEST_VERSION`].
    pub version: u8,
    /// The node's identity: its account in the settlement program.
    pub node_id: PublicKey,
    /// The operator's wallet, which stakes for the node and is paid.
    pub operator: PublicKey,
    /// The node key: signs receipts and this manifest.
    pub receipt_key: PublicKey,
    /// X25519 key renters encrypt inputs and secrets to.
    pub encryption_key: EncryptionKey,
    /// The CPU.
    pub cpu: CpuInfo,
    /// RAM available to jobs, in bytes.
    pub ram_bytes: u64,
    /// GPUs available to jobs, at most [`MAX_GPUS`].
    pub gpus: Vec<GpuInfo>,
    /// Speed tier from the standard benchmark.
    pub benchmark_class: BenchmarkClass,
    /// Region label: lowercase ASCII letters, digits and `-`.
    pub region: String,
    /// The lowest rates the node accepts.
    pub price_floor: Rates,
    /// Kinds of work accepted: non-empty, no repeats.
    pub workload_classes: Vec<WorkloadClass>,
    /// Jobs run at once, 1 to [`MAX_PARALLEL_JOBS`].
    pub max_parallel_jobs: u16,
    /// Version of the node software.
    pub client_version: String,
    /// When the manifest was signed, in Unix seconds; a scheduler refuses one
    /// older than the node's last registration (replay).
    pub issued_at: u64,
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), DecodeError> {
    if value.len() > max {
        return Err(invalid(field, "longer than its bound"));
    }
    Ok(())
}

/// True for a region label the protocol accepts.
pub fn is_valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= MAX_REGION_LEN
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl CapabilityManifest {
    /// Checks every bound and rule of the module docs.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.version != MANIFEST_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                kind: "manifest",
                found: self.version,
                supported: MANIFEST_VERSION,
            });
        }
        check_len("cpu.model", &self.cpu.model, MAX_MODEL_NAME_LEN)?;
        if self.cpu.cores == 0 {
            return Err(invalid("cpu.cores", "must be at least 1"));
        }
        if self.gpus.len() > MAX_GPUS {
            return Err(invalid("gpus", "more GPUs than MAX_GPUS"));
        }
        for gpu in &self.gpus {
            check_len("gpus.name", &gpu.name, MAX_MODEL_NAME_LEN)?;
        }
        if self.benchmark_class > BenchmarkClass::MAX {
            return Err(invalid("benchmark_class", "above BenchmarkClass::MAX"));
        }
        if !is_valid_region(&self.region) {
            return Err(invalid("region", "must be 1-32 bytes of a-z, 0-9 and '-'"));
        }
        if self.workload_classes.is_empty() {
            return Err(invalid("workload_classes", "must name at least one class"));
        }
        for (i, class) in self.workload_classes.iter().enumerate() {
            if self.workload_classes[..i].contains(class) {
                return Err(invalid("workload_classes", "a class is listed twice"));
            }
        }
        let offers = |class| self.workload_classes.contains(&class);
        if offers(WorkloadClass::WebGpu) && self.gpus.is_empty() {
            return Err(invalid(
                "workload_classes",
                "offers WebGPU work but lists no GPU",
            ));
        }
        if offers(WorkloadClass::Cuda) && !self.gpus.iter().any(|g| g.backend == GpuBackend::Cuda) {
            return Err(invalid(
                "workload_classes",
                "offers CUDA work but lists no CUDA GPU",
            ));
        }
        if self.max_parallel_jobs == 0 || self.max_parallel_jobs > MAX_PARALLEL_JOBS {
            return Err(invalid(
                "max_parallel_jobs",
                "must be 1 to MAX_PARALLEL_JOBS",
            ));
        }
        check_len(
            "client_version",
            &self.client_version,
            MAX_CLIENT_VERSION_LEN,
        )?;
        Ok(())
    }

    /// The borsh encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The exact bytes the node signs: [`MANIFEST_DOMAIN`] then the borsh encoding.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut message = Vec::from(&MANIFEST_DOMAIN[..]);
        message.extend_from_slice(&self.to_bytes());
        message
    }
}

/// A manifest with the node's signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct SignedManifest {
    /// What the node offers.
    pub manifest: CapabilityManifest,
    /// Signature by `manifest.receipt_key` over [`CapabilityManifest::signing_message`].
    pub signature: Signature,
}

/// Why a signed manifest was refused.
#[cfg(feature = "ed25519")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The manifest breaks a rule.
    #[error(transparent)]
    Invalid(#[from] DecodeError),
    /// The signature is wrong or by another key.
    #[error(transparent)]
    Signature(#[from] crate::signing::SignatureError),
}

impl SignedManifest {
    /// The borsh encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes and validates exactly one signed manifest. The signature is not
    /// checked here; see [`SignedManifest::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_version(bytes, "manifest", MANIFEST_VERSION)?;
        let signed: Self = codec::decode_exact(bytes)?;
        signed.manifest.validate()?;
        Ok(signed)
    }

    /// Validates `manifest` and signs it with `node_key`, which must be its `receipt_key`.
    #[cfg(feature = "ed25519")]
    pub fn sign(
        manifest: CapabilityManifest,
        node_key: &crate::signing::SigningKey,
    ) -> Result<Self, ManifestError> {
        manifest.validate()?;
        if crate::signing::public_key(node_key) != manifest.receipt_key {
            return Err(crate::signing::SignatureError::WrongSigner.into());
        }
        let signature = crate::signing::sign(node_key, &manifest.signing_message());
        Ok(Self {
            manifest,
            signature,
        })
    }

    /// Checks the rules and the signature by the manifest's `receipt_key`.
    #[cfg(feature = "ed25519")]
    pub fn verify(&self) -> Result<(), ManifestError> {
        self.manifest.validate()?;
        crate::signing::verify(
            &self.manifest.receipt_key,
            &self.manifest.signing_message(),
            &self.signature,
        )?;
        Ok(())
    }
}
