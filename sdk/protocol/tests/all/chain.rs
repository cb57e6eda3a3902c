//! Receipt-chain verification: each rule, each with the exact error.

use kiln_protocol::chain::Amount;
use kiln_protocol::signing::{SignatureError, sign};
use kiln_protocol::{
    ChainError, DecodeError, Digest, LinkError, PublicKey, ReceiptChain, SignedReceipt, Usage,
    verify_chain,
};

use crate::common::{Party, growing_usages, key};

fn bad_link(receipts: &[SignedReceipt]) -> (usize, LinkError) {
    match verify_chain(receipts) {
        Err(ChainError::BadLink { index, seq, error }) => {
            assert_eq!(seq, receipts[index].receipt.seq);
            (index, error)
        }
        other => panic!("expected a bad link, got {other:?}"),
    }
}

/// Re-signs receipt `index` by both parties after it was edited, so only the
/// structural rule under test can reject it.
fn resign(party: &Party, receipts: &mut [SignedReceipt], index: usize) {
    let mut signed = SignedReceipt::signed_by_node(receipts[index].receipt, &party.node).unwrap();
    signed.counter_sign(&party.renter).unwrap();
    receipts[index] = signed;
}

#[test]
fn fully_co_signed_chain_pays_its_last_receipt() {
    let party = Party::new();
    let receipts = party.co_signed_chain(&growing_usages(5));
    let payable = verify_chain(&receipts).unwrap();
    assert_eq!(payable.receipt.seq, 5);
}

#[test]
fn payable_is_the_highest_counter_signed_receipt() {
    let party = Party::new();
    // Given five receipts of which the renter counter-signed the first three,
    let receipts = party.chain(&growing_usages(5), 3);
    // then the third is what gets paid, not the newest.
    assert_eq!(verify_chain(&receipts).unwrap().receipt.seq, 3);
}

#[test]
fn node_signed_only_chain_pays_nothing() {
    let party = Party::new();
    let receipts = party.chain(&growing_usages(4), 0);
    assert_eq!(
        verify_chain(&receipts),
        Err(ChainError::NothingCoSigned { len: 4 })
    );
}

#[test]
fn empty_chain_is_refused() {
    assert_eq!(verify_chain(&[]), Err(ChainError::Empty));
}

#[test]
fn renter_signature_forged_by_the_node_is_refused() {
    let party = Party::new();
    let mut receipts = party.chain(&growing_usages(2), 0);
    let message = receipts[1].receipt.signing_message();
    receipts[1].renter_signature = Some(sign(&party.node, &message));
    assert_eq!(
        bad_link(&receipts),
        (1, LinkError::RenterSignature(SignatureError::BadSignature))
    );
}

#[test]
fn node_signature_forged_by_the_renter_is_refused() {
    let party = Party::new();
    let mut receipts = party.co_signed_chain(&growing_usages(2));
    let message = receipts[0].receipt.signing_message();
    receipts[0].node_signature = sign(&party.renter, &message);
    assert_eq!(
        bad_link(&receipts),
        (0, LinkError::NodeSignature(SignatureError::BadSignature))
    );
}

#[test]
fn signing_with_a_key_the_receipt_does_not_name_is_refused() {
    let party = Party::new();
    let receipt = party.co_signed_chain(&growing_usages(1))[0].receipt;
    let stranger = key(9);
    assert_eq!(
        SignedReceipt::signed_by_node(receipt, &stranger),
        Err(SignatureError::WrongSigner)
    );
    let mut signed = SignedReceipt::signed_by_node(receipt, &party.node).unwrap();
    assert_eq!(
        signed.counter_sign(&stranger),
        Err(SignatureError::WrongSigner)
    );
    assert_eq!(receipt.sign(&stranger), Err(SignatureError::WrongSigner));
}

#[test]
fn renter_does_not_counter_sign_a_receipt_the_node_did_not_sign() {
    let party = Party::new();
    let mut signed = party.chain(&growing_usages(1), 0)[0];
    signed.node_signature.0[0] ^= 1;
    assert_eq!(
        signed.counter_sign(&party.renter),
        Err(SignatureError::BadSignature)
    );
    assert_eq!(signed.renter_signature, None);
}

#[test]
fn receipt_for_another_job_is_refused() {
    let party = Party::new();
    let mut receipts = party.co_signed_chain(&growing_usages(3));
    receipts[2].receipt.job = PublicKey([4; 32]);
    resign(&party, &mut receipts, 2);
    assert_eq!(
        bad_link(&receipts),
        (
            2,
            LinkError::JobMismatch {
                expected: party.job,
                found: PublicKey([4; 32])
            }
        )
    );
}

#[test]
fn receipt_naming_another_node_or_renter_is_refused() {
    let party = Party::new();
    let mut receipts = party.co_signed_chain(&growing_usages(2));
    let other = Party {
        node: key(7),
        renter: key(8),
        job: party.job,
    };
    let foreign = other.co_signed_chain(&growing_usages(2));
    receipts[1] = foreign[1];
    assert!(matches!(
        bad_link(&receipts),
        (1, LinkError::NodeMismatch { .. })
    ));

    let same_node_other_renter = Party {
        node: key(1),
        renter: key(8),
        job: party.job,
    };
    let mut receipts = party.co_signed_chain(&growing_usages(2));
    receipts[1] = same_node_other_renter.co_signed_chain(&growing_usages(2))[1];
    assert!(matches!(
        bad_link(&receipts),
        (1, LinkError::RenterMismatch { .. })
    ));
}

#[test]
fn repeated_or_lower_seq_is_refused() {
    let party = Party::new();
    let mut receipts = party.co_signed_chain(&growing_usages(3));
    receipts[2].receipt.seq = 2;
    resign(&party, &mut receipts, 2);
    assert_eq!(
        bad_link(&receipts),
        (
            2,
            LinkError::SeqNotIncreasing {
                previous: 2,
                found: 2
            }
        )
    );

    let mut receipts = party.co_signed_chain(&growing_usages(1));
    receipts[0].receipt.seq = 0;
    resign(&party, &mut receipts, 0);
    assert_eq!(
        bad_link(&receipts),
        (
            0,
            LinkError::SeqNotIncreasing {
                previous: 0,
                found: 0
            }
        )
    );
}

#[test]
fn decreasing_amounts_are_refused_naming_the_amount() {
    let party = Party::new();
    for (amount, edit) in [
        (Amount::Fuel, (|u: &mut Usage| u.fuel = 0) as fn(&mut Usage)),
        (Amount::GpuNs, |u: &mut Usage| u.gpu_ns = 0),
        (Amount::WallMs, |u: &mut Usage| u.wall_ms = 0),
    ] {
        let mut receipts = party.co_signed_chain(&growing_usages(2));
        let mut usage = receipts[1].receipt.usage();
        edit(&mut usage);
        let r = &mut receipts[1].receipt;
        (r.fuel, r.gpu_ns, r.wall_ms) = (usage.fuel, usage.gpu_ns, usage.wall_ms);
        resign(&party, &mut receipts, 1);
        let (index, error) = bad_link(&receipts);
        assert_eq!(index, 1);
        assert!(
            matches!(error, LinkError::AmountDecreased { amount: a, found: 0, .. } if a == amount),
            "{error:?}"
        );
    }
}

#[test]
fn broken_prev_link_is_refused() {
    let party = Party::new();
    let mut receipts = party.co_signed_chain(&growing_usages(3));
    let expected = receipts[1].receipt.digest();
    receipts[2].receipt.prev = Digest([0xAA; 32]);
    resign(&party, &mut receipts, 2);
    assert_eq!(
        bad_link(&receipts),
        (
            2,
            LinkError::BrokenLink {
                expected,
                found: Digest([0xAA; 32])
            }
        )
    );

    // The first receipt must point at nothing.
    let mut receipts = party.co_signed_chain(&growing_usages(1));
    receipts[0].receipt.prev = Digest([1; 32]);
    resign(&party, &mut receipts, 0);
    assert!(matches!(
        bad_link(&receipts),
        (0, LinkError::BrokenLink { .. })
    ));
}

#[test]
fn editing_an_old_receipt_breaks_the_next_link() {
    let party = Party::new();
    let mut receipts = party.co_signed_chain(&growing_usages(4));
    // Given a renter who lowers an early receipt's fuel and re-signs it with
    // a node key it somehow holds, the history no longer links.
    receipts[1].receipt.fuel -= 1;
    resign(&party, &mut receipts, 1);
    assert!(matches!(
        bad_link(&receipts),
        (2, LinkError::BrokenLink { .. })
    ));
}

#[test]
fn reserved_flag_or_unknown_version_in_a_chain_is_refused() {
    let party = Party::new();
    let mut receipts = party.co_signed_chain(&growing_usages(1));
    receipts[0].receipt.flags = 0b10;
    resign(&party, &mut receipts, 0);
    assert!(matches!(
        bad_link(&receipts),
        (
            0,
            LinkError::Invalid(DecodeError::InvalidField { field: "flags", .. })
        )
    ));

    let mut receipts = party.co_signed_chain(&growing_usages(1));
    receipts[0].receipt.version = 2;
    resign(&party, &mut receipts, 0);
    assert!(matches!(
        bad_link(&receipts),
        (
            0,
            LinkError::Invalid(DecodeError::UnsupportedVersion { found: 2, .. })
        )
    ));
}

#[test]
fn malformed_node_key_is_a_typed_error() {
    let party = Party::new();
    let mut receipts = party.co_signed_chain(&growing_usages(1));
    // The y-coordinate 2 is not on the curve: not a valid ed25519 key.
    let mut bad = [0u8; 32];
    bad[0] = 2;
    let mut chain = ReceiptChain::new(kiln_protocol::Parties {
        node: PublicKey(bad),
        ..party.parties()
    });
    receipts[0].receipt.node = PublicKey(bad);
    assert_eq!(
        chain.push(&receipts[0]),
        Err(LinkError::NodeSignature(SignatureError::MalformedKey))
    );
}

#[test]
fn incremental_chain_matches_whole_chain_and_resumes() {
    let party = Party::new();
    let receipts = party.chain(&growing_usages(6), 4);
    let mut chain = ReceiptChain::new(party.parties());
    for signed in &receipts[..4] {
        chain.push(signed).unwrap();
    }
    assert_eq!(chain.payable(), Some(&receipts[3].receipt));
    // A failed push leaves the chain as it was.
    assert!(chain.push(&receipts[5]).is_err());
    assert_eq!(chain.last(), Some(&receipts[3].receipt));
    assert_eq!(chain.len(), 4);

    // Resuming after the last claimed receipt accepts the rest.
    let mut resumed = ReceiptChain::resume_after(receipts[3].receipt);
    resumed.push(&receipts[4]).unwrap();
    resumed.push(&receipts[5]).unwrap();
    assert_eq!(resumed.payable(), Some(&receipts[3].receipt));
    assert_eq!(resumed.last(), Some(&receipts[5].receipt));
}

#[test]
fn next_refuses_lower_usage_and_seq_overflow() {
    let party = Party::new();
    let receipt = party.co_signed_chain(&growing_usages(2))[1].receipt;
    let lower = Usage {
        fuel: receipt.fuel - 1,
        ..receipt.usage()
    };
    assert_eq!(receipt.next(lower, 0, Digest::ZERO), None);
    let last = kiln_protocol::Receipt {
        seq: u64::MAX,
        ..receipt
    };
    assert_eq!(last.next(last.usage(), 0, Digest::ZERO), None);
}
