//! `kiln scheduler serve` killed with SIGKILL mid-run and restarted on the
//! same store: no job lost, none assigned twice, nodes reconnect by themselves.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_protocol::class::{BenchmarkClass, WorkloadClass};
use kiln_protocol::job::{JOB_SPEC_VERSION, JobLimits};
use kiln_protocol::manifest::{CapabilityManifest, CpuInfo, MANIFEST_VERSION, SignedManifest};
use kiln_protocol::signing::{SigningKey, public_key, sign};
use kiln_protocol::{EncryptionKey, JobSpec, PublicKey, Rates, sha256};
use kiln_scheduler::Store;
use kiln_scheduler_api::link::{FromNode, ToNode};
use kiln_scheduler_api::messages::submit_message;
use kiln_scheduler_api::node_link::NodeLink;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const NODES: usize = 4;
const JOBS: usize = 60;
const SOL: u64 = 1_000_000_000;

fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&sha256(&[label.as_bytes()]).0)
}

fn id(label: &str) -> PublicKey {
    PublicKey(sha256(&[b"id", label.as_bytes()]).0)
}

fn rates(rate: u64) -> Rates {
    Rates {
        per_million_fuel: rate,
        per_gpu_second: rate,
        per_wall_second: rate,
    }
}

fn manifest(i: usize) -> SignedManifest {
    let manifest = CapabilityManifest {
        version: MANIFEST_VERSION,
        node_id: id(&format!("node{i}")),
        operator: id(&format!("operator{i}")),
        receipt_key: public_key(&key(&format!("node{i}"))),
        encryption_key: EncryptionKey([1; 32]),
        cpu: CpuInfo {
            model: "cpu".into(),
            cores: 4,
        },
        ram_bytes: 1 << 32,
        gpus: Vec::new(),
        benchmark_class: BenchmarkClass(3),
        region: "eu-west".into(),
        price_floor: rates(10),
        workload_classes: vec![WorkloadClass::Cpu],
        max_parallel_jobs: 32,
        client_version: "test".into(),
        issued_at: 1,
    };
    SignedManifest::sign(manifest, &key(&format!("node{i}"))).unwrap()
}

fn spec(i: usize) -> JobSpec {
    JobSpec {
        version: JOB_SPEC_VERSION,
        component: sha256(&[b"component"]),
        input_size: 1,
        class: WorkloadClass::Cpu,
        min_benchmark_class: BenchmarkClass(0),
        region: None,
        limits: JobLimits {
            fuel: 1_000,
            memory_bytes: 1 << 20,
            wall_clock_ms: 1_000,
            gpu_memory_bytes: 0,
            output_bytes: 1024,
        },
        max_rates: rates(100),
        escrow: id(&format!("job{i}")),
    }
}

/// One HTTP/1.1 request with `Connection: close`; status and body.
async fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Retries `http` until the server answers (it may be restarting).
async fn http_retry(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http(port, method, path, body).await {
            Ok(answer) if answer.0 != 0 => return answer,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("scheduler unreachable: {other:?}"),
        }
    }
}

fn start(port: u16, database: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "scheduler",
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--database", database, "--heartbeat-interval-ms", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("listening"),
        "unexpected first line: {line:?}"
    );
    child
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_loses_no_job_and_assigns_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!(
        "sqlite://{}",
        Path::new(dir.path()).join("scheduler.db").display()
    );
    let port = free_port();
    let mut server = start(port, &database);

    // Given four nodes registered and linked, each accepting whatever it is offered,
    let proposals: Arc<Mutex<HashMap<String, HashSet<usize>>>> = Arc::default();
    let mut links = Vec::new();
    for i in 0..NODES {
        let body = serde_json::json!({"manifest": hex::encode(manifest(i).to_bytes()), "stake": 100 * SOL});
        let (status, answer) = http_retry(port, "POST", "/v1/nodes", &body.to_string()).await;
        assert_eq!(status, 201, "{answer}");
        let url = format!("ws://127.0.0.1:{port}/v1/links/node");
        let mut link = NodeLink::spawn(url, id(&format!("node{i}")), key(&format!("node{i}")));
        let (outbox_tx, mut outbox_rx) = tokio::sync::mpsc::channel::<FromNode>(1024);
        let seen = Arc::clone(&proposals);
        let inbox_task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(message) = link.inbox.recv() => {
                        if let ToNode::Proposal { job_id, attempt, .. } = message {
                            seen.lock().unwrap().entry(job_id.clone()).or_default().insert(i);
                            let _ = outbox_tx.send(FromNode::Accept { job_id, attempt }).await;
                        }
                    }
                    Some(message) = outbox_rx.recv() => link.send(message).await,
                    else => return link,
                }
            }
        });
        links.push(inbox_task);
    }

    // when jobs are submitted and the scheduler is killed with SIGKILL halfway,
    let renter = key("renter");
    let submit = |i: usize| {
        let bytes = spec(i).to_bytes();
        serde_json::json!({
            "spec": hex::encode(&bytes),
            "renter": public_key(&renter).to_string(),
            "signature": sign(&renter, &submit_message(&bytes)).to_string(),
        })
        .to_string()
    };
    for i in 0..JOBS / 2 {
        let (status, answer) = http_retry(port, "POST", "/v1/jobs", &submit(i)).await;
        assert_eq!(status, 201, "{answer}");
    }
    server.kill().unwrap();
    server.wait().unwrap();
    // and restarted on the same store,
    let mut server = start(port, &database);
    for i in JOBS / 2..JOBS {
        let (status, answer) = http_retry(port, "POST", "/v1/jobs", &submit(i)).await;
        assert_eq!(status, 201, "{answer}");
    }

    // then every job is proposed to a node and accepted by it,
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..JOBS {
        loop {
            let (_, body) =
                http_retry(port, "GET", &format!("/v1/jobs/{}", spec(i).escrow), "").await;
            let status: serde_json::Value = serde_json::from_str(&body).unwrap();
            if status["node_confirmed"] == true {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "job {i} never confirmed: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();

    // each to exactly one node (nodes may hear a proposal again after the restart),
    let proposals = proposals.lock().unwrap().clone();
    assert_eq!(proposals.len(), JOBS);
    for (job, nodes) in &proposals {
        assert_eq!(nodes.len(), 1, "job {job} proposed to nodes {nodes:?}");
    }
    // the store's assignment log has one attempt per job,
    let store = Store::connect(&database).await.unwrap();
    let log = store.assignments(None).await.unwrap();
    assert_eq!(log.len(), JOBS);
    assert!(log.iter().all(|a| a.attempt == 1));
    assert_eq!(
        log.iter().map(|a| a.job).collect::<HashSet<_>>().len(),
        JOBS
    );
    // Nodes linked again by themselves after the kill: the jobs submitted
    // after the restart could only be proposed and accepted over new links.
    for task in links {
        task.abort();
    }
}
