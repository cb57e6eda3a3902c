//! `wasi:webgpu` functions that get a GPU and make objects: `get-gpu`, the
//! adapter and device, their descriptions (info, limits, features, errors),
//! object creation and error scopes.

use wasmtime::component::Resource;

use super::{Definer, blocking, trap, with_job};
use crate::bindings::webgpu as wit;
use crate::job::GpuJob;
use crate::webgpu::adapter::{LIMIT_GETTERS, LimitValue};
use crate::webgpu::objects as obj;

/// `get-gpu`, requesting the adapter and device, and the adapter's getters.
pub(super) fn entry_points(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
    d.func("get-gpu", |job, (): ()| {
        Ok((job.get_gpu().map_err(trap)?,))
    })?;
    d.concurrent(
        "[method]gpu.request-adapter",
        |accessor,
         slot,
         (gpu, _options): (Resource<obj::Gpu>, Option<wit::GpuRequestAdapterOptions>)| {
            Box::pin(async move {
                with_job(accessor, slot, |job| {
                    job.get(&gpu).map_err(trap)?;
                    // Opening the device takes ~600 ms the first time, so
                    // that call hands its worker's other tasks away first;
                    // later jobs find it open and skip the handover (which
                    // costs a thread wake-up, ~0.1 ms on two cores).
                    if !job.shared.device_is_settled() {
                        let shared = job.shared.clone();
                        let _ = blocking(|| shared.device());
                    }
                    Ok((job.request_adapter().map_err(trap)?,))
                })
            })
        },
    )?;
    d.concurrent(
        "[method]gpu-adapter.request-device",
        |accessor, slot, (adapter, descriptor): (Resource<obj::Adapter>, Option<wit::GpuDeviceDescriptor>)| {
            Box::pin(async move {
                with_job(accessor, slot, |job| {
                    Ok((job.request_device(&adapter, descriptor).map_err(trap)?,))
                })
            })
        },
    )?;
    d.func(
        "[method]gpu-adapter.features",
        |job, (this,): (Resource<obj::Adapter>,)| {
            job.get(&this).map_err(trap)?;
            Ok((job.supported_features().map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-adapter.limits",
        |job, (this,): (Resource<obj::Adapter>,)| {
            job.get(&this).map_err(trap)?;
            Ok((job.supported_limits().map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-adapter.info",
        |job, (this,): (Resource<obj::Adapter>,)| {
            job.get(&this).map_err(trap)?;
            Ok((job.adapter_info().map_err(trap)?,))
        },
    )?;
    Ok(())
}

/// Getters on adapter info, supported limits and features, and scope errors.
pub(super) fn descriptions(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
    type Info = (Resource<obj::AdapterInfo>,);
    fn info(
        job: &GpuJob,
        this: &Resource<obj::AdapterInfo>,
    ) -> wasmtime::Result<wgpu::AdapterInfo> {
        Ok(job.get(this).map_err(trap)?.info.clone())
    }
    d.func("[method]gpu-adapter-info.vendor", |job, (this,): Info| {
        Ok((format!("{:#06x}", info(job, &this)?.vendor),))
    })?;
    d.func(
        "[method]gpu-adapter-info.architecture",
        |job, (this,): Info| Ok((format!("{:?}", info(job, &this)?.backend).to_lowercase(),)),
    )?;
    d.func("[method]gpu-adapter-info.device", |job, (this,): Info| {
        Ok((info(job, &this)?.name,))
    })?;
    d.func(
        "[method]gpu-adapter-info.description",
        |job, (this,): Info| {
            let info = info(job, &this)?;
            Ok((format!(
                "{} ({:?}, {:?}, {} {})",
                info.name, info.device_type, info.backend, info.driver, info.driver_info
            ),))
        },
    )?;
    d.func(
        "[method]gpu-adapter-info.subgroup-min-size",
        |job, (this,): Info| Ok((info(job, &this)?.subgroup_min_size,)),
    )?;
    d.func(
        "[method]gpu-adapter-info.subgroup-max-size",
        |job, (this,): Info| Ok((info(job, &this)?.subgroup_max_size,)),
    )?;
    d.func(
        "[method]gpu-adapter-info.is-fallback-adapter",
        |job, (this,): Info| Ok((info(job, &this)?.device_type == wgpu::DeviceType::Cpu,)),
    )?;
    d.func(
        "[method]gpu-supported-features.has",
        |job, (this, _name): (Resource<obj::SupportedFeatures>, String)| {
            job.get(&this).map_err(trap)?;
            Ok((false,))
        },
    )?;
    for &(name, getter) in LIMIT_GETTERS {
        match getter(&wgpu::Limits::default()) {
            LimitValue::U32(_) => d.func(
                name,
                move |job, (this,): (Resource<obj::SupportedLimits>,)| match getter(
                    &job.get(&this).map_err(trap)?.limits,
                ) {
                    LimitValue::U32(value) => Ok((value,)),
                    LimitValue::U64(value) => Ok((u32::try_from(value).unwrap_or(u32::MAX),)),
                },
            )?,
            LimitValue::U64(_) => d.func(
                name,
                move |job, (this,): (Resource<obj::SupportedLimits>,)| match getter(
                    &job.get(&this).map_err(trap)?.limits,
                ) {
                    LimitValue::U32(value) => Ok((u64::from(value),)),
                    LimitValue::U64(value) => Ok((value,)),
                },
            )?,
        }
    }
    d.func(
        "[method]gpu-error.message",
        |job, (this,): (Resource<obj::ScopeError>,)| {
            Ok((job.get(&this).map_err(trap)?.message.clone(),))
        },
    )?;
    d.func(
        "[method]gpu-error.kind",
        |job, (this,): (Resource<obj::ScopeError>,)| Ok((job.error_kind(&this).map_err(trap)?,)),
    )?;
    Ok(())
}

/// The device's methods: its getters, object creation and error scopes.
pub(super) fn device(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
    type Dev = Resource<obj::Device>;
    d.func("[method]gpu-device.features", |job, (this,): (Dev,)| {
        job.get(&this).map_err(trap)?;
        Ok((job.supported_features().map_err(trap)?,))
    })?;
    d.func("[method]gpu-device.limits", |job, (this,): (Dev,)| {
        job.get(&this).map_err(trap)?;
        Ok((job.supported_limits().map_err(trap)?,))
    })?;
    d.func("[method]gpu-device.adapter-info", |job, (this,): (Dev,)| {
        job.get(&this).map_err(trap)?;
        Ok((job.adapter_info().map_err(trap)?,))
    })?;
    d.func("[method]gpu-device.queue", |job, (this,): (Dev,)| {
        Ok((job.device_queue(&this).map_err(trap)?,))
    })?;
    // The device is shared by every job: destroying a job's view of it
    // releases nothing; the job's objects go when the job ends.
    d.func("[method]gpu-device.destroy", |job, (this,): (Dev,)| {
        job.get(&this).map_err(trap)?;
        Ok(())
    })?;
    d.func(
        "[method]gpu-device.create-buffer",
        |job, (this, descriptor): (Dev, wit::GpuBufferDescriptor)| {
            job.get(&this).map_err(trap)?;
            Ok((job.create_buffer(descriptor).map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-device.create-shader-module",
        |job, (this, descriptor): (Dev, wit::GpuShaderModuleDescriptor)| {
            Ok((job.create_shader_module(&this, descriptor).map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-device.create-bind-group-layout",
        |job, (this, descriptor): (Dev, wit::GpuBindGroupLayoutDescriptor)| {
            Ok((job
                .create_bind_group_layout(&this, descriptor)
                .map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-device.create-pipeline-layout",
        |job, (this, descriptor): (Dev, wit::GpuPipelineLayoutDescriptor)| {
            Ok((job
                .create_pipeline_layout(&this, descriptor)
                .map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-device.create-bind-group",
        |job, (this, descriptor): (Dev, wit::GpuBindGroupDescriptor)| {
            Ok((job.create_bind_group(&this, descriptor).map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-device.create-compute-pipeline",
        |job, (this, descriptor): (Dev, wit::GpuComputePipelineDescriptor)| {
            Ok((job
                .create_compute_pipeline(&this, descriptor)
                .map_err(trap)?,))
        },
    )?;
    d.concurrent(
        "[method]gpu-device.create-compute-pipeline-async",
        |accessor, slot, (this, descriptor): (Dev, wit::GpuComputePipelineDescriptor)| {
            Box::pin(async move {
                with_job(accessor, slot, |job| {
                    // Pipelines compile in ~1 ms: made at once, and a failure
                    // is this function's typed error rather than a scope's.
                    job.scopes
                        .push(crate::ErrorClass::Validation)
                        .map_err(trap)?;
                    let made = job.create_compute_pipeline(&this, descriptor);
                    let caught = job.scopes.pop().flatten();
                    let pipeline = made.map_err(trap)?;
                    Ok((match caught {
                        None => Ok(pipeline),
                        Some(error) => {
                            let _ = job.delete::<obj::ComputePipeline>(pipeline.rep());
                            Err(wit::CreatePipelineError {
                                kind: wit::CreatePipelineErrorKind::GpuPipelineError(
                                    wit::GpuPipelineErrorReason::Validation,
                                ),
                                message: error.to_string(),
                            })
                        }
                    },))
                })
            })
        },
    )?;
    d.func(
        "[method]gpu-device.create-command-encoder",
        |job, (this, _descriptor): (Dev, Option<wit::GpuCommandEncoderDescriptor>)| {
            Ok((job.create_command_encoder(&this).map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-device.push-error-scope",
        |job, (this, filter): (Dev, wit::GpuErrorFilter)| {
            job.push_error_scope(&this, filter).map_err(trap)?;
            Ok(())
        },
    )?;
    d.concurrent(
        "[method]gpu-device.pop-error-scope",
        |accessor, slot, (this,): (Dev,)| {
            Box::pin(async move {
                with_job(accessor, slot, |job| {
                    Ok((job.pop_error_scope(&this).map_err(trap)?,))
                })
            })
        },
    )?;
    d.func(
        "[method]gpu-compute-pipeline.get-bind-group-layout",
        |job, (this, index): (Resource<obj::ComputePipeline>, u32)| {
            Ok((job.pipeline_bind_group_layout(&this, index).map_err(trap)?,))
        },
    )?;
    Ok(())
}
