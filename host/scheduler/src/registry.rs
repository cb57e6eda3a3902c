//! Node registration: a signed capability manifest in, a stake tier and a
//! job allowance out.
//!
//! Checks, in order, each with its own error: the manifest decodes and keeps
//! every rule of `kiln-protocol`; its signature verifies under its own
//! receipt key; a re-registration of the same node carries a manifest issued
//! strictly later than the stored one (a replayed registration changes
//! nothing); with a stake ledger, the operator's node account on chain names
//! that receipt key and holds the declared stake ([`crate::stake`]); the
//! stake reaches a tier; no other node id holds the same receipt key or
//! operator wallet (sybil pre-screen). The replay check runs before the chain
//! read, which is the costly one, and again with the check of other nodes and
//! the write, in one transaction.

use std::sync::Arc;

use kiln_protocol::manifest::{CapabilityManifest, SignedManifest};

use crate::config::INITIAL_REPUTATION;
use crate::error::{Result, SchedulerError};
use crate::model::{NodeRecord, now_ms};
use crate::scheduler::{Scheduler, lock};
use crate::stake::STAKE_READ_TIMEOUT;
use kiln_scheduler_api::wire::{RegisterNode, Registered};

impl Scheduler {
    /// Registers (or updates) a node. See the module docs.
    pub async fn register(&self, request: &RegisterNode) -> Result<Registered> {
        let bytes = kiln_scheduler_api::wire::hex_bytes("manifest", &request.manifest, 64 * 1024)?;
        let signed =
            SignedManifest::from_bytes(&bytes).map_err(|e| SchedulerError::Manifest(e.into()))?;
        signed.verify()?;
        let manifest = &signed.manifest;
        // Cheap before the chain read, and checked again inside the write's
        // transaction below.
        let mut conn = self.store().acquire().await?;
        let stored = self.store().node(&mut conn, &manifest.node_id).await?;
        drop(conn);
        refuse_replay(stored.as_ref(), manifest)?;
        let stake = self.checked_stake(manifest, request.stake).await?;
        let tiers = &self.inner.config.stake_tiers;
        let tier = tiers.tier(stake).ok_or(SchedulerError::StakeTooLow {
            stake,
            minimum: tiers.min_stake[0],
        })?;
        let max_jobs = tiers.max_jobs[usize::from(tier)].min(manifest.max_parallel_jobs);
        let store = self.store();
        let mut tx = store.begin().await?;
        if let Some((what, other)) = store
            .node_sharing_keys(
                &mut tx,
                &manifest.node_id,
                &manifest.receipt_key,
                &manifest.operator,
            )
            .await?
        {
            return Err(SchedulerError::Sybil { what, other });
        }
        let now = now_ms();
        let existing = store.node(&mut tx, &manifest.node_id).await?;
        refuse_replay(existing.as_ref(), manifest)?;
        let record = NodeRecord {
            stake,
            tier,
            max_jobs,
            reputation: existing
                .as_ref()
                .map_or(INITIAL_REPUTATION, |e| e.reputation),
            online: existing.as_ref().is_some_and(|e| e.online),
            registered_ms: existing.as_ref().map_or(now, |e| e.registered_ms),
            last_seen_ms: existing.as_ref().map_or(now, |e| e.last_seen_ms),
            manifest: signed,
        };
        store.upsert_node(&mut tx, &record).await?;
        tx.commit().await?;
        let node = record.id();
        // A linked node's new manifest (floor, classes, tier) applies at once.
        let linked = lock(&self.inner.matcher).nodes.is_linked(&node);
        if linked {
            let mut conn = store.acquire().await?;
            let held = store.active_jobs_of(&mut conn, &node).await?.len();
            lock(&self.inner.matcher)
                .nodes
                .link(&record, u16::try_from(held).unwrap_or(u16::MAX));
        }
        tracing::info!(node = %node, tier, max_jobs, "node registered");
        Ok(Registered {
            node_id: node.to_string(),
            tier,
            max_jobs,
            heartbeat_interval_ms: u64::try_from(self.inner.config.heartbeat_interval.as_millis())
                .unwrap_or(u64::MAX),
        })
    }

    /// The stake the node is registered with: the declared one, or with a
    /// ledger what the operator's node account holds, once it is checked
    /// to hold at least the declared stake under the manifest's receipt key.
    /// Also what [`Self::link`] re-checks, with the registered stake.
    pub(crate) async fn checked_stake(
        &self,
        manifest: &CapabilityManifest,
        declared: u64,
    ) -> Result<u64> {
        let Some(ledger) = self.inner.config.stake_ledger.clone() else {
            return Ok(declared);
        };
        let operator = manifest.operator;
        let Ok(permit) = Arc::clone(&self.inner.stake_reads).try_acquire_owned() else {
            // Counted, not logged at warn: in a flood of registrations a
            // line per refusal would turn the flood onto the log's disk.
            let limit = self.inner.config.max_stake_reads;
            self.inner.metrics.stake_reads_refused.inc();
            tracing::debug!(operator = %operator, limit, "stake reads at their limit; not reading");
            return Err(SchedulerError::ChainBusy { limit });
        };
        let read = tokio::task::spawn_blocking(move || {
            // Held by the read itself: one that outlives its timeout still counts.
            let _permit = permit;
            ledger.node_of(&operator)
        });
        let account = match tokio::time::timeout(STAKE_READ_TIMEOUT, read).await {
            Ok(Ok(Ok(account))) => account,
            Ok(Ok(Err(reason))) => return Err(chain_unavailable(&operator, &reason)),
            Ok(Err(join)) => return Err(chain_unavailable(&operator, &join.to_string())),
            Err(_) => return Err(chain_unavailable(&operator, "the read timed out")),
        }
        .ok_or(SchedulerError::NotOnChain { operator })?;
        if account.receipt_key != manifest.receipt_key {
            return Err(SchedulerError::ReceiptKeyMismatch {
                on_chain: account.receipt_key,
                manifest: manifest.receipt_key,
            });
        }
        if declared > account.stake {
            return Err(SchedulerError::StakeNotOnChain {
                declared,
                on_chain: account.stake,
            });
        }
        Ok(account.stake)
    }
}

/// Refuses a manifest not issued after the one `stored` for the same node.
fn refuse_replay(stored: Option<&NodeRecord>, manifest: &CapabilityManifest) -> Result<()> {
    let Some(stored) = stored else {
        return Ok(());
    };
    let registered = stored.manifest.manifest.issued_at;
    if manifest.issued_at <= registered {
        return Err(SchedulerError::Replay {
            issued_at: manifest.issued_at,
            registered,
        });
    }
    Ok(())
}

/// Logs why `operator`'s account could not be read; the client is told only
/// that it could not (see [`SchedulerError::ChainUnavailable`]).
fn chain_unavailable(operator: &kiln_protocol::PublicKey, reason: &str) -> SchedulerError {
    tracing::warn!(operator = %operator, reason, "stake read failed");
    SchedulerError::ChainUnavailable
}
