//! The per-job memory cap, enforced through wasmtime's `ResourceLimiter`.
//!
//! A guest growing its linear memory past the cap gets a trap carrying
//! [`JobError::MemoryLimit`] (not a failed `memory.grow` that the guest's
//! allocator would turn into an anonymous abort), so the report says why.
//! Tables are capped at [`MAX_TABLE_ELEMENTS`].

use crate::error::JobError;

/// Most elements a job's tables may hold: generous for Rust code (whose
/// tables hold function pointers for `dyn` calls), small enough that a table
/// bomb costs little host memory.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct JobLimiter {
    memory_bytes: u64,
    /// The largest linear memory granted so far (instantiation included).
    peak_bytes: u64,
}

impl JobLimiter {
    /// A limiter capping memories at `memory_bytes`.
    pub(crate) fn new(memory_bytes: u64) -> Self {
        Self {
            memory_bytes,
            peak_bytes: 0,
        }
    }

    /// Lowers the cap to a job's, refusing if the instance already has more.
    pub(crate) fn cap(&mut self, memory_bytes: u64) -> Result<(), JobError> {
        if self.peak_bytes > memory_bytes {
            return Err(JobError::MemoryLimit {
                limit_bytes: memory_bytes,
            });
        }
        self.memory_bytes = memory_bytes;
        Ok(())
    }
}

impl wasmtime::ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = u64::try_from(desired).unwrap_or(u64::MAX);
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(JobError::MemoryLimit {
                limit_bytes: self.memory_bytes,
            }));
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::Error::new(JobError::MemoryLimit {
                limit_bytes: self.memory_bytes,
            }));
        }
        Ok(true)
    }
}
