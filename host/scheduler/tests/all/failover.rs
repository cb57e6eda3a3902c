//! Failover: a node that goes silent loses its job to another node, a fault
//! is recorded with evidence, and its co-signed receipts stay payable to it.

use std::time::Duration;

use kiln_protocol::receipt::{Parties, Receipt, Usage};
use kiln_protocol::signing::public_key;
use kiln_protocol::{Digest, SignedReceipt, sha256};
use kiln_scheduler::Scheduler;
use kiln_scheduler::model::{JobState, RenterAction};
use kiln_scheduler_api::link::{FromNode, ToNode};
use kiln_scheduler_api::wire::PostReceipt;

use crate::common::{
    NodeSpec, SOL, fast_config, link, next, rates, renter, renter_signed, spec, submit,
};
use crate::on_both_stores;

on_both_stores!(
    a_silent_node_loses_its_job_and_keeps_its_receipts,
    |store| {
        let config = fast_config();
        let offline_after = config.offline_after();
        let scheduler = Scheduler::open(store, config).await.unwrap();
        let mut first = NodeSpec::cpu("first");
        first.floor = rates(1);
        let (mut first_rx, first_link) = link(&scheduler, &first, SOL).await;
        let job = spec("moved");
        scheduler.submit(&submit(&job)).await.unwrap();
        scheduler.match_pass().await.unwrap();
        let ToNode::Proposal { job_id, .. } = next(&mut first_rx).await else {
            panic!()
        };

        // Given the job running on the first node, which sent a receipt the renter counter-signed,
        scheduler
            .on_node_message(
                &first.node_id(),
                FromNode::Accept {
                    job_id: job_id.clone(),
                    attempt: 1,
                },
            )
            .await
            .unwrap();
        scheduler
            .confirm_by_renter(
                &job.escrow,
                &renter_signed(&job.escrow, RenterAction::Confirm, 1),
            )
            .await
            .unwrap();
        let parties = Parties {
            job: job.escrow,
            node: public_key(&first.key()),
            renter: public_key(&renter()),
        };
        let usage = Usage {
            fuel: 500_000,
            gpu_ns: 0,
            wall_ms: 300,
        };
        let mut receipt = SignedReceipt::signed_by_node(
            Receipt::first(parties, usage, 0, Digest::ZERO),
            &first.key(),
        )
        .unwrap();
        let node_signed = FromNode::Receipt {
            receipt: hex::encode(receipt.to_bytes()),
        };
        scheduler
            .on_node_message(&first.node_id(), node_signed.clone())
            .await
            .unwrap();
        receipt.counter_sign(&renter()).unwrap();
        let relayed = scheduler
            .relay_receipt(
                &job.escrow,
                &PostReceipt {
                    receipt: hex::encode(receipt.to_bytes()),
                },
            )
            .await
            .unwrap();
        assert!(relayed.co_signed);
        // The counter-signed receipt went back to the node that signed it,
        // and goes back again when the node, never having got it, sends its
        // own copy again.
        for _ in 0..2 {
            loop {
                if let ToNode::Receipt { receipt: back } = next(&mut first_rx).await {
                    assert_eq!(back, relayed.receipt);
                    break;
                }
            }
            scheduler
                .on_node_message(&first.node_id(), node_signed.clone())
                .await
                .unwrap();
        }
        assert!(
            scheduler.receipts(&job.escrow).await.unwrap()[0].co_signed,
            "the node's copy did not replace the counter-signed one"
        );

        // When the node drops and stays silent past the offline window,
        scheduler.unlink(&first.node_id(), first_link);
        let (mut second_rx, _) = link(&scheduler, &NodeSpec::cpu("second"), SOL).await;
        tokio::time::sleep(offline_after + Duration::from_millis(100)).await;
        scheduler.heartbeat(&NodeSpec::cpu("second").node_id());
        scheduler.flush_heartbeats().await.unwrap();
        assert_eq!(scheduler.sweep().await.unwrap(), 1);

        // then the job is back in the queue and goes to the other node,
        assert_eq!(
            scheduler.job(&job.escrow).await.unwrap().state,
            JobState::Queued
        );
        scheduler.match_pass().await.unwrap();
        let ToNode::Proposal { attempt, .. } = next(&mut second_rx).await else {
            panic!()
        };
        assert_eq!(attempt, 2);
        let status = scheduler.status(&job.escrow).await.unwrap();
        assert_eq!(
            status.node_id,
            Some(NodeSpec::cpu("second").node_id().to_string())
        );

        // a fault is on record whose evidence is the digest of what was observed,
        let faults = scheduler
            .store()
            .faults(Some(&first.node_id()))
            .await
            .unwrap();
        assert_eq!(faults.len(), 1);
        assert_eq!(faults[0].kind, "node-offline");
        assert_eq!(faults[0].evidence, sha256(&[faults[0].detail.as_bytes()]));
        assert!(faults[0].detail.contains(&job.escrow.to_string()));
        assert_eq!(scheduler.metrics().faults.get(), 1);
        let reputation = scheduler.store().nodes().await.unwrap();
        let first_record = reputation
            .iter()
            .find(|n| n.id() == first.node_id())
            .unwrap();
        assert_eq!(first_record.reputation, 450);
        assert!(!first_record.online);

        // and the first node's co-signed receipt is still there, payable to it.
        let receipts = scheduler.receipts(&job.escrow).await.unwrap();
        assert_eq!(receipts.len(), 1);
        assert!(receipts[0].co_signed);
        assert_eq!(receipts[0].node, public_key(&first.key()).to_string());

        // A late report from the first node about its old attempt changes nothing.
        let late = scheduler
            .on_node_message(
                &first.node_id(),
                FromNode::Result {
                    job_id,
                    attempt: 1,
                    output: "00".into(),
                },
            )
            .await;
        assert!(late.is_err());
        assert_eq!(
            scheduler.job(&job.escrow).await.unwrap().state,
            JobState::Proposed
        );
    }
);

on_both_stores!(an_unconfirmed_proposal_expires_back_to_the_queue, |store| {
    let mut config = fast_config();
    config.proposal_timeout = Duration::from_millis(50);
    let scheduler = Scheduler::open(store, config).await.unwrap();
    let node = NodeSpec::cpu("slow-renter");
    let (mut rx, _) = link(&scheduler, &node, SOL).await;
    let job = spec("expires");
    scheduler.submit(&submit(&job)).await.unwrap();
    scheduler.match_pass().await.unwrap();
    assert!(matches!(next(&mut rx).await, ToNode::Proposal { .. }));
    tokio::time::sleep(Duration::from_millis(80)).await;
    scheduler.heartbeat(&node.node_id());
    scheduler.flush_heartbeats().await.unwrap();
    assert_eq!(scheduler.sweep().await.unwrap(), 1);
    assert_eq!(
        next(&mut rx).await,
        ToNode::Cancel {
            job_id: job.escrow.to_string(),
            attempt: 1
        }
    );
    // No fault: the node never accepted.
    assert!(scheduler.store().faults(None).await.unwrap().is_empty());
    // Its slot is free: the job is proposed again.
    assert_eq!(scheduler.match_pass().await.unwrap(), 1);
});
