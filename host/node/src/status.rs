//! What `kiln node status` shows: a snapshot the agent rewrites in its data
//! dir (`status.json`) every status interval, so the command works from
//! another process without a control socket.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One running job as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    /// Job id (its escrow account, hex).
    pub job: String,
    /// The attempt.
    pub attempt: u32,
    /// Fuel so far.
    pub fuel: u64,
    /// GPU nanoseconds so far.
    pub gpu_ns: u64,
    /// Wall milliseconds so far.
    pub wall_ms: u64,
    /// Cost of the highest receipt the renter counter-signed.
    pub co_signed: u64,
    /// True while the guest waits for the renter.
    pub paused: bool,
}

/// The node's state as `kiln node status` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node id (hex).
    pub node_id: String,
    /// READY, EXECUTING, IDLE or UNSTAKING.
    pub state: String,
    /// The scheduler it links to.
    pub scheduler: String,
    /// Links opened so far (1 after the first, more after reconnects).
    pub link_sessions: u64,
    /// Whether the link is up.
    pub linked: bool,
    /// Running jobs.
    pub jobs: Vec<JobStatus>,
    /// Jobs finished since the agent started.
    pub jobs_done: u64,
    /// Co-signed earnings since the agent started, in lamports.
    pub earned_co_signed: u64,
    /// Unix milliseconds of this snapshot.
    pub updated_ms: u64,
}

impl NodeStatus {
    /// Writes the snapshot atomically (a temporary file renamed over it), so
    /// a reader never sees half of one.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(temporary, path)
    }

    /// Reads the snapshot at `path`.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(serde_json::from_slice(&std::fs::read(path)?)?)
    }
}
