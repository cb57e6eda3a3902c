//! Registration: signature, stake tiers, sybil pre-screen, replays.

use kiln_protocol::manifest::ManifestError;
use kiln_protocol::signing::SignatureError;
use kiln_scheduler::{Scheduler, SchedulerError};

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
    nodes: std::collections::HashMap<kiln_protocol::PublicKey, kiln_scheduler::NodeOnChain>,
    unreachable: bool,
}

impl kiln_scheduler::StakeLedger for AccountsOnChain {
    fn node_of(
        &self,
        operator: &kiln_protocol::PublicKey,
    ) -> Result<Option<kiln_scheduler::NodeOnChain>, String> {
        if self.unreachable {
            return Err("connection refused".to_owned());
        }
        Ok(self.nodes.get(operator).copied())
    }
}

on_both_stores!(with_a_ledger_the_stake_on_chain_sets_the_tier, |store| {
    // Given a chain where "staked" holds 10 SOL under its own key, "short"
    // holds 1 SOL, "rekeyed" names another receipt key, "absent" has no
    // account at all.
    let [staked, short, rekeyed, absent] =
        ["staked", "short", "rekeyed", "absent"].map(NodeSpec::cpu);
    let account = |node: &NodeSpec, stake| kiln_scheduler::NodeOnChain {
        receipt_key: kiln_protocol::signing::public_key(&node.key()),
        stake,
    };
    let mut chain = AccountsOnChain::default();
    chain
        .nodes
        .insert(staked.operator(), account(&staked, 10 * SOL));
    chain.nodes.insert(short.operator(), account(&short, SOL));
    chain
        .nodes
        .insert(rekeyed.operator(), account(&staked, 10 * SOL));
    let config = kiln_scheduler::SchedulerConfig {
        stake_ledger: Some(std::sync::Arc::new(chain)),
        ..fast_config()
    };
    let scheduler = Scheduler::open(store, config).await.unwrap();

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
        let config = kiln_scheduler::SchedulerConfig {
            stake_ledger: Some(std::sync::Arc::new(AccountsOnChain {
                unreachable: true,
                ..AccountsOnChain::default()
            })),
            ..fast_config()
        };
        let scheduler = Scheduler::open(store, config).await.unwrap();
        let error = scheduler
            .register(&NodeSpec::cpu("any").register(SOL))
            .await
            .unwrap_err();
        assert!(
            matches!(error, SchedulerError::ChainUnavailable(_)),
            "{error}"
        );
        assert!(scheduler.store().nodes().await.unwrap().is_empty());
    }
);
