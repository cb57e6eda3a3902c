use kiln_protocol::signing::{SigningKey, public_key};
use kiln_protocol::{PublicKey, ReceiptChain, Usage};

use super::*;

const ESCROW: u64 = 1_000_000;

fn keys() -> (SigningKey, SigningKey) {
    (
        SigningKey::from_bytes(&[7; 32]),
        SigningKey::from_bytes(&[9; 32]),
    )
}

/// 1 lamport per wall second... per millisecond: 1 000 lamports per second.
fn rates() -> Rates {
    Rates {
        per_million_fuel: 0,
        per_gpu_second: 0,
        per_wall_second: 1_000,
    }
}

fn seconds(s: u64) -> Usage {
    Usage {
        fuel: s * 1_000,
        gpu_ns: 0,
        wall_ms: s * 1_000,
    }
}

fn stream(limits: FlowLimits) -> (ReceiptStream, SigningKey, Parties) {
    let (node, renter) = keys();
    let parties = Parties {
        job: PublicKey([1; 32]),
        node: public_key(&node),
        renter: public_key(&renter),
    };
    (
        ReceiptStream::new(node, parties, rates(), ESCROW, limits),
        renter,
        parties,
    )
}

fn co_sign(issued: &SignedReceipt, renter: &SigningKey) -> SignedReceipt {
    let mut copy = *issued;
    copy.counter_sign(renter).unwrap();
    copy
}

#[test]
fn issued_receipts_form_a_chain_the_renter_accepts() {
    let (mut stream, renter, parties) = stream(FlowLimits::default());
    let mut chain = ReceiptChain::new(parties);
    for s in 1..=5 {
        let issued = stream.issue(seconds(s), 0).unwrap();
        assert_eq!(issued.receipt.seq, s);
        chain.push(&co_sign(&issued, &renter)).unwrap();
    }
    let last = stream.issue_final(seconds(6), 0, b"result").unwrap();
    chain.push(&co_sign(&last, &renter)).unwrap();
    assert_eq!(
        last.receipt.output,
        proof_of_execution(&parties.job, b"result", &parties.node)
    );
    assert_eq!(stream.issue(seconds(7), 0), Err(IssueError::Finished));
}

#[test]
fn a_counter_signature_pays_its_receipt_and_covers_older_ones() {
    let (mut stream, renter, _) = stream(FlowLimits::default());
    let first = stream.issue(seconds(1), 0).unwrap();
    let second = stream.issue(seconds(2), 0).unwrap();
    assert_eq!(stream.earned(), 0);
    stream.accept(&co_sign(&second, &renter)).unwrap();
    assert_eq!(stream.payable().map(|r| r.receipt.seq), Some(2));
    assert_eq!(stream.earned(), 2_000);
    assert_eq!(stream.awaiting().count(), 0);
    // The older one was dropped with it: it is no longer awaited.
    assert_eq!(
        stream.accept(&co_sign(&first, &renter)),
        Err(AcceptError::NotIssued { seq: 1 })
    );
}

#[test]
fn forged_or_unsigned_counter_signatures_are_refused() {
    let (mut stream, renter, _) = stream(FlowLimits::default());
    let issued = stream.issue(seconds(1), 0).unwrap();
    assert_eq!(
        stream.accept(&issued),
        Err(AcceptError::NotCoSigned { seq: 1 })
    );

    // Signed by someone who is not the renter.
    let mut forged = issued;
    forged.renter_signature = Some(kiln_protocol::signing::sign(
        &SigningKey::from_bytes(&[3; 32]),
        &issued.receipt.signing_message(),
    ));
    assert_eq!(
        stream.accept(&forged),
        Err(AcceptError::BadCounterSignature { seq: 1 })
    );

    // A receipt the node never issued (more usage than it signed).
    let mut inflated = co_sign(&issued, &renter);
    inflated.receipt.wall_ms += 1;
    assert_eq!(
        stream.accept(&inflated),
        Err(AcceptError::NotIssued { seq: 1 })
    );
    assert!(stream.payable().is_none());
}

#[test]
fn the_guest_pauses_when_the_renter_lags_and_runs_when_it_catches_up() {
    let limits = FlowLimits {
        max_unsigned: 2,
        ..FlowLimits::default()
    };
    let (mut stream, renter, _) = stream(limits);
    let mut issued = Vec::new();
    for s in 1..=2 {
        issued.push(stream.issue(seconds(s), 0).unwrap());
        assert_eq!(stream.flow(), Flow::Run);
    }
    issued.push(stream.issue(seconds(3), 0).unwrap());
    assert_eq!(
        stream.flow(),
        Flow::Pause(PauseReason::CounterSignaturesLag { unsigned: 3 })
    );
    stream.accept(&co_sign(&issued[2], &renter)).unwrap();
    assert_eq!(stream.flow(), Flow::Run);
}

#[test]
fn the_guest_pauses_near_the_end_of_the_escrow() {
    let (mut stream, renter, _) = stream(FlowLimits::default());
    // 940 s is 94 % of the escrow: run on. 950 s is the 95 % high-water mark.
    let issued = stream.issue(seconds(940), 0).unwrap();
    stream.accept(&co_sign(&issued, &renter)).unwrap();
    assert_eq!(stream.flow(), Flow::Run);
    stream.issue(seconds(950), 0).unwrap();
    assert_eq!(
        stream.flow(),
        Flow::Pause(PauseReason::EscrowNearlySpent {
            owed: 950_000,
            escrow: ESCROW
        })
    );
}

#[test]
fn usage_that_goes_backwards_is_refused() {
    let (mut stream, _, _) = stream(FlowLimits::default());
    stream.issue(seconds(5), 0).unwrap();
    assert_eq!(
        stream.issue(seconds(4), 0),
        Err(IssueError::UsageWentBackwards)
    );
    // The refused one left no trace: the next good one is seq 2.
    assert_eq!(stream.issue(seconds(6), 0).unwrap().receipt.seq, 2);
}
