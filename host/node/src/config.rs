//! How a node runs: where it keeps its keys and caches, which scheduler it
//! links to, what it offers, and its limits, each with the reason for its
//! default.

use std::path::PathBuf;
use std::time::Duration;

use kiln_protocol::{PublicKey, Rates, WorkloadClass};

use crate::metering::MeteringConfig;
use crate::receipts::FlowLimits;

/// Default [`NodeConfig::deadline_margin`]: what a node adds to a job's own
/// wall-clock limit when it sets the on-chain deadline, to cover the
/// renter's confirmation, queueing behind other jobs and the final
/// settlement. Ten minutes; after it (plus the program's grace) the renter
/// may take an unsettled escrow back.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_secs(600);

/// Default [`NodeConfig::settle_wait`]: how long, after a job ends, the node
/// waits for the renter to counter-sign the final receipt before closing
/// the escrow with the highest receipt it has.
pub const DEFAULT_SETTLE_WAIT: Duration = Duration::from_secs(10);

/// Default [`NodeConfig::status_interval`]: how often `status.json` is
/// rewritten for `kiln node status`.
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// File in the data dir that `kiln node status` reads.
pub const STATUS_FILE: &str = "status.json";

/// Directory in the data dir where fetched components are kept by digest.
pub const COMPONENT_CACHE_DIR: &str = "components";

/// A node's configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Keys, the component cache, scratch dirs and `status.json` live here.
    pub data_dir: PathBuf,
    /// The scheduler's HTTP base URL (`http://host:7400`); the link is its
    /// `/v1/links/node` WebSocket.
    pub scheduler: String,
    /// Where the node is (the scheduler matches jobs that ask for a region).
    pub region: String,
    /// The least the node takes per unit.
    pub price_floor: Rates,
    /// Jobs run at once (also capped by the stake tier the scheduler sets).
    pub max_parallel_jobs: u16,
    /// Stake the registration declares.
    pub stake: u64,
    /// Classes offered; `None` offers every class the probe found.
    pub classes: Option<Vec<WorkloadClass>>,
    /// The standard benchmark component (the `sha256` example); `None`
    /// registers benchmark class 0.
    pub benchmark_component: Option<Vec<u8>>,
    /// Receipt interval and how long a silent renter is waited for.
    pub metering: MeteringConfig,
    /// When the guest pauses for the renter.
    pub flow: FlowLimits,
    /// See [`DEFAULT_SETTLE_WAIT`].
    pub settle_wait: Duration,
    /// See [`DEFAULT_DEADLINE_MARGIN`].
    pub deadline_margin: Duration,
    /// See [`DEFAULT_STATUS_INTERVAL`].
    pub status_interval: Duration,
    /// The operator's wallet: registers and stakes the node on chain and is
    /// paid for its jobs. Only its public key is on this machine; the node
    /// key (receipts, acceptances, escrow closes) is the only secret here.
    /// `None`: the node key is its own operator (one key, as on a laptop).
    pub operator: Option<PublicKey>,
}

impl NodeConfig {
    /// A node keeping its files in `data_dir` and linking to `scheduler`,
    /// with the documented defaults.
    pub fn new(data_dir: impl Into<PathBuf>, scheduler: impl Into<String>) -> Self {
        Self {
            data_dir: data_dir.into(),
            scheduler: scheduler.into(),
            region: "local".to_owned(),
            price_floor: Rates {
                per_million_fuel: 1,
                per_gpu_second: 1_000,
                per_wall_second: 10,
            },
            max_parallel_jobs: 2,
            stake: 1_000_000_000,
            classes: None,
            benchmark_component: None,
            metering: MeteringConfig::default(),
            flow: FlowLimits::default(),
            settle_wait: DEFAULT_SETTLE_WAIT,
            deadline_margin: DEFAULT_DEADLINE_MARGIN,
            status_interval: DEFAULT_STATUS_INTERVAL,
            operator: None,
        }
    }

    /// The operator's wallet of a node whose key is `node_key`: the one
    /// configured, else the node key itself.
    pub fn operator_for(&self, node_key: PublicKey) -> PublicKey {
        self.operator.unwrap_or(node_key)
    }

    /// The link URL (`ws://…/v1/links/node`) of [`Self::scheduler`].
    pub fn link_url(&self) -> String {
        let base = self.scheduler.trim_end_matches('/');
        let base = base
            .strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
            .or_else(|| {
                base.strip_prefix("http://")
                    .map(|rest| format!("ws://{rest}"))
            })
            .unwrap_or_else(|| base.to_owned());
        format!("{base}/v1/links/node")
    }
}
