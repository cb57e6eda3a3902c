//! What goes wrong with a policy plugin: at load, and in one call.

use std::time::Duration;

/// Why a plugin was not loaded. Nothing of it runs until it loads.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    /// The file's SHA-256 is not one the operator pinned.
    #[error("plugin sha256 {actual} is not pinned in the scheduler's configuration")]
    NotPinned {
        /// The file's SHA-256, hex.
        actual: String,
    },
    /// Not a component, or not valid wasm (the runtime's check).
    #[error("not a loadable component: {0}")]
    Component(#[from] kiln_runtime::LoadError),
    /// It imports something a policy is not granted.
    #[error("plugin imports {import}, which a policy is not granted")]
    ImportNotAllowed {
        /// The import's name.
        import: String,
    },
    /// It does not export what its world names (with the world's types).
    #[error("plugin does not target kiln:policy/{world}: {reason}")]
    WrongWorld {
        /// `scheduler` or `pricing`.
        world: &'static str,
        /// What was missing or mistyped.
        reason: String,
    },
    /// The runtime's engine does not meter fuel and epochs, so calls could
    /// not be bounded.
    #[error("the runtime must meter fuel and epochs to host policies")]
    Unmetered,
    /// Reading the file.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A pin that is not 64 hex digits.
    #[error("pin {0:?} is not a hex SHA-256")]
    BadPin(String),
}

/// Why one call of a loaded plugin gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyCallError {
    /// It used its whole fuel cap.
    #[error("ran out of fuel ({fuel} units)")]
    OutOfFuel {
        /// The cap.
        fuel: u64,
    },
    /// It ran past its deadline.
    #[error("ran past its deadline of {deadline:?}")]
    Deadline {
        /// The deadline.
        deadline: Duration,
    },
    /// It trapped (a panic, a bad access, a memory cap).
    #[error("trapped: {reason}")]
    Trap {
        /// The trap, as wasmtime words it.
        reason: String,
    },
    /// Its ranking named a candidate that does not exist, or one twice.
    #[error("ranking index {index} is out of range or repeated ({candidates} candidates)")]
    BadIndex {
        /// The index.
        index: u32,
        /// How many candidates there were.
        candidates: usize,
    },
    /// Its quote lies outside `[chosen floor, job maximum]`.
    #[error("quote {rates:?} is outside the chosen node's floor and the job's maximum")]
    BadQuote {
        /// The quoted rates.
        rates: kiln_protocol::Rates,
    },
    /// Its screen flagged an offer that does not exist.
    #[error("flag for offer {index} is out of range ({candidates} offers)")]
    BadFlag {
        /// The index.
        index: u32,
        /// How many offers there were.
        candidates: usize,
    },
    /// Too many candidates to hand to a plugin in one call.
    #[error("{0} candidates is more than a call takes")]
    TooManyCandidates(usize),
    /// Unloaded by the crash-loop guard; the built-in answers instead.
    #[error("unloaded after {failures} failures in a row")]
    Unloaded {
        /// The failures that unloaded it.
        failures: u32,
    },
}
