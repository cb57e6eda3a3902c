//! The scheduler: the store, this replica's live nodes and links, and the
//! loops that match, flush heartbeats and fail over.
//!
//! The store is the truth; memory is a cache of it plus the links. Every
//! assignment is committed before the node hears of it, so a scheduler killed
//! at any point restarts into a state where each job is queued, proposed to
//! exactly one node, running on exactly one node, or finished; nodes
//! reconnect, and on each link the scheduler re-sends what the store says
//! the node holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kiln_protocol::PublicKey;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::config::{HEARTBEAT_FLUSH_INTERVAL, SchedulerConfig};
use crate::error::Result;
use crate::matching::{Matcher, Pick, PricingPolicy, RankPolicy};
use crate::metrics::Metrics;
use crate::model::{JobRecord, now_ms};
use crate::store::{Proposal, QueueCursor, Store};
use kiln_scheduler_api::link::ToNode;
use kiln_scheduler_api::wire::{JobStatus, ReceiptJson};

/// Messages a link's send queue holds before the scheduler stops waiting for
/// that node: anything dropped is re-sent when it reconnects, because on
/// every link the scheduler re-sends what the store says the node holds.
pub const LINK_QUEUE: usize = 1024;

/// Renter events buffered per subscriber; a subscriber that falls further
/// behind misses events and is told so (it can poll the job's status).
pub const EVENT_BUFFER: usize = 4096;

/// How often the match loop runs without being woken: picks up jobs another
/// replica queued (PostgreSQL) and proposals freed by the sweeper.
pub const MATCH_TICK: Duration = Duration::from_secs(1);

/// Something a renter following a job hears.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobEvent {
    /// The job changed.
    Status {
        /// Its new status (boxed: it is most of the event's size).
        status: Box<JobStatus>,
    },
    /// A receipt was relayed.
    Receipt {
        /// Job id (hex).
        job_id: String,
        /// The receipt.
        receipt: ReceiptJson,
    },
}

impl JobEvent {
    /// The job it is about (hex).
    pub fn job_id(&self) -> &str {
        match self {
            Self::Status { status } => &status.job_id,
            Self::Receipt { job_id, .. } => job_id,
        }
    }
}

/// A node's open link: where to send it messages.
#[derive(Debug, Clone)]
pub struct LinkHandle {
    id: u64,
    sender: mpsc::Sender<ToNode>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) config: SchedulerConfig,
    pub(crate) matcher: Mutex<Matcher>,
    /// The matcher's policy slot, reachable without the matcher's lock.
    policies: crate::matching::PolicySlot,
    pub(crate) links: Mutex<HashMap<PublicKey, LinkHandle>>,
    pub(crate) heartbeats: Mutex<HashMap<PublicKey, i64>>,
    pub(crate) metrics: Metrics,
    pub(crate) events: broadcast::Sender<JobEvent>,
    policy_host: Mutex<Option<crate::policy::PolicyHost>>,
    wake: Notify,
    next_link: AtomicU64,
    /// Permits for stake reads ([`SchedulerConfig::max_stake_reads`]); a
    /// read holds one until it ends, even past its timeout.
    pub(crate) stake_reads: Arc<tokio::sync::Semaphore>,
}

/// The scheduler service. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Scheduler {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("replica", &self.inner.config.replica)
            .field("backend", &self.inner.store.backend())
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, recovering from a panic elsewhere: every critical section
/// leaves the data consistent before it could panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The background loops; dropping this stops them.
#[derive(Debug)]
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Scheduler {
    /// A scheduler over `store`. Nodes the store says are online get a
    /// fresh offline window, so after a restart they can reconnect before
    /// their jobs move.
    pub async fn open(store: Store, mut config: SchedulerConfig) -> Result<Self> {
        if config.stake_ledger.is_none() {
            tracing::warn!(
                "no stake ledger: registrations' declared stake is trusted, not read from chain"
            );
        }
        store.grace_all_nodes(now_ms()).await?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let matcher = Matcher::new(config.max_candidates);
        // No permits would refuse every registration with a ledger.
        config.max_stake_reads = config.max_stake_reads.max(1);
        let stake_reads = Arc::new(tokio::sync::Semaphore::new(config.max_stake_reads));
        Ok(Self {
            inner: Arc::new(Inner {
                policies: matcher.policies().clone(),
                matcher: Mutex::new(matcher),
                store,
                config,
                links: Mutex::new(HashMap::new()),
                heartbeats: Mutex::new(HashMap::new()),
                metrics: Metrics::new(),
                events,
                policy_host: Mutex::new(None),
                wake: Notify::new(),
                next_link: AtomicU64::new(1),
                stake_reads,
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.inner.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Follows every job event (renter links filter by job).
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    /// Replaces the rank and pricing policies; the next pick uses them.
    pub fn set_policies(&self, rank: Arc<dyn RankPolicy>, pricing: Arc<dyn PricingPolicy>) {
        self.inner.policies.set_rank(rank);
        self.inner.policies.set_pricing(pricing);
    }

    /// Replaces the ranking policy at once, without waiting for the match
    /// pass under way; picks in flight finish on the old one.
    pub fn set_rank_policy(&self, rank: Arc<dyn RankPolicy>) {
        self.inner.policies.set_rank(rank);
    }

    /// Replaces the pricing policy at once; picks in flight finish on the old one.
    pub fn set_pricing_policy(&self, pricing: Arc<dyn PricingPolicy>) {
        self.inner.policies.set_pricing(pricing);
    }

    /// The names of the policies in use: (rank, pricing).
    pub fn policy_names(&self) -> (String, String) {
        self.inner.policies.names()
    }

    /// Lets the admin API load plugins through `host` (its pins decide which).
    pub fn set_policy_host(&self, host: crate::policy::PolicyHost) {
        *lock(&self.inner.policy_host) = Some(host);
    }

    /// The policy host, when one was set.
    pub fn policy_host(&self) -> Option<crate::policy::PolicyHost> {
        lock(&self.inner.policy_host).clone()
    }

    /// Asks the match loop to run soon.
    pub fn wake_matcher(&self) {
        self.inner.wake.notify_one();
    }

    /// Sends `message` to `node` if it is linked here; false otherwise. A
    /// full queue drops the message: the node gets the job's state again
    /// when it reconnects.
    pub(crate) fn send(&self, node: &PublicKey, message: ToNode) -> bool {
        let sender = lock(&self.inner.links).get(node).map(|l| l.sender.clone());
        sender.is_some_and(|sender| sender.try_send(message).is_ok())
    }

    /// Tells renters following `job` about its new status.
    pub(crate) fn publish_status(&self, job: &JobRecord) {
        let status = crate::model::job_status(job, None);
        // No subscriber is not an error.
        let _ = self.inner.events.send(JobEvent::Status {
            status: Box::new(status),
        });
    }

    /// Registers the link of an authenticated node and re-sends what the
    /// store says the node holds. Returns the link's id for [`Self::unlink`].
    pub async fn link(&self, node: PublicKey, sender: mpsc::Sender<ToNode>) -> Result<u64> {
        let store = self.store();
        let mut conn = store.acquire().await?;
        let record = store
            .node(&mut conn, &node)
            .await?
            .ok_or(crate::error::SchedulerError::UnknownNode(node))?;
        let active = store.active_jobs_of(&mut conn, &node).await?;
        drop(conn);
        // The stake it registered with must still be on chain (see
        // `crate::stake`); a chain that cannot be read does not stop links.
        match self
            .checked_stake(&record.manifest.manifest, record.stake)
            .await
        {
            Ok(_)
            | Err(
                crate::error::SchedulerError::ChainUnavailable
                | crate::error::SchedulerError::ChainBusy { .. },
            ) => {}
            Err(refused) => return Err(refused),
        }
        let now = now_ms();
        store.touch_nodes(&[(node, now)]).await?;
        let id = self.inner.next_link.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.links).insert(
            node,
            LinkHandle {
                id,
                sender: sender.clone(),
            },
        );
        let held = u16::try_from(active.len()).unwrap_or(u16::MAX);
        lock(&self.inner.matcher).nodes.link(&record, held);
        self.inner.metrics.nodes_active.inc();
        for job in &active {
            let message = if job.state == crate::model::JobState::Running {
                Some(ToNode::Start {
                    job_id: job.id.to_string(),
                    attempt: job.attempt,
                })
            } else if !job.node_confirmed {
                Some(proposal_message(job))
            } else {
                None
            };
            if let Some(message) = message {
                // A full queue on a fresh link: the node reconnects and gets it then.
                let _ = sender.try_send(message);
            }
        }
        tracing::info!(node = %node, held = active.len(), "node linked");
        self.wake_matcher();
        Ok(id)
    }

    /// Drops link `link_id` of `node`, unless a newer link replaced it. The
    /// node keeps its jobs until it has been silent for the offline window.
    pub fn unlink(&self, node: &PublicKey, link_id: u64) {
        let mut links = lock(&self.inner.links);
        if links.get(node).is_some_and(|l| l.id == link_id) {
            links.remove(node);
            drop(links);
            lock(&self.inner.matcher).nodes.unlink(node);
            self.inner.metrics.nodes_active.dec();
            tracing::info!(node = %node, "node unlinked");
        }
    }

    /// True while `link_id` is `node`'s current link.
    pub fn is_current_link(&self, node: &PublicKey, link_id: u64) -> bool {
        lock(&self.inner.links)
            .get(node)
            .is_some_and(|l| l.id == link_id)
    }

    /// Notes a heartbeat; written to the store by the flush loop.
    pub fn heartbeat(&self, node: &PublicKey) {
        lock(&self.inner.heartbeats).insert(*node, now_ms());
    }

    /// Writes buffered heartbeats to the store in one transaction. When the
    /// write fails (a full disk, a lost database), they go back into the
    /// buffer for the next flush, unless a newer one arrived meanwhile: a
    /// node that kept beating is not taken offline for the store's failure.
    pub async fn flush_heartbeats(&self) -> Result<()> {
        let seen: Vec<_> = lock(&self.inner.heartbeats).drain().collect();
        let written = self.store().touch_nodes(&seen).await;
        if written.is_err() {
            let mut buffered = lock(&self.inner.heartbeats);
            for (node, at_ms) in seen {
                let at = buffered.entry(node).or_insert(at_ms);
                *at = (*at).max(at_ms);
            }
        }
        written
    }

    /// One matching pass over the whole queue, a page at a time: claims
    /// queued jobs, picks a node and price for each, commits the proposals,
    /// then tells the nodes. Returns the number of proposals made.
    pub async fn match_pass(&self) -> Result<usize> {
        let mut cursor = QueueCursor::START;
        let mut proposed = 0;
        loop {
            if lock(&self.inner.matcher).nodes.is_full() {
                break;
            }
            let (page_len, made) = self.match_page(&mut cursor).await?;
            proposed += made;
            if page_len < self.inner.config.match_batch {
                break;
            }
        }
        Ok(proposed)
    }

    /// One page of [`Self::match_pass`]: returns the jobs read and the proposals made.
    async fn match_page(&self, cursor: &mut QueueCursor) -> Result<(usize, usize)> {
        let store = self.store();
        let config = &self.inner.config;
        let mut tx = store.begin().await?;
        let jobs = store
            .claim_queued(&mut tx, *cursor, config.match_batch)
            .await?;
        let Some(last) = jobs.last() else {
            return Ok((0, 0));
        };
        *cursor = QueueCursor::after(last);
        let mut picks: Vec<(JobRecord, Pick)> = Vec::new();
        {
            let mut matcher = lock(&self.inner.matcher);
            for job in &jobs {
                let started = Instant::now();
                let pick = matcher.pick(&job.spec);
                self.inner
                    .metrics
                    .match_latency
                    .observe(started.elapsed().as_secs_f64());
                if let Some(pick) = pick {
                    picks.push((job.clone(), pick));
                }
                if matcher.nodes.is_full() {
                    break;
                }
            }
        }
        let now = now_ms();
        let mut committed = Vec::with_capacity(picks.len());
        let outcome: Result<()> = async {
            for (job, pick) in &picks {
                let attempt = job.attempt.saturating_add(1);
                let proposal = Proposal {
                    job: &job.id,
                    attempt,
                    node: &pick.node,
                    price: &pick.price,
                    replica: &config.replica,
                };
                let ok = store.propose(&mut tx, &proposal, now).await?;
                committed.push(ok);
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(error) = outcome {
            let mut matcher = lock(&self.inner.matcher);
            for (_, pick) in &picks {
                matcher.nodes.release(&pick.node);
            }
            return Err(error);
        }
        let mut made = 0;
        for ((job, pick), ok) in picks.into_iter().zip(committed) {
            if !ok {
                lock(&self.inner.matcher).nodes.release(&pick.node);
                continue;
            }
            for fallback in &pick.fallbacks {
                self.inner.metrics.policy_fallbacks.inc();
                tracing::warn!(job = %job.id, %fallback, "policy answer replaced by the default");
            }
            for policy in &pick.unloaded {
                self.inner.metrics.policy_unloads.inc();
                tracing::error!(%policy, "policy unloaded after repeated failures; the built-in took its place");
            }
            for (node, kind) in &pick.flags {
                self.inner.metrics.price_flags.inc();
                tracing::warn!(job = %job.id, node = %hex::encode(node.0), ?kind, "offer flagged by the pricing screen and left out");
            }
            made += 1;
            let job = JobRecord {
                state: crate::model::JobState::Proposed,
                node: Some(pick.node),
                attempt: job.attempt.saturating_add(1),
                price: Some(pick.price),
                node_confirmed: false,
                renter_confirmed: false,
                proposed_ms: Some(now),
                updated_ms: now,
                ..job
            };
            self.send(&pick.node, proposal_message(&job));
            self.publish_status(&job);
        }
        self.inner.metrics.assignments.inc_by(made as u64);
        Ok((jobs.len(), made))
    }

    /// Starts the match loop, the heartbeat flusher and the failover sweeper.
    pub fn spawn_background(&self) -> Background {
        let matcher = self.clone();
        let match_loop = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = matcher.inner.wake.notified() => {}
                    () = tokio::time::sleep(MATCH_TICK) => {}
                }
                if let Err(error) = matcher.match_pass().await {
                    tracing::error!(%error, "matching pass failed");
                }
            }
        });
        let flusher = self.clone();
        let flush_loop = tokio::spawn(async move {
            // Never less often than heartbeats arrive, so a flush always
            // lands well inside the offline window.
            let every = HEARTBEAT_FLUSH_INTERVAL.min(flusher.inner.config.heartbeat_interval);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(error) = flusher.flush_heartbeats().await {
                    tracing::error!(%error, "heartbeat flush failed");
                }
            }
        });
        let sweeper = self.clone();
        let sweep_every = (self.inner.config.heartbeat_interval / 2).max(Duration::from_millis(20));
        let sweep_loop = tokio::spawn(async move {
            let mut tick = tokio::time::interval(sweep_every);
            loop {
                tick.tick().await;
                if let Err(error) = sweeper.sweep().await {
                    tracing::error!(%error, "failover sweep failed");
                }
            }
        });
        Background {
            tasks: vec![match_loop, flush_loop, sweep_loop],
        }
    }
}

/// The proposal message for `job`'s current attempt.
pub(crate) fn proposal_message(job: &JobRecord) -> ToNode {
    ToNode::Proposal {
        job_id: job.id.to_string(),
        attempt: job.attempt,
        spec: hex::encode(job.spec.to_bytes()),
        renter: job.renter.to_string(),
        price: job.price.unwrap_or_default().into(),
    }
}
