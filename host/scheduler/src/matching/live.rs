//! [`LiveNodes`]: the linked nodes of this replica with a free slot,
//! indexed by workload class and by class + region in reference-price order.
//!
//! Invariant: a node is in the free indexes exactly when it is linked and
//! `running < max_jobs`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use kiln_protocol::{BenchmarkClass, PublicKey, Rates, WorkloadClass};

use super::Candidate;
use crate::config::MAX_REPUTATION;
use crate::model::NodeRecord;

/// Key of the free indexes: reference price, reputation deficit, slot index.
pub(super) type FreeKey = (u64, u32, usize);

#[derive(Debug)]
pub(super) struct Slot {
    node: PublicKey,
    pub(super) floor: Rates,
    reference_price: u64,
    reputation: u32,
    pub(super) benchmark_class: BenchmarkClass,
    stake_tier: u8,
    classes: Vec<WorkloadClass>,
    region: Arc<str>,
    max_jobs: u16,
    running: u16,
    linked: bool,
}

impl Slot {
    fn key(&self, index: usize) -> FreeKey {
        (
            self.reference_price,
            MAX_REPUTATION.saturating_sub(self.reputation),
            index,
        )
    }

    fn is_free(&self) -> bool {
        self.linked && self.running < self.max_jobs
    }

    pub(super) fn candidate(&self) -> Candidate {
        Candidate {
            node: self.node,
            floor: self.floor,
            reputation: self.reputation,
            benchmark_class: self.benchmark_class,
            stake_tier: self.stake_tier,
            free_slots: self.max_jobs.saturating_sub(self.running),
            max_jobs: self.max_jobs,
            region: Arc::clone(&self.region),
        }
    }
}

/// Index of a workload class in per-class arrays.
pub(super) fn class_index(class: WorkloadClass) -> usize {
    class as usize
}

/// The linked nodes of this replica and their free slots. See the module docs.
#[derive(Debug, Default)]
pub struct LiveNodes {
    pub(super) slots: Vec<Slot>,
    pub(super) by_id: HashMap<PublicKey, usize>,
    pub(super) free_by_class: [BTreeSet<FreeKey>; WorkloadClass::ALL.len()],
    pub(super) free_by_region: HashMap<(usize, Arc<str>), BTreeSet<FreeKey>>,
    /// One shared name per region, so candidates of one region share a
    /// pointer and a policy batch interns them by pointer, not by comparing
    /// strings (that cost ~0.2 ms per 10,000 candidates). Names of regions
    /// whose nodes all left stay: a handful of short strings.
    regions: HashSet<Arc<str>>,
}

impl LiveNodes {
    fn index_insert(&mut self, index: usize) {
        let slot = &self.slots[index];
        if !slot.is_free() {
            return;
        }
        let key = slot.key(index);
        for class in &slot.classes {
            let class = class_index(*class);
            self.free_by_class[class].insert(key);
            self.free_by_region
                .entry((class, Arc::clone(&slot.region)))
                .or_default()
                .insert(key);
        }
    }

    fn index_remove(&mut self, index: usize) {
        let slot = &self.slots[index];
        let key = slot.key(index);
        for class in &slot.classes {
            let class = class_index(*class);
            self.free_by_class[class].remove(&key);
            if let Some(set) = self
                .free_by_region
                .get_mut(&(class, Arc::clone(&slot.region)))
            {
                set.remove(&key);
            }
        }
    }

    /// The shared name of `region`.
    fn intern(&mut self, region: &str) -> Arc<str> {
        if let Some(name) = self.regions.get(region) {
            return Arc::clone(name);
        }
        let name: Arc<str> = Arc::from(region);
        self.regions.insert(Arc::clone(&name));
        name
    }

    /// Links `node` with `running` jobs already on it (after a restart or a
    /// reconnect, the jobs the store says it holds).
    pub fn link(&mut self, node: &NodeRecord, running: u16) {
        let manifest = &node.manifest.manifest;
        let floor = manifest.price_floor;
        let slot = Slot {
            node: manifest.node_id,
            floor,
            reference_price: floor
                .per_million_fuel
                .saturating_add(floor.per_gpu_second)
                .saturating_add(floor.per_wall_second),
            reputation: node.reputation,
            benchmark_class: manifest.benchmark_class,
            stake_tier: node.tier,
            classes: manifest.workload_classes.clone(),
            region: self.intern(&manifest.region),
            max_jobs: node.max_jobs,
            running,
            linked: true,
        };
        let index = match self.by_id.get(&manifest.node_id) {
            Some(&index) => {
                self.index_remove(index);
                self.slots[index] = slot;
                index
            }
            None => {
                self.slots.push(slot);
                let index = self.slots.len() - 1;
                self.by_id.insert(manifest.node_id, index);
                index
            }
        };
        self.index_insert(index);
    }

    /// Takes `node` out of matching (its link closed or it went offline).
    pub fn unlink(&mut self, node: &PublicKey) {
        if let Some(&index) = self.by_id.get(node) {
            self.index_remove(index);
            self.slots[index].linked = false;
        }
    }

    /// True when `node` is linked here.
    pub fn is_linked(&self, node: &PublicKey) -> bool {
        self.by_id
            .get(node)
            .is_some_and(|&index| self.slots[index].linked)
    }

    /// Frees one of `node`'s slots (a job ended, moved or was refused).
    pub fn release(&mut self, node: &PublicKey) {
        if let Some(&index) = self.by_id.get(node) {
            self.index_remove(index);
            let slot = &mut self.slots[index];
            slot.running = slot.running.saturating_sub(1);
            self.index_insert(index);
        }
    }

    pub(super) fn reserve(&mut self, index: usize) {
        self.index_remove(index);
        let slot = &mut self.slots[index];
        slot.running = slot.running.saturating_add(1);
        self.index_insert(index);
    }

    /// Sets `node`'s reputation, as the store now holds it.
    pub fn set_reputation(&mut self, node: &PublicKey, reputation: u32) {
        if let Some(&index) = self.by_id.get(node) {
            self.index_remove(index);
            self.slots[index].reputation = reputation;
            self.index_insert(index);
        }
    }

    /// Linked nodes, and free and total slots over them.
    pub fn capacity(&self) -> (usize, u64, u64) {
        let linked = self.slots.iter().filter(|s| s.linked);
        let (mut nodes, mut free, mut total) = (0, 0, 0);
        for slot in linked {
            nodes += 1;
            total += u64::from(slot.max_jobs);
            free += u64::from(slot.max_jobs.saturating_sub(slot.running));
        }
        (nodes, free, total)
    }

    /// True when no linked node has a free slot.
    pub fn is_full(&self) -> bool {
        self.free_by_class.iter().all(BTreeSet::is_empty)
    }
}
