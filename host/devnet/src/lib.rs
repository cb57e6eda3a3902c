//! A whole Kiln network in one process, on real parts: the settlement
//! program's SBF ELF in LiteSVM, a scheduler on SQLite serving its HTTP and
//! WebSocket API on a loopback port, node agents running jobs in
//! kiln-runtime (GPU host calls on whatever adapter wgpu finds, lavapipe on a
//! machine without a GPU), and renters using kiln-client over HTTP.
//!
//! `kiln demo` runs on it, and so do the end-to-end tests and the e2e
//! benchmark. Everything talks over the same interfaces as separate
//! processes would (HTTP, WebSockets, transactions), except that the chain
//! is one in-process VM shared behind a mutex.

mod ledger;

pub use ledger::SettlementLedger;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_client::{Renter, SchedulerApi, SharedLedger};
use kiln_node::metering::MeteringConfig;
use kiln_node::receipts::FlowLimits;
use kiln_node::settle::ChainSettler;
use kiln_node::{Node, NodeConfig};
use kiln_protocol::{BenchmarkClass, PublicKey, Rates};
use kiln_runtime::{Runtime, RuntimeConfig};
use kiln_scheduler::config::SchedulerConfig;
use kiln_scheduler::scheduler::Scheduler;
use kiln_scheduler::store::Store;
use kiln_settlement::{Embedded, Settlement};
use kiln_settlement_interface::instruction::{ConfigParams, NodeParams};
use kiln_settlement_interface::pda::treasury_address;
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer as _;

/// Lamports each node operator starts with: its stake and fees (enough for
/// a tier 1 stake of 10 SOL and the fees after it).
pub const OPERATOR_AIRDROP: u64 = 20_000_000_000;

/// Lamports each node key gets for the fees of the escrow closes it signs
/// (5 000 a transaction): ample for any test or demo.
pub const NODE_FEE_AIRDROP: u64 = 100_000_000;

/// Stake each node puts up by default: tier 0's minimum (1 SOL), one job at
/// a time (the scheduler's `StakeTiers`); ten times this is tier 1, four.
pub const NODE_STAKE: u64 = 1_000_000_000;

/// The treasury's cut of every payment, in basis points (2.5 %).
pub const FEE_BPS: u16 = 250;

/// The program's grace after a job's deadline before a renter may expire it.
pub const EXPIRE_GRACE_SECONDS: u64 = 60;

/// Why the network did not start.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The settlement program could not be loaded or refused a setup step.
    #[error("settlement: {0}")]
    Chain(#[from] kiln_settlement::Error),
    /// The scheduler could not start.
    #[error("scheduler: {0}")]
    Scheduler(#[from] kiln_scheduler::error::SchedulerError),
    /// The sandbox could not start.
    #[error("runtime: {0}")]
    Runtime(#[from] kiln_runtime::RuntimeError),
    /// A node could not start.
    #[error("node: {0}")]
    Node(#[from] kiln_node::StartError),
    /// A socket or file failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// How the network is set up.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Where the scheduler's database and the nodes' data dirs go.
    pub dir: PathBuf,
    /// The settlement program's ELF.
    pub elf: PathBuf,
    /// How many nodes.
    pub nodes: usize,
    /// Each node's price floor.
    pub price_floor: Rates,
    /// Node heartbeat interval the scheduler asks for (how fast a vanished
    /// node is noticed: three intervals).
    pub heartbeat: Duration,
    /// Nodes' receipt interval and renter-silence limit.
    pub metering: MeteringConfig,
    /// When nodes pause for the renter.
    pub flow: FlowLimits,
    /// How long nodes wait for the final counter-signature.
    pub settle_wait: Duration,
    /// The standard benchmark component for the nodes' manifests.
    pub benchmark_component: Option<Vec<u8>>,
    /// What each node stakes on chain and declares to the scheduler; see
    /// [`NODE_STAKE`]. At most [`OPERATOR_AIRDROP`] less fees.
    pub node_stake: u64,
    /// The nodes' GPU device, and their PTX compiler process: without one
    /// (the default, since a library cannot name a binary to run), the
    /// nodes offer no CUDA.
    pub gpu: kiln_gpu::DeviceConfig,
}

impl DevnetConfig {
    /// Defaults for a network in `dir` running the program at `elf`.
    pub fn new(dir: impl Into<PathBuf>, elf: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            elf: elf.into(),
            nodes: 2,
            price_floor: Rates {
                per_million_fuel: 20,
                per_gpu_second: 2_000_000,
                per_wall_second: 100_000,
            },
            heartbeat: Duration::from_millis(500),
            metering: MeteringConfig {
                interval: Duration::from_millis(200),
                ..MeteringConfig::default()
            },
            flow: FlowLimits::default(),
            settle_wait: Duration::from_secs(5),
            benchmark_component: None,
            node_stake: NODE_STAKE,
            gpu: kiln_gpu::DeviceConfig::default(),
        }
    }
}

/// One node of the network.
pub struct DevNode {
    /// The agent; `None` once killed.
    pub node: Option<Node>,
    /// Its key (node id and receipt key), in its data dir.
    pub id: PublicKey,
    /// Its operator's wallet: staked the node and is paid for its jobs.
    pub operator: PublicKey,
    /// Its data dir.
    pub dir: PathBuf,
    /// The operator's keypair, held by the devnet, never in `dir`.
    operator_keypair: Keypair,
}

/// The running network.
pub struct Devnet {
    /// The one chain, shared by every party.
    pub chain: Arc<Mutex<Settlement<Embedded>>>,
    /// The scheduler's base URL.
    pub scheduler_url: String,
    /// The scheduler service (for restarts and metrics).
    pub scheduler: Scheduler,
    /// The nodes.
    pub nodes: Vec<DevNode>,
    /// The config it was started with.
    pub config: DevnetConfig,
    server: Option<SchedulerProcess>,
    database: String,
    address: std::net::SocketAddr,
    gpu: kiln_gpu::GpuHost,
}

fn new_keypair() -> Keypair {
    Keypair::new()
}

fn region_bytes(label: &str) -> [u8; 32] {
    let mut region = [0; 32];
    let n = label.len().min(32);
    region[..n].copy_from_slice(&label.as_bytes()[..n]);
    region
}

/// A scheduler on its own tokio runtime, so a restart drops everything it
/// holds (open connections, node links, background loops) as a crashed
/// process would, not just the listener.
struct SchedulerProcess {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's task would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The scheduler's configuration: `heartbeat`, and registrations' stake
/// checked against `chain`.
fn scheduler_config(
    heartbeat: Duration,
    chain: &Arc<Mutex<Settlement<Embedded>>>,
) -> SchedulerConfig {
    SchedulerConfig {
        heartbeat_interval: heartbeat,
        stake_ledger: Some(Arc::new(SettlementLedger::new(Arc::clone(chain)))),
        ..SchedulerConfig::default()
    }
}

async fn start_scheduler(
    database: &str,
    listen: std::net::SocketAddr,
    config: SchedulerConfig,
) -> Result<(Scheduler, SchedulerProcess, std::net::SocketAddr), DevnetError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kiln-devnet-scheduler")
        .enable_all()
        .build()?;
    let database = database.to_owned();
    let started = runtime.spawn(async move {
        let store = Store::connect(&database).await?;
        let scheduler = Scheduler::open(store, config).await?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let served = scheduler.clone();
        tokio::spawn(async move {
            kiln_scheduler::server::serve(listener, served, std::future::pending()).await
        });
        Ok::<_, DevnetError>((scheduler, address))
    });
    let process = SchedulerProcess {
        runtime: Some(runtime),
    };
    let (scheduler, address) = started
        .await
        .map_err(|e| DevnetError::Io(std::io::Error::other(e)))??;
    Ok((scheduler, process, address))
}

impl Devnet {
    /// Deploys the program, initialises its config, starts the scheduler
    /// and `config.nodes` nodes (each registered and staked on chain).
    pub async fn start(config: DevnetConfig) -> Result<Self, DevnetError> {
        std::fs::create_dir_all(&config.dir)?;
        let mut settlement = Settlement::new(Embedded::in_memory(&config.elf)?);
        let admin = new_keypair();
        settlement.fund(&admin.pubkey(), OPERATOR_AIRDROP)?;
        settlement.init_config(
            &admin,
            ConfigParams {
                scheduler: admin.pubkey().to_bytes(),
                fee_bps: FEE_BPS,
                slash_cap_bps: 1_000,
                tier_min_stake: [
                    NODE_STAKE,
                    10 * NODE_STAKE,
                    50 * NODE_STAKE,
                    100 * NODE_STAKE,
                ],
                unstake_cooldown_seconds: 3_600,
                expire_grace_seconds: EXPIRE_GRACE_SECONDS,
            },
        )?;
        let chain = Arc::new(Mutex::new(settlement));

        let database = format!("sqlite://{}", config.dir.join("scheduler.db").display());
        let (scheduler, server, address) = start_scheduler(
            &database,
            "127.0.0.1:0".parse().expect("valid"),
            scheduler_config(config.heartbeat, &chain),
        )
        .await?;
        let gpu = kiln_gpu::GpuHost::new(config.gpu.clone());
        let mut devnet = Self {
            chain,
            scheduler_url: format!("http://{address}"),
            scheduler,
            nodes: Vec::new(),
            config: config.clone(),
            server: Some(server),
            database,
            address,
            gpu,
        };
        for index in 0..config.nodes {
            devnet.add_node(index).await?;
        }
        Ok(devnet)
    }

    /// Starts node `index` (its keys in `<dir>/node-<index>`), registering
    /// and staking it on chain the first time.
    pub async fn add_node(&mut self, index: usize) -> Result<PublicKey, DevnetError> {
        let dir = self.config.dir.join(format!("node-{index}"));
        let keys =
            kiln_node::keys::NodeKeys::load_or_create(&dir).map_err(kiln_node::StartError::from)?;
        let node_key = Keypair::new_from_array(*keys.signing.as_bytes());
        let id = PublicKey(node_key.pubkey().to_bytes());
        // The operator's wallet is a key of its own that the node never
        // holds, as an operator would keep it off the node's machine.
        let operator = self
            .nodes
            .get(index)
            .map_or_else(new_keypair, |slot| slot.operator_keypair.insecure_clone());
        let operator_key = PublicKey(operator.pubkey().to_bytes());
        {
            let mut chain = self.chain.lock().expect("chain lock");
            let node_account = kiln_settlement_interface::pda::node_address(&operator.pubkey()).0;
            if chain
                .try_read::<kiln_settlement_interface::state::Node>(&node_account)?
                .is_none()
            {
                chain.fund(&operator.pubkey(), OPERATOR_AIRDROP)?;
                chain.fund(&node_key.pubkey(), NODE_FEE_AIRDROP)?;
                chain.register_node(
                    &operator,
                    NodeParams {
                        receipt_key: id.0,
                        class: 0,
                        region: region_bytes("local"),
                        price_floor: self.config.price_floor,
                    },
                )?;
                chain.stake(&operator, self.config.node_stake)?;
            }
        }
        let mut runtime_config = RuntimeConfig::new(dir.join("scratch"));
        runtime_config.cache_dir = Some(self.config.dir.join("compiled"));
        let runtime = Runtime::new(runtime_config.with_extension(self.gpu.extension()))?;
        let facts = kiln_node::probe::probe(&self.gpu);
        let class = match &self.config.benchmark_component {
            Some(bytes) => kiln_node::probe::benchmark(&runtime, bytes)
                .await
                .map(|(_, class)| class)
                .unwrap_or_default(),
            None => BenchmarkClass(0),
        };
        let mut node_config = NodeConfig::new(&dir, &self.scheduler_url);
        node_config.price_floor = self.config.price_floor;
        node_config.stake = self.config.node_stake;
        node_config.metering = self.config.metering;
        node_config.flow = self.config.flow;
        node_config.settle_wait = self.config.settle_wait;
        node_config.operator = Some(operator_key);
        let settler = Arc::new(ChainSettler::new(Arc::clone(&self.chain), node_key));
        let node = Node::start(node_config, runtime, facts, class, Some(settler)).await?;
        if let Some(slot) = self.nodes.get_mut(index) {
            slot.node = Some(node);
        } else {
            self.nodes.push(DevNode {
                node: Some(node),
                id,
                operator: operator_key,
                dir,
                operator_keypair: operator,
            });
        }
        Ok(id)
    }

    /// Node `index`'s operator stakes `lamports` more on chain (from its
    /// airdrop). The scheduler sees it at the node's next registration.
    ///
    /// # Panics
    ///
    /// When there is no node `index`.
    pub fn add_stake(&self, index: usize, lamports: u64) -> Result<(), DevnetError> {
        let operator = &self.nodes[index].operator_keypair;
        let mut chain = self.chain.lock().expect("chain lock");
        chain.stake(operator, lamports)?;
        Ok(())
    }

    /// Kills node `index` as a crash would: its link drops, its guests stop,
    /// it settles nothing.
    pub fn kill_node(&mut self, index: usize) {
        if let Some(slot) = self.nodes.get_mut(index)
            && let Some(node) = slot.node.take()
        {
            node.vanish();
        }
    }

    /// Stops the scheduler (as a crash would) and starts it again on the same
    /// database and port; nodes reconnect on their own.
    pub async fn restart_scheduler(&mut self) -> Result<(), DevnetError> {
        drop(self.server.take());
        // The port may take a moment to be free again.
        let mut last = None;
        for _ in 0..50 {
            let config = scheduler_config(self.config.heartbeat, &self.chain);
            match start_scheduler(&self.database, self.address, config).await {
                Ok((scheduler, server, _)) => {
                    self.scheduler = scheduler;
                    self.server = Some(server);
                    return Ok(());
                }
                Err(error) => {
                    last = Some(error);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// A renter with a fresh wallet holding `lamports`.
    pub fn renter(&self, lamports: u64) -> Result<Renter, DevnetError> {
        self.renter_at(lamports, &self.scheduler_url)
    }

    /// A renter with a fresh wallet holding `lamports` that reaches the
    /// scheduler at `scheduler_url`: through a gateway or proxy in front of
    /// [`Devnet::scheduler_url`], say.
    pub fn renter_at(&self, lamports: u64, scheduler_url: &str) -> Result<Renter, DevnetError> {
        let keypair = new_keypair();
        self.chain
            .lock()
            .expect("chain lock")
            .fund(&keypair.pubkey(), lamports)?;
        Ok(Renter::new(
            keypair,
            SchedulerApi::new(scheduler_url),
            Arc::new(SharedLedger(Arc::clone(&self.chain))),
        ))
    }

    /// The operator wallet of node `id`, where its pay goes.
    pub fn operator_of(&self, id: &PublicKey) -> Option<PublicKey> {
        self.nodes
            .iter()
            .find(|node| node.id == *id)
            .map(|node| node.operator)
    }

    /// Lamports at `key`.
    pub fn balance(&self, key: &PublicKey) -> u64 {
        self.chain
            .lock()
            .expect("chain lock")
            .balance(&Address::new_from_array(key.0))
            .unwrap_or(0)
    }

    /// Lamports in the treasury.
    pub fn treasury_balance(&self) -> u64 {
        self.chain
            .lock()
            .expect("chain lock")
            .balance(&treasury_address().0)
            .unwrap_or(0)
    }

    /// Moves the chain's clock just past `job`'s deadline and the program's
    /// grace, so its escrow may be expired. False when the job is closed.
    pub fn advance_past_deadline(&self, job: &PublicKey) -> bool {
        let mut chain = self.chain.lock().expect("chain lock");
        let address = Address::new_from_array(job.0);
        let Ok(Some(account)) = chain.try_read::<kiln_settlement_interface::state::Job>(&address)
        else {
            return false;
        };
        let now = chain.now().unwrap_or(0);
        let grace = i64::try_from(EXPIRE_GRACE_SECONDS).unwrap_or(i64::MAX);
        let wait = account
            .deadline
            .saturating_sub(now)
            .saturating_add(grace)
            .saturating_add(1);
        chain.chain_mut().advance_clock(wait.max(0));
        true
    }

    /// Moves the chain's clock forward (for expiring abandoned escrows).
    pub fn advance_clock(&self, seconds: i64) {
        self.chain
            .lock()
            .expect("chain lock")
            .chain_mut()
            .advance_clock(seconds);
    }
}

/// Where a built guest component is: `KILN_GUEST_DIR`, else
/// `<CARGO_TARGET_DIR or ./target>/wasm32-wasip2/guest`, where
/// `cargo xtask guests` writes them.
pub fn guest_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("KILN_GUEST_DIR").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| Path::new("target").to_path_buf(), PathBuf::from)
                .join("wasm32-wasip2")
                .join("guest")
        },
        PathBuf::from,
    );
    dir.join(format!("{name}.wasm"))
}
