//! The node agent: registers a signed manifest, keeps the coordinator link,
//! answers proposals with a signed acceptance of the on-chain terms, runs
//! started jobs (`execute`) up to its parallel limit, and publishes its
//! status.
//!
//! The agent trusts the scheduler with nothing that costs it: a proposal is
//! checked against the node's own classes, floor and limits before it signs
//! anything; the input's signature, the component's hash and (with a chain)
//! the escrow are checked before a job runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kiln_protocol::manifest::{CapabilityManifest, MANIFEST_VERSION};
use kiln_protocol::signing::{public_key, sign};
use kiln_protocol::{
    BenchmarkClass, EncryptionKey, JobSpec, PublicKey, Rates, SignedManifest, WorkloadClass,
};
use kiln_runtime::{JobControl, Runtime};
use kiln_scheduler_api::link::{FromNode, ToNode};
use kiln_scheduler_api::node_link::NodeLink;
use kiln_settlement_interface::acceptance::{Terms, acceptance_message};
use kiln_settlement_interface::pda::node_address;
use solana_address::Address;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{NodeConfig, STATUS_FILE};
use crate::keys::NodeKeys;
use crate::probe::MachineFacts;
use crate::remote::{Remote, RemoteError};
use crate::resend::{Unacknowledged, UnansweredReports};
use crate::settle::Settler;
use crate::state::{Event, StateMachine};
use crate::status::{JobStatus, NodeStatus};

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The keys could not be loaded or created (or are readable by others).
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
    /// The manifest breaks the protocol's rules (region, classes, …).
    #[error("manifest refused: {0}")]
    Manifest(#[from] kiln_protocol::manifest::ManifestError),
    /// The scheduler refused the registration or could not be reached.
    #[error(transparent)]
    Register(#[from] RemoteError),
}

/// A job the node accepted or runs.
pub(crate) struct Held {
    pub attempt: u32,
    pub spec: JobSpec,
    pub renter: PublicKey,
    pub price: Rates,
    pub escrow: u64,
    /// Set when a start for this attempt arrived: a re-sent start is ignored.
    pub started: bool,
    /// Counter-signed receipts from the renter, for the running job.
    pub receipts: Option<mpsc::Sender<kiln_protocol::SignedReceipt>>,
    /// The running guest, to kill it on a cancel.
    pub control: Option<JobControl>,
    /// Usage and co-signed cost, for the status.
    pub progress: Arc<Mutex<JobStatus>>,
    /// Receipts sent and not yet counter-signed: re-sent after a reconnect
    /// and when overdue (see [`crate::resend`]).
    pub unacknowledged: Arc<Mutex<Unacknowledged>>,
}

/// State shared by the agent's tasks.
pub(crate) struct Shared {
    pub config: NodeConfig,
    pub keys: NodeKeys,
    pub node_id: PublicKey,
    pub runtime: Runtime,
    pub remote: Remote,
    pub settler: Option<Arc<dyn Settler>>,
    pub link: NodeLink,
    pub jobs: Mutex<HashMap<PublicKey, Held>>,
    pub state: Mutex<StateMachine>,
    pub jobs_done: AtomicU64,
    pub earned: AtomicU64,
    /// Set by [`Node::vanish`]: running jobs end without reporting or settling.
    pub vanished: AtomicBool,
    /// Ended jobs' results and failures the scheduler has not answered:
    /// re-sent like receipts (see [`crate::resend`]).
    pub reports: Mutex<UnansweredReports>,
}

impl Shared {
    /// The operator's wallet: the node account on chain is derived from it.
    pub fn operator(&self) -> PublicKey {
        self.config.operator_for(self.node_id)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running node agent. Dropping it stops the agent (its running jobs end
/// with the runtime).
pub struct Node {
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node {
    /// Loads or creates the keys in `config.data_dir`, signs the manifest
    /// (machine facts from `facts`, benchmark class `class`), registers with
    /// the scheduler and opens the link. Jobs run on `runtime`; with a
    /// `settler` the node checks escrows and closes them itself.
    pub async fn start(
        config: NodeConfig,
        runtime: Runtime,
        facts: MachineFacts,
        class: BenchmarkClass,
        settler: Option<Arc<dyn Settler>>,
    ) -> Result<Self, StartError> {
        let keys = NodeKeys::load_or_create(&config.data_dir)?;
        let node_id = public_key(&keys.signing);
        let classes = match &config.classes {
            Some(wanted) => wanted
                .iter()
                .copied()
                .filter(|class| facts.classes.contains(class))
                .collect(),
            None => facts.classes.clone(),
        };
        let manifest = CapabilityManifest {
            version: MANIFEST_VERSION,
            node_id,
            // The node key signs receipts; the operator's wallet is another
            // key unless none was given (see the crate README).
            operator: config.operator_for(node_id),
            receipt_key: node_id,
            encryption_key: EncryptionKey(keys.seal.public_key().0),
            cpu: facts.cpu,
            ram_bytes: facts.ram_bytes,
            gpus: facts.gpus,
            benchmark_class: class,
            region: config.region.clone(),
            price_floor: config.price_floor,
            workload_classes: classes,
            max_parallel_jobs: config.max_parallel_jobs,
            client_version: concat!("kiln-node/", env!("CARGO_PKG_VERSION")).to_owned(),
            issued_at: now_unix(),
        };
        let signed = SignedManifest::sign(manifest, &keys.signing)?;
        let remote = Remote::new(&config.scheduler);
        let registered = remote.register(&signed, config.stake).await?;
        tracing::info!(node = %node_id, tier = registered.tier, max_jobs = registered.max_jobs,
            "registered with the scheduler");
        let mut link = NodeLink::spawn(config.link_url(), node_id, keys.signing.clone());
        let inbox = std::mem::replace(&mut link.inbox, mpsc::channel(1).1);
        let shared = Arc::new(Shared {
            config,
            keys,
            node_id,
            runtime,
            remote,
            settler,
            link,
            jobs: Mutex::new(HashMap::new()),
            state: Mutex::new(StateMachine::new()),
            jobs_done: AtomicU64::new(0),
            earned: AtomicU64::new(0),
            vanished: AtomicBool::new(false),
            reports: Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(Arc::clone(&shared), inbox, stopped));
        Ok(Self {
            shared,
            task: Some(task),
            stop,
        })
    }

    /// The node's id (its ed25519 key).
    pub fn id(&self) -> PublicKey {
        self.shared.node_id
    }

    /// The status `kiln node status` shows.
    pub fn status(&self) -> NodeStatus {
        snapshot(&self.shared)
    }

    /// Disappears as a crashed machine would: the link drops without a word,
    /// running guests stop, nothing is reported or settled. For fault tests
    /// and the failover demo.
    pub fn vanish(self) {
        self.shared.vanished.store(true, Ordering::SeqCst);
        self.shared.link.close();
        for held in lock(&self.shared.jobs).values() {
            if let Some(control) = &held.control {
                control.kill();
            }
        }
    }

    /// Stops taking work and ends the agent's loop; jobs in flight are killed
    /// with the runtime. For a node that vanishes, drop it instead.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn snapshot(shared: &Shared) -> NodeStatus {
    // The counters first: a job counted as done is already out of `jobs` and
    // its state transition applied (see `execute`), so one snapshot never
    // shows a job both done and running.
    let jobs_done = shared.jobs_done.load(Ordering::Acquire);
    let earned_co_signed = shared.earned.load(Ordering::Relaxed);
    let jobs = lock(&shared.jobs)
        .values()
        .filter(|held| held.control.is_some())
        .map(|held| lock(&held.progress).clone())
        .collect();
    let sessions = shared.link.sessions();
    // One read of the state: a second lock in the same expression would
    // wait on the first guard, which lives to the end of the statement.
    let state = lock(&shared.state).state();
    NodeStatus {
        node_id: shared.node_id.to_string(),
        state: state.to_string(),
        scheduler: shared.config.scheduler.clone(),
        link_sessions: sessions,
        linked: sessions > 0 && state != crate::state::NodeState::Idle,
        jobs,
        jobs_done,
        earned_co_signed,
        updated_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
    }
}

pub(crate) fn transition(shared: &Shared, event: Event) {
    if let Err(error) = lock(&shared.state).apply(event) {
        tracing::debug!(%error, "state transition not applied");
    }
}

async fn run(
    shared: Arc<Shared>,
    mut inbox: mpsc::Receiver<ToNode>,
    mut stopped: watch::Receiver<bool>,
) {
    let status_path = shared.config.data_dir.join(STATUS_FILE);
    let mut status_tick = tokio::time::interval(shared.config.status_interval);
    let mut seen_sessions = 0;
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            message = inbox.recv() => {
                let Some(message) = message else { break };
                on_message(&shared, message).await;
            }
            _ = status_tick.tick() => {
                let sessions = shared.link.sessions();
                if sessions != seen_sessions {
                    if seen_sessions > 0 {
                        resend(&shared, Resend::All).await;
                    }
                    seen_sessions = sessions;
                    transition(&shared, Event::Linked);
                }
                resend(&shared, Resend::Overdue).await;
                if let Err(error) = snapshot(&shared).write(&status_path) {
                    tracing::warn!(%error, path = %status_path.display(), "status not written");
                }
            }
        }
    }
    for held in lock(&shared.jobs).values() {
        if let Some(control) = &held.control {
            control.kill();
        }
    }
}

/// Which unanswered messages to send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// All of them: the link was re-established, and the old one may have
    /// lost any.
    All,
    /// Those that waited past their re-send wait.
    Overdue,
}

/// Sends running jobs' receipts the renter has not counter-signed, in order,
/// and ended jobs' reports the scheduler has not answered, again (the
/// scheduler stores both idempotently; the renter skips what it has). A
/// report goes after every receipt of its job, so a renter that sees the
/// job done finds the final receipt there too.
async fn resend(shared: &Shared, which: Resend) {
    // While the link is down, what is queued waits for it, and the
    // reconnect sends everything anyway: overdue copies would only pile up.
    if which == Resend::Overdue && !shared.link.is_linked() {
        return;
    }
    let now = Instant::now();
    let due = lock(&shared.reports).due(now, which == Resend::All);
    let reports = due.by_job;
    for (job, attempt) in due.expired {
        tracing::warn!(%job, attempt, "the scheduler never took this job's report; dropped");
    }
    let receipts: Vec<_> = lock(&shared.jobs)
        .iter()
        .filter(|(_, held)| held.control.is_some())
        .flat_map(|(id, held)| {
            let reporting = reports.iter().any(|(job, _)| job == id);
            let mut waiting = lock(&held.unacknowledged);
            if which == Resend::All || reporting {
                waiting.resend_all(now)
            } else {
                waiting.overdue(now)
            }
        })
        .map(|receipt| FromNode::receipt(&receipt))
        .collect();
    let ended_jobs = reports.len();
    let reports: Vec<FromNode> = reports
        .into_iter()
        .flat_map(|(_, messages)| messages)
        .collect();
    if !receipts.is_empty() || ended_jobs > 0 {
        tracing::info!(
            receipts = receipts.len(),
            ended_jobs,
            reason = match which {
                Resend::All => "link re-established",
                Resend::Overdue => "not answered in time",
            },
            "re-sending"
        );
    }
    for message in receipts.into_iter().chain(reports) {
        shared.link.send(message).await;
    }
}

async fn on_message(shared: &Arc<Shared>, message: ToNode) {
    match message {
        ToNode::Proposal {
            job_id,
            attempt,
            spec,
            renter,
            price,
        } => {
            let reply = match consider(shared, &job_id, attempt, &spec, &renter, price.into()) {
                Ok(terms) => {
                    shared.link.send(terms).await;
                    tracing::info!(job = %job_id, attempt, "proposal accepted");
                    FromNode::Accept { job_id, attempt }
                }
                Err(reason) => {
                    tracing::info!(job = %job_id, attempt, %reason, "proposal rejected");
                    FromNode::Reject { job_id, attempt }
                }
            };
            shared.link.send(reply).await;
        }
        ToNode::Start { job_id, attempt } => {
            let Some(id) = parse_key(&job_id) else {
                return;
            };
            // A scheduler re-sends what it holds after a (re)link: a job
            // already started here is not started twice (checked and marked
            // under one lock).
            let first = lock(&shared.jobs).get_mut(&id).is_some_and(|held| {
                let first = held.attempt == attempt && !held.started;
                held.started |= first;
                first
            });
            if first {
                crate::execute::spawn(Arc::clone(shared), id, attempt);
            }
        }
        ToNode::Cancel { job_id, attempt } => {
            let Some(id) = parse_key(&job_id) else {
                return;
            };
            let mut jobs = lock(&shared.jobs);
            if jobs.get(&id).is_some_and(|held| held.attempt == attempt) {
                match jobs.get(&id).and_then(|held| held.control.clone()) {
                    Some(control) => {
                        tracing::info!(job = %id, "cancelled by the renter; stopping the guest");
                        control.kill();
                    }
                    None => {
                        jobs.remove(&id);
                    }
                }
            }
        }
        ToNode::Receipt { receipt } => {
            let Some(decoded) = hex::decode(&receipt)
                .ok()
                .and_then(|bytes| kiln_protocol::SignedReceipt::from_bytes(&bytes).ok())
            else {
                tracing::warn!("undecodable counter-signed receipt from the scheduler");
                return;
            };
            let (job, seq) = (decoded.receipt.job, decoded.receipt.seq);
            let held = lock(&shared.jobs).get(&job).map(|held| {
                lock(&held.unacknowledged).acknowledged(seq, Instant::now());
                held.receipts.clone()
            });
            match held {
                Some(Some(sender)) => {
                    let _ = sender.try_send(decoded);
                }
                Some(None) => {}
                // Let go already: only what it left to re-send is answered.
                None => lock(&shared.reports).counter_signed(&decoded.receipt),
            }
        }
        ToNode::Ended { job_id, attempt } => {
            if let Some(id) = parse_key(&job_id) {
                lock(&shared.reports).answered(&id, attempt);
            }
        }
        ToNode::Error { message } => tracing::warn!(%message, "the scheduler refused a message"),
        ToNode::Challenge { .. } | ToNode::Welcome { .. } => {}
    }
}

/// A key or job id sent as hex.
pub(crate) fn parse_key(text: &str) -> Option<PublicKey> {
    kiln_scheduler_api::wire::hex_key("key", text).ok()
}

/// Checks a proposal against this node and signs the on-chain terms.
fn consider(
    shared: &Shared,
    job_id: &str,
    attempt: u32,
    spec_hex: &str,
    renter_hex: &str,
    price: Rates,
) -> Result<FromNode, String> {
    let spec = hex::decode(spec_hex)
        .ok()
        .and_then(|bytes| JobSpec::from_bytes(&bytes).ok())
        .ok_or("the spec does not decode")?;
    let renter = parse_key(renter_hex).ok_or("bad renter key")?;
    if spec.escrow.to_string() != job_id {
        return Err("the spec names another job".into());
    }
    let floor = &shared.config.price_floor;
    if !floor.within(&price) {
        return Err("the price is below this node's floor".into());
    }
    let runtime = shared.runtime.config();
    if spec.limits.memory_bytes > runtime.max_memory_bytes {
        return Err("the job's memory limit is above this node's".into());
    }
    if spec.class != WorkloadClass::Cpu && spec.limits.gpu_memory_bytes == 0 {
        return Err("a GPU job without GPU memory".into());
    }
    let escrow = spec.max_cost(&price).map_err(|e| e.to_string())?;
    let wall_s = spec.limits.wall_clock_ms.div_ceil(1000);
    let deadline = now_unix()
        .saturating_add(wall_s)
        .saturating_add(shared.config.deadline_margin.as_secs());
    let deadline = i64::try_from(deadline).map_err(|_| "deadline out of range")?;
    {
        let mut jobs = lock(&shared.jobs);
        if !jobs.contains_key(&spec.escrow)
            && jobs.len() >= usize::from(shared.config.max_parallel_jobs)
        {
            return Err("no free slot".into());
        }
        jobs.insert(
            spec.escrow,
            Held {
                attempt,
                spec: spec.clone(),
                renter,
                price,
                escrow,
                started: false,
                receipts: None,
                control: None,
                unacknowledged: Arc::default(),
                progress: Arc::new(Mutex::new(JobStatus {
                    job: spec.escrow.to_string(),
                    attempt,
                    fuel: 0,
                    gpu_ns: 0,
                    wall_ms: 0,
                    co_signed: 0,
                    paused: false,
                })),
            },
        );
    }
    let terms = Terms {
        job: spec.escrow.0,
        renter: renter.0,
        node: node_address(&Address::new_from_array(shared.operator().0))
            .0
            .to_bytes(),
        rates: price,
        escrow,
        deadline,
    };
    let signature = sign(&shared.keys.signing, &acceptance_message(&terms));
    Ok(FromNode::Terms {
        job_id: job_id.to_owned(),
        attempt,
        escrow,
        deadline,
        signature: signature.to_string(),
    })
}

/// Fails `id`'s `attempt` with `reason` and forgets it.
pub(crate) async fn fail(shared: &Shared, id: &PublicKey, attempt: u32, reason: String) {
    tracing::warn!(job = %id, attempt, %reason, "job failed");
    lock(&shared.jobs).remove(id);
    let report = FromNode::Failed {
        job_id: id.to_string(),
        attempt,
        reason,
    };
    send_report(shared, *id, attempt, report).await;
}

/// Sends `report`, the last word on `id`'s `attempt`, and keeps it for
/// re-sending until the scheduler answers `ended`. Noted before it goes, so
/// the answer cannot arrive first.
pub(crate) async fn send_report(shared: &Shared, id: PublicKey, attempt: u32, report: FromNode) {
    lock(&shared.reports).sent(id, attempt, report.clone(), Instant::now());
    shared.link.send(report).await;
}
