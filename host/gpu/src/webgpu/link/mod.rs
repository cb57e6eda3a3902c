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
//! task"). So Kiln waits for the device inside the call (`blocking`,
//! bounded by the job's deadline), and a guest's async-lowered call returns
//! at once; `wit_bindgen::block_on` then never has to wait.
//!
//! The functions are defined in two files: `setup` (the GPU, adapter and
//! device, their descriptions, and object creation) and `work` (buffers
//! and their mapping, command encoding, the queue).
//!
//! Every call runs under `catch_unwind`: should wgpu panic on an input Kiln
//! failed to check, the job traps and the process carries on.
//!
//! Each call's start and return are `trace` events of the `kiln.timeline`
//! target (off unless a subscriber asks for them: a relaxed atomic load
//! each), for the benchmark's step-by-step timeline of a job
//! (`KILN_BENCH_PROFILE=timeline`).

mod setup;
mod work;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::time::Instant;

use kiln_runtime::{ExtensionSlot, JobState};
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Accessor, ComponentNamedList, Lift, Linker, LinkerInstance, Lower, Resource, ResourceType,
};

use super::objects::{self as obj, Object, unsupported};
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
    instance: LinkerInstance<'l, JobState>,
    names: &'a mut Vec<String>,
    slot: ExtensionSlot,
}

impl<'a, 'l> Definer<'a, 'l> {
    /// Starts defining interface `name` in `linker`, for the extension in `slot`.
    pub(crate) fn new(
        linker: &'l mut Linker<JobState>,
        name: &str,
        slot: ExtensionSlot,
        names: &'a mut Vec<String>,
    ) -> wasmtime::Result<Self> {
        Ok(Self {
            instance: linker.instance(name)?,
            names,
            slot,
        })
    }
}

impl Definer<'_, '_> {
    /// A synchronous function on the calling job.
    pub(crate) fn func<P, R>(
        &mut self,
        name: &'static str,
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
                tracing::trace!(target: "kiln.timeline", call = name, "host call");
                let job = job_of(store.data_mut(), slot)?;
                let result = guarded(|| call(job, params));
                tracing::trace!(target: "kiln.timeline", call = name, "host call returned");
                result
            },
        )?;
        self.names.push(name.to_owned());
        Ok(())
    }

    /// An `async func`: `call` gets an accessor to reach the job between awaits.
    pub(crate) fn concurrent<P, R>(
        &mut self,
        name: &'static str,
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
        self.instance.func_wrap_concurrent(
            name,
            move |accessor: &Accessor<JobState>, params: P| {
                tracing::trace!(target: "kiln.timeline", call = name, "host call");
                let returned = call(accessor, slot, params);
                Box::pin(async move {
                    let result = returned.await;
                    tracing::trace!(target: "kiln.timeline", call = name, "host call returned");
                    result
                })
            },
        )?;
        self.names.push(name.to_owned());
        Ok(())
    }

    /// A resource type whose objects live in the job's table; dropping the
    /// guest's handle drops the object.
    pub(crate) fn resource<T: Object>(&mut self, name: &str) -> wasmtime::Result<()> {
        self.resource_dropped_by::<T>(name, |job, rep| {
            guarded(|| job.delete::<T>(rep).map_err(trap))
        })
    }

    /// A `kiln:gpu/cuda` resource: objects in the job's table, dropped with the handle.
    pub(crate) fn cuda_resource<T: Send + 'static>(&mut self, name: &str) -> wasmtime::Result<()> {
        self.resource_dropped_by::<T>(name, |job, rep| {
            if let Ok(object) = job.table.delete(Resource::<T>::new_own(rep))
                && job.cuda.wedged()
            {
                job.cuda_dropped.push(Box::new(object));
            }
            Ok(())
        })
    }

    /// A resource type whose handle's drop runs `on_drop` on the calling job.
    fn resource_dropped_by<T: 'static>(
        &mut self,
        name: &str,
        on_drop: impl Fn(&mut GpuJob, u32) -> wasmtime::Result<()> + Send + Sync + 'static,
    ) -> wasmtime::Result<()> {
        let slot = self.slot;
        self.instance.resource(
            name,
            ResourceType::host::<T>(),
            move |mut store: StoreContextMut<'_, JobState>, rep| {
                on_drop(job_of(store.data_mut(), slot)?, rep)
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

/// Runs `call` on the calling job from an async function, and tells the
/// runtime if it handed the job's worker away ([`blocking`]).
fn with_job<R>(
    accessor: &Accessor<JobState>,
    slot: ExtensionSlot,
    call: impl FnOnce(&mut GpuJob) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    accessor.with(|mut access| {
        WORKER_HANDED_OFF.set(false);
        let result = guarded(|| call(job_of(access.get(), slot)?));
        if WORKER_HANDED_OFF.take() {
            access.get().note_worker_handed_off();
        }
        result
    })
}

thread_local! {
    /// Set when [`blocking`] handed this thread's worker away, for
    /// [`with_job`] to pass on: a tick's yield right after a GPU wait would
    /// move the job to another thread and back (40 to 90 µs a job on a
    /// two-core VM, the crate README) for no fairness gained.
    static WORKER_HANDED_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `wait` (a blocking wait for the device) without stalling the
/// executor's other tasks: on a multi-threaded tokio runtime the worker hands
/// its queue to another thread first.
pub(crate) fn blocking<R>(wait: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        WORKER_HANDED_OFF.set(true);
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
    let mut d = Definer::new(linker, INTERFACE, slot, names)?;
    resources(&mut d)?;
    setup::entry_points(&mut d)?;
    setup::descriptions(&mut d)?;
    setup::device(&mut d)?;
    work::buffer(&mut d)?;
    work::encoding(&mut d)?;
    work::queue(&mut d)?;
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
