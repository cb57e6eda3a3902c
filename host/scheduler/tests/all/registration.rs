//! Registration: signature, stake tiers, sybil pre-screen, replays.

use kiln_protocol::manifest::ManifestError;
use kiln_protocol::signing::SignatureError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use kiln_protocol::PublicKey;
use kiln_scheduler::{NodeOnChain, Scheduler, SchedulerConfig, SchedulerError, StakeLedger};

use crate::common::{NodeSpec, SOL, fast_config};
use crate::on_both_stores;

on_both_stores!(stake_sets_the_tier_and_the_tier_caps_jobs, |store| {
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    // Given nodes staking at tiers 0, 1 and 3 (1, 10, 100 SOL → 1, 4, 64 jobs).
    let small = scheduler
        .register(&NodeSpec::cpu("small").register(SOL))
        .await
        .unwrap();
    let mid = scheduler
        .register(&NodeSpec::cpu("mid").register(10 * SOL))
        .await
        .unwrap();
    let big = scheduler
        .register(&NodeSpec::cpu("big").register(100 * SOL))
        .await
        .unwrap();
    // Then the tier's allowance applies, capped by the manifest's 8 parallel jobs.
    assert_eq!((small.tier, small.max_jobs), (0, 1));
    assert_eq!((mid.tier, mid.max_jobs), (1, 4));
    assert_eq!((big.tier, big.max_jobs), (3, 8));
    // And below tier 0 a node is refused, and not stored.
    let error = scheduler
        .register(&NodeSpec::cpu("poor").register(SOL - 1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SchedulerError::StakeTooLow { .. }),
        "{error}"
    );
    assert_eq!(scheduler.store().nodes().await.unwrap().len(), 3);
});

on_both_stores!(a_manifest_signed_by_another_key_is_refused, |store| {
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let node = NodeSpec::cpu("forged");
    let mut signed = node.signed();
    signed.manifest.price_floor.per_wall_second += 1;
    let request = kiln_scheduler_api::wire::RegisterNode {
        manifest: hex::encode(signed.to_bytes()),
        stake: SOL,
    };
    let error = scheduler.register(&request).await.unwrap_err();
    assert!(
        matches!(
            error,
            SchedulerError::Manifest(ManifestError::Signature(SignatureError::BadSignature))
        ),
        "{error}"
    );
    assert!(scheduler.store().nodes().await.unwrap().is_empty());
});

on_both_stores!(a_key_or_wallet_under_another_id_is_refused, |store| {
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let first = NodeSpec::cpu("first");
    scheduler.register(&first.register(SOL)).await.unwrap();

    // Same receipt key, new node id.
    let clone = NodeSpec::cpu("clone");
    let mut manifest = clone.manifest();
    manifest.receipt_key = first.manifest().receipt_key;
    let signed = kiln_protocol::manifest::SignedManifest::sign(manifest, &first.key()).unwrap();
    let request = kiln_scheduler_api::wire::RegisterNode {
        manifest: hex::encode(signed.to_bytes()),
        stake: SOL,
    };
    let error = scheduler.register(&request).await.unwrap_err();
    assert!(
        matches!(
            error,
            SchedulerError::Sybil {
                what: "receipt_key",
                ..
            }
        ),
        "{error}"
    );

    // Same operator wallet, new node id and key.
    let mut manifest = clone.manifest();
    manifest.operator = first.operator();
    let signed = kiln_protocol::manifest::SignedManifest::sign(manifest, &clone.key()).unwrap();
    let request = kiln_scheduler_api::wire::RegisterNode {
        manifest: hex::encode(signed.to_bytes()),
        stake: SOL,
    };
    let error = scheduler.register(&request).await.unwrap_err();
    assert!(
        matches!(error, SchedulerError::Sybil { what: "operator", other } if other == first.node_id()),
        "{error}"
    );
    assert_eq!(scheduler.store().nodes().await.unwrap().len(), 1);
});

on_both_stores!(
    a_replayed_registration_changes_nothing_and_a_newer_one_updates,
    |store| {
        let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
        let mut node = NodeSpec::cpu("node");
        scheduler.register(&node.register(SOL)).await.unwrap();
        // The same manifest again, even with more stake declared, is a replay.
        let error = scheduler
            .register(&node.register(100 * SOL))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                SchedulerError::Replay {
                    issued_at: 1000,
                    registered: 1000
                }
            ),
            "{error}"
        );
        assert_eq!(scheduler.store().nodes().await.unwrap()[0].stake, SOL);
        // A newer manifest updates the registration.
        node.issued_at += 1;
        node.floor = crate::common::rates(20);
        let registered = scheduler.register(&node.register(10 * SOL)).await.unwrap();
        assert_eq!(registered.tier, 1);
        let stored = &scheduler.store().nodes().await.unwrap()[0];
        assert_eq!(
            stored.manifest.manifest.price_floor,
            crate::common::rates(20)
        );
        assert_eq!(stored.stake, 10 * SOL);
    }
);

/// The settlement program's node accounts, as a test sets them: the
/// scheduler's check is under test here; the devnet's tests
/// (`tests/e2e`) read the real program's accounts.
#[derive(Debug, Default)]
struct AccountsOnChain {
    nodes: Mutex<HashMap<PublicKey, NodeOnChain>>,
    unreachable: AtomicBool,
}

impl AccountsOnChain {
    fn set(&self, node: &NodeSpec, receipt_key_of: &NodeSpec, stake: u64) {
        let account = NodeOnChain {
            receipt_key: kiln_protocol::signing::public_key(&receipt_key_of.key()),
            stake,
        };
        self.nodes.lock().unwrap().insert(node.operator(), account);
    }
}

impl StakeLedger for AccountsOnChain {
    fn node_of(&self, operator: &PublicKey) -> Result<Option<NodeOnChain>, String> {
        if self.unreachable.load(Ordering::Relaxed) {
            return Err("connection refused".to_owned());
        }
        Ok(self.nodes.lock().unwrap().get(operator).copied())
    }
}

/// A scheduler checking stakes against `chain`.
async fn with_ledger(store: kiln_scheduler::Store, chain: &Arc<AccountsOnChain>) -> Scheduler {
    let config = SchedulerConfig {
        stake_ledger: Some(Arc::clone(chain) as Arc<dyn StakeLedger>),
        ..fast_config()
    };
    Scheduler::open(store, config).await.unwrap()
}

on_both_stores!(with_a_ledger_the_stake_on_chain_sets_the_tier, |store| {
    // Given a chain where "staked" holds 10 SOL under its own key, "short"
    // holds 1 SOL, "rekeyed" names another receipt key, "absent" has no
    // account at all.
    let [staked, short, rekeyed, absent] =
        ["staked", "short", "rekeyed", "absent"].map(NodeSpec::cpu);
    let chain = Arc::new(AccountsOnChain::default());
    chain.set(&staked, &staked, 10 * SOL);
    chain.set(&short, &short, SOL);
    chain.set(&rekeyed, &staked, 10 * SOL);
    let scheduler = with_ledger(store, &chain).await;

    // Then a node declaring less than it staked gets the tier of its stake on chain.
    let registered = scheduler.register(&staked.register(SOL)).await.unwrap();
    assert_eq!((registered.tier, registered.max_jobs), (1, 4));
    // And a node declaring more than it staked is refused.
    let error = scheduler
        .register(&short.register(10 * SOL))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SchedulerError::StakeNotOnChain { declared, on_chain }
            if declared == 10 * SOL && on_chain == SOL),
        "{error}"
    );
    // And so is a node whose account names another receipt key, and one with no account.
    let error = scheduler
        .register(&rekeyed.register(SOL))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SchedulerError::ReceiptKeyMismatch { .. }),
        "{error}"
    );
    let error = scheduler.register(&absent.register(SOL)).await.unwrap_err();
    assert!(
        matches!(error, SchedulerError::NotOnChain { operator } if operator == absent.operator()),
        "{error}"
    );
    // And only the staked node is stored, with the stake on chain.
    let nodes = scheduler.store().nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].stake, 10 * SOL);
});

on_both_stores!(
    with_an_unreachable_ledger_registration_fails_and_stores_nothing,
    |store| {
        let chain = Arc::new(AccountsOnChain::default());
        chain.unreachable.store(true, Ordering::Relaxed);
        let scheduler = with_ledger(store, &chain).await;
        let error = scheduler
            .register(&NodeSpec::cpu("any").register(SOL))
            .await
            .unwrap_err();
        assert!(matches!(error, SchedulerError::ChainUnavailable), "{error}");
        // The client is not told why: an RPC error would name the cluster's URL.
        assert!(!error.to_string().contains("connection refused"), "{error}");
        assert!(scheduler.store().nodes().await.unwrap().is_empty());
    }
);

on_both_stores!(
    a_link_is_refused_once_the_registered_stake_has_left_the_chain,
    |store| {
        // Given a node registered at tier 1 with 10 SOL on chain,
        let node = NodeSpec::cpu("leaving");
        let chain = Arc::new(AccountsOnChain::default());
        chain.set(&node, &node, 10 * SOL);
        let scheduler = with_ledger(store, &chain).await;
        scheduler.register(&node.register(10 * SOL)).await.unwrap();
        let (sender, _receiver) = tokio::sync::mpsc::channel(16);
        // Links and drops the link, as a node that reconnects does.
        let relink = || async {
            let id = scheduler.link(node.node_id(), sender.clone()).await?;
            scheduler.unlink(&node.node_id(), id);
            Ok::<_, SchedulerError>(())
        };
        relink().await.unwrap();

        // when the chain cannot be read, it still links on its registered figures,
        chain.unreachable.store(true, Ordering::Relaxed);
        relink().await.unwrap();
        chain.unreachable.store(false, Ordering::Relaxed);

        // but once 9 SOL of it is leaving, its next link is refused,
        chain.set(&node, &node, SOL);
        let error = relink().await.unwrap_err();
        assert!(
            matches!(error, SchedulerError::StakeNotOnChain { declared, on_chain }
            if declared == 10 * SOL && on_chain == SOL),
            "{error}"
        );
        // and registering again with what it holds puts it at tier 0, linked.
        let mut again = node.clone();
        again.issued_at += 1;
        let registered = scheduler.register(&again.register(SOL)).await.unwrap();
        assert_eq!((registered.tier, registered.max_jobs), (0, 1));
        relink().await.unwrap();
    }
);

/// A chain whose reads wait until the test opens it, counting the reads
/// under way, then answer from `accounts`.
#[derive(Debug, Default)]
struct SlowChain {
    accounts: AccountsOnChain,
    open: Mutex<bool>,
    opened: Condvar,
    reading: AtomicUsize,
}

impl SlowChain {
    fn set_open(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.opened.notify_all();
    }
}

/// Opens `0` when dropped: a failing test's stalled reads must end, or the
/// runtime, which waits for its blocking threads, would hang the test.
struct OpenWhenDone(Arc<SlowChain>);

impl Drop for OpenWhenDone {
    fn drop(&mut self) {
        self.0.set_open(true);
    }
}

impl StakeLedger for SlowChain {
    fn node_of(&self, operator: &PublicKey) -> Result<Option<NodeOnChain>, String> {
        self.reading.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        self.reading.fetch_sub(1, Ordering::SeqCst);
        self.accounts.node_of(operator)
    }
}

on_both_stores!(
    stake_reads_over_the_bound_are_refused_at_once_and_links_go_through,
    |store| {
        // Given a scheduler allowing two stake reads at once, and a node
        // registered while the chain answered at once.
        let linked = NodeSpec::cpu("linked");
        let chain = Arc::new(SlowChain::default());
        chain.accounts.set(&linked, &linked, 10 * SOL);
        chain.set_open(true);
        let config = SchedulerConfig {
            stake_ledger: Some(Arc::clone(&chain) as Arc<dyn StakeLedger>),
            max_stake_reads: 2,
            ..fast_config()
        };
        let scheduler = Scheduler::open(store, config).await.unwrap();
        scheduler
            .register(&linked.register(10 * SOL))
            .await
            .unwrap();

        // When the chain stalls under two strangers' registrations,
        chain.set_open(false);
        let _open_when_done = OpenWhenDone(Arc::clone(&chain));
        let stalled: Vec<_> = ["first", "second"]
            .map(|name| {
                let scheduler = scheduler.clone();
                tokio::spawn(
                    async move { scheduler.register(&NodeSpec::cpu(name).register(SOL)).await },
                )
            })
            .into();
        let waited = std::time::Instant::now();
        while chain.reading.load(Ordering::SeqCst) < 2 {
            assert!(waited.elapsed().as_secs() < 10, "both reads started");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }

        // then a third is refused with no read started,
        let third = NodeSpec::cpu("third");
        let error = scheduler.register(&third.register(SOL)).await.unwrap_err();
        assert!(
            matches!(error, SchedulerError::ChainBusy { limit: 2 }),
            "{error}"
        );
        assert_eq!(chain.reading.load(Ordering::SeqCst), 2);
        assert_eq!(scheduler.metrics().stake_reads_refused.get(), 1);
        // and the registered node still links, on its registered figures.
        let (sender, _receiver) = tokio::sync::mpsc::channel(16);
        let id = scheduler.link(linked.node_id(), sender).await.unwrap();
        scheduler.unlink(&linked.node_id(), id);
        assert_eq!(scheduler.metrics().stake_reads_refused.get(), 2);

        // Once the chain answers, the stalled registrations end (neither
        // stranger has an account) and their permits come back: the third
        // is read, and refused for what the chain says.
        chain.set_open(true);
        for registration in stalled {
            let error = registration.await.unwrap().unwrap_err();
            assert!(
                matches!(error, SchedulerError::NotOnChain { .. }),
                "{error}"
            );
        }
        let error = scheduler.register(&third.register(SOL)).await.unwrap_err();
        assert!(
            matches!(error, SchedulerError::NotOnChain { operator } if operator == third.operator()),
            "{error}"
        );
        assert_eq!(scheduler.store().nodes().await.unwrap().len(), 1);
    }
);

on_both_stores!(a_bound_of_no_stake_reads_counts_as_one, |store| {
    let node = NodeSpec::cpu("staked");
    let chain = Arc::new(AccountsOnChain::default());
    chain.set(&node, &node, SOL);
    let config = SchedulerConfig {
        stake_ledger: Some(Arc::clone(&chain) as Arc<dyn StakeLedger>),
        max_stake_reads: 0,
        ..fast_config()
    };
    let scheduler = Scheduler::open(store, config).await.unwrap();
    assert_eq!(scheduler.config().max_stake_reads, 1);
    // Read, not refused as busy.
    scheduler.register(&node.register(SOL)).await.unwrap();
});
