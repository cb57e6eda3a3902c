//! The entry points: `get-gpu`, adapter, device, queue, their descriptions
//! (info, limits, features), and the job's error scopes.
//!
//! Every adapter and device handle a job gets is a view of the node's one
//! shared device. The limits a job sees are the device's, except that no
//! buffer may be larger than the job's GPU memory cap.

use wasmtime::component::Resource;

use super::objects::{
    Adapter, AdapterInfo, Device, Gpu, Queue, ScopeError, SupportedFeatures, SupportedLimits,
};
use crate::bindings::webgpu::{
    GpuDeviceDescriptor, GpuErrorFilter, GpuErrorKind, PopErrorScopeError, PopErrorScopeErrorKind,
    RequestDeviceError, RequestDeviceErrorKind,
};
use crate::error::{ErrorClass, GpuError};
use crate::job::GpuJob;

impl GpuJob {
    pub(crate) fn get_gpu(&mut self) -> Result<Resource<Gpu>, GpuError> {
        self.push(Gpu { owner: self.id })
    }

    /// `request-adapter`: the shared device's adapter, or none when the node
    /// has no usable GPU. Called after the device was opened off the executor.
    pub(crate) fn request_adapter(&mut self) -> Result<Option<Resource<Adapter>>, GpuError> {
        if self.device().is_err() {
            return Ok(None);
        }
        self.push(Adapter { owner: self.id }).map(Some)
    }

    pub(crate) fn adapter_info(&mut self) -> Result<Resource<AdapterInfo>, GpuError> {
        let info = self.device()?.info.clone();
        self.push(AdapterInfo {
            owner: self.id,
            info,
        })
    }

    /// The device's limits, with buffers capped at the job's GPU memory.
    pub(crate) fn supported_limits(&mut self) -> Result<Resource<SupportedLimits>, GpuError> {
        let mut limits = self.device()?.limits.clone();
        limits.max_buffer_size = limits.max_buffer_size.min(self.memory.cap);
        limits.max_storage_buffer_binding_size =
            limits.max_storage_buffer_binding_size.min(self.memory.cap);
        self.push(SupportedLimits {
            owner: self.id,
            limits,
        })
    }

    pub(crate) fn supported_features(&mut self) -> Result<Resource<SupportedFeatures>, GpuError> {
        self.push(SupportedFeatures { owner: self.id })
    }

    /// `request-device`: a view of the shared device. Optional features are
    /// refused (Kiln offers core WebGPU compute), as are required limits.
    pub(crate) fn request_device(
        &mut self,
        adapter: &Resource<Adapter>,
        descriptor: Option<GpuDeviceDescriptor>,
    ) -> Result<Result<Resource<Device>, RequestDeviceError>, GpuError> {
        self.get(adapter)?;
        if let Some(descriptor) = &descriptor {
            let features = descriptor.required_features.as_deref().unwrap_or_default();
            if let Some(feature) = features.first() {
                return Ok(Err(RequestDeviceError {
                    kind: RequestDeviceErrorKind::TypeError,
                    message: format!("feature {feature:?} is not offered by this node"),
                }));
            }
        }
        if let Some(limits) = descriptor.and_then(|d| d.required_limits) {
            // No handle of this type can exist (its constructor is not
            // provided); drop whatever was passed.
            let _ = self.table.delete(limits);
        }
        Ok(Ok(self.push(Device { owner: self.id })?))
    }

    pub(crate) fn device_queue(
        &mut self,
        device: &Resource<Device>,
    ) -> Result<Resource<Queue>, GpuError> {
        self.get(device)?;
        self.push(Queue { owner: self.id })
    }

    pub(crate) fn push_error_scope(
        &mut self,
        device: &Resource<Device>,
        filter: GpuErrorFilter,
    ) -> Result<(), GpuError> {
        self.get(device)?;
        self.scopes.push(match filter {
            GpuErrorFilter::Validation => ErrorClass::Validation,
            GpuErrorFilter::OutOfMemory => ErrorClass::OutOfMemory,
            GpuErrorFilter::Internal => ErrorClass::Internal,
        })
    }

    pub(crate) fn pop_error_scope(
        &mut self,
        device: &Resource<Device>,
    ) -> Result<Result<Option<Resource<ScopeError>>, PopErrorScopeError>, GpuError> {
        self.get(device)?;
        let Some(caught) = self.scopes.pop() else {
            return Ok(Err(PopErrorScopeError {
                kind: PopErrorScopeErrorKind::OperationError,
                message: "no error scope to pop".into(),
            }));
        };
        let Some(error) = caught else {
            return Ok(Ok(None));
        };
        let handle = self.push(ScopeError {
            owner: self.id,
            class: error.class(),
            message: error.to_string(),
        })?;
        Ok(Ok(Some(handle)))
    }

    pub(crate) fn error_kind(
        &self,
        error: &Resource<ScopeError>,
    ) -> Result<GpuErrorKind, GpuError> {
        Ok(match self.get(error)?.class {
            ErrorClass::Validation => GpuErrorKind::ValidationError,
            ErrorClass::OutOfMemory => GpuErrorKind::OutOfMemoryError,
            ErrorClass::Internal => GpuErrorKind::InternalError,
        })
    }
}

/// One `gpu-supported-limits` getter per limit.
macro_rules! limit_getters {
    ($($wit:literal => $field:ident: $ty:ty),* $(,)?) => {
        /// Every limit getter: its WIT function's name and how it reads
        /// [`wgpu::Limits`].
        pub(crate) const LIMIT_GETTERS: &[(&str, fn(&wgpu::Limits) -> LimitValue)] = &[
            $((
                concat!("[method]gpu-supported-limits.", $wit),
                |limits| LimitValue::from(limits.$field as $ty),
            ),)*
        ];
    };
}

/// A limit's value: `u32` or `u64` in the WIT.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LimitValue {
    U32(u32),
    U64(u64),
}

impl From<u32> for LimitValue {
    fn from(value: u32) -> Self {
        Self::U32(value)
    }
}

impl From<u64> for LimitValue {
    fn from(value: u64) -> Self {
        Self::U64(value)
    }
}

limit_getters! {
    "max-texture-dimension1-d" => max_texture_dimension_1d: u32,
    "max-texture-dimension2-d" => max_texture_dimension_2d: u32,
    "max-texture-dimension3-d" => max_texture_dimension_3d: u32,
    "max-texture-array-layers" => max_texture_array_layers: u32,
    "max-bind-groups" => max_bind_groups: u32,
    "max-bind-groups-plus-vertex-buffers" => max_bind_groups_plus_vertex_buffers: u32,
    "max-immediate-size" => max_immediate_size: u32,
    "max-bindings-per-bind-group" => max_bindings_per_bind_group: u32,
    "max-dynamic-uniform-buffers-per-pipeline-layout" => max_dynamic_uniform_buffers_per_pipeline_layout: u32,
    "max-dynamic-storage-buffers-per-pipeline-layout" => max_dynamic_storage_buffers_per_pipeline_layout: u32,
    "max-sampled-textures-per-shader-stage" => max_sampled_textures_per_shader_stage: u32,
    "max-samplers-per-shader-stage" => max_samplers_per_shader_stage: u32,
    "max-storage-buffers-per-shader-stage" => max_storage_buffers_per_shader_stage: u32,
    "max-storage-buffers-in-vertex-stage" => max_storage_buffers_per_shader_stage: u32,
    "max-storage-buffers-in-fragment-stage" => max_storage_buffers_per_shader_stage: u32,
    "max-storage-textures-per-shader-stage" => max_storage_textures_per_shader_stage: u32,
    "max-storage-textures-in-vertex-stage" => max_storage_textures_per_shader_stage: u32,
    "max-storage-textures-in-fragment-stage" => max_storage_textures_per_shader_stage: u32,
    "max-uniform-buffers-per-shader-stage" => max_uniform_buffers_per_shader_stage: u32,
    "max-uniform-buffer-binding-size" => max_uniform_buffer_binding_size: u64,
    "max-storage-buffer-binding-size" => max_storage_buffer_binding_size: u64,
    "min-uniform-buffer-offset-alignment" => min_uniform_buffer_offset_alignment: u32,
    "min-storage-buffer-offset-alignment" => min_storage_buffer_offset_alignment: u32,
    "max-vertex-buffers" => max_vertex_buffers: u32,
    "max-buffer-size" => max_buffer_size: u64,
    "max-vertex-attributes" => max_vertex_attributes: u32,
    "max-vertex-buffer-array-stride" => max_vertex_buffer_array_stride: u32,
    "max-inter-stage-shader-variables" => max_inter_stage_shader_variables: u32,
    "max-color-attachments" => max_color_attachments: u32,
    "max-color-attachment-bytes-per-sample" => max_color_attachment_bytes_per_sample: u32,
    "max-compute-workgroup-storage-size" => max_compute_workgroup_storage_size: u32,
    "max-compute-invocations-per-workgroup" => max_compute_invocations_per_workgroup: u32,
    "max-compute-workgroup-size-x" => max_compute_workgroup_size_x: u32,
    "max-compute-workgroup-size-y" => max_compute_workgroup_size_y: u32,
    "max-compute-workgroup-size-z" => max_compute_workgroup_size_z: u32,
    "max-compute-workgroups-per-dimension" => max_compute_workgroups_per_dimension: u32,
}
