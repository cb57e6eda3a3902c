//! `wasi:webgpu` functions that record and run work: buffers and their
//! mapping, command and compute-pass encoding, and the queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::Resource;

use super::{Definer, trap, wait_for_device, with_job};
use crate::bindings::webgpu as wit;
use crate::webgpu::objects as obj;

/// A buffer's getters, `destroy`, and mapping (the async `map-async` waits here).
pub(super) fn buffer(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
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

/// Command encoders and compute passes.
pub(super) fn encoding(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
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

/// `submit`, `write-buffer`, and waiting for submitted work.
pub(super) fn queue(d: &mut Definer<'_, '_>) -> wasmtime::Result<()> {
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
