//! The whole network as separate processes on one machine, set up exactly as
//! the README's "The same network as separate processes" runs it: `kiln
//! chain serve` (the real settlement ELF in LiteSVM behind JSON-RPC), the
//! chain set up with one-shot `kiln chain … --rpc` commands, `kiln scheduler
//! serve`, two `kiln node run` and a renter's `kiln job submit`, each its own
//! process of the built binary, talking over loopback HTTP, WebSockets and
//! JSON-RPC.
//!
//! Every child is killed when the test ends, however it ends ([`Children`]);
//! servers listen on port 0 and the tests read the address from their ready
//! line, so nothing races for a port. No assertion is about time: waits are
//! generous and fail naming what was awaited, with every child's stderr.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// Longest a server or node may take to print its ready line: a debug build
/// on a loaded two-core machine compiles nothing at start, but the node
/// probes the GPU (lavapipe) first.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// `kiln chain serve` on the embedded chain in the test's dir, on a free
/// port, its ready line as JSON.
const CHAIN_SERVE: &[&str] = &[
    "chain",
    "--embedded",
    "chain.json",
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--json",
];

/// Lamports each operator and the admin start with.
const OPERATOR_AIRDROP: u64 = 20_000_000_000;
/// Lamports each node key gets for the fees of the escrow closes it signs.
const NODE_FEES_AIRDROP: u64 = 100_000_000;

/// The keypair file of `node`'s operator, beside (not in) its data dir.
fn operator_file(node: &str) -> String {
    format!("{node}-operator.json")
}
/// What each node stakes (and declares to the scheduler): 1 SOL, tier 0,
/// one job at a time. That is the case that once stalled the kill test: the
/// scheduler requeues a killed node's job and may propose it to the
/// surviving node's only slot just as the renter abandons it, and a cancel
/// signed for the old attempt was refused as stale, so the proposal held
/// the slot until it expired two minutes later. The renter now retries the
/// cancel at the current attempt (`kiln_client::job::MAX_CANCEL_TRIES`);
/// without that, this test waits out the proposal and times out.
const NODE_STAKE: u64 = 1_000_000_000;
/// The treasury's cut, `kiln chain init`'s default.
const FEE_BPS: u64 = 250;
/// Lamports a transaction's fee payer pays per signature (precompile
/// signatures included) on LiteSVM, as on mainnet.
const LAMPORTS_PER_SIGNATURE: u64 = 5_000;
/// The nodes' price floor: per million fuel, per GPU second, per wall second.
/// High enough that a small matmul pays the node more than it spends on the
/// closing transaction's fee, so "the node was paid" shows in its balance.
const FLOOR: &str = "20000,2000000,100000";
/// The renter's most per million fuel, per GPU second, per wall second.
const MAX_RATE: &str = "50000,5000000,200000";

/// Children that are killed (SIGKILL) and reaped when dropped, so a failed
/// assertion leaves no server behind. Their stderr goes to files in the
/// test's directory, quoted in failure messages.
struct Children {
    dir: PathBuf,
    running: Vec<(String, Child)>,
}

impl Children {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            running: Vec::new(),
        }
    }

    /// Starts `kiln ARGS` as `name` and waits for the first line it prints
    /// on stdout; returns that line. Later stdout is drained and dropped.
    fn start(&mut self, name: &str, args: &[&str]) -> String {
        let stderr = std::fs::File::create(self.stderr_path(name)).unwrap();
        let mut child = kiln(&self.dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {name}: {error}"));
        let stdout = child.stdout.take().expect("piped");
        self.running.push((name.to_owned(), child));
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = line_tx.send(first);
            // Keep the pipe open and empty, so the child never blocks on it.
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        match line_rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) if !line.is_empty() => line,
            Ok(_) => panic!("{name} exited before it was ready\n{}", self.stderrs()),
            Err(_) => panic!(
                "{name} printed no ready line within {READY_TIMEOUT:?}\n{}",
                self.stderrs()
            ),
        }
    }

    /// Kills `name` with SIGKILL, as a crash would.
    fn kill(&mut self, name: &str) {
        if let Some((_, child)) = self.running.iter_mut().find(|(n, _)| n == name) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stderr_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.stderr"))
    }

    /// Every child's stderr, for a failure message.
    fn stderrs(&self) -> String {
        self.running
            .iter()
            .map(|(name, _)| {
                let text = std::fs::read_to_string(self.stderr_path(name)).unwrap_or_default();
                format!("--- {name} stderr ---\n{text}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A child outside [`Children`] (whose output the test reads at the end),
/// killed if the test fails first.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The built `kiln`, run in `dir` with nothing from the environment that
/// would point it elsewhere (a `kiln.toml` is looked up in the working dir).
fn kiln(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
    command
        .current_dir(dir)
        .env_remove("KILN_CONFIG")
        .env_remove("KILN_SCHEDULER")
        .env_remove("KILN_RPC")
        .env_remove("KILN_KEY");
    command
}

/// A network's processes and the commands run against it.
struct Network {
    dir: tempfile::TempDir,
    children: Children,
    rpc: String,
    scheduler: String,
}

impl Network {
    /// `kiln chain serve` on a fresh state file, and the chain set up with
    /// the CLI: the admin funded, `kiln chain init`, then for each of
    /// `nodes` a node dir with its keys, funded, registered and staked.
    fn new(nodes: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut children = Children::new(dir.path());
        let ready = children.start("chain", CHAIN_SERVE);
        let ready: Value = serde_json::from_str(&ready)
            .unwrap_or_else(|error| panic!("chain serve's ready line {ready:?}: {error}"));
        let rpc = ready["url"].as_str().expect("a url").to_owned();
        let network = Self {
            dir,
            children,
            rpc,
            scheduler: String::new(),
        };
        network.ok(&["keys", "new", "--out", "admin.json"]);
        network.chain(&[
            "airdrop",
            "--to",
            "admin.json",
            "--lamports",
            &OPERATOR_AIRDROP.to_string(),
        ]);
        network.chain(&["init", "--admin", "admin.json", "--scheduler", "admin.json"]);
        for node in nodes {
            // The operator's wallet is its own key: it registers, stakes and
            // is paid; the node holds only the node key, which signs
            // receipts and closes escrows (and pays those fees).
            let key = format!("{node}/node-key.json");
            let operator = operator_file(node);
            network.ok(&["node", "keys", "--dir", node]);
            network.ok(&["keys", "new", "--out", &operator]);
            network.chain(&[
                "airdrop",
                "--to",
                &operator,
                "--lamports",
                &OPERATOR_AIRDROP.to_string(),
            ]);
            network.chain(&[
                "airdrop",
                "--to",
                &key,
                "--lamports",
                &NODE_FEES_AIRDROP.to_string(),
            ]);
            // The operator registers the node key by its address alone.
            let receipt_key = network.ok(&["keys", "address", &key]);
            network.chain(&[
                "node",
                "register",
                "--operator",
                &operator,
                "--receipt-key",
                receipt_key.trim(),
                "--class",
                "0",
                "--region",
                "local",
                "--floor",
                FLOOR,
            ]);
            network.chain(&[
                "stake",
                "--operator",
                &operator,
                "--lamports",
                &NODE_STAKE.to_string(),
            ]);
        }
        network
    }

    /// `kiln scheduler serve` on SQLite in the test's dir, with 500 ms
    /// heartbeats, so a killed node is noticed after 1.5 s, checking the
    /// stake nodes declare against the served chain.
    fn start_scheduler(&mut self) {
        let database = format!("sqlite://{}", self.path("scheduler.db").display());
        let rpc = self.rpc.clone();
        let ready = self.children.start(
            "scheduler",
            &[
                "scheduler",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                &database,
                "--heartbeat-interval-ms",
                "500",
                "--rpc",
                &rpc,
            ],
        );
        let address = ready
            .trim()
            .rsplit(' ')
            .next()
            .filter(|_| ready.contains("listening on"))
            .unwrap_or_else(|| panic!("unexpected scheduler ready line {ready:?}"));
        self.scheduler = format!("http://{address}");
    }

    /// `kiln node run` for the node dir `node`, declaring `stake`.
    fn node_run_args(&self, node: &str, stake: u64) -> Vec<String> {
        let operator = self.ok(&["keys", "address", &operator_file(node)]);
        [
            "node",
            "run",
            "--dir",
            node,
            "--scheduler",
            &self.scheduler,
            "--rpc",
            &self.rpc,
            "--region",
            "local",
            "--floor",
            FLOOR,
            "--stake",
            &stake.to_string(),
            "--operator",
            operator.trim(),
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// `kiln node run` for the node dir `node`, declaring what it staked;
    /// returns once it is linked to the scheduler (its ready line).
    fn start_node(&mut self, node: &str) {
        let args = self.node_run_args(node, NODE_STAKE);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ready = self.children.start(node, &args);
        assert!(
            ready.contains("linked"),
            "unexpected {node} ready line {ready:?}"
        );
    }

    /// Runs `kiln ARGS`, which must exit within [`READY_TIMEOUT`] (it is
    /// killed and the test fails otherwise).
    fn run_to_exit(&self, args: &[String]) -> Output {
        let mut child = kiln(self.dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("kiln {args:?} still running after {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        kiln(self.dir.path()).args(args).output().unwrap()
    }

    /// Runs `kiln ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "kiln {args:?} failed ({}): {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.children.stderrs()
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs `kiln chain --rpc URL ARGS --json`, which must succeed; its object.
    fn chain(&self, args: &[&str]) -> Value {
        let mut all = vec!["chain", "--rpc", &self.rpc];
        all.extend_from_slice(args);
        all.push("--json");
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{stdout:?}: {error}"))
    }

    /// Lamports at an address or keypair file.
    fn balance(&self, who: &str) -> u64 {
        self.chain(&["show", "balance", who])["balance"]
            .as_u64()
            .expect("a balance")
    }

    /// Fees the treasury has collected so far.
    fn treasury_fees(&self) -> u64 {
        self.chain(&["show", "treasury"])["fees"]
            .as_u64()
            .expect("fees")
    }

    /// A node dir's node id (hex), as `kiln job submit` reports the node.
    fn node_id(&self, node: &str) -> String {
        let keys: Value =
            serde_json::from_str(&self.ok(&["node", "keys", "--dir", node, "--json"])).unwrap();
        keys["node_id"].as_str().expect("node_id").to_owned()
    }
}

/// The running job of a node's status file (`kiln node status --json`).
fn running_job(network: &Network, node: &str) -> Option<Value> {
    let output = network.run(&["node", "status", "--dir", node, "--json"]);
    let status: Value = serde_json::from_slice(&output.stdout).ok()?;
    status["jobs"].as_array()?.first().cloned()
}

/// One JSON-RPC-over-HTTP exchange with `Connection: close`: status and body.
fn post(url: &str, body: &[u8]) -> (u16, String) {
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) and close before reading a large body.
    let _ = stream.write_all(body);
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

impl Network {
    /// The served chain set up, a scheduler, a node per name, and a funded
    /// renter (`renter.json`).
    fn running(nodes: &[&str]) -> Self {
        let mut network = Network::new(nodes);
        network.start_scheduler();
        for node in nodes {
            network.start_node(node);
        }
        network.ok(&["keys", "new", "--out", "renter.json"]);
        network.chain(&[
            "airdrop",
            "--to",
            "renter.json",
            "--lamports",
            "100000000000",
        ]);
        network
    }

    /// The renter's side of `kiln job submit`: where the scheduler and the
    /// chain are, its key, and JSON output.
    fn renter_args(&self) -> [&str; 7] {
        [
            "--scheduler",
            &self.scheduler,
            "--rpc",
            &self.rpc,
            "--key",
            "renter.json",
            "--json",
        ]
    }
}

#[test]
fn a_node_declaring_more_stake_than_it_staked_is_refused_at_registration() {
    // Given the chain served and a scheduler reading stakes from it (`--rpc`),
    let mut network = Network::new(&["node-a"]);
    network.start_scheduler();

    // when node-a, staked 1 SOL, declares tier 1's 10 SOL,
    let output = network.run_to_exit(&network.node_run_args("node-a", 10 * NODE_STAKE));

    // then it stops with the scheduler's reason,
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "declared stake 10000000000 is more than the 1000000000 lamports staked on chain"
        ),
        "{stderr}"
    );
    // and declaring what it staked, it registers and links.
    network.start_node("node-a");
}

#[test]
fn a_job_runs_across_separate_processes_and_settles_on_the_served_chain() {
    // Given the chain served, set up with the CLI, a scheduler and two nodes,
    let nodes = ["node-a", "node-b"];
    let network = Network::running(&nodes);
    let before: Vec<u64> = nodes
        .iter()
        .map(|n| network.balance(&operator_file(n)))
        .collect();
    let keys_before: Vec<u64> = nodes
        .iter()
        .map(|n| network.balance(&format!("{n}/node-key.json")))
        .collect();
    let fees_before = network.treasury_fees();

    // when a renter submits a small matmul (n = 128, seed 7),
    let workload = kiln_test_guests::guest_path("kiln_example_matmul");
    let workload = workload.to_str().unwrap();
    let mut input = 128u32.to_le_bytes().to_vec();
    input.extend_from_slice(&7u32.to_le_bytes());
    std::fs::write(network.path("input.bin"), &input).unwrap();
    let submitted = network.ok(&[
        &[
            "job",
            "submit",
            workload,
            "--input",
            "input.bin",
            "--class",
            "cpu",
            "--max-rate",
            MAX_RATE,
        ][..],
        &network.renter_args(),
    ]
    .concat());
    let outcome: Value = serde_json::from_str(&submitted).unwrap();

    // then it is done and settled, and the result is what the workload
    // computes locally, metered the same way,
    assert_eq!(outcome["state"], "done", "{outcome}");
    assert_eq!(
        outcome["settled"], true,
        "the node closed the escrow: {outcome}"
    );
    let result = std::fs::read(network.path("result.bin")).unwrap();
    network.ok(&[
        "run",
        workload,
        "--input",
        "input.bin",
        "--output",
        "local.bin",
    ]);
    assert_eq!(result, std::fs::read(network.path("local.bin")).unwrap());
    // the receipts verify, against the chain too,
    assert!(network.path("receipts.json").is_file());
    let verified: Value = serde_json::from_str(&network.ok(&[
        "receipts",
        "verify",
        "receipts.json",
        "--rpc",
        &network.rpc,
        "--json",
    ]))
    .unwrap();
    assert_eq!(verified["valid"], true, "{verified}");
    let cost = outcome["co_signed_cost"].as_u64().expect("a cost");
    assert_eq!(verified["payable"].as_u64(), Some(cost), "{verified}");

    // and the chain paid the operator of the node that ran it (less the
    // treasury's fee), the treasury its fee, the other operator nothing; the
    // node's own key, which signed the close, paid only signature fees.
    let fee = cost * FEE_BPS / 10_000;
    assert!(fee > 0, "a cost of {cost} is too small to see the fee");
    assert_eq!(network.treasury_fees() - fees_before, fee);
    let ran = nodes
        .iter()
        .position(|n| outcome["node"].as_str() == Some(network.node_id(n).as_str()))
        .unwrap_or_else(|| panic!("the job ran on neither node: {outcome}"));
    let after: Vec<u64> = nodes
        .iter()
        .map(|n| network.balance(&operator_file(n)))
        .collect();
    assert_eq!(after[ran] - before[ran], cost - fee, "the operator's pay");
    assert_eq!(
        after[1 - ran],
        before[1 - ran],
        "the idle operator's balance moved"
    );
    let key = format!("{}/node-key.json", nodes[ran]);
    let close_fee = keys_before[ran] - network.balance(&key);
    assert!(
        close_fee > 0 && close_fee.is_multiple_of(LAMPORTS_PER_SIGNATURE),
        "the node key paid {close_fee}: only whole signature fees"
    );
}

#[test]
fn chain_serve_answers_like_a_validator_and_keeps_its_state_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut children = Children::new(dir.path());
    let serve = CHAIN_SERVE;
    let ready: Value = serde_json::from_str(&children.start("chain", serve)).unwrap();
    let url = ready["url"].as_str().unwrap().to_owned();

    // Unknown methods, malformed JSON and bad parameters get JSON-RPC errors,
    let (status, body) = post(
        &url,
        br#"{"jsonrpc":"2.0","id":1,"method":"getSlotLeaders"}"#,
    );
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    assert_eq!(answer["id"], 1);
    let (_, body) = post(&url, b"{not json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32700
    );
    let (_, body) = post(
        &url,
        br#"{"jsonrpc":"2.0","id":2,"method":"sendTransaction","params":["AAAA",{"encoding":"base64"}]}"#,
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32602,
        "{body}"
    );
    // and a body over the limit is refused before it is read.
    // (Just over 64 KiB: small enough to sit in the socket's buffer whole,
    // so the answer is read, not lost to a reset.)
    let huge = vec![b' '; 100_000];
    assert_eq!(post(&url, &huge).0, 413);

    // A program error reaches the CLI through RpcClient as it would from a
    // validator's preflight: init twice is refused by the program (exit 3).
    let rpc = |args: &[&str]| {
        kiln(dir.path())
            .args(["chain", "--rpc", &url])
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        kiln(dir.path())
            .args(["keys", "new", "--out", "admin.json"])
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        rpc(&["airdrop", "--to", "admin.json", "--lamports", "5000000000"])
            .status
            .success()
    );
    assert!(
        rpc(&["init", "--admin", "admin.json", "--scheduler", "admin.json"])
            .status
            .success()
    );
    let again = rpc(&["init", "--admin", "admin.json", "--scheduler", "admin.json"]);
    assert_eq!(
        again.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("AccountAlreadyExists"));
    let balance = |url: &str| -> Value {
        let output = kiln(dir.path())
            .args([
                "chain",
                "--rpc",
                url,
                "show",
                "balance",
                "admin.json",
                "--json",
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let held = balance(&url)["balance"].clone();

    // Killed and started again on the same state file, it has the same balances.
    children.kill("chain");
    let ready: Value = serde_json::from_str(&children.start("chain-again", serve)).unwrap();
    let url = ready["url"].as_str().unwrap().to_owned();
    assert_eq!(balance(&url)["balance"], held);
}

#[test]
fn a_node_killed_mid_job_is_paid_what_was_co_signed_and_the_job_finishes_elsewhere() {
    // Given the network of the first test,
    let nodes = ["node-a", "node-b"];
    let mut network = Network::running(&nodes);
    let before: Vec<u64> = nodes
        .iter()
        .map(|n| network.balance(&operator_file(n)))
        .collect();

    // when a renter submits a job that spins for several seconds (a receipt
    // a second; about ten seconds here, so the status file, written every
    // second, sees it running) and the node running it is killed with
    // SIGKILL once it has run 2.5 s (receipts issued and counter-signed),
    let workload = kiln_test_guests::guest_path("kiln_test_hostile");
    std::fs::write(network.path("input.bin"), b"count:8000000000").unwrap();
    let mut submit = KillOnDrop(Some(
        kiln(network.dir.path())
            .args([
                "job",
                "submit",
                workload.to_str().unwrap(),
                "--input",
                "input.bin",
            ])
            .args(["--fuel", "400000000000", "--max-rate", MAX_RATE])
            .args(network.renter_args())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    let killed = loop {
        let running = nodes.iter().position(|node| {
            running_job(&network, node)
                .is_some_and(|job| job["wall_ms"].as_u64().unwrap_or(0) >= 2_500)
        });
        if let Some(index) = running {
            break index;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no node ran the job for 2.5 s within {READY_TIMEOUT:?}\n{}",
            network.children.stderrs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    network.children.kill(nodes[killed]);
    let output = submit
        .0
        .take()
        .expect("running")
        .wait_with_output()
        .unwrap();
    assert!(
        output.status.success(),
        "kiln job submit failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        network.children.stderrs()
    );
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();

    // then the job finishes on the other node,
    assert_eq!(outcome["state"], "done", "{outcome}");
    let killed_id = network.node_id(nodes[killed]);
    assert_eq!(
        outcome["node"].as_str(),
        Some(network.node_id(nodes[1 - killed]).as_str())
    );
    // the killed node's escrow is left with its co-signed receipt claimed,
    let abandoned = outcome["abandoned"].as_array().expect("abandoned escrows");
    assert_eq!(abandoned.len(), 1, "{outcome}");
    assert_eq!(abandoned[0]["node"].as_str(), Some(killed_id.as_str()));
    let seq = abandoned[0]["claimed_seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("nothing claimed: {outcome}"));
    let escrow = abandoned[0]["escrow"].as_str().unwrap();
    let job = network.chain(&["show", "job", escrow]);
    assert_eq!(job["last_paid_seq"].as_u64(), Some(seq), "{job}");
    let paid = job["paid"].as_u64().unwrap();
    assert!(paid > 0 && paid < job["escrow"].as_u64().unwrap(), "{job}");
    // and the killed node's operator got exactly that, less the fee.
    let earned = network.balance(&operator_file(nodes[killed])) - before[killed];
    assert_eq!(earned, paid - paid * FEE_BPS / 10_000);
}
