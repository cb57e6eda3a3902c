//! Every limit of a policy call, and the operator's pins, with why.

use std::collections::HashSet;
use std::time::Duration;

use kiln_protocol::Digest;

use super::error::PolicyLoadError;

/// Fuel one policy call may burn (instantiation included). Ranking 10,000
/// candidates with `rank-default` takes about 2 ms of wasm (the benchmark),
/// a small fraction of this; the cap leaves a wide margin for heavier
/// policies and still stops a runaway plugin within about a second of CPU.
/// Hit: the call fails with `OutOfFuel` and the built-in answers instead.
pub const DEFAULT_POLICY_FUEL: u64 = 1_000_000_000;

/// Wall-clock deadline of one call. Fuel bounds work, but not time spent in
/// host calls or a descheduled thread; a match pass holds the matcher's lock
/// during the call, so the deadline is what bounds how long one plugin can
/// stall matching. Enforced at epoch ticks (the runtime's, 10 ms), so a call
/// is stopped within one tick after it. Hit: `Deadline`, built-in answers.
pub const DEFAULT_POLICY_DEADLINE: Duration = Duration::from_millis(250);

/// Largest linear memory a policy instance may grow to. 10,000 candidates
/// take about 1 MiB in guest memory; 64 MiB is room for any sane policy
/// and keeps a hostile one from taking the scheduler's memory. Hit: the
/// grow fails inside the guest (Rust aborts: a trap).
pub const DEFAULT_POLICY_MEMORY_BYTES: usize = 64 << 20;

/// Failures in a row after which a plugin is unloaded and the built-in
/// takes over until an operator loads one again (the crash-loop guard).
/// Three tolerates a rare bad input and stops a broken plugin before it
/// costs more than three deadlines of matching.
pub const DEFAULT_CRASH_LOOP_FAILURES: u32 = 3;

/// Most candidates handed to a plugin in one call. The matcher hands at most
/// `max_candidates` (16 by default); the bound keeps `u32` indices and the
/// guest's memory far from their limits whatever a caller passes.
pub const MAX_POLICY_CANDIDATES: usize = 1 << 20;

/// Instances a policy runtime holds at once: calls run one at a time under
/// the matcher's lock, plus an admin load checking a new plugin.
pub const POLICY_INSTANCE_SLOTS: u32 = 4;

/// Guest memory kept mapped from one policy call to the next (zeroed in
/// between, so nothing a call leaves reaches the next). A 10,000-candidate
/// call touches about 1.5 MiB; without this every call page-faults it in
/// afresh, which was a third of the call (the benchmark: crossing 365 µs
/// with 64 KiB kept, 209 µs with 2 MiB). Zeroing is of the bytes a call
/// used, so a small call pays little for the large window.
pub const POLICY_KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// The runtime configuration a policy host wants: a few instance slots, and
/// memory kept resident between calls (see [`POLICY_KEEP_RESIDENT_BYTES`]).
pub fn runtime_config(scratch_root: impl Into<std::path::PathBuf>) -> kiln_runtime::RuntimeConfig {
    let mut config = kiln_runtime::RuntimeConfig::new(scratch_root);
    config.max_concurrent_jobs = POLICY_INSTANCE_SLOTS;
    config.keep_resident_bytes = POLICY_KEEP_RESIDENT_BYTES;
    config
}

/// SHA-256 digests of the plugins an operator allows. A plugin is loaded only
/// when its file's digest is one of these, so what runs is exactly what the
/// operator reviewed, whoever can reach the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins(HashSet<Digest>);

impl Pins {
    /// Pins from hex SHA-256 strings (64 digits each).
    pub fn from_hex<S: AsRef<str>>(pins: &[S]) -> Result<Self, PolicyLoadError> {
        let mut set = HashSet::new();
        for pin in pins {
            let pin = pin.as_ref().trim();
            let bytes: [u8; 32] = hex::decode(pin)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| PolicyLoadError::BadPin(pin.to_owned()))?;
            set.insert(Digest(bytes));
        }
        Ok(Self(set))
    }

    /// True when `digest` is pinned.
    pub fn allows(&self, digest: &Digest) -> bool {
        self.0.contains(digest)
    }
}

/// How the policy host bounds and feeds calls.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// The plugins that may load.
    pub pins: Pins,
    /// See [`DEFAULT_POLICY_FUEL`].
    pub fuel: u64,
    /// See [`DEFAULT_POLICY_DEADLINE`].
    pub deadline: Duration,
    /// See [`DEFAULT_POLICY_MEMORY_BYTES`].
    pub memory_bytes: usize,
    /// See [`DEFAULT_CRASH_LOOP_FAILURES`].
    pub crash_loop_failures: u32,
    /// The region this scheduler serves: handed to plugins as a job's
    /// preferred region when the job names none (locality ranking).
    pub home_region: Option<String>,
}

impl PolicyConfig {
    /// The defaults, allowing `pins`.
    pub fn new(pins: Pins) -> Self {
        Self {
            pins,
            fuel: DEFAULT_POLICY_FUEL,
            deadline: DEFAULT_POLICY_DEADLINE,
            memory_bytes: DEFAULT_POLICY_MEMORY_BYTES,
            crash_loop_failures: DEFAULT_CRASH_LOOP_FAILURES,
            home_region: None,
        }
    }
}
