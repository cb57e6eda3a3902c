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
    pub(crate) memory_bytes: u64,
}

impl wasmtime::ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if u64::try_from(desired).map_or(true, |desired| desired > self.memory_bytes) {
            return Err(wasmtime::Error::new(JobError::MemoryLimit {
                limit_bytes: self.memory_bytes,
            }));
        }
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
