//! Property tests: the guarantees receipts give, over generated inputs.

use kiln_protocol::rates::{FUEL_PRICE_UNIT, GPU_NS_PRICE_UNIT, WALL_MS_PRICE_UNIT, usage_cost};
use kiln_protocol::receipt::flags;
use kiln_protocol::signing::{public_key, sign};
use kiln_protocol::{
    ChainError, CostError, DecodeError, Digest, JobSpec, LinkError, Parties, PublicKey, Rates,
    Receipt, SignedManifest, SignedReceipt, Usage, cost, verify_chain,
};
use proptest::prelude::*;

use crate::common::{Party, key, sample_job_spec, sample_manifest};

fn usage() -> impl Strategy<Value = Usage> {
    (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(fuel, gpu_ns, wall_ms)| Usage {
        fuel,
        gpu_ns,
        wall_ms,
    })
}

fn rates() -> impl Strategy<Value = Rates> {
    (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(f, g, w)| Rates {
        per_million_fuel: f,
        per_gpu_second: g,
        per_wall_second: w,
    })
}

/// Small positive increments, so chains stay cumulative without overflowing.
fn increments(max_len: usize) -> impl Strategy<Value = Vec<(u32, u32, u32)>> {
    prop::collection::vec((any::<u32>(), any::<u32>(), any::<u32>()), 1..max_len)
}

fn cumulative(steps: &[(u32, u32, u32)]) -> Vec<Usage> {
    let mut total = Usage::default();
    steps
        .iter()
        .map(|&(f, g, w)| {
            total.fuel += u64::from(f);
            total.gpu_ns += u64::from(g);
            total.wall_ms += u64::from(w);
            total
        })
        .collect()
}

fn receipt() -> impl Strategy<Value = Receipt> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        usage(),
        0..=flags::KNOWN,
    )
        .prop_flat_map(|(job, node, renter, seq, usage, flags)| {
            (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(move |(prev, output)| Receipt {
                version: 1,
                job: PublicKey(job),
                node: PublicKey(node),
                renter: PublicKey(renter),
                seq,
                fuel: usage.fuel,
                gpu_ns: usage.gpu_ns,
                wall_ms: usage.wall_ms,
                flags,
                prev: Digest(prev),
                output: Digest(output),
            })
        })
}

/// The reference cost in wide arithmetic, without any of the library's code.
fn reference_cost(usage: &Usage, rates: &Rates) -> Option<u64> {
    let wide = u128::from(usage.fuel) * u128::from(rates.per_million_fuel) / FUEL_PRICE_UNIT
        + u128::from(usage.gpu_ns) * u128::from(rates.per_gpu_second) / GPU_NS_PRICE_UNIT
        + u128::from(usage.wall_ms) * u128::from(rates.per_wall_second) / WALL_MS_PRICE_UNIT;
    u64::try_from(wide).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn receipt_encoding_round_trips(receipt in receipt()) {
        prop_assert_eq!(Receipt::from_bytes(&receipt.to_bytes()), Ok(receipt));
    }

    #[test]
    fn signed_receipt_encoding_round_trips(
        receipt in receipt(),
        node_sig in any::<[u8; 32]>(),
        renter_sig in prop::option::of(any::<[u8; 32]>()),
    ) {
        let widen = |half: [u8; 32]| { let mut s = [0u8; 64]; s[..32].copy_from_slice(&half); s[32..].copy_from_slice(&half); kiln_protocol::Signature(s) };
        let signed = SignedReceipt {
            receipt,
            node_signature: widen(node_sig),
            renter_signature: renter_sig.map(widen),
        };
        let bytes = signed.to_bytes();
        prop_assert!(bytes.len() <= SignedReceipt::MAX_LEN);
        prop_assert_eq!(SignedReceipt::from_bytes(&bytes), Ok(signed));
    }

    #[test]
    fn cost_matches_wide_reference_and_never_wraps(usage in usage(), rates in rates(), escrow in any::<u64>()) {
        match reference_cost(&usage, &rates) {
            Some(owed) => {
                prop_assert_eq!(usage_cost(&usage, &rates), Ok(owed));
                let parties = Parties { job: PublicKey::ZERO, node: PublicKey::ZERO, renter: PublicKey::ZERO };
                let receipt = Receipt::first(parties, usage, 0, Digest::ZERO);
                let cost = cost(&receipt, &rates, escrow).unwrap();
                prop_assert_eq!(cost.payable, owed.min(escrow));
            }
            None => prop_assert_eq!(usage_cost(&usage, &rates), Err(CostError::Overflow)),
        }
    }

    #[test]
    fn smaller_amounts_never_cost_more(
        high in usage(),
        shrink in (0u64..=u64::MAX, 0u64..=u64::MAX, 0u64..=u64::MAX),
        rates in rates(),
    ) {
        let low = Usage {
            fuel: high.fuel.saturating_sub(shrink.0),
            gpu_ns: high.gpu_ns.saturating_sub(shrink.1),
            wall_ms: high.wall_ms.saturating_sub(shrink.2),
        };
        match (usage_cost(&low, &rates), usage_cost(&high, &rates)) {
            (Ok(low_cost), Ok(high_cost)) => prop_assert!(low_cost <= high_cost),
            // The larger usage may overflow where the smaller does not; never the reverse.
            (Ok(_), Err(CostError::Overflow)) => {}
            (Err(e), high_cost) => prop_assert_eq!(high_cost, Err(e)),
        }
    }

    #[test]
    fn no_receipt_in_a_chain_pays_more_than_the_payable_one(
        steps in increments(8),
        co_signed in 1usize..8,
        rates in (0u64..1_000_000, 0u64..1_000_000, 0u64..1_000_000)
            .prop_map(|(f, g, w)| Rates { per_million_fuel: f, per_gpu_second: g, per_wall_second: w }),
    ) {
        let party = Party::new();
        let usages = cumulative(&steps);
        let co_signed = co_signed.min(usages.len());
        let receipts = party.chain(&usages, co_signed);
        let payable = verify_chain(&receipts).unwrap();
        prop_assert_eq!(payable.receipt.seq, co_signed as u64);
        let paid = cost(&payable.receipt, &rates, u64::MAX).unwrap().payable;
        for earlier in &receipts[..co_signed] {
            prop_assert!(cost(&earlier.receipt, &rates, u64::MAX).unwrap().payable <= paid);
        }
    }

    #[test]
    fn a_node_alone_cannot_make_a_payable_receipt(
        steps in increments(6),
        forged in any::<[u8; 32]>(),
        forge_with_own_key in any::<bool>(),
    ) {
        // Given a node that signs its receipts and fakes the renter's
        // counter-signature, with its own key or with made-up bytes,
        let party = Party::new();
        let mut receipts = party.chain(&cumulative(&steps), 0);
        let last = receipts.len() - 1;
        let message = receipts[last].receipt.signing_message();
        let mut fake = [0u8; 64];
        fake[..32].copy_from_slice(&forged);
        receipts[last].renter_signature = Some(if forge_with_own_key {
            sign(&party.node, &message)
        } else {
            kiln_protocol::Signature(fake)
        });
        // then the chain pays nothing: the forgery is named as the bad link.
        match verify_chain(&receipts) {
            Err(ChainError::BadLink { index, error: LinkError::RenterSignature(_), .. }) => prop_assert_eq!(index, last),
            other => prop_assert!(false, "expected a bad renter signature, got {:?}", other),
        }
        // And with no counter-signature at all, nothing is payable.
        receipts[last].renter_signature = None;
        prop_assert_eq!(verify_chain(&receipts), Err(ChainError::NothingCoSigned { len: receipts.len() }));
    }

    #[test]
    fn a_renter_alone_cannot_make_a_payable_receipt(steps in increments(6), seed in 10u8..255) {
        // Given a renter that writes receipts naming a node and signs them
        // both as itself and with a key that is not the node's,
        let party = Party::new();
        let impostor = key(seed);
        let mut receipts = party.chain(&cumulative(&steps), 0);
        for signed in &mut receipts {
            let message = signed.receipt.signing_message();
            signed.node_signature = sign(&impostor, &message);
            signed.renter_signature = Some(sign(&party.renter, &message));
        }
        // then the very first receipt is refused for its node signature.
        match verify_chain(&receipts) {
            Err(ChainError::BadLink { index: 0, error: LinkError::NodeSignature(_), .. }) => {}
            other => prop_assert!(false, "expected a bad node signature, got {:?}", other),
        }
        prop_assert_ne!(public_key(&impostor), party.parties().node);
    }

    #[test]
    fn an_appended_lower_seq_or_smaller_amount_is_refused(steps in increments(5), back in 0u64..5) {
        let party = Party::new();
        let mut receipts = party.co_signed_chain(&cumulative(&steps));
        let last = receipts.last().unwrap().receipt;
        let co_sign = |receipt: Receipt| {
            let mut signed = SignedReceipt::signed_by_node(receipt, &party.node).unwrap();
            signed.counter_sign(&party.renter).unwrap();
            signed
        };
        let linked = Receipt { seq: last.seq + 1, prev: last.digest(), ..last };

        // A replayed older seq, properly linked and signed by both, is refused.
        let replay = Receipt { seq: last.seq - back % last.seq, ..linked };
        receipts.push(co_sign(replay));
        let result = verify_chain(&receipts);
        let refused = matches!(result, Err(ChainError::BadLink { error: LinkError::SeqNotIncreasing { .. }, .. }));
        prop_assert!(refused, "{:?}", result);

        // So is a newer seq that carries less fuel than the one before it.
        receipts.pop();
        if last.fuel > 0 {
            receipts.push(co_sign(Receipt { fuel: last.fuel - 1 - back.min(last.fuel - 1), ..linked }));
            let result = verify_chain(&receipts);
            let refused = matches!(result, Err(ChainError::BadLink { error: LinkError::AmountDecreased { .. }, .. }));
            prop_assert!(refused, "{:?}", result);
        }
    }

    #[test]
    fn any_single_byte_change_is_refused_or_fails_verification(
        steps in increments(3),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let party = Party::new();
        let receipts = party.co_signed_chain(&cumulative(&steps));
        let original = *receipts.last().unwrap();
        let mut bytes = original.to_bytes();
        let at = position.index(bytes.len());
        bytes[at] ^= flip;
        match SignedReceipt::from_bytes(&bytes) {
            Err(_) => {}
            Ok(mutated) => {
                prop_assert_ne!(mutated, original);
                let mut chain = receipts.clone();
                *chain.last_mut().unwrap() = mutated;
                // A change that still decodes is refused as the chain's last link
                // (a changed field breaks a link rule or a signature).
                let result = verify_chain(&chain);
                let last = chain.len() - 1;
                let refused = matches!(result, Err(ChainError::BadLink { index, .. }) if index == last);
                prop_assert!(refused, "{:?}", result);
            }
        }
    }

    #[test]
    fn strict_prefixes_are_truncated(steps in increments(2), cut in any::<prop::sample::Index>()) {
        let party = Party::new();
        let bytes = party.co_signed_chain(&cumulative(&steps))[0].to_bytes();
        let len = cut.index(bytes.len());
        prop_assert_eq!(SignedReceipt::from_bytes(&bytes[..len]), Err(DecodeError::Truncated));
        let manifest = SignedManifest::sign(sample_manifest(&party.node), &party.node).unwrap().to_bytes();
        let len = cut.index(manifest.len());
        prop_assert_eq!(SignedManifest::from_bytes(&manifest[..len]), Err(DecodeError::Truncated));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Receipt::from_bytes(&bytes);
        let _ = SignedReceipt::from_bytes(&bytes);
        let _ = SignedManifest::from_bytes(&bytes);
        let _ = JobSpec::from_bytes(&bytes);
        // With a valid version byte in front, the decoders get past the first check.
        let mut versioned = vec![1u8];
        versioned.extend_from_slice(&bytes);
        if let Ok(signed) = SignedReceipt::from_bytes(&versioned) {
            let _ = verify_chain(&[signed]);
        }
        if let Ok(manifest) = SignedManifest::from_bytes(&versioned) {
            let _ = manifest.verify();
        }
        let _ = JobSpec::from_bytes(&versioned);
    }

    #[test]
    fn manifest_and_job_spec_round_trip(seed in 1u8..255, cores in 1u16..512, input in 0u64..1_000_000) {
        let node = key(seed);
        let mut manifest = sample_manifest(&node);
        manifest.cpu.cores = cores;
        let signed = SignedManifest::sign(manifest, &node).unwrap();
        prop_assert_eq!(SignedManifest::from_bytes(&signed.to_bytes()), Ok(signed));
        let spec = JobSpec { input_size: input, ..sample_job_spec() };
        prop_assert_eq!(JobSpec::from_bytes(&spec.to_bytes()), Ok(spec));
    }
}
