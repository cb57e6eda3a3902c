//! kiln-gpu's errors. [`GpuError`] is what a host call found wrong; each
//! becomes a typed error the guest sees (a `gpu-error` in its error scope, a
//! `result` error, or a `cuda-error`), never a host panic.

/// Which of WebGPU's three error classes an error belongs to; what a
/// guest's error-scope filter selects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The call was malformed: bad handle state, bounds, limits, invalid WGSL.
    Validation,
    /// An allocation failed: over the job's GPU memory cap, or the device is full.
    OutOfMemory,
    /// The implementation failed (device lost, a driver error).
    Internal,
}

/// What went wrong in a GPU host call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    /// The handle names nothing in this job's table (or something of another kind).
    #[error("unknown {kind} handle {rep} for this job")]
    UnknownHandle {
        /// What kind of object was expected.
        kind: &'static str,
        /// The handle's index.
        rep: u32,
    },
    /// The handle's object belongs to another job.
    #[error("{kind} handle {rep} belongs to another job")]
    ForeignHandle {
        /// What kind of object it is.
        kind: &'static str,
        /// The handle's index.
        rep: u32,
    },
    /// An offset or size from the guest falls outside its buffer or data.
    #[error("out of bounds: {0}")]
    OutOfBounds(String),
    /// An allocation would take the job past its GPU memory cap.
    #[error("GPU memory cap: {requested} bytes asked with {used} of {cap} in use")]
    OverCap {
        /// Bytes asked for.
        requested: u64,
        /// Bytes the job's live buffers hold.
        used: u64,
        /// The job's cap.
        cap: u64,
    },
    /// The job holds [`crate::limits::MAX_OBJECTS_PER_JOB`] objects already.
    #[error("too many GPU objects: the limit is {limit}")]
    TooManyObjects {
        /// The limit.
        limit: usize,
    },
    /// A call that is not valid here (bad state, over a device limit, invalid WGSL).
    #[error("{0}")]
    Validation(String),
    /// The device is out of memory.
    #[error("out of GPU memory: {0}")]
    OutOfMemory(String),
    /// The device or driver failed.
    #[error("GPU internal error: {0}")]
    Internal(String),
    /// This node has no usable GPU adapter.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
}

impl GpuError {
    /// The WebGPU error class a guest's error scope sees.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::OverCap { .. } | Self::OutOfMemory(_) => ErrorClass::OutOfMemory,
            Self::Internal(_) | Self::NoAdapter(_) => ErrorClass::Internal,
            Self::UnknownHandle { .. }
            | Self::ForeignHandle { .. }
            | Self::OutOfBounds(_)
            | Self::TooManyObjects { .. }
            | Self::Validation(_) => ErrorClass::Validation,
        }
    }
}

impl From<wgpu::Error> for GpuError {
    fn from(error: wgpu::Error) -> Self {
        match error {
            wgpu::Error::OutOfMemory { source } => Self::OutOfMemory(source.to_string()),
            wgpu::Error::Validation { description, .. } => Self::Validation(description),
            wgpu::Error::Internal { description, .. } => Self::Internal(description),
        }
    }
}

/// The shared GPU device could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeviceError {
    /// No adapter of the enabled backends was found.
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    /// The adapter refused to open a device.
    #[error("could not open a device on {adapter}: {reason}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// What wgpu said.
        reason: String,
    },
}
