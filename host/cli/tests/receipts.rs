//! `kiln receipts verify` and `kiln keys new` through the real binary: exit 0
//! for a good file, exit 1 naming the first bad receipt otherwise.

use std::process::Output;

use kiln_client::ReceiptsFile;
use kiln_protocol::signing::{SigningKey, public_key};
use kiln_protocol::{Digest, Parties, PublicKey, Rates, Receipt, SignedReceipt, Usage};

fn kiln(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("kiln runs")
}

/// Three chained receipts, all counter-signed.
fn receipts() -> ReceiptsFile {
    let node = SigningKey::from_bytes(&[7; 32]);
    let renter = SigningKey::from_bytes(&[9; 32]);
    let parties = Parties {
        job: PublicKey([1; 32]),
        node: public_key(&node),
        renter: public_key(&renter),
    };
    let rates = Rates {
        per_million_fuel: 10,
        per_gpu_second: 0,
        per_wall_second: 1_000,
    };
    let mut chain = Vec::new();
    let mut last: Option<Receipt> = None;
    for step in 1..=3u64 {
        let usage = Usage {
            fuel: step * 1_000_000,
            gpu_ns: 0,
            wall_ms: step * 100,
        };
        let receipt = match &last {
            None => Receipt::first(parties, usage, 0, Digest::ZERO),
            Some(previous) => previous.next(usage, 0, Digest::ZERO).unwrap(),
        };
        let mut signed = SignedReceipt::signed_by_node(receipt, &node).unwrap();
        signed.counter_sign(&renter).unwrap();
        chain.push(signed);
        last = Some(receipt);
    }
    ReceiptsFile::new(
        parties.job,
        parties.node,
        parties.renter,
        rates,
        1_000_000,
        &chain,
    )
}

#[test]
fn a_good_file_verifies_and_a_tampered_one_names_its_first_bad_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    let file = receipts();
    file.write(&good).unwrap();
    let out = kiln(&["receipts", "verify", good.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["payable_seq"], 3);
    // 3 M fuel at 10 per M + 300 ms at 1000 per s.
    assert_eq!(report["owed"], 30 + 300);

    let mut bad = file.clone();
    let mut bytes = hex::decode(&bad.receipts[2]).unwrap();
    bytes[1 + 96 + 8] ^= 1; // the third receipt's fuel
    bad.receipts[2] = hex::encode(bytes);
    let tampered = dir.path().join("tampered.json");
    bad.write(&tampered).unwrap();
    let out = kiln(&["receipts", "verify", tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("receipt #2 (seq 3)"), "{text}");

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"{not json").unwrap();
    let out = kiln(&["receipts", "verify", garbage.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "unusable input is a usage error"
    );
}

#[test]
fn keys_new_writes_a_0600_keypair_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("renter.json");
    let out = kiln(&["keys", "new", "--out", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = kiln(&["keys", "new", "--out", path.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "an existing key is never overwritten"
    );
}
