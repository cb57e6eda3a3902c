//! The runtime's errors: building it, loading a component, running a job.

use std::time::Duration;

/// The runtime could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The configuration is not usable on this host.
    #[error("invalid runtime configuration: {0}")]
    Config(String),
    /// A directory or thread could not be created.
    #[error("runtime I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A component was refused before it ran.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all (no `\0asm` header).
    #[error("not a WebAssembly file")]
    NotWasm,
    /// The bytes are a core wasm module, not a component.
    #[error("a core WebAssembly module, not a component: build for wasm32-wasip2")]
    NotAComponent,
    /// The component is malformed or truncated, or does not validate.
    #[error("invalid component: {reason}")]
    Invalid {
        /// What the validator said.
        reason: String,
    },
    /// The component imports an interface Kiln does not grant.
    #[error("component imports `{import}`, which Kiln does not grant to workloads")]
    ImportNotGranted {
        /// The import's full name.
        import: String,
    },
    /// The component imports a function (or resource) of a granted host
    /// extension's interface that the extension does not implement: Kiln
    /// implements a subset of some standard interfaces (`wasi:webgpu`'s
    /// compute part), and says which part a component goes beyond.
    #[error("component imports `{item}` from `{interface}`, which this node does not implement")]
    NotProvided {
        /// The interface, with its version.
        interface: String,
        /// The function or resource, as the component model names it.
        item: String,
    },
    /// The component lacks the `run` export of the `kiln:workload` world.
    #[error("component does not export `run` as a function (target the kiln:workload world)")]
    MissingRunExport,
    /// Linking failed for another reason (an import with the wrong type).
    #[error("component cannot be linked: {reason}")]
    Link {
        /// What the linker said.
        reason: String,
    },
    /// The on-disk cache could not be read or written.
    #[error("component cache: {0}")]
    Cache(#[from] std::io::Error),
}

/// Why a job ended without output. Whatever the reason, the job's report
/// still carries the usage it consumed up to that point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The workload's `run` returned an error message.
    #[error("workload returned an error: {0}")]
    Guest(String),
    /// The fuel limit was spent.
    #[error("out of fuel: the limit of {limit} was spent")]
    OutOfFuel {
        /// The job's fuel limit.
        limit: u64,
    },
    /// The guest tried to grow its memory (or tables) past the job's cap.
    #[error("memory limit of {limit_bytes} bytes exceeded")]
    MemoryLimit {
        /// The cap.
        limit_bytes: u64,
    },
    /// The wall-clock deadline passed.
    #[error("deadline of {limit:?} exceeded")]
    Deadline {
        /// The deadline.
        limit: Duration,
    },
    /// The wasm stack overflowed (runaway recursion).
    #[error("wasm stack overflow")]
    StackOverflow,
    /// The output is larger than the job's output cap; it was not copied.
    #[error("output of {size} bytes exceeds the cap of {limit} bytes")]
    OutputTooLarge {
        /// Bytes the guest returned.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The job was killed by its owner.
    #[error("killed")]
    Killed,
    /// The guest trapped (a panic, `unreachable`, a bad memory access).
    #[error("guest trapped: {0}")]
    Trap(String),
    /// The job could not be set up (scratch directory, instantiation).
    #[error("job setup failed: {0}")]
    Setup(String),
}

impl JobError {
    /// A short stable name for scripts (`kiln run --json` prints it as `status`).
    pub fn status(&self) -> &'static str {
        match self {
            Self::Guest(_) => "guest-error",
            Self::OutOfFuel { .. } => "out-of-fuel",
            Self::MemoryLimit { .. } => "memory-limit",
            Self::Deadline { .. } => "deadline",
            Self::StackOverflow => "stack-overflow",
            Self::OutputTooLarge { .. } => "output-too-large",
            Self::Killed => "killed",
            Self::Trap(_) => "trap",
            Self::Setup(_) => "setup-failed",
        }
    }
}
