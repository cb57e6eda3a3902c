//! `wasi:webgpu/webgpu@0.3.0-rc.2`'s compute subset, defined in the linker
//! by hand: each function finds the calling job's [`GpuJob`] and calls its
//! method. Everything defined here is named in `names`, which is what the
//! runtime checks a component's imports against at load
//! (`LoadError::NotProvided` names the first function outside it).
//!
//! Three shapes of function:
//!
//! - those whose WIT returns a `result`: Kiln's typed error becomes the WIT
//!   error (`write-buffer-error`, `map-async-error`, …);
//! - those without one (`create-*`, encoding, `submit`): the error goes to
//!   the job's error scopes, as WebGPU specifies, and creation returns an
//!   invalid object;
//! - plain getters on the job's own objects, which cannot fail through the
//!   component model (it only passes handles the caller holds); if one does,
//!   the job traps with the reason.
//!
//! The `async func`s of the WIT (`request-adapter`, `map-async`, …) are
//! concurrent host functions that finish within their first poll: a
//! workload's `run` is a synchronous export, and wasmtime traps a
//! synchronous task that blocks on an import ("cannot block a synchronous
//! task"). So Kiln waits for the device inside the call ([`blocking`],
//! bounded by the job's deadline), and a guest's async-lowered call returns
//! at once; `wit_bindgen::block_on` then never has to wait.
//!
//! Every call runs under `catch_unwind`: should wgpu panic on an input Kiln
//! failed to check, the job traps and the process carries on.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use kiln_runtime::{ExtensionSlot, JobState};
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Accessor, ComponentNamedList, Lift, Linker, LinkerInstance, Lower, Resource, ResourceType,
};

use super::adapter::{LIMIT_GETTERS, LimitValue};
use super::objects::{self as obj, Object, unsupported};
use crate::bindings::webgpu as wit;
use crate::device::SharedDevice;
use crate::error::GpuError;
use crate::job::GpuJob;
use crate::limits::POLL_SLICE;

/// The interface's name as components import it.
pub const INTERFACE: &str = "wasi:webgpu/webgpu@0.3.0-rc.2";

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

fn no_state() -> wasmtime::Error {
    wasmtime::Error::msg(
        "wasi:webgpu used before the job started (during instantiation); GPU calls are only allowed inside `run`",
    )
}

/// The calling job's GPU state.
fn job_of(state: &mut JobState, slot: ExtensionSlot) -> wasmtime::Result<&mut GpuJob> {
    state.extension::<GpuJob>(slot).ok_or_else(no_state)
}

/// Runs `call`, turning a panic into a trap of this job.
fn guarded<R>(call: impl FnOnce() -> wasmtime::Result<R>) -> wasmtime::Result<R> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        tracing::error!(target: "kiln.gpu", %message, "a GPU host call panicked; the job traps");
        Err(wasmtime::Error::msg(format!(
            "GPU host call failed: {message}"
        )))
    })
}

/// A getter's error: the job traps with it.
fn trap(error: GpuError) -> wasmtime::Error {
    wasmtime::Error::msg(error.to_string())
}

/// Defines functions and resources in one linker instance and records their names.
pub(crate) struct Definer<'a, 'l> {
    pub(crate) instance: LinkerInstance<'l, JobState>,
    pub(crate) names: &'a mut Vec<String>,
    pub(crate) slot: ExtensionSlot,
}

impl Definer<'_, '_> {
    /// A synchronous function on the calling job.
    pub(crate) fn func<P, R>(
        &mut self,
        name: &str,
        call: impl Fn(&mut GpuJob, P) -> wasmtime::Result<R> + Send + Sync + 'static,
    ) -> wasmtime::Result<()>
    where
        P: ComponentNamedList + Lift + 'static,
        R: ComponentNamedList + Lower + 'static,
    {
        let slot = self.slot;
        self.instance.func_wrap(
            name,
            move |mut store: StoreContextMut<'_, JobState>, params: P| {
                let job = job_of(store.data_mut(), slot)?;
                guarded(|| call(job, params))
            },
        )?;
        self.names.push(name.to_owned());
        Ok(())
    }

    /// An `async func`: `call` gets an accessor to reach the job between awaits.
    pub(crate) fn concurrent<P, R>(
        &mut self,
        name: &str,
        call: impl for<'a> Fn(&'a Accessor<JobState>, ExtensionSlot, P) -> BoxFuture<'a, R>
        + Send
        + Sync
        + 'static,
    ) -> wasmtime::Result<()>
    where
        P: ComponentNamedList + Lift + 'static,
        R: ComponentNamedList + Lower + Send + Sync + 'static,
    {
        let slot = self.slot;
        self.instance
            .func_wrap_concurrent(name, move |accessor: &Accessor<JobState>, params: P| {
                call(accessor, slot, params)
            })?;
        self.names.push(name.to_owned());
        Ok(())
    }

    /// A resource type whose objects live in the job's table; dropping the
    /// guest's handle drops the object.
    pub(crate) fn resource<T: Object>(&mut self, name: &str) -> wasmtime::Result<()> {
        let slot = self.slot;
        self.instance.resource(
            name,
            ResourceType::host::<T>(),
            move |mut store: StoreContextMut<'_, JobState>, rep| {
                let job = job_of(store.data_mut(), slot)?;
                guarded(|| job.delete::<T>(rep).map_err(trap))
            },
        )?;
        self.names.push(name.to_owned());
        Ok(())
    }

    /// A `kiln:gpu/cuda` resource: objects in the job's table, dropped with the handle.
    pub(crate) fn cuda_resource<T: Send + 'static>(&mut self, name: &str) -> wasmtime::Result<()> {
        let slot = self.slot;
        self.instance.resource(
            name,
            ResourceType::host::<T>(),
            move |mut store: StoreContextMut<'_, JobState>, rep| {
                let job = job_of(store.data_mut(), slot)?;
                let _ = job.table.delete(Resource::<T>::new_own(rep));
                Ok(())
            },
        )?;
        self.names.push(name.to_owned());
        Ok(())
    }

    /// A resource type of the interface that Kiln never makes (outside the
    /// compute subset): defined so signatures that mention it link.
    pub(crate) fn unmade<T: 'static>(&mut self, name: &str) -> wasmtime::Result<()> {
        self.instance
            .resource(name, ResourceType::host::<T>(), |_, _| Ok(()))?;
        self.names.push(name.to_owned());
        Ok(())
    }
}

/// Runs `call` on the calling job from an async function.
fn with_job<R>(
    accessor: &Accessor<JobState>,
    slot: ExtensionSlot,
    call: impl FnOnce(&mut GpuJob) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    accessor.with(|mut access| {
        let job = job_of(access.get(), slot)?;
        guarded(|| call(job))
    })
}

/// Runs `wait` (a blocking wait for the device) without stalling the
/// executor's other tasks: on a multi-threaded tokio runtime the worker hands
/// its queue to another thread first.
pub(crate) fn blocking<R>(wait: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(wait)
    } else {
        wait()
    }
}

/// Waits until `done` says so, the device has run `submission`, or the
/// job's deadline passes (false). Waits in slices of [`POLL_SLICE`].
fn wait_for_device(
    shared: &SharedDevice,
    submission: Option<wgpu::SubmissionIndex>,
    deadline: Instant,
    done: impl Fn() -> bool,
) -> bool {
    loop {
        // Never blocks: most waits are over by the time they are asked for.
        let _ = shared.device.poll(wgpu::PollType::Poll);
        if done() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = blocking(|| {
            shared.device.poll(wgpu::PollType::Wait {
                submission_index: submission.clone(),
                timeout: Some(left.min(POLL_SLICE)),
            })
        });
    }
}

/// Defines the compute subset in `linker`.
pub(crate) fn add_to_linker(
    linker: &mut Linker<JobState>,
    slot: ExtensionSlot,
    names: &mut Vec<String>,
) -> wasmtime::Result<()> {
    let mut d = Definer {
        instance: linker.instance(INTERFACE)?,
        names,
        slot,
    };
    resources(&mut d)?;
    entry_points(&mut d)?;
    descriptions(&mut d)?;
    device(&mut d)?;
    buffer(&mut d)?;
    encoding(&mut d)?;
    queue(&mut d)?;
    Ok(())
}

fn resources(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
    d.resource::<obj::Gpu>("gpu")?;
    d.resource::<obj::Adapter>("gpu-adapter")?;
    d.resource::<obj::AdapterInfo>("gpu-adapter-info")?;
    d.resource::<obj::Device>("gpu-device")?;
    d.resource::<obj::Queue>("gpu-queue")?;
    d.resource::<obj::Buffer>("gpu-buffer")?;
    d.resource::<obj::ShaderModule>("gpu-shader-module")?;
    d.resource::<obj::ComputePipeline>("gpu-compute-pipeline")?;
    d.resource::<obj::BindGroupLayout>("gpu-bind-group-layout")?;
    d.resource::<obj::PipelineLayout>("gpu-pipeline-layout")?;
    d.resource::<obj::BindGroup>("gpu-bind-group")?;
    d.resource::<obj::CommandEncoder>("gpu-command-encoder")?;
    d.resource::<obj::ComputePass>("gpu-compute-pass-encoder")?;
    d.resource::<obj::CommandBuffer>("gpu-command-buffer")?;
    d.resource::<obj::ScopeError>("gpu-error")?;
    d.resource::<obj::SupportedLimits>("gpu-supported-limits")?;
    d.resource::<obj::SupportedFeatures>("gpu-supported-features")?;
    d.unmade::<unsupported::QuerySet>("gpu-query-set")?;
    d.unmade::<unsupported::Sampler>("gpu-sampler")?;
    d.unmade::<unsupported::Texture>("gpu-texture")?;
    d.unmade::<unsupported::TextureView>("gpu-texture-view")?;
    d.unmade::<unsupported::PipelineConstants>("record-gpu-pipeline-constant-value")?;
    d.unmade::<unsupported::LimitsRecord>("record-option-gpu-size64")?;
    Ok(())
}

fn entry_points(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
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

fn descriptions(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
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
    for (name, getter) in LIMIT_GETTERS {
        let full = format!("[method]gpu-supported-limits.{name}");
        match getter(&wgpu::Limits::default()) {
            LimitValue::U32(_) => d.func(
                &full,
                move |job, (this,): (Resource<obj::SupportedLimits>,)| match getter(
                    &job.get(&this).map_err(trap)?.limits,
                ) {
                    LimitValue::U32(value) => Ok((value,)),
                    LimitValue::U64(value) => Ok((u32::try_from(value).unwrap_or(u32::MAX),)),
                },
            )?,
            LimitValue::U64(_) => d.func(
                &full,
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

fn device(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
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

fn buffer(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
    type Buf = Resource<obj::Buffer>;
    d.func("[method]gpu-buffer.size", |job, (this,): (Buf,)| {
        Ok((job.buffer_size(&this).map_err(trap)?,))
    })?;
    d.func("[method]gpu-buffer.usage", |job, (this,): (Buf,)| {
        Ok((job.buffer_usage(&this).map_err(trap)?,))
    })?;
    d.func("[method]gpu-buffer.map-state", |job, (this,): (Buf,)| {
        Ok((job.buffer_map_state(&this).map_err(trap)?,))
    })?;
    d.func("[method]gpu-buffer.destroy", |job, (this,): (Buf,)| {
        job.buffer_destroy(&this).map_err(trap)
    })?;
    d.func("[method]gpu-buffer.unmap", |job, (this,): (Buf,)| {
        Ok((job.unmap(&this).map_err(trap)?,))
    })?;
    d.func(
        "[method]gpu-buffer.get-mapped-range-get-with-copy",
        |job, (this, offset, size): (Buf, Option<u64>, Option<u64>)| {
            Ok((job.mapped_read(&this, offset, size).map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-buffer.get-mapped-range-set-with-copy",
        |job, (this, data, offset, size): (Buf, Vec<u8>, Option<u64>, Option<u64>)| {
            Ok((job.mapped_write(&this, &data, offset, size).map_err(trap)?,))
        },
    )?;
    d.concurrent(
        "[method]gpu-buffer.map-async",
        |accessor,
         slot,
         (this, mode, offset, size): (Buf, wit::GpuMapMode, Option<u64>, Option<u64>)| {
            Box::pin(async move {
                with_job(accessor, slot, |job| {
                    let result = match job.map_begin(&this, mode, offset, size).map_err(trap)? {
                        Ok(result) => result,
                        Err(error) => return Ok((Err(error),)),
                    };
                    let shared = job.device().map_err(trap)?;
                    let ready = || result.lock().unwrap_or_else(|e| e.into_inner()).is_some();
                    wait_for_device(&shared, job.last_submission.clone(), job.deadline, ready);
                    let outcome = result
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take()
                        .unwrap_or(Err(wgpu::BufferAsyncError));
                    Ok((job
                        .map_finish(&this, mode, offset, size, outcome)
                        .map_err(trap)?,))
                })
            })
        },
    )?;
    Ok(())
}

/// `copy-buffer-to-buffer`'s parameters.
type CopyParams = (
    Resource<obj::CommandEncoder>,
    Resource<obj::Buffer>,
    Option<u64>,
    Resource<obj::Buffer>,
    Option<u64>,
    Option<u64>,
);

/// `set-bind-group`'s parameters.
type SetBindGroupParams = (
    Resource<obj::ComputePass>,
    u32,
    Option<Resource<obj::BindGroup>>,
    Option<Vec<u32>>,
    Option<u64>,
    Option<u32>,
);

/// `write-buffer-with-copy`'s parameters.
type WriteParams = (
    Resource<obj::Queue>,
    Resource<obj::Buffer>,
    u64,
    Vec<u8>,
    Option<u64>,
    Option<u64>,
);

fn encoding(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
    type Enc = Resource<obj::CommandEncoder>;
    type Pass = Resource<obj::ComputePass>;
    d.func(
        "[method]gpu-command-encoder.begin-compute-pass",
        |job, (this, descriptor): (Enc, Option<wit::GpuComputePassDescriptor>)| {
            Ok((job.begin_compute_pass(&this, descriptor).map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-command-encoder.copy-buffer-to-buffer",
        |job, (this, source, source_offset, destination, destination_offset, size): CopyParams| {
            job.copy_buffer_to_buffer(
                &this,
                &source,
                source_offset,
                &destination,
                destination_offset,
                size,
            )
            .map_err(trap)
        },
    )?;
    d.func(
        "[method]gpu-command-encoder.clear-buffer",
        |job, (this, buffer, offset, size): (Enc, Resource<obj::Buffer>, Option<u64>, Option<u64>)| {
            job.clear_buffer(&this, &buffer, offset, size).map_err(trap)
        },
    )?;
    d.func(
        "[method]gpu-command-encoder.finish",
        |job, (this, _descriptor): (Enc, Option<wit::GpuCommandBufferDescriptor>)| {
            Ok((job.finish_encoder(&this).map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-compute-pass-encoder.set-pipeline",
        |job, (this, pipeline): (Pass, Resource<obj::ComputePipeline>)| {
            job.pass_set_pipeline(&this, &pipeline).map_err(trap)
        },
    )?;
    d.func(
        "[method]gpu-compute-pass-encoder.set-bind-group",
        |job, (this, index, group, data, start, length): SetBindGroupParams| {
            let data = data.unwrap_or_default();
            let start = start.unwrap_or(0);
            let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
            let length = length.map_or(len.saturating_sub(start), u64::from);
            let range = usize::try_from(start)
                .ok()
                .zip(
                    start
                        .checked_add(length)
                        .and_then(|end| usize::try_from(end).ok()),
                )
                .filter(|(_, end)| *end <= data.len());
            let Some((start, end)) = range else {
                return Ok((Err(wit::SetBindGroupError {
                    kind: wit::SetBindGroupErrorKind::RangeError,
                    message: format!("dynamic offsets {start}+{length} outside {len}"),
                }),));
            };
            Ok((job
                .pass_set_bind_group(&this, index, group.as_ref(), &data[start..end])
                .map_err(trap)?,))
        },
    )?;
    d.func(
        "[method]gpu-compute-pass-encoder.dispatch-workgroups",
        |job, (this, x, y, z): (Pass, u32, Option<u32>, Option<u32>)| {
            job.pass_dispatch(&this, x, y, z).map_err(trap)
        },
    )?;
    d.func(
        "[method]gpu-compute-pass-encoder.end",
        |job, (this,): (Pass,)| job.pass_end(&this).map_err(trap),
    )?;
    Ok(())
}

fn queue(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
    type Q = Resource<obj::Queue>;
    d.func(
        "[method]gpu-queue.submit",
        |job, (this, buffers): (Q, Vec<Resource<obj::CommandBuffer>>)| {
            job.submit_buffers(&this, &buffers).map_err(trap)
        },
    )?;
    d.func(
        "[method]gpu-queue.write-buffer-with-copy",
        |job, (this, buffer, offset, data, data_offset, size): WriteParams| {
            Ok((job
                .write_buffer(&this, &buffer, offset, &data, data_offset, size)
                .map_err(trap)?,))
        },
    )?;
    d.concurrent(
        "[method]gpu-queue.on-submitted-work-done",
        |accessor, slot, (this,): (Q,)| {
            Box::pin(async move {
                with_job(accessor, slot, |job| {
                    job.get(&this).map_err(trap)?;
                    let shared = job.device().map_err(trap)?;
                    job.begin_timestamp_read(&shared);
                    // Fires once everything submitted so far (by any job) has run.
                    let finished = Arc::new(AtomicBool::new(false));
                    let flag = finished.clone();
                    shared
                        .queue
                        .on_submitted_work_done(move || flag.store(true, Ordering::Relaxed));
                    let done = || finished.load(Ordering::Relaxed);
                    wait_for_device(&shared, job.last_submission.clone(), job.deadline, done);
                    job.finish_timestamp_read(&shared);
                    Ok(())
                })
            })
        },
    )?;
    Ok(())
}
