//! Fixed test vectors in `tests/vectors/protocol-v1.json`, so other
//! implementations (a TypeScript verifier, the on-chain program) can check
//! themselves byte for byte.
//!
//! The vectors are generated here from fixed seeds (ed25519 signatures are
//! deterministic). The test fails when the file and the code disagree, which
//! is what catches an accidental wire-format change. After an intended change,
//! regenerate with `KILN_BLESS_VECTORS=1 cargo test -p kiln-protocol vectors`.
//! Independently of generation, every vector in the file is decoded and
//! verified to produce the outcome it states.

use std::path::PathBuf;

use kiln_protocol::receipt::{RECEIPT_DOMAIN, flags};
use kiln_protocol::signing::public_key;
use kiln_protocol::{
    ChainError, DecodeError, JobSpec, LinkError, Rates, SignedManifest, SignedReceipt, Usage, cost,
    proof_of_execution, verify_chain,
};
use serde_json::{Value, json};

use crate::common::{Party, key, sample_job_spec, sample_manifest};

const RATES: Rates = Rates {
    per_million_fuel: 25,
    per_gpu_second: 3_000_000,
    per_wall_second: 100,
};
const ESCROW: u64 = 5_000_000;
const RESULT: &[u8] = b"hello, kiln";

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/protocol-v1.json")
}

fn link_error_name(error: &LinkError) -> &'static str {
    match error {
        LinkError::Invalid(_) => "Invalid",
        LinkError::JobMismatch { .. } => "JobMismatch",
        LinkError::NodeMismatch { .. } => "NodeMismatch",
        LinkError::RenterMismatch { .. } => "RenterMismatch",
        LinkError::SeqNotIncreasing { .. } => "SeqNotIncreasing",
        LinkError::AmountDecreased { .. } => "AmountDecreased",
        LinkError::BrokenLink { .. } => "BrokenLink",
        LinkError::NodeSignature(_) => "NodeSignature",
        LinkError::RenterSignature(_) => "RenterSignature",
    }
}

fn decode_error_name(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::Truncated => "Truncated",
        DecodeError::TrailingBytes { .. } => "TrailingBytes",
        DecodeError::UnsupportedVersion { .. } => "UnsupportedVersion",
        DecodeError::Malformed => "Malformed",
        DecodeError::InvalidField { .. } => "InvalidField",
    }
}

fn chain_outcome(receipts: &[SignedReceipt]) -> Value {
    match verify_chain(receipts) {
        Ok(payable) => json!({ "payable_seq": payable.receipt.seq }),
        Err(ChainError::BadLink { index, error, .. }) => {
            json!({ "bad_index": index, "error": link_error_name(&error) })
        }
        Err(ChainError::Empty) => json!({ "error": "Empty" }),
        Err(ChainError::NothingCoSigned { .. }) => json!({ "error": "NothingCoSigned" }),
    }
}

fn generate() -> Value {
    let party = Party::new();
    let usages = [
        Usage {
            fuel: 1_500_000,
            gpu_ns: 250_000_000,
            wall_ms: 1_000,
        },
        Usage {
            fuel: 3_000_000,
            gpu_ns: 500_000_000,
            wall_ms: 2_000,
        },
        Usage {
            fuel: 3_250_000,
            gpu_ns: 700_000_000,
            wall_ms: 2_400,
        },
    ];
    let mut chain = party.chain(&usages, 0);
    // The final receipt carries the proof of execution and host-timed GPU usage.
    let parties = party.parties();
    let proof = proof_of_execution(&parties.job, RESULT, &parties.node);
    let final_receipt = chain[1]
        .receipt
        .next(usages[2], flags::GPU_TIME_HOST_MEASURED, proof)
        .unwrap();
    chain[2] = SignedReceipt::signed_by_node(final_receipt, &party.node).unwrap();
    // The renter counter-signed the first and the final receipt, not the second.
    chain[0].counter_sign(&party.renter).unwrap();
    chain[2].counter_sign(&party.renter).unwrap();

    let receipts: Vec<Value> = chain
        .iter()
        .map(|signed| {
            let r = &signed.receipt;
            let cost = cost(r, &RATES, ESCROW).unwrap();
            json!({
                "seq": r.seq, "fuel": r.fuel, "gpu_ns": r.gpu_ns, "wall_ms": r.wall_ms,
                "flags": r.flags, "prev": r.prev.to_string(), "output": r.output.to_string(),
                "receipt_bytes": hex::encode(r.to_bytes()),
                "signing_message": hex::encode(r.signing_message()),
                "digest": r.digest().to_string(),
                "node_signature": signed.node_signature.to_string(),
                "renter_signature": signed.renter_signature.map(|s| s.to_string()),
                "signed_bytes": hex::encode(signed.to_bytes()),
                "cost": { "owed": cost.owed, "payable": cost.payable },
            })
        })
        .collect();

    let signed_hex = |receipts: &[SignedReceipt]| -> Vec<String> {
        receipts.iter().map(|s| hex::encode(s.to_bytes())).collect()
    };
    let mut tampered = chain.clone();
    tampered[2].receipt.fuel -= 1; // Signatures no longer match.
    let mut reordered = chain.clone();
    reordered.swap(1, 2);
    let mut forged = chain.clone();
    forged[1].renter_signature = Some(kiln_protocol::signing::sign(
        &party.node,
        &forged[1].receipt.signing_message(),
    ));
    let bad_chains: Vec<Value> = [
        ("tampered-fuel", tampered),
        ("reordered", reordered),
        ("counter-signature-forged-by-node", forged),
        ("node-signed-only", party.chain(&usages, 0)),
    ]
    .into_iter()
    .map(|(name, receipts)| {
        json!({ "name": name, "receipts": signed_hex(&receipts), "outcome": chain_outcome(&receipts) })
    })
    .collect();

    let valid = chain[0].to_bytes();
    let mut wrong_version = valid.clone();
    wrong_version[0] = 2;
    let mut bad_tag = valid.clone();
    bad_tag[kiln_protocol::receipt::RECEIPT_LEN + 64] = 2;
    let mut reserved_flag = valid.clone();
    reserved_flag[1 + 3 * 32 + 4 * 8] = 0x02;
    let mut trailing = valid.clone();
    trailing.push(0);
    let invalid: Vec<Value> = [
        ("empty", Vec::new()),
        ("truncated", valid[..100].to_vec()),
        ("unknown-version", wrong_version),
        ("bad-option-tag", bad_tag),
        ("reserved-flag", reserved_flag),
        ("trailing-byte", trailing),
    ]
    .into_iter()
    .map(|(name, bytes)| {
        let error = SignedReceipt::from_bytes(&bytes).expect_err("vector must be invalid");
        json!({ "name": name, "signed_bytes": hex::encode(&bytes), "error": decode_error_name(&error) })
    })
    .collect();

    let manifest = SignedManifest::sign(sample_manifest(&party.node), &party.node).unwrap();
    let spec = sample_job_spec();
    json!({
        "description": "Kiln protocol v1 test vectors. Keys are ed25519 seeds; every hex string is lowercase. Generated by sdk/protocol/tests/all/vectors.rs.",
        "receipt_domain": hex::encode(RECEIPT_DOMAIN),
        "node_seed": hex::encode([1u8; 32]),
        "node_public": public_key(&party.node).to_string(),
        "renter_seed": hex::encode([2u8; 32]),
        "renter_public": public_key(&party.renter).to_string(),
        "job": parties.job.to_string(),
        "rates": { "per_million_fuel": RATES.per_million_fuel, "per_gpu_second": RATES.per_gpu_second, "per_wall_second": RATES.per_wall_second },
        "escrow": ESCROW,
        "chain": { "receipts": receipts, "outcome": chain_outcome(&chain) },
        "proof_of_execution": { "result": hex::encode(RESULT), "digest": proof.to_string() },
        "bad_chains": bad_chains,
        "invalid_receipts": invalid,
        "manifest": { "signed_bytes": hex::encode(manifest.to_bytes()), "signature": manifest.signature.to_string() },
        "job_spec": { "bytes": hex::encode(spec.to_bytes()), "digest": spec.digest().to_string() },
    })
}

fn unhex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().expect("hex string")).expect("valid hex")
}

fn signed_receipts(values: &[Value]) -> Vec<SignedReceipt> {
    values
        .iter()
        .map(|v| SignedReceipt::from_bytes(&unhex(v)).unwrap())
        .collect()
}

#[test]
fn vectors_file_matches_the_code() {
    let generated = generate();
    let path = path();
    if std::env::var_os("KILN_BLESS_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let text = std::fs::read_to_string(&path).expect("tests/vectors/protocol-v1.json exists");
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert!(
        stored == generated,
        "the wire format changed: the code no longer produces {}; if intended, rerun with KILN_BLESS_VECTORS=1",
        path.display()
    );
}

#[test]
fn every_vector_in_the_file_verifies_as_stated() {
    let text = std::fs::read_to_string(path()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();

    // Keys derive from their seeds.
    let node = key(unhex(&v["node_seed"])[0]);
    assert_eq!(public_key(&node).to_string(), v["node_public"]);

    // The good chain: each receipt decodes, re-encodes, signs, hashes and costs as stated.
    let rates = Rates {
        per_million_fuel: v["rates"]["per_million_fuel"].as_u64().unwrap(),
        per_gpu_second: v["rates"]["per_gpu_second"].as_u64().unwrap(),
        per_wall_second: v["rates"]["per_wall_second"].as_u64().unwrap(),
    };
    let escrow = v["escrow"].as_u64().unwrap();
    let entries = v["chain"]["receipts"].as_array().unwrap();
    let signed_values: Vec<Value> = entries.iter().map(|e| e["signed_bytes"].clone()).collect();
    let chain = signed_receipts(&signed_values);
    for (entry, signed) in entries.iter().zip(&chain) {
        let receipt = &signed.receipt;
        assert_eq!(hex::encode(receipt.to_bytes()), entry["receipt_bytes"]);
        assert_eq!(
            hex::encode(receipt.signing_message()),
            entry["signing_message"]
        );
        assert_eq!(receipt.digest().to_string(), entry["digest"]);
        assert_eq!(receipt.fuel, entry["fuel"].as_u64().unwrap());
        let cost = cost(receipt, &rates, escrow).unwrap();
        assert_eq!(cost.owed, entry["cost"]["owed"].as_u64().unwrap());
        assert_eq!(cost.payable, entry["cost"]["payable"].as_u64().unwrap());
        signed.verify_node_signature().unwrap();
    }
    assert_eq!(chain_outcome(&chain), v["chain"]["outcome"]);
    let last = chain.last().unwrap().receipt;
    let proof = proof_of_execution(
        &last.job,
        &unhex(&v["proof_of_execution"]["result"]),
        &last.node,
    );
    assert_eq!(proof.to_string(), v["proof_of_execution"]["digest"]);
    assert_eq!(last.output, proof);

    for bad in v["bad_chains"].as_array().unwrap() {
        let receipts = signed_receipts(bad["receipts"].as_array().unwrap());
        assert_eq!(chain_outcome(&receipts), bad["outcome"], "{}", bad["name"]);
        assert!(verify_chain(&receipts).is_err(), "{}", bad["name"]);
    }
    for bad in v["invalid_receipts"].as_array().unwrap() {
        let error = SignedReceipt::from_bytes(&unhex(&bad["signed_bytes"])).unwrap_err();
        assert_eq!(decode_error_name(&error), bad["error"], "{}", bad["name"]);
    }

    let manifest = SignedManifest::from_bytes(&unhex(&v["manifest"]["signed_bytes"])).unwrap();
    manifest.verify().unwrap();
    let spec = JobSpec::from_bytes(&unhex(&v["job_spec"]["bytes"])).unwrap();
    assert_eq!(spec.digest().to_string(), v["job_spec"]["digest"]);
}
