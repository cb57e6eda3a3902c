//! The host objects behind a job's `wasi:webgpu` handles.
//!
//! Each lives in its job's own table ([`crate::job::GpuJob`]) and records the
//! job that made it (`Object::owner`); a lookup resolves a handle only in
//! the calling job's table and checks the owner, so no job can reach
//! another's object. wgpu objects that may fail to exist (over the memory
//! cap, a failed validation that Kiln caught first) are `Option`s: `None` is
//! WebGPU's "invalid object", and using one is a validation error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::bindings::webgpu::GpuBufferUsage;
use crate::error::ErrorClass;

/// Which job made an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId(pub(crate) u64);

/// What every object in a job's table says about itself.
pub(crate) trait Object: Send + 'static {
    /// Its WebGPU name, for error messages.
    const KIND: &'static str;
    /// The job that made it.
    fn owner(&self) -> JobId;
}

macro_rules! objects {
    ($($ty:ident => $kind:literal),* $(,)?) => {
        $(impl Object for $ty {
            const KIND: &'static str = $kind;
            fn owner(&self) -> JobId {
                self.owner
            }
        })*
    };
}

objects! {
    Gpu => "gpu",
    Adapter => "gpu-adapter",
    AdapterInfo => "gpu-adapter-info",
    Device => "gpu-device",
    Queue => "gpu-queue",
    Buffer => "gpu-buffer",
    ShaderModule => "gpu-shader-module",
    ComputePipeline => "gpu-compute-pipeline",
    BindGroupLayout => "gpu-bind-group-layout",
    PipelineLayout => "gpu-pipeline-layout",
    BindGroup => "gpu-bind-group",
    CommandEncoder => "gpu-command-encoder",
    ComputePass => "gpu-compute-pass-encoder",
    CommandBuffer => "gpu-command-buffer",
    ScopeError => "gpu-error",
    SupportedLimits => "gpu-supported-limits",
    SupportedFeatures => "gpu-supported-features",
}

/// `gpu`: the entry point (`get-gpu`).
pub struct Gpu {
    pub(crate) owner: JobId,
}

/// `gpu-adapter`: the node's shared adapter, as one job sees it.
pub struct Adapter {
    pub(crate) owner: JobId,
}

/// `gpu-adapter-info`.
pub struct AdapterInfo {
    pub(crate) owner: JobId,
    pub(crate) info: wgpu::AdapterInfo,
}

/// `gpu-device`: a job's view of the shared device. Errors of the objects
/// made through it go to the job's error scopes.
pub struct Device {
    pub(crate) owner: JobId,
}

/// `gpu-queue`: the shared queue, as one job sees it.
pub struct Queue {
    pub(crate) owner: JobId,
}

/// Where a buffer's mapping stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapState {
    Unmapped,
    /// `map-async` is waiting for the device.
    Pending,
    /// Mapped for `mode`, bytes `offset..offset + size`.
    Mapped {
        mode: wgpu::MapMode,
        offset: u64,
        size: u64,
    },
}

/// `gpu-buffer`. Its bytes are charged to the job's memory account until it
/// is destroyed or dropped.
pub struct Buffer {
    pub(crate) owner: JobId,
    /// `None` when invalid (refused at creation) or destroyed.
    pub(crate) inner: Option<wgpu::Buffer>,
    pub(crate) size: u64,
    pub(crate) usage: GpuBufferUsage,
    pub(crate) map: MapState,
    pub(crate) charge: Option<Charge>,
}

/// `gpu-shader-module`.
pub struct ShaderModule {
    pub(crate) owner: JobId,
    pub(crate) inner: Option<wgpu::ShaderModule>,
}

/// `gpu-compute-pipeline`.
pub struct ComputePipeline {
    pub(crate) owner: JobId,
    pub(crate) inner: Option<wgpu::ComputePipeline>,
}

/// `gpu-bind-group-layout`.
pub struct BindGroupLayout {
    pub(crate) owner: JobId,
    pub(crate) inner: Option<wgpu::BindGroupLayout>,
}

/// `gpu-pipeline-layout`.
pub struct PipelineLayout {
    pub(crate) owner: JobId,
    pub(crate) inner: Option<wgpu::PipelineLayout>,
}

/// `gpu-bind-group`.
pub struct BindGroup {
    pub(crate) owner: JobId,
    pub(crate) inner: Option<wgpu::BindGroup>,
}

/// `gpu-command-encoder`. `invalid` is shared with its passes: an error
/// while encoding makes the finished command buffer invalid, as in WebGPU.
pub struct CommandEncoder {
    pub(crate) owner: JobId,
    pub(crate) inner: Option<wgpu::CommandEncoder>,
    pub(crate) invalid: Arc<AtomicBool>,
}

/// `gpu-compute-pass-encoder`. Holds its encoder (wgpu locks the encoder
/// until the pass ends).
pub struct ComputePass {
    pub(crate) owner: JobId,
    pub(crate) inner: Option<wgpu::ComputePass<'static>>,
    pub(crate) encoder_invalid: Arc<AtomicBool>,
}

/// `gpu-command-buffer`: submitted at most once.
pub struct CommandBuffer {
    pub(crate) owner: JobId,
    pub(crate) inner: Option<wgpu::CommandBuffer>,
    pub(crate) invalid: bool,
}

/// `gpu-error`: what an error scope caught.
pub struct ScopeError {
    pub(crate) owner: JobId,
    pub(crate) class: ErrorClass,
    pub(crate) message: String,
}

/// `gpu-supported-limits`: the device's limits as the job sees them.
pub struct SupportedLimits {
    pub(crate) owner: JobId,
    pub(crate) limits: wgpu::Limits,
}

/// `gpu-supported-features`: the features a job may ask for (none beyond
/// core WebGPU compute today).
pub struct SupportedFeatures {
    pub(crate) owner: JobId,
}

/// Resources of `wasi:webgpu` outside the compute subset. Their types must
/// exist for a component whose function signatures mention them to link,
/// but nothing Kiln provides returns one, so no handle of them ever exists.
pub mod unsupported {
    /// `gpu-query-set` (guest timestamp queries; Kiln times every submission itself).
    pub enum QuerySet {}
    /// `gpu-sampler`.
    pub enum Sampler {}
    /// `gpu-texture`.
    pub enum Texture {}
    /// `gpu-texture-view`.
    pub enum TextureView {}
    /// `record-gpu-pipeline-constant-value` (pipeline-overridable constants).
    pub enum PipelineConstants {}
    /// `record-option-gpu-size64` (required limits when requesting a device).
    pub enum LimitsRecord {}
}

/// Live GPU buffers across all jobs of a process: what tests check to see
/// that a job released everything, and what an operator's metrics show.
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub(crate) buffers: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

/// One job's GPU memory: its cap and what its live buffers hold.
#[derive(Debug)]
pub(crate) struct MemoryAccount {
    pub(crate) cap: u64,
    pub(crate) used: AtomicU64,
    pub(crate) live: Arc<LiveCounters>,
}

impl MemoryAccount {
    /// Charges `bytes` if the cap allows; the charge is released when dropped.
    pub(crate) fn charge(self: &Arc<Self>, bytes: u64) -> Result<Charge, crate::GpuError> {
        let charged = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.cap)
            });
        match charged {
            Ok(_) => {
                self.live.buffers.fetch_add(1, Ordering::Relaxed);
                self.live.bytes.fetch_add(bytes, Ordering::Relaxed);
                Ok(Charge {
                    account: self.clone(),
                    bytes,
                })
            }
            Err(used) => Err(crate::GpuError::OverCap {
                requested: bytes,
                used,
                cap: self.cap,
            }),
        }
    }
}

/// Bytes of a live buffer, charged to its job until dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    account: Arc<MemoryAccount>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.account.used.fetch_sub(self.bytes, Ordering::Relaxed);
        self.account.live.buffers.fetch_sub(1, Ordering::Relaxed);
        self.account
            .live
            .bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}
