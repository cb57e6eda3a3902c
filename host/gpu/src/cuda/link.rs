//! `kiln:gpu/cuda` in the linker: resources in the job's table, each call
//! on the job's [`super::CudaJob`].

use kiln_runtime::{ExtensionSlot, JobState};
use wasmtime::component::{Linker, Resource};

use super::{Context, DeviceBuffer, KernelArgValue, Module};
use crate::bindings::cuda::{CudaError, KernelArg, LaunchConfig};
use crate::job::GpuJob;
use crate::webgpu::link::Definer;

/// The interface's name as components import it.
pub const INTERFACE: &str = "kiln:gpu/cuda@0.1.0";

fn missing(kind: &str) -> CudaError {
    CudaError::InvalidArgument(format!("unknown {kind} handle"))
}

pub(crate) fn add_to_linker(
    linker: &mut Linker<JobState>,
    slot: ExtensionSlot,
    names: &mut Vec<String>,
) -> wasmtime::Result<()> {
    let mut d = Definer::new(linker, INTERFACE, slot, names)?;
    d.cuda_resource::<Context>("context")?;
    d.cuda_resource::<Module>("module")?;
    d.cuda_resource::<DeviceBuffer>("device-buffer")?;
    d.func("[static]context.open", |job, (ordinal,): (u32,)| {
        let opened = job.cuda.open(ordinal);
        Ok((match opened {
            Ok(context) => Ok(job.cuda_push(context)?),
            Err(error) => Err(error),
        },))
    })?;
    d.func(
        "[method]context.device-name",
        |job, (this,): (Resource<Context>,)| {
            Ok((match job.table.get(&this) {
                Ok(context) => job.cuda.device_name(context),
                Err(_) => Err(missing("context")),
            },))
        },
    )?;
    d.func(
        "[method]context.load-ptx",
        |job, (this, ptx): (Resource<Context>, String)| {
            let loaded = match job.table.get(&this) {
                Ok(context) => job.cuda.load_ptx(context, ptx),
                Err(_) => Err(missing("context")),
            };
            Ok((match loaded {
                Ok(module) => Ok(job.cuda_push(module)?),
                Err(error) => Err(error),
            },))
        },
    )?;
    d.func(
        "[method]context.alloc",
        |job, (this, len): (Resource<Context>, u64)| {
            let allocated = match job.table.get(&this) {
                Ok(context) => job.cuda.alloc(context, len),
                Err(_) => Err(missing("context")),
            };
            Ok((match allocated {
                Ok(buffer) => Ok(job.cuda_push(buffer)?),
                Err(error) => Err(error),
            },))
        },
    )?;
    d.func(
        "[method]context.synchronize",
        |job, (this,): (Resource<Context>,)| {
            Ok((match job.table.get(&this) {
                Ok(context) => job.cuda.synchronize(context),
                Err(_) => Err(missing("context")),
            },))
        },
    )?;
    d.func(
        "[method]module.launch",
        |job, (this, name, config, args): (Resource<Module>, String, LaunchConfig, Vec<KernelArg>)| {
            Ok((launch(job, &this, &name, config, &args),))
        },
    )?;
    d.func(
        "[method]device-buffer.len",
        |job, (this,): (Resource<DeviceBuffer>,)| {
            Ok((job.table.get(&this).map(DeviceBuffer::len).unwrap_or(0),))
        },
    )?;
    d.func(
        "[method]device-buffer.write",
        |job, (this, offset, data): (Resource<DeviceBuffer>, u64, Vec<u8>)| {
            let GpuJob { cuda, table, .. } = job;
            Ok((match table.get_mut(&this) {
                Ok(buffer) => cuda.write(buffer, offset, &data),
                Err(_) => Err(missing("device-buffer")),
            },))
        },
    )?;
    d.func(
        "[method]device-buffer.read",
        |job, (this, offset, len): (Resource<DeviceBuffer>, u64, u64)| {
            Ok((match job.table.get(&this) {
                Ok(buffer) => job.cuda.read(buffer, offset, len),
                Err(_) => Err(missing("device-buffer")),
            },))
        },
    )?;
    Ok(())
}

fn launch(
    job: &GpuJob,
    module: &Resource<Module>,
    name: &str,
    config: LaunchConfig,
    args: &[KernelArg],
) -> Result<(), CudaError> {
    let module = job.table.get(module).map_err(|_| missing("module"))?;
    let mut resolved = Vec::with_capacity(args.len());
    for arg in args {
        let buffer = match arg {
            KernelArg::Buffer(handle) => Some(
                job.table
                    .get(handle)
                    .map_err(|_| missing("device-buffer"))?,
            ),
            _ => None,
        };
        resolved.push((KernelArgValue::of(arg), buffer));
    }
    job.cuda.launch(module, name, config, &resolved)
}
