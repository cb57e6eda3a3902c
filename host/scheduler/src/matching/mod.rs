//! Matching: which linked node gets a queued job, and at what price.
//!
//! [`LiveNodes`] is this replica's in-memory view of the nodes linked to it
//! that have a free slot, indexed by workload class (and class + region) and
//! ordered by a reference price, so a job's candidates are found without
//! scanning the network. [`Matcher::pick`] then
//!
//! 1. **filters**: class, region, benchmark tier and price floor within the
//!    job's maximum, among nodes with a free slot (their stake tier was
//!    checked at registration and sets the slots); it takes up to
//!    `max_candidates`, cheapest reference price first, scanning at most
//!    [`MAX_SCAN`] nodes;
//! 2. **ranks** them with a [`RankPolicy`] (one call ranks all candidates);
//! 3. **clears the price** with a [`PricingPolicy`]. The built-in default is
//!    the lowest floor that satisfies the job: the best-ranked node's floor,
//!    which the default ranking makes the cheapest candidate's.
//!
//! Policies are traits so that operator-supplied components (the policy
//! plugin issue) plug in behind them. A policy that errs, or a price outside
//! `[node floor, job maximum]` (a manipulated price), is not used: the
//! built-in default decides instead and the fallback is counted and logged.
//!
//! Invariant: a node is in the free indexes exactly when it is linked and
//! `running < max_jobs`; [`Matcher::pick`] reserves the slot it proposes, and
//! the caller releases it if the proposal is not committed.

mod live;

use std::sync::Arc;

use kiln_protocol::rates::usage_cost;
use kiln_protocol::receipt::Usage;
use kiln_protocol::{BenchmarkClass, JobSpec, PublicKey, Rates, WorkloadClass};

use crate::config::MAX_REPUTATION;
pub use live::LiveNodes;
use live::class_index;

/// Most free nodes one pick looks at before it gives up on a job for this
/// pass. Bounds a pick's cost when most nodes of a class are filtered out
/// (a job whose maximum price is below nearly every floor); such a job is
/// tried again next pass.
pub const MAX_SCAN: usize = 4096;

/// A node as a policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The node.
    pub node: PublicKey,
    /// Its price floor.
    pub floor: Rates,
    /// Its reputation, 0 to [`MAX_REPUTATION`].
    pub reputation: u32,
    /// Its speed tier.
    pub benchmark_class: BenchmarkClass,
    /// Its stake tier.
    pub stake_tier: u8,
    /// Slots free now.
    pub free_slots: u16,
    /// Slots in all.
    pub max_jobs: u16,
    /// Its region.
    pub region: Arc<str>,
}

/// Why a policy gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {policy}: {reason}")]
pub struct PolicyError {
    /// The policy's name.
    pub policy: String,
    /// What went wrong.
    pub reason: String,
}

/// Orders candidates for a job. Implementations must be pure functions of
/// their arguments: the same job and candidates give the same order.
pub trait RankPolicy: Send + Sync {
    /// A short name for logs and metrics.
    fn name(&self) -> &str;
    /// Indices into `candidates`, best first. Leaving an index out refuses
    /// that candidate; an empty answer leaves the job queued.
    fn rank(&self, job: &JobSpec, candidates: &[Candidate]) -> Result<Vec<usize>, PolicyError>;
    /// True once the policy has unloaded itself (a plugin's crash-loop
    /// guard): the matcher then puts the built-in in its place.
    fn unloaded(&self) -> bool {
        false
    }
}

/// Why a pricing policy's screen flagged an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// Far above what the market recently cleared at.
    AboveMarket,
    /// Far below anything the market recently cleared at.
    BelowMinimum,
}

/// One flagged candidate: its index and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// Index into the candidates.
    pub index: usize,
    /// Why.
    pub kind: FlagKind,
}

/// Cleared prices the matcher remembers for pricing screens: the most recent
/// this many. Enough for a stable market average, little to copy per call.
pub const PRICE_HISTORY: usize = 64;

/// Most candidates a pricing policy sees when it clears a price: the
/// best-ranked, the chosen first. A sample of the market is what a clearing
/// rule needs; every candidate would make a 10,000-candidate pick pay to
/// copy them all into a plugin a second time (after `rank`).
pub const MAX_CLEAR_MARKET: usize = 64;

/// Prices a job on the chosen node.
pub trait PricingPolicy: Send + Sync {
    /// A short name for logs and metrics.
    fn name(&self) -> &str;
    /// The rates the job runs at on `chosen`, given `market`: the
    /// best-ranked candidates, `chosen` first, at most [`MAX_CLEAR_MARKET`].
    /// Must lie within `[chosen.floor, job.max_rates]`.
    fn clear(
        &self,
        job: &JobSpec,
        chosen: &Candidate,
        market: &[Candidate],
    ) -> Result<Rates, PolicyError>;
    /// Candidates that look like price manipulation given `history`, the
    /// prices recently cleared (oldest first); the matcher drops them. The
    /// built-in flags none.
    fn screen(
        &self,
        job: &JobSpec,
        history: &[Rates],
        candidates: &[Candidate],
    ) -> Result<Vec<Flag>, PolicyError> {
        let _ = (job, history, candidates);
        Ok(Vec::new())
    }
    /// True once the policy has unloaded itself; see [`RankPolicy::unloaded`].
    fn unloaded(&self) -> bool {
        false
    }
}

/// The most a job can cost at `floor`: its fuel budget, and its wall-clock
/// deadline as both wall time and (for GPU work) GPU time. Saturates.
pub fn worst_case_cost(job: &JobSpec, floor: &Rates) -> u64 {
    let gpu_ns = if job.class == WorkloadClass::Cpu {
        0
    } else {
        job.limits.wall_clock_ms.saturating_mul(1_000_000)
    };
    let usage = Usage {
        fuel: job.limits.fuel,
        gpu_ns,
        wall_ms: job.limits.wall_clock_ms,
    };
    usage_cost(&usage, floor).unwrap_or(u64::MAX)
}

/// The built-in ranking: cheapest worst-case cost at the node's floor, then
/// higher reputation, then more free slots (spreads load), then node id (so
/// the order is total and deterministic).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRank;

impl RankPolicy for DefaultRank {
    fn name(&self) -> &str {
        "builtin-rank"
    }

    fn rank(&self, job: &JobSpec, candidates: &[Candidate]) -> Result<Vec<usize>, PolicyError> {
        let mut keyed: Vec<_> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let key = (
                    worst_case_cost(job, &c.floor),
                    MAX_REPUTATION.saturating_sub(c.reputation),
                    u16::MAX - c.free_slots,
                    c.node,
                );
                (key, i)
            })
            .collect();
        keyed.sort_unstable();
        Ok(keyed.into_iter().map(|(_, i)| i).collect())
    }
}

/// The built-in price: the chosen node's floor, the lowest price it accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPricing;

impl PricingPolicy for DefaultPricing {
    fn name(&self) -> &str {
        "builtin-pricing"
    }

    fn clear(
        &self,
        _: &JobSpec,
        chosen: &Candidate,
        _: &[Candidate],
    ) -> Result<Rates, PolicyError> {
        Ok(chosen.floor)
    }
}

/// True when `price` is one both parties accept: at least every rate of the
/// node's floor and at most every rate of the job's maximum.
pub fn price_is_fair(price: &Rates, floor: &Rates, max: &Rates) -> bool {
    floor.within(price) && price.within(max)
}

/// The policies in use, shared by the matcher and whoever swaps them (the
/// admin API). Its lock is held only to read or replace the two pointers,
/// never across a policy call, so a swap neither waits for a match pass nor
/// blocks one; each pick works on the pair it read when it began.
#[derive(Clone)]
pub struct PolicySlot(Arc<std::sync::Mutex<Policies>>);

/// The two policies of a [`PolicySlot`].
struct Policies {
    rank: Arc<dyn RankPolicy>,
    pricing: Arc<dyn PricingPolicy>,
}

impl Default for PolicySlot {
    fn default() -> Self {
        Self(Arc::new(std::sync::Mutex::new(Policies {
            rank: Arc::new(DefaultRank),
            pricing: Arc::new(DefaultPricing),
        })))
    }
}

impl std::fmt::Debug for PolicySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rank, pricing) = self.names();
        f.debug_struct("PolicySlot")
            .field("rank", &rank)
            .field("pricing", &pricing)
            .finish()
    }
}

impl PolicySlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Policies> {
        // The guarded section only moves pointers: a poisoned lock still
        // holds a consistent pair.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pair in use now.
    pub fn snapshot(&self) -> (Arc<dyn RankPolicy>, Arc<dyn PricingPolicy>) {
        let slot = self.lock();
        (Arc::clone(&slot.rank), Arc::clone(&slot.pricing))
    }

    /// Replaces the ranking policy; picks in flight finish on the old one.
    pub fn set_rank(&self, rank: Arc<dyn RankPolicy>) {
        self.lock().rank = rank;
    }

    /// Replaces the pricing policy; picks in flight finish on the old one.
    pub fn set_pricing(&self, pricing: Arc<dyn PricingPolicy>) {
        self.lock().pricing = pricing;
    }

    /// The names of the policies in use: (rank, pricing).
    pub fn names(&self) -> (String, String) {
        let slot = self.lock();
        (slot.rank.name().to_owned(), slot.pricing.name().to_owned())
    }
}

/// A proposal the matcher made: node, price, and whether a policy was overruled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// The node.
    pub node: PublicKey,
    /// The cleared price.
    pub price: Rates,
    /// Policies that failed or answered out of bounds and were replaced by defaults.
    pub fallbacks: Vec<PolicyError>,
    /// Policies unloaded (crash-loop guard) during this pick and replaced by
    /// the built-ins for good.
    pub unloaded: Vec<String>,
    /// Candidates the pricing screen flagged (and so left out), with why.
    pub flags: Vec<(PublicKey, FlagKind)>,
}

/// The live nodes and the two policies. See the module docs.
pub struct Matcher {
    /// The nodes.
    pub nodes: LiveNodes,
    policies: PolicySlot,
    max_candidates: usize,
    candidates: Vec<Candidate>,
    /// The market sample `clear` sees, reused from pick to pick.
    market: Vec<Candidate>,
    history: std::collections::VecDeque<Rates>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("policies", &self.policies)
            .field("max_candidates", &self.max_candidates)
            .finish_non_exhaustive()
    }
}

impl Matcher {
    /// A matcher with the built-in policies and no nodes.
    pub fn new(max_candidates: usize) -> Self {
        Self {
            nodes: LiveNodes::default(),
            policies: PolicySlot::default(),
            max_candidates: max_candidates.max(1),
            candidates: Vec::new(),
            market: Vec::new(),
            history: std::collections::VecDeque::with_capacity(PRICE_HISTORY),
        }
    }

    /// The slot holding this matcher's policies: swap them through it
    /// without waiting for a pick (or a whole match pass) to finish.
    pub fn policies(&self) -> &PolicySlot {
        &self.policies
    }

    /// Replaces the policies; the next pick uses them.
    pub fn set_policies(&mut self, rank: Arc<dyn RankPolicy>, pricing: Arc<dyn PricingPolicy>) {
        self.policies.set_rank(rank);
        self.policies.set_pricing(pricing);
    }

    /// Picks a node and price for `job` and reserves the node's slot, or
    /// `None` when no linked node passes the filters (or the ranking
    /// refuses them all).
    pub fn pick(&mut self, job: &JobSpec) -> Option<Pick> {
        self.gather(job);
        if self.candidates.is_empty() {
            return None;
        }
        // One snapshot of the policies per pick: a swap lands between picks,
        // and a pick in flight finishes on the policies it started with.
        let (rank, pricing) = self.policies.snapshot();
        let mut fallbacks = Vec::new();
        let flags = self.screen(job, pricing.as_ref(), &mut fallbacks);
        if self.candidates.is_empty() {
            self.retire_unloaded(&rank, &pricing);
            return None;
        }
        let order = match rank.rank(job, &self.candidates) {
            Ok(order) if order.iter().all(|&i| i < self.candidates.len()) => order,
            Ok(_) => {
                fallbacks.push(PolicyError {
                    policy: rank.name().to_owned(),
                    reason: "returned an index outside the candidates".to_owned(),
                });
                DefaultRank.rank(job, &self.candidates).unwrap_or_default()
            }
            Err(error) => {
                fallbacks.push(error);
                DefaultRank.rank(job, &self.candidates).unwrap_or_default()
            }
        };
        let Some(&first) = order.first() else {
            self.retire_unloaded(&rank, &pricing);
            return None;
        };
        self.market.clear();
        self.market.extend(
            order
                .iter()
                .take(MAX_CLEAR_MARKET)
                .map(|&i| self.candidates[i].clone()),
        );
        let chosen = &self.candidates[first];
        let price = match pricing.clear(job, chosen, &self.market) {
            Ok(price) if price_is_fair(&price, &chosen.floor, &job.max_rates) => price,
            Ok(price) => {
                fallbacks.push(PolicyError {
                    policy: pricing.name().to_owned(),
                    reason: format!("price {price:?} is outside the floor and the job's maximum"),
                });
                chosen.floor
            }
            Err(error) => {
                fallbacks.push(error);
                chosen.floor
            }
        };
        let node = chosen.node;
        let index = self.nodes.by_id[&node];
        self.nodes.reserve(index);
        if self.history.len() == PRICE_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(price);
        let unloaded = self.retire_unloaded(&rank, &pricing);
        Some(Pick {
            node,
            price,
            fallbacks,
            unloaded,
            flags,
        })
    }

    /// Runs the pricing screen over the candidates and drops those flagged.
    fn screen(
        &mut self,
        job: &JobSpec,
        pricing: &dyn PricingPolicy,
        fallbacks: &mut Vec<PolicyError>,
    ) -> Vec<(PublicKey, FlagKind)> {
        let history = self.history.make_contiguous();
        let flags = match pricing.screen(job, history, &self.candidates) {
            Ok(flags) => flags,
            Err(error) => {
                fallbacks.push(error);
                return Vec::new();
            }
        };
        if flags.is_empty() {
            return Vec::new();
        }
        let mut flagged = vec![None; self.candidates.len()];
        for flag in flags {
            if let Some(slot) = flagged.get_mut(flag.index) {
                *slot = Some(flag.kind);
            }
        }
        let mut out = Vec::new();
        let mut index = 0;
        self.candidates.retain(|candidate| {
            let kind = flagged[index];
            index += 1;
            if let Some(kind) = kind {
                out.push((candidate.node, kind));
            }
            kind.is_none()
        });
        out
    }

    /// Puts the built-ins in place of policies that unloaded themselves;
    /// returns their names.
    fn retire_unloaded(
        &mut self,
        rank: &Arc<dyn RankPolicy>,
        pricing: &Arc<dyn PricingPolicy>,
    ) -> Vec<String> {
        let mut unloaded = Vec::new();
        let mut slot = self.policies.lock();
        // Only the policy still in the slot: one swapped out meanwhile is gone already.
        if rank.unloaded() && Arc::ptr_eq(rank, &slot.rank) {
            unloaded.push(rank.name().to_owned());
            slot.rank = Arc::new(DefaultRank);
        }
        if pricing.unloaded() && Arc::ptr_eq(pricing, &slot.pricing) {
            unloaded.push(pricing.name().to_owned());
            slot.pricing = Arc::new(DefaultPricing);
        }
        unloaded
    }

    /// Fills `self.candidates` with the nodes that pass the filters.
    fn gather(&mut self, job: &JobSpec) {
        self.candidates.clear();
        let class = class_index(job.class);
        let set = match &job.region {
            Some(region) => {
                let key = (class, Arc::<str>::from(region.as_str()));
                match self.nodes.free_by_region.get(&key) {
                    Some(set) => set,
                    None => return,
                }
            }
            None => &self.nodes.free_by_class[class],
        };
        for &(_, _, index) in set.iter().take(MAX_SCAN) {
            let slot = &self.nodes.slots[index];
            if slot.benchmark_class < job.min_benchmark_class || !slot.floor.within(&job.max_rates)
            {
                continue;
            }
            self.candidates.push(slot.candidate());
            if self.candidates.len() >= self.max_candidates {
                break;
            }
        }
    }
}
