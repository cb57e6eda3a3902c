//! Shaders, layouts, compute pipelines and bind groups.
//!
//! WGSL is compiled by wgpu (naga) inside error scopes: a shader that fails
//! to parse or validate gives an invalid module and a validation error in
//! the job's scopes, never a panic. Bind groups are checked by Kiln first
//! (the buffers are the job's, the ranges inside them) and then by wgpu.

use wasmtime::component::Resource;

use super::objects::{
    BindGroup, BindGroupLayout, Buffer, ComputePipeline, Device, PipelineLayout, ShaderModule,
};
use crate::bindings::webgpu::{
    GpuBindGroupDescriptor, GpuBindGroupLayoutDescriptor, GpuBindingResource, GpuBufferBindingType,
    GpuComputePipelineDescriptor, GpuLayoutMode, GpuPipelineLayoutDescriptor,
    GpuShaderModuleDescriptor, GpuShaderStage,
};
use crate::error::GpuError;
use crate::job::GpuJob;
use crate::limits::MAX_WGSL_BYTES;
use crate::scope::capture;

use super::buffer::check_range;

impl GpuJob {
    /// Runs `make` (wgpu work) in error scopes; reports what it caught.
    pub(crate) fn make<R>(&mut self, make: impl FnOnce(&wgpu::Device) -> R) -> Result<R, GpuError> {
        let shared = self.device()?;
        let (made, errors) = capture(&shared.device, || make(&shared.device));
        self.report_all(errors);
        Ok(made)
    }

    /// Reports `error` when `result` is one, giving `None` (an invalid object).
    pub(crate) fn valid<T>(&mut self, result: Result<T, GpuError>) -> Option<T> {
        result.map_err(|error| self.scopes.report(error)).ok()
    }

    pub(crate) fn create_shader_module(
        &mut self,
        device: &Resource<Device>,
        descriptor: GpuShaderModuleDescriptor,
    ) -> Result<Resource<ShaderModule>, GpuError> {
        self.get(device)?;
        let inner = if descriptor.code.len() > MAX_WGSL_BYTES {
            self.scopes.report(GpuError::Validation(format!(
                "WGSL source of {} bytes is over the limit of {MAX_WGSL_BYTES}",
                descriptor.code.len()
            )));
            None
        } else {
            let made = self.make(|device| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: None,
                    source: wgpu::ShaderSource::Wgsl(descriptor.code.into()),
                })
            });
            self.valid(made)
        };
        self.push(ShaderModule {
            owner: self.id,
            inner,
        })
    }

    pub(crate) fn create_bind_group_layout(
        &mut self,
        device: &Resource<Device>,
        descriptor: GpuBindGroupLayoutDescriptor,
    ) -> Result<Resource<BindGroupLayout>, GpuError> {
        self.get(device)?;
        let mut entries = Vec::with_capacity(descriptor.entries.len());
        let mut refused = None;
        for entry in &descriptor.entries {
            let Some(buffer) = &entry.buffer else {
                refused = Some(GpuError::Validation(format!(
                    "binding {}: only buffer bindings are offered (compute subset)",
                    entry.binding
                )));
                break;
            };
            let mut visibility = wgpu::ShaderStages::empty();
            if entry.visibility.contains(GpuShaderStage::COMPUTE) {
                visibility |= wgpu::ShaderStages::COMPUTE;
            }
            if entry.visibility.contains(GpuShaderStage::VERTEX) {
                visibility |= wgpu::ShaderStages::VERTEX;
            }
            if entry.visibility.contains(GpuShaderStage::FRAGMENT) {
                visibility |= wgpu::ShaderStages::FRAGMENT;
            }
            let ty = match buffer.type_.unwrap_or(GpuBufferBindingType::Uniform) {
                GpuBufferBindingType::Uniform => wgpu::BufferBindingType::Uniform,
                GpuBufferBindingType::Storage => {
                    wgpu::BufferBindingType::Storage { read_only: false }
                }
                GpuBufferBindingType::ReadOnlyStorage => {
                    wgpu::BufferBindingType::Storage { read_only: true }
                }
            };
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: entry.binding,
                visibility,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: buffer.has_dynamic_offset.unwrap_or(false),
                    min_binding_size: buffer.min_binding_size.and_then(wgpu::BufferSize::new),
                },
                count: None,
            });
        }
        let inner = match refused {
            Some(error) => {
                self.scopes.report(error);
                None
            }
            None => {
                let made = self.make(|device| {
                    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                        label: None,
                        entries: &entries,
                    })
                });
                self.valid(made)
            }
        };
        self.push(BindGroupLayout {
            owner: self.id,
            inner,
        })
    }

    pub(crate) fn create_pipeline_layout(
        &mut self,
        device: &Resource<Device>,
        descriptor: GpuPipelineLayoutDescriptor,
    ) -> Result<Resource<PipelineLayout>, GpuError> {
        self.get(device)?;
        let mut layouts = Vec::with_capacity(descriptor.bind_group_layouts.len());
        let mut invalid = false;
        for layout in &descriptor.bind_group_layouts {
            match layout {
                Some(handle) => match &self.get(handle)?.inner {
                    Some(inner) => layouts.push(Some(inner.clone())),
                    None => invalid = true,
                },
                None => layouts.push(None),
            }
        }
        let inner = if invalid {
            self.scopes.report(GpuError::Validation(
                "pipeline layout names an invalid bind group layout".into(),
            ));
            None
        } else {
            let refs: Vec<Option<&wgpu::BindGroupLayout>> =
                layouts.iter().map(Option::as_ref).collect();
            let made = self.make(|device| {
                device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: None,
                    bind_group_layouts: &refs,
                    immediate_size: descriptor.immediate_size.unwrap_or(0),
                })
            });
            self.valid(made)
        };
        self.push(PipelineLayout {
            owner: self.id,
            inner,
        })
    }

    pub(crate) fn create_compute_pipeline(
        &mut self,
        device: &Resource<Device>,
        descriptor: GpuComputePipelineDescriptor,
    ) -> Result<Resource<ComputePipeline>, GpuError> {
        self.get(device)?;
        let module = self.get(&descriptor.compute.module)?.inner.clone();
        let layout = match &descriptor.layout {
            GpuLayoutMode::Auto => Ok(None),
            GpuLayoutMode::Specific(handle) => match &self.get(handle)?.inner {
                Some(layout) => Ok(Some(layout.clone())),
                None => Err(GpuError::Validation(
                    "the pipeline layout is invalid".into(),
                )),
            },
        };
        let checked = match (module, layout, &descriptor.compute.constants) {
            (_, _, Some(_)) => Err(GpuError::Validation(
                "pipeline-overridable constants are not offered".into(),
            )),
            (None, _, _) => Err(GpuError::Validation("the shader module is invalid".into())),
            (_, Err(error), _) => Err(error),
            (Some(module), Ok(layout), None) => Ok((module, layout)),
        };
        let inner = match checked {
            Err(error) => {
                self.scopes.report(error);
                None
            }
            Ok((module, layout)) => {
                let entry_point = descriptor.compute.entry_point.as_deref();
                let made = self.make(|device| {
                    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: None,
                        layout: layout.as_ref(),
                        module: &module,
                        entry_point,
                        compilation_options: Default::default(),
                        cache: None,
                    })
                });
                self.valid(made)
            }
        };
        self.push(ComputePipeline {
            owner: self.id,
            inner,
        })
    }

    /// `get-bind-group-layout`: the layout at `index` of an `auto` pipeline.
    pub(crate) fn pipeline_bind_group_layout(
        &mut self,
        pipeline: &Resource<ComputePipeline>,
        index: u32,
    ) -> Result<Resource<BindGroupLayout>, GpuError> {
        let pipeline = self.get(pipeline)?.inner.clone();
        let max = self.device()?.limits.max_bind_groups;
        let inner = match pipeline {
            None => Err(GpuError::Validation("the pipeline is invalid".into())),
            Some(_) if index >= max => Err(GpuError::Validation(format!(
                "bind group index {index} is over the device's {max} groups"
            ))),
            Some(pipeline) => self.make(|_| pipeline.get_bind_group_layout(index)),
        };
        let inner = self.valid(inner);
        self.push(BindGroupLayout {
            owner: self.id,
            inner,
        })
    }

    pub(crate) fn create_bind_group(
        &mut self,
        device: &Resource<Device>,
        descriptor: GpuBindGroupDescriptor,
    ) -> Result<Resource<BindGroup>, GpuError> {
        self.get(device)?;
        let checked = self.check_bind_group(&descriptor);
        let inner = match checked {
            Err(error) => {
                self.scopes.report(error);
                None
            }
            Ok((layout, buffers)) => {
                let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
                    .iter()
                    .map(|(binding, buffer, offset, size)| wgpu::BindGroupEntry {
                        binding: *binding,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer,
                            offset: *offset,
                            size: wgpu::BufferSize::new(*size),
                        }),
                    })
                    .collect();
                let made = self.make(|device| {
                    device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: None,
                        layout: &layout,
                        entries: &entries,
                    })
                });
                self.valid(made)
            }
        };
        self.push(BindGroup {
            owner: self.id,
            inner,
        })
    }

    /// The layout and `(binding, buffer, offset, size)` of each entry, every
    /// range checked against its buffer.
    #[expect(clippy::type_complexity, reason = "a private helper's tuple")]
    fn check_bind_group(
        &self,
        descriptor: &GpuBindGroupDescriptor,
    ) -> Result<(wgpu::BindGroupLayout, Vec<(u32, wgpu::Buffer, u64, u64)>), GpuError> {
        let layout = self
            .get(&descriptor.layout)?
            .inner
            .clone()
            .ok_or_else(|| GpuError::Validation("the bind group layout is invalid".into()))?;
        let mut buffers = Vec::with_capacity(descriptor.entries.len());
        for entry in &descriptor.entries {
            let (handle, offset, size) = match &entry.resource {
                GpuBindingResource::GpuBuffer(handle) => (handle, None, None),
                GpuBindingResource::GpuBufferBinding(binding) => {
                    (&binding.buffer, binding.offset, binding.size)
                }
                _ => {
                    return Err(GpuError::Validation(format!(
                        "binding {}: only buffers can be bound (compute subset)",
                        entry.binding
                    )));
                }
            };
            let buffer: &Buffer = self.get(handle)?;
            let inner = buffer.inner.clone().ok_or_else(|| {
                GpuError::Validation(format!(
                    "binding {}: the buffer is invalid or destroyed",
                    entry.binding
                ))
            })?;
            let offset = offset.unwrap_or(0);
            let size = size.unwrap_or(buffer.size.saturating_sub(offset));
            check_range(
                &format!("binding {}", entry.binding),
                offset,
                size,
                buffer.size,
            )?;
            if size == 0 {
                return Err(GpuError::Validation(format!(
                    "binding {}: binds zero bytes",
                    entry.binding
                )));
            }
            buffers.push((entry.binding, inner, offset, size));
        }
        Ok((layout, buffers))
    }
}
