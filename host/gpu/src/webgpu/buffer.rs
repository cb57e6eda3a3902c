//! `gpu-buffer` and `gpu-queue.write-buffer-with-copy`: creation against the
//! job's memory cap, and every guest range checked before wgpu sees it
//! (wgpu's own range checks panic).
//!
//! Buffers are zero when created: wgpu tracks which bytes of a buffer were
//! ever written and clears the rest before any read (a WebGPU requirement),
//! including a mapping at creation. The tests check it across jobs.

use std::sync::{Arc, Mutex};

use wasmtime::component::Resource;

use super::objects::{Buffer, MapState, Queue};
use crate::bindings::webgpu::{
    GetMappedRangeError, GetMappedRangeErrorKind, GpuBufferDescriptor, GpuBufferMapState,
    GpuBufferUsage, GpuMapMode, MapAsyncError, MapAsyncErrorKind, UnmapError, WriteBufferError,
    WriteBufferErrorKind,
};
use crate::error::GpuError;
use crate::job::GpuJob;
use crate::scope::capture;

/// WebGPU: mapping offsets are multiples of 8, mapped sizes of 4.
const MAP_OFFSET_ALIGNMENT: u64 = wgpu::MAP_ALIGNMENT;
/// WebGPU: copies and writes are multiples of 4 bytes, at 4-byte offsets.
const COPY_ALIGNMENT: u64 = wgpu::COPY_BUFFER_ALIGNMENT;

/// Where wgpu's map callback leaves its outcome.
pub(crate) type MapResult = Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>;

/// Checks `offset..offset + size` against `len`; the error says which.
pub(crate) fn check_range(what: &str, offset: u64, size: u64, len: u64) -> Result<(), GpuError> {
    match offset.checked_add(size) {
        Some(end) if end <= len => Ok(()),
        _ => Err(GpuError::OutOfBounds(format!(
            "{what}: bytes {offset}..{offset}+{size} of {len}"
        ))),
    }
}

fn usage_to_wgpu(usage: GpuBufferUsage) -> wgpu::BufferUsages {
    let pairs = [
        (GpuBufferUsage::MAP_READ, wgpu::BufferUsages::MAP_READ),
        (GpuBufferUsage::MAP_WRITE, wgpu::BufferUsages::MAP_WRITE),
        (GpuBufferUsage::COPY_SRC, wgpu::BufferUsages::COPY_SRC),
        (GpuBufferUsage::COPY_DST, wgpu::BufferUsages::COPY_DST),
        (GpuBufferUsage::INDEX, wgpu::BufferUsages::INDEX),
        (GpuBufferUsage::VERTEX, wgpu::BufferUsages::VERTEX),
        (GpuBufferUsage::UNIFORM, wgpu::BufferUsages::UNIFORM),
        (GpuBufferUsage::STORAGE, wgpu::BufferUsages::STORAGE),
        (GpuBufferUsage::INDIRECT, wgpu::BufferUsages::INDIRECT),
        (
            GpuBufferUsage::QUERY_RESOLVE,
            wgpu::BufferUsages::QUERY_RESOLVE,
        ),
    ];
    pairs
        .into_iter()
        .filter(|(ours, _)| usage.contains(*ours))
        .fold(wgpu::BufferUsages::empty(), |all, (_, theirs)| all | theirs)
}

impl GpuJob {
    /// `create-buffer`: charged to the job's cap first; over it, or refused by
    /// wgpu, the buffer is invalid and the error goes to the job's scopes.
    pub(crate) fn create_buffer(
        &mut self,
        descriptor: GpuBufferDescriptor,
    ) -> Result<Resource<Buffer>, GpuError> {
        let mut buffer = Buffer {
            owner: self.id,
            inner: None,
            size: descriptor.size,
            usage: descriptor.usage,
            map: MapState::Unmapped,
            charge: None,
        };
        let mapped = descriptor.mapped_at_creation.unwrap_or(false);
        match self.allocate(&descriptor, mapped) {
            Ok((inner, charge)) => {
                buffer.inner = Some(inner);
                buffer.charge = Some(charge);
                if mapped {
                    buffer.map = MapState::Mapped {
                        mode: wgpu::MapMode::Write,
                        offset: 0,
                        size: descriptor.size,
                    };
                }
            }
            Err(error) => self.scopes.report(error),
        }
        self.push(buffer)
    }

    fn allocate(
        &mut self,
        descriptor: &GpuBufferDescriptor,
        mapped: bool,
    ) -> Result<(wgpu::Buffer, super::objects::Charge), GpuError> {
        let shared = self.device()?;
        if descriptor.size > shared.limits.max_buffer_size {
            return Err(GpuError::Validation(format!(
                "buffer of {} bytes is over the device's limit of {}",
                descriptor.size, shared.limits.max_buffer_size
            )));
        }
        if mapped && !descriptor.size.is_multiple_of(COPY_ALIGNMENT) {
            return Err(GpuError::Validation(
                "a buffer mapped at creation must be a multiple of 4 bytes".into(),
            ));
        }
        let charge = self.memory.charge(descriptor.size)?;
        let (inner, errors) = capture(&shared.device, || {
            shared.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: descriptor.size,
                usage: usage_to_wgpu(descriptor.usage),
                mapped_at_creation: mapped,
            })
        });
        match errors.into_iter().next() {
            // The charge is dropped with the error, releasing the bytes.
            Some(error) => Err(error),
            None => Ok((inner, charge)),
        }
    }

    pub(crate) fn buffer_size(&self, buffer: &Resource<Buffer>) -> Result<u64, GpuError> {
        Ok(self.get(buffer)?.size)
    }

    pub(crate) fn buffer_usage(
        &self,
        buffer: &Resource<Buffer>,
    ) -> Result<GpuBufferUsage, GpuError> {
        Ok(self.get(buffer)?.usage)
    }

    pub(crate) fn buffer_map_state(
        &self,
        buffer: &Resource<Buffer>,
    ) -> Result<GpuBufferMapState, GpuError> {
        Ok(match self.get(buffer)?.map {
            MapState::Unmapped => GpuBufferMapState::Unmapped,
            MapState::Pending => GpuBufferMapState::Pending,
            MapState::Mapped { .. } => GpuBufferMapState::Mapped,
        })
    }

    /// `destroy`: frees the buffer's memory now and releases its charge.
    pub(crate) fn buffer_destroy(&mut self, buffer: &Resource<Buffer>) -> Result<(), GpuError> {
        let buffer = self.get_mut(buffer)?;
        if let Some(inner) = buffer.inner.take() {
            inner.destroy();
        }
        buffer.charge = None;
        buffer.map = MapState::Unmapped;
        Ok(())
    }

    /// First half of `map-async`: checks and asks wgpu; the caller waits for
    /// the device, then calls [`GpuJob::map_finish`].
    pub(crate) fn map_begin(
        &mut self,
        buffer: &Resource<Buffer>,
        mode: GpuMapMode,
        offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<Result<MapResult, MapAsyncError>, GpuError> {
        let operation = |message: String| {
            Ok(Err(MapAsyncError {
                kind: MapAsyncErrorKind::OperationError,
                message,
            }))
        };
        let object = self.get(buffer)?;
        let Some(inner) = object.inner.clone() else {
            return operation("the buffer is invalid or destroyed".into());
        };
        if object.map != MapState::Unmapped {
            return operation("the buffer is already mapped or being mapped".into());
        }
        let (mode, needed) = if mode == GpuMapMode::READ {
            (wgpu::MapMode::Read, GpuBufferUsage::MAP_READ)
        } else if mode == GpuMapMode::WRITE {
            (wgpu::MapMode::Write, GpuBufferUsage::MAP_WRITE)
        } else {
            return operation("map mode must be exactly one of read and write".into());
        };
        if !object.usage.contains(needed) {
            return operation(format!("the buffer's usage lacks {needed:?}"));
        }
        let offset = offset.unwrap_or(0);
        let size = size.unwrap_or(object.size.saturating_sub(offset));
        let range_error = |message: String| {
            Ok(Err(MapAsyncError {
                kind: MapAsyncErrorKind::RangeError,
                message,
            }))
        };
        if !offset.is_multiple_of(MAP_OFFSET_ALIGNMENT) || !size.is_multiple_of(COPY_ALIGNMENT) {
            return range_error(format!(
                "offset {offset} must be a multiple of 8 and size {size} of 4"
            ));
        }
        if let Err(error) = check_range("map", offset, size, object.size) {
            return range_error(error.to_string());
        }
        if size == 0 {
            return range_error("cannot map zero bytes".into());
        }
        let result: MapResult = Arc::default();
        let filled = result.clone();
        let shared = self.device()?;
        let ((), errors) = capture(&shared.device, || {
            inner
                .slice(offset..offset + size)
                .map_async(mode, move |outcome| {
                    *filled.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                });
        });
        if let Some(error) = errors.into_iter().next() {
            return operation(error.to_string());
        }
        self.get_mut(buffer)?.map = MapState::Pending;
        // Mapping waits for the device anyway: read the job's timestamps in
        // the same wait, so its usage is current when it sees its results.
        self.begin_timestamp_read(&shared);
        Ok(Ok(result))
    }

    /// Second half of `map-async`, once wgpu has answered.
    pub(crate) fn map_finish(
        &mut self,
        buffer: &Resource<Buffer>,
        mode: GpuMapMode,
        offset: Option<u64>,
        size: Option<u64>,
        outcome: Result<(), wgpu::BufferAsyncError>,
    ) -> Result<Result<(), MapAsyncError>, GpuError> {
        let shared = self.device()?;
        self.finish_timestamp_read(&shared);
        let object = self.get_mut(buffer)?;
        if object.map != MapState::Pending {
            // Unmapped or destroyed while waiting.
            return Ok(Err(MapAsyncError {
                kind: MapAsyncErrorKind::AbortError,
                message: "the buffer was unmapped before the mapping finished".into(),
            }));
        }
        if let Err(error) = outcome {
            object.map = MapState::Unmapped;
            return Ok(Err(MapAsyncError {
                kind: MapAsyncErrorKind::OperationError,
                message: error.to_string(),
            }));
        }
        let offset = offset.unwrap_or(0);
        object.map = MapState::Mapped {
            mode: if mode == GpuMapMode::READ {
                wgpu::MapMode::Read
            } else {
                wgpu::MapMode::Write
            },
            offset,
            size: size.unwrap_or(object.size.saturating_sub(offset)),
        };
        Ok(Ok(()))
    }

    /// Checks a sub-range of a mapped buffer; returns the wgpu buffer and the
    /// absolute range.
    fn mapped_range(
        &self,
        buffer: &Resource<Buffer>,
        offset: Option<u64>,
        size: Option<u64>,
        write: bool,
    ) -> Result<Result<(wgpu::Buffer, u64, u64), GetMappedRangeError>, GpuError> {
        let error = |kind, message: String| Ok(Err(GetMappedRangeError { kind, message }));
        let object = self.get(buffer)?;
        let (
            Some(inner),
            MapState::Mapped {
                mode,
                offset: start,
                size: len,
            },
        ) = (&object.inner, object.map)
        else {
            return error(
                GetMappedRangeErrorKind::OperationError,
                "the buffer is not mapped".into(),
            );
        };
        if write && mode != wgpu::MapMode::Write {
            return error(
                GetMappedRangeErrorKind::OperationError,
                "the buffer is mapped for reading".into(),
            );
        }
        let offset = offset.unwrap_or(start);
        let size = size.unwrap_or(object.size.saturating_sub(offset));
        if !offset.is_multiple_of(MAP_OFFSET_ALIGNMENT) || !size.is_multiple_of(COPY_ALIGNMENT) {
            return error(
                GetMappedRangeErrorKind::RangeError,
                format!("offset {offset} must be a multiple of 8 and size {size} of 4"),
            );
        }
        let inside = offset >= start
            && offset
                .checked_add(size)
                .is_some_and(|end| end <= start.saturating_add(len));
        if !inside {
            return error(
                GetMappedRangeErrorKind::RangeError,
                format!(
                    "bytes {offset}..{offset}+{size} are outside the mapped {start}..{start}+{len}"
                ),
            );
        }
        Ok(Ok((inner.clone(), offset, size)))
    }

    pub(crate) fn mapped_read(
        &self,
        buffer: &Resource<Buffer>,
        offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<Result<Vec<u8>, GetMappedRangeError>, GpuError> {
        let (inner, offset, size) = match self.mapped_range(buffer, offset, size, false)? {
            Ok(range) => range,
            Err(error) => return Ok(Err(error)),
        };
        if size == 0 {
            return Ok(Ok(Vec::new()));
        }
        let view = inner.get_mapped_range(offset..offset + size);
        Ok(view
            .map(|view| view.to_vec())
            .map_err(|e| GetMappedRangeError {
                kind: GetMappedRangeErrorKind::OperationError,
                message: e.to_string(),
            }))
    }

    pub(crate) fn mapped_write(
        &self,
        buffer: &Resource<Buffer>,
        data: &[u8],
        offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<Result<(), GetMappedRangeError>, GpuError> {
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let size = size.unwrap_or(len);
        if size != len {
            return Ok(Err(GetMappedRangeError {
                kind: GetMappedRangeErrorKind::RangeError,
                message: format!("{len} bytes of data for a range of {size}"),
            }));
        }
        let (inner, offset, size) = match self.mapped_range(buffer, offset, Some(size), true)? {
            Ok(range) => range,
            Err(error) => return Ok(Err(error)),
        };
        if size == 0 {
            return Ok(Ok(()));
        }
        let view = inner.get_mapped_range_mut(offset..offset + size);
        Ok(view
            .map(|mut view| view.copy_from_slice(data))
            .map_err(|e| GetMappedRangeError {
                kind: GetMappedRangeErrorKind::OperationError,
                message: e.to_string(),
            }))
    }

    pub(crate) fn unmap(
        &mut self,
        buffer: &Resource<Buffer>,
    ) -> Result<Result<(), UnmapError>, GpuError> {
        let object = self.get_mut(buffer)?;
        // Unmapping what was mapped for writing (at creation, say) may hand
        // the bytes to the device through the queue's pending writes.
        let written = matches!(
            object.map,
            MapState::Mapped {
                mode: wgpu::MapMode::Write,
                ..
            }
        );
        if object.map != MapState::Unmapped
            && let Some(inner) = &object.inner
        {
            inner.unmap();
        }
        object.map = MapState::Unmapped;
        self.unsubmitted_writes |= written;
        Ok(Ok(()))
    }

    /// `write-buffer-with-copy`: `data[data_offset..][..size]` to the buffer at `offset`.
    pub(crate) fn write_buffer(
        &mut self,
        queue: &Resource<Queue>,
        buffer: &Resource<Buffer>,
        offset: u64,
        data: &[u8],
        data_offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<Result<(), WriteBufferError>, GpuError> {
        self.get(queue)?;
        let error = |message: String| {
            Ok(Err(WriteBufferError {
                kind: WriteBufferErrorKind::OperationError,
                message,
            }))
        };
        let object = self.get(buffer)?;
        let Some(inner) = object.inner.clone() else {
            return error("the buffer is invalid or destroyed".into());
        };
        if !object.usage.contains(GpuBufferUsage::COPY_DST) {
            return error("the buffer's usage lacks copy-dst".into());
        }
        if object.map != MapState::Unmapped {
            return error("the buffer is mapped".into());
        }
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let data_offset = data_offset.unwrap_or(0);
        let size = size.unwrap_or(len.saturating_sub(data_offset));
        if let Err(e) = check_range("source data", data_offset, size, len) {
            return error(e.to_string());
        }
        if let Err(e) = check_range("buffer", offset, size, object.size) {
            return error(e.to_string());
        }
        if !offset.is_multiple_of(COPY_ALIGNMENT) || !size.is_multiple_of(COPY_ALIGNMENT) {
            return error(format!(
                "offset {offset} and size {size} must be multiples of 4"
            ));
        }
        let (Ok(start), Ok(end)) = (
            usize::try_from(data_offset),
            usize::try_from(data_offset + size),
        ) else {
            return error("range does not fit this host".into());
        };
        let shared = self.device()?;
        let ((), errors) = capture(&shared.device, || {
            shared.queue.write_buffer(&inner, offset, &data[start..end]);
        });
        self.unsubmitted_writes = true;
        match errors.into_iter().next() {
            Some(e) => error(e.to_string()),
            None => Ok(Ok(())),
        }
    }
}
