//! Command encoders, compute passes, command buffers and submission.
//!
//! Kiln checks what wgpu would otherwise check late or by panicking: every
//! copy range against its buffers, and every dispatch against the device's
//! `max-compute-workgroups-per-dimension`. An error while encoding goes to
//! the job's scopes and makes the encoder's command buffer invalid, as in
//! WebGPU; an invalid command buffer is refused at submit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::Resource;

use super::buffer::check_range;
use super::objects::{
    BindGroup, Buffer, CommandBuffer, CommandEncoder, ComputePass, ComputePipeline, Device, Queue,
};
use crate::bindings::webgpu::{
    GpuBufferUsage, GpuComputePassDescriptor, SetBindGroupError, SetBindGroupErrorKind,
};
use crate::error::GpuError;
use crate::job::GpuJob;
use crate::scope::capture;

impl GpuJob {
    pub(crate) fn create_command_encoder(
        &mut self,
        device: &Resource<Device>,
    ) -> Result<Resource<CommandEncoder>, GpuError> {
        self.get(device)?;
        let made = self.make(|device| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default())
        });
        let inner = self.valid(made);
        self.push(CommandEncoder {
            owner: self.id,
            inner,
            invalid: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Marks `encoder` invalid and reports `error`.
    fn poison(&mut self, invalid: &AtomicBool, error: GpuError) {
        invalid.store(true, Ordering::Relaxed);
        self.scopes.report(error);
    }

    pub(crate) fn begin_compute_pass(
        &mut self,
        encoder: &Resource<CommandEncoder>,
        descriptor: Option<GpuComputePassDescriptor>,
    ) -> Result<Resource<ComputePass>, GpuError> {
        let shared = self.device()?;
        let object = self.get_mut(encoder)?;
        let invalid = object.invalid.clone();
        let wants_timestamps = descriptor.is_some_and(|d| d.timestamp_writes.is_some());
        let mut inner = None;
        if wants_timestamps {
            self.poison(
                &invalid,
                GpuError::Validation("guest timestamp writes are not offered".into()),
            );
        } else if let Some(wgpu_encoder) = object.inner.as_mut() {
            let (pass, errors) = capture(&shared.device, || {
                wgpu_encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor::default())
                    .forget_lifetime()
            });
            inner = Some(pass);
            self.report_all(errors);
        } else {
            self.poison(
                &invalid,
                GpuError::Validation("the command encoder is finished or invalid".into()),
            );
        }
        self.push(ComputePass {
            owner: self.id,
            inner,
            encoder_invalid: invalid,
        })
    }

    /// Runs `record` on an open pass, in error scopes; a missing pass is a
    /// validation error.
    fn record(
        &mut self,
        pass: &Resource<ComputePass>,
        record: impl FnOnce(&mut wgpu::ComputePass<'static>),
    ) -> Result<(), GpuError> {
        let shared = self.device()?;
        let object = self.get_mut(pass)?;
        let invalid = object.encoder_invalid.clone();
        let Some(inner) = object.inner.as_mut() else {
            self.poison(
                &invalid,
                GpuError::Validation("the compute pass has ended".into()),
            );
            return Ok(());
        };
        let ((), errors) = capture(&shared.device, || record(inner));
        if !errors.is_empty() {
            invalid.store(true, Ordering::Relaxed);
        }
        self.report_all(errors);
        Ok(())
    }

    pub(crate) fn pass_set_pipeline(
        &mut self,
        pass: &Resource<ComputePass>,
        pipeline: &Resource<ComputePipeline>,
    ) -> Result<(), GpuError> {
        let Some(pipeline) = self.get(pipeline)?.inner.clone() else {
            let invalid = self.get(pass)?.encoder_invalid.clone();
            self.poison(
                &invalid,
                GpuError::Validation("the pipeline is invalid".into()),
            );
            return Ok(());
        };
        self.record(pass, |pass| pass.set_pipeline(&pipeline))
    }

    pub(crate) fn pass_set_bind_group(
        &mut self,
        pass: &Resource<ComputePass>,
        index: u32,
        group: Option<&Resource<BindGroup>>,
        offsets: &[u32],
    ) -> Result<Result<(), SetBindGroupError>, GpuError> {
        let max = self.device()?.limits.max_bind_groups;
        if index >= max {
            return Ok(Err(SetBindGroupError {
                kind: SetBindGroupErrorKind::RangeError,
                message: format!("bind group index {index} is over the device's {max}"),
            }));
        }
        let group = match group {
            Some(handle) => match self.get(handle)?.inner.clone() {
                Some(group) => Some(group),
                None => {
                    let invalid = self.get(pass)?.encoder_invalid.clone();
                    self.poison(
                        &invalid,
                        GpuError::Validation("the bind group is invalid".into()),
                    );
                    return Ok(Ok(()));
                }
            },
            None => None,
        };
        self.record(pass, |pass| {
            pass.set_bind_group(index, group.as_ref(), offsets)
        })?;
        Ok(Ok(()))
    }

    /// `dispatch-workgroups`: each count checked against the device's limit
    /// before wgpu records it.
    pub(crate) fn pass_dispatch(
        &mut self,
        pass: &Resource<ComputePass>,
        x: u32,
        y: Option<u32>,
        z: Option<u32>,
    ) -> Result<(), GpuError> {
        let (y, z) = (y.unwrap_or(1), z.unwrap_or(1));
        let max = self.device()?.limits.max_compute_workgroups_per_dimension;
        if x > max || y > max || z > max {
            let invalid = self.get(pass)?.encoder_invalid.clone();
            self.poison(
                &invalid,
                GpuError::Validation(format!(
                    "dispatch of {x}x{y}x{z} workgroups is over the device's limit of {max} per dimension"
                )),
            );
            return Ok(());
        }
        self.record(pass, |pass| pass.dispatch_workgroups(x, y, z))
    }

    pub(crate) fn pass_end(&mut self, pass: &Resource<ComputePass>) -> Result<(), GpuError> {
        let object = self.get_mut(pass)?;
        match object.inner.take() {
            Some(inner) => {
                let shared = self.device()?;
                let ((), errors) = capture(&shared.device, || drop(inner));
                self.report_all(errors);
            }
            None => {
                let invalid = object.encoder_invalid.clone();
                self.poison(
                    &invalid,
                    GpuError::Validation("the compute pass already ended".into()),
                );
            }
        }
        Ok(())
    }

    /// The wgpu buffer behind `handle` and its size, if valid and with `usage`.
    fn usable_buffer(
        &self,
        handle: &Resource<Buffer>,
        usage: GpuBufferUsage,
        role: &str,
    ) -> Result<(wgpu::Buffer, u64), GpuError> {
        let buffer = self.get(handle)?;
        let inner = buffer.inner.clone().ok_or_else(|| {
            GpuError::Validation(format!("the {role} buffer is invalid or destroyed"))
        })?;
        if !buffer.usage.contains(usage) {
            return Err(GpuError::Validation(format!(
                "the {role} buffer's usage lacks {usage:?}"
            )));
        }
        Ok((inner, buffer.size))
    }

    pub(crate) fn copy_buffer_to_buffer(
        &mut self,
        encoder: &Resource<CommandEncoder>,
        source: &Resource<Buffer>,
        source_offset: Option<u64>,
        destination: &Resource<Buffer>,
        destination_offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<(), GpuError> {
        let invalid = self.get(encoder)?.invalid.clone();
        let checked = (|| {
            let (src, src_len) = self.usable_buffer(source, GpuBufferUsage::COPY_SRC, "source")?;
            let (dst, dst_len) =
                self.usable_buffer(destination, GpuBufferUsage::COPY_DST, "destination")?;
            let src_offset = source_offset.unwrap_or(0);
            let dst_offset = destination_offset.unwrap_or(0);
            let size = size.unwrap_or(src_len.saturating_sub(src_offset));
            check_range("copy source", src_offset, size, src_len)?;
            check_range("copy destination", dst_offset, size, dst_len)?;
            if [src_offset, dst_offset, size]
                .iter()
                .any(|v| !v.is_multiple_of(4))
            {
                return Err(GpuError::Validation(
                    "copy offsets and size must be multiples of 4".into(),
                ));
            }
            Ok((src, src_offset, dst, dst_offset, size))
        })();
        let (src, src_offset, dst, dst_offset, size) = match checked {
            Ok(copy) => copy,
            Err(error) => {
                self.poison(&invalid, error);
                return Ok(());
            }
        };
        self.encode(encoder, |encoder| {
            encoder.copy_buffer_to_buffer(&src, src_offset, &dst, dst_offset, size);
        })
    }

    pub(crate) fn clear_buffer(
        &mut self,
        encoder: &Resource<CommandEncoder>,
        buffer: &Resource<Buffer>,
        offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<(), GpuError> {
        let invalid = self.get(encoder)?.invalid.clone();
        let checked = (|| {
            let (inner, len) = self.usable_buffer(buffer, GpuBufferUsage::COPY_DST, "cleared")?;
            let offset = offset.unwrap_or(0);
            let size = size.unwrap_or(len.saturating_sub(offset));
            check_range("clear", offset, size, len)?;
            Ok((inner, offset, size))
        })();
        let (inner, offset, size) = match checked {
            Ok(clear) => clear,
            Err(error) => {
                self.poison(&invalid, error);
                return Ok(());
            }
        };
        self.encode(encoder, |encoder| {
            encoder.clear_buffer(&inner, offset, Some(size))
        })
    }

    /// Runs `encode` on an unfinished encoder, in error scopes.
    fn encode(
        &mut self,
        encoder: &Resource<CommandEncoder>,
        encode: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> Result<(), GpuError> {
        let shared = self.device()?;
        let object = self.get_mut(encoder)?;
        let invalid = object.invalid.clone();
        let Some(inner) = object.inner.as_mut() else {
            self.poison(
                &invalid,
                GpuError::Validation("the command encoder is finished".into()),
            );
            return Ok(());
        };
        let ((), errors) = capture(&shared.device, || encode(inner));
        if !errors.is_empty() {
            invalid.store(true, Ordering::Relaxed);
        }
        self.report_all(errors);
        Ok(())
    }

    pub(crate) fn finish_encoder(
        &mut self,
        encoder: &Resource<CommandEncoder>,
    ) -> Result<Resource<CommandBuffer>, GpuError> {
        let object = self.get_mut(encoder)?;
        let taken = object.inner.take();
        let invalid = object.invalid.load(Ordering::Relaxed);
        let inner = match taken {
            Some(inner) => {
                let shared = self.device()?;
                let (buffer, errors) = capture(&shared.device, || inner.finish());
                let failed = !errors.is_empty();
                self.report_all(errors);
                (!failed).then_some(buffer)
            }
            None => {
                self.scopes.report(GpuError::Validation(
                    "the command encoder was already finished".into(),
                ));
                None
            }
        };
        let invalid = invalid || inner.is_none();
        self.push(CommandBuffer {
            owner: self.id,
            inner,
            invalid,
        })
    }

    /// `submit`: every command buffer must be valid and unsubmitted, or
    /// nothing is submitted; then timed (see [`crate::timing`]).
    pub(crate) fn submit_buffers(
        &mut self,
        queue: &Resource<Queue>,
        buffers: &[Resource<CommandBuffer>],
    ) -> Result<(), GpuError> {
        self.get(queue)?;
        for handle in buffers {
            let buffer = self.get(handle)?;
            if buffer.invalid || buffer.inner.is_none() {
                self.scopes.report(GpuError::Validation(
                    "a command buffer is invalid or was already submitted; nothing was submitted"
                        .into(),
                ));
                return Ok(());
            }
        }
        let mut taken = Vec::with_capacity(buffers.len());
        for handle in buffers {
            if let Some(inner) = self.get_mut(handle)?.inner.take() {
                taken.push(inner);
            }
        }
        let shared = self.device()?;
        let ((), errors) = capture(&shared.device, || self.submit(&shared, taken));
        self.report_all(errors);
        Ok(())
    }
}
