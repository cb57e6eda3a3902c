//! Hardware classes shared by manifests (what a node offers) and job specs
//! (what a job needs).

use borsh::{BorshDeserialize, BorshSerialize};

/// The kind of work a job does, and so the host interfaces it needs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
#[borsh(use_discriminant = true)]
pub enum WorkloadClass {
    /// CPU only: WASI, no GPU imports.
    Cpu = 0,
    /// WebGPU compute through `wasi:webgpu`.
    WebGpu = 1,
    /// CUDA through `kiln:gpu/cuda`.
    Cuda = 2,
}

impl WorkloadClass {
    /// Every class, in wire order.
    pub const ALL: [WorkloadClass; 3] = [Self::Cpu, Self::WebGpu, Self::Cuda];
}

/// A node's speed tier, set by running Kiln's standard benchmark component.
/// Higher is faster; a job asks for a minimum. Tiers are coarse on purpose so
/// that noise in one benchmark run rarely moves a node between them.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct BenchmarkClass(pub u8);

impl BenchmarkClass {
    /// The highest tier the protocol defines.
    pub const MAX: BenchmarkClass = BenchmarkClass(15);
}
