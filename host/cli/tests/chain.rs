//! `kiln chain …` as an operator runs it: the real binary, one process per
//! command, against the embedded chain (the real settlement ELF in LiteSVM)
//! whose state file carries balances from one command to the next.

use std::path::{Path, PathBuf};
use std::process::Output;

use kiln_protocol::signing::public_key;
use kiln_protocol::{Digest, Parties, PublicKey, Receipt, SignedReceipt, Usage};
use kiln_settlement::keys::{create_keypair, read_keypair, signing_key};
use serde_json::Value;

/// Exit code of a command the program refused (`EXIT_PROGRAM_REFUSED`).
const REFUSED: i32 = 3;
/// Exit code of a command line or input that could not be used.
const USAGE: i32 = 2;
const SOL: u64 = 1_000_000_000;

struct Chain {
    dir: tempfile::TempDir,
}

impl Chain {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new keypair file (0600).
    fn key(&self, name: &str) -> String {
        let path = self.path(name);
        create_keypair(&path).unwrap();
        path.display().to_string()
    }

    fn kiln(&self, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .arg("chain")
            .arg("--embedded")
            .arg(self.path("chain.json"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed with `--json` and returns its object.
    fn ok(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let output = self.kiln(&args);
        assert!(
            output.status.success(),
            "kiln chain {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Runs a command that must fail with `code`, returning its stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let output = self.kiln(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(code),
            "kiln chain {args:?}: {stderr}"
        );
        stderr
    }

    fn balance(&self, address: &str) -> u64 {
        self.ok(&["show", "balance", address])["balance"]
            .as_u64()
            .unwrap()
    }
}

/// A receipt for `job` at `seq`, signed by the node key file and, when
/// `renter` is given, counter-signed by that keypair file.
fn receipt(job: &str, node_key: &Path, renter: &Path, seq: u64, usage: Usage) -> SignedReceipt {
    let node = signing_key(&read_keypair(node_key).unwrap());
    let renter = signing_key(&read_keypair(renter).unwrap());
    let job: solana_address::Address = job.parse().unwrap();
    let parties = Parties {
        job: PublicKey(job.to_bytes()),
        node: public_key(&node),
        renter: public_key(&renter),
    };
    let mut receipt = Receipt::first(parties, usage, 0, Digest::ZERO);
    receipt.seq = seq;
    let mut signed = SignedReceipt::signed_by_node(receipt, &node).unwrap();
    signed.counter_sign(&renter).unwrap();
    signed
}

/// 100 s of wall time at 100 lamports/s: 10 000 lamports.
fn wall_seconds(seconds: u64) -> Usage {
    Usage {
        fuel: 0,
        gpu_ns: 0,
        wall_ms: seconds * 1_000,
    }
}

#[test]
fn a_job_lives_its_whole_life_through_the_cli_and_the_state_file() {
    let chain = Chain::new();
    let admin = chain.path("admin.json").display().to_string();
    let scheduler = chain.key("scheduler.json");
    let operator = chain.key("operator.json");
    let node_key = chain.key("node.json");
    let renter = chain.key("renter.json");

    // `init` creates the admin key; the airdrop pays for it.
    chain.ok(&["init", "--admin", &admin, "--scheduler", &scheduler]);
    assert!(
        std::fs::metadata(&admin).is_ok(),
        "init created the admin keypair"
    );
    let config = chain.ok(&["show", "config"]);
    assert_eq!(config["fee_bps"], 250);
    for who in [&operator, &renter, &scheduler] {
        chain.ok(&[
            "airdrop",
            "--to",
            who,
            "--lamports",
            &(100 * SOL).to_string(),
        ]);
    }

    chain.ok(&[
        "node",
        "register",
        "--operator",
        &operator,
        "--receipt-key",
        &node_key,
        "--class",
        "2",
        "--region",
        "eu-west",
        "--floor",
        "10,1000,100",
    ]);
    chain.ok(&[
        "stake",
        "--operator",
        &operator,
        "--lamports",
        &(2 * SOL).to_string(),
    ]);
    let node = chain.ok(&["show", "node", &operator]);
    assert_eq!(node["stake"], 2 * SOL);
    assert_eq!(node["region"], "eu-west");
    chain.ok(&[
        "node",
        "update",
        "--operator",
        &operator,
        "--receipt-key",
        &node_key,
        "--class",
        "3",
        "--region",
        "eu-north",
        "--floor",
        "10,1000,100",
    ]);
    let node = chain.ok(&["show", "node", &operator]);
    assert_eq!(
        (node["region"].as_str(), node["class"].as_u64()),
        (Some("eu-north"), Some(3))
    );

    // Rates below the node's floor are refused by the program, by name.
    let stderr = chain.fails(
        &[
            "job",
            "open",
            "--renter",
            &renter,
            "--operator",
            &operator,
            "--node-receipt-key",
            &node_key,
            "--job-id",
            "1",
            "--escrow",
            &SOL.to_string(),
            "--rates",
            "1,1,1",
        ],
        REFUSED,
    );
    assert!(stderr.contains("RatesBelowFloor"), "{stderr}");

    let renter_before = chain.balance(&renter);
    let opened = chain.ok(&[
        "job",
        "open",
        "--renter",
        &renter,
        "--operator",
        &operator,
        "--node-receipt-key",
        &node_key,
        "--job-id",
        "7",
        "--escrow",
        &SOL.to_string(),
        "--rates",
        "10,1000,100",
    ]);
    let job = opened["job"].as_str().unwrap().to_string();

    // Claim seq 1 (100 s → 10 000 lamports) from a receipt file.
    let file = chain.path("r1.bin");
    let r1 = receipt(
        &job,
        Path::new(&node_key),
        Path::new(&renter),
        1,
        wall_seconds(100),
    );
    std::fs::write(&file, r1.to_bytes()).unwrap();
    let claimed = chain.ok(&[
        "claim",
        "--payer",
        &operator,
        "--receipt",
        file.to_str().unwrap(),
    ]);
    assert!(claimed["compute_units"].as_u64().unwrap() > 0);
    let state = chain.ok(&["show", "job", &job]);
    assert_eq!(
        (state["paid"].as_u64(), state["last_paid_seq"].as_u64()),
        (Some(10_000), Some(1))
    );

    // The same receipt again is stale.
    let stderr = chain.fails(
        &[
            "claim",
            "--payer",
            &operator,
            "--receipt",
            file.to_str().unwrap(),
        ],
        REFUSED,
    );
    assert!(stderr.contains("StaleReceipt"), "{stderr}");

    // Close with the final receipt (300 s → 30 000 in all): the renter gets the rest back.
    let last = chain.path("r2.bin");
    let r2 = receipt(
        &job,
        Path::new(&node_key),
        Path::new(&renter),
        2,
        wall_seconds(300),
    );
    std::fs::write(&last, r2.to_bytes()).unwrap();
    chain.ok(&[
        "close",
        "--signer",
        &operator,
        "--job",
        &job,
        "--receipt",
        last.to_str().unwrap(),
    ]);
    let treasury = chain.ok(&["show", "treasury"]);
    assert_eq!(treasury["fees"], 30_000 * 250 / 10_000);
    let rent_and_fees = renter_before - chain.balance(&renter);
    assert!(
        (30_000..30_000 + SOL / 100).contains(&rent_and_fees),
        "the renter paid 30 000 plus transaction fees, not {rent_and_fees}"
    );
    chain.fails(&["show", "job", &job], USAGE);

    // The scheduler slashes 5 %; more than the 10 % cap is refused.
    let evidence = "ab".repeat(32);
    chain.ok(&[
        "fault",
        "--scheduler",
        &scheduler,
        "--operator",
        &operator,
        "--slash-bps",
        "500",
        "--evidence",
        &evidence,
    ]);
    let stderr = chain.fails(
        &[
            "fault",
            "--scheduler",
            &scheduler,
            "--operator",
            &operator,
            "--slash-bps",
            "5000",
            "--evidence",
            &evidence,
        ],
        REFUSED,
    );
    assert!(stderr.contains("SlashOverCap"), "{stderr}");
    let stderr = chain.fails(
        &[
            "fault",
            "--scheduler",
            &renter,
            "--operator",
            &operator,
            "--slash-bps",
            "1",
            "--evidence",
            &evidence,
        ],
        REFUSED,
    );
    assert!(stderr.contains("Unauthorized"), "{stderr}");
    let node = chain.ok(&["show", "node", &operator]);
    assert_eq!(
        (node["stake"].as_u64(), node["faults"].as_u64()),
        (Some(2 * SOL * 95 / 100), Some(1))
    );

    // Unstaking starts a 7-day cooldown; withdrawing now is refused.
    chain.ok(&[
        "unstake",
        "--operator",
        &operator,
        "--lamports",
        &SOL.to_string(),
    ]);
    let stderr = chain.fails(&["withdraw", "--operator", &operator], REFUSED);
    assert!(stderr.contains("CooldownNotElapsed"), "{stderr}");
    chain.ok(&["advance-clock", "--seconds", &(7 * 86_400 + 1).to_string()]);
    let before = chain.balance(&operator);
    chain.ok(&["withdraw", "--operator", &operator]);
    assert!(
        chain.balance(&operator) > before + SOL - SOL / 100,
        "the unstaked SOL came back"
    );
}

#[test]
fn an_expired_job_refunds_its_renter_after_the_grace() {
    let chain = Chain::new();
    let admin = chain.path("admin.json").display().to_string();
    let scheduler = chain.key("scheduler.json");
    let operator = chain.key("operator.json");
    let node_key = chain.key("node.json");
    let renter = chain.key("renter.json");
    chain.ok(&[
        "init",
        "--admin",
        &admin,
        "--scheduler",
        &scheduler,
        "--grace-s",
        "60",
    ]);
    for who in [&operator, &renter] {
        chain.ok(&[
            "airdrop",
            "--to",
            who,
            "--lamports",
            &(10 * SOL).to_string(),
        ]);
    }
    chain.ok(&[
        "node",
        "register",
        "--operator",
        &operator,
        "--receipt-key",
        &node_key,
        "--class",
        "0",
        "--region",
        "us",
        "--floor",
        "1,1,1",
    ]);
    chain.ok(&[
        "stake",
        "--operator",
        &operator,
        "--lamports",
        &SOL.to_string(),
    ]);
    let opened = chain.ok(&[
        "job",
        "open",
        "--renter",
        &renter,
        "--operator",
        &operator,
        "--node-receipt-key",
        &node_key,
        "--job-id",
        "1",
        "--escrow",
        &SOL.to_string(),
        "--rates",
        "1,1,1",
        "--deadline-in-s",
        "100",
    ]);
    let job = opened["job"].as_str().unwrap().to_string();

    let stderr = chain.fails(&["expire", "--payer", &operator, "--job", &job], REFUSED);
    assert!(stderr.contains("JobNotExpired"), "{stderr}");
    chain.ok(&["advance-clock", "--seconds", "161"]);
    let before = chain.balance(&renter);
    chain.ok(&["expire", "--payer", &operator, "--job", &job]);
    assert!(
        chain.balance(&renter) >= before + SOL,
        "escrow and rent refunded"
    );
    chain.fails(&["show", "job", &job], USAGE);
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let chain = Chain::new();
    let admin = chain.path("admin.json").display().to_string();
    let scheduler = chain.key("scheduler.json");
    chain.ok(&["init", "--admin", &admin, "--scheduler", &scheduler]);

    // A receipt file that is not a receipt.
    let junk = chain.path("junk.bin");
    std::fs::write(&junk, b"not a receipt").unwrap();
    let stderr = chain.fails(
        &[
            "claim",
            "--payer",
            &admin,
            "--receipt",
            junk.to_str().unwrap(),
        ],
        USAGE,
    );
    assert!(stderr.contains("not a signed receipt"), "{stderr}");

    // A key readable by others is refused before anything is sent.
    let loose = chain.key("loose.json");
    std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let stderr = chain.fails(&["stake", "--operator", &loose, "--lamports", "1"], USAGE);
    assert!(
        stderr.contains("0600") || stderr.contains("mode"),
        "{stderr}"
    );

    // Evidence that is not a hash.
    let stderr = chain.fails(
        &[
            "fault",
            "--scheduler",
            &scheduler,
            "--operator",
            &admin,
            "--slash-bps",
            "1",
            "--evidence",
            "xyz",
        ],
        USAGE,
    );
    assert!(stderr.contains("64 hex digits"), "{stderr}");

    // A second init is refused by the program, and the config is unchanged.
    let stderr = chain.fails(
        &[
            "init",
            "--admin",
            &admin,
            "--scheduler",
            &scheduler,
            "--fee-bps",
            "9",
        ],
        REFUSED,
    );
    assert!(stderr.contains("AccountAlreadyExists"), "{stderr}");
    assert_eq!(chain.ok(&["show", "config"])["fee_bps"], 250);
}

#[test]
fn an_unreachable_cluster_is_said_plainly() {
    // Port 9 (discard) on loopback: nothing answers JSON-RPC there.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["chain", "--rpc", "http://127.0.0.1:9", "show", "config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(USAGE), "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
}

#[test]
fn no_backend_is_a_usage_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["chain", "show", "config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(USAGE), "{stderr}");
    assert!(stderr.contains("--rpc URL or --embedded"), "{stderr}");
}
