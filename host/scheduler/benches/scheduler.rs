//! `cargo xtask bench scheduler`: what matching and node links cost, measured
//! in one run on one machine so the ratios hold on a shared, noisy host.
//!
//! 1. Matching, in process: 10,000 simulated nodes and 100,000 queued jobs
//!    through the built-in policies ([`Matcher::pick`]); assignments per
//!    second and the p50/p99 latency of one pick, next to a naive matcher
//!    that scans every node for each job (the baseline). Target: at least
//!    50,000 assignments/s.
//! 2. The same matching through the store: `Scheduler::match_pass` over
//!    SQLite, each page of proposals committed in one transaction.
//! 3. Links: 1,000 nodes linked over real WebSockets to one scheduler,
//!    heartbeating every second (30× the default rate), for a while: the
//!    scheduler runtime's CPU and the process's memory, next to the same
//!    scheduler idle.
//!
//! 4. Policies: the matching of part 1 again with the wasm plugins
//!    (`rank-default`, `price-lowest-floor`) in place of the built-ins, and
//!    one rank + clear over 10,000 candidates each way; the ratio printed is
//!    wasm / built-in from this run. Target: at most 2x at 10,000 candidates.
//!    Needs the guests (`cargo xtask bench scheduler` builds them).
//!
//! Set `KILN_BENCH_QUICK=1` for a short smoke run.

#[path = "policy/wasm.rs"]
mod wasm;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_protocol::class::{BenchmarkClass, WorkloadClass};
use kiln_protocol::job::{JOB_SPEC_VERSION, JobLimits};
use kiln_protocol::manifest::{
    CapabilityManifest, CpuInfo, DeviceKind, GpuBackend, GpuInfo, MANIFEST_VERSION, SignedManifest,
};
use kiln_protocol::signing::{SigningKey, public_key, sign};
use kiln_protocol::{EncryptionKey, JobSpec, PublicKey, Rates, Signature, sha256};
use kiln_scheduler::matching::{Matcher, worst_case_cost};
use kiln_scheduler::model::{NodeRecord, submit_message};
use kiln_scheduler::{Scheduler, SchedulerConfig, Store};
use kiln_scheduler_api::node_link::NodeLink;
use kiln_scheduler_api::wire::{RegisterNode, SubmitJob};

const REGIONS: [&str; 8] = [
    "eu-west", "eu-north", "us-east", "us-west", "ap-south", "ap-east", "sa-east", "af-south",
];

struct Plan {
    nodes: usize,
    jobs: usize,
    baseline_jobs: usize,
    store_nodes: usize,
    store_jobs: usize,
    links: usize,
    link_seconds: u64,
}

fn plan() -> Plan {
    if std::env::var_os("KILN_BENCH_QUICK").is_some() {
        Plan {
            nodes: 1_000,
            jobs: 10_000,
            baseline_jobs: 500,
            store_nodes: 100,
            store_jobs: 1_000,
            links: 100,
            link_seconds: 3,
        }
    } else {
        Plan {
            nodes: 10_000,
            jobs: 100_000,
            baseline_jobs: 5_000,
            store_nodes: 1_000,
            store_jobs: 10_000,
            links: 1_000,
            link_seconds: 15,
        }
    }
}

/// A cheap deterministic pseudo-random stream.
fn mix(i: u64, salt: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

fn rates(rate: u64) -> Rates {
    Rates {
        per_million_fuel: rate,
        per_gpu_second: rate * 2,
        per_wall_second: rate,
    }
}

fn node_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&sha256(&[b"bench-node", &i.to_le_bytes()]).0)
}

fn manifest(i: usize) -> CapabilityManifest {
    let i64 = i as u64;
    let classes = match mix(i64, 1) % 10 {
        0..=5 => vec![WorkloadClass::Cpu],
        6..=8 => vec![WorkloadClass::Cpu, WorkloadClass::WebGpu],
        _ => vec![
            WorkloadClass::Cpu,
            WorkloadClass::WebGpu,
            WorkloadClass::Cuda,
        ],
    };
    let gpus = if classes.len() > 1 {
        vec![GpuInfo {
            name: "gpu".into(),
            backend: GpuBackend::Cuda,
            kind: DeviceKind::Discrete,
            memory_bytes: 1 << 34,
        }]
    } else {
        Vec::new()
    };
    CapabilityManifest {
        version: MANIFEST_VERSION,
        node_id: PublicKey(sha256(&[b"bench-id", &i.to_le_bytes()]).0),
        operator: PublicKey(sha256(&[b"bench-operator", &i.to_le_bytes()]).0),
        receipt_key: public_key(&node_key(i)),
        encryption_key: EncryptionKey([1; 32]),
        cpu: CpuInfo {
            model: "cpu".into(),
            cores: 16,
        },
        ram_bytes: 1 << 36,
        gpus,
        benchmark_class: BenchmarkClass((mix(i64, 2) % 16) as u8),
        region: REGIONS[(mix(i64, 3) % 8) as usize].into(),
        price_floor: rates(5 + mix(i64, 4) % 95),
        workload_classes: classes,
        max_parallel_jobs: 16,
        client_version: "bench".into(),
        issued_at: 1,
    }
}

fn record(i: usize) -> NodeRecord {
    NodeRecord {
        manifest: SignedManifest {
            manifest: manifest(i),
            signature: Signature::ZERO,
        },
        stake: 100_000_000_000,
        tier: 3,
        max_jobs: 16,
        reputation: 300 + (mix(i as u64, 5) % 700) as u32,
        online: true,
        registered_ms: 0,
        last_seen_ms: 0,
    }
}

fn job(i: usize) -> JobSpec {
    let i64 = i as u64;
    let class = match mix(i64, 6) % 10 {
        0..=6 => WorkloadClass::Cpu,
        7..=8 => WorkloadClass::WebGpu,
        _ => WorkloadClass::Cuda,
    };
    JobSpec {
        version: JOB_SPEC_VERSION,
        component: sha256(&[b"component"]),
        input_size: 1024,
        class,
        min_benchmark_class: BenchmarkClass((mix(i64, 7) % 8) as u8),
        region: (mix(i64, 8) % 10 < 3).then(|| REGIONS[(mix(i64, 9) % 8) as usize].to_owned()),
        limits: JobLimits {
            fuel: 1_000_000_000,
            memory_bytes: 1 << 28,
            wall_clock_ms: 60_000,
            gpu_memory_bytes: if class == WorkloadClass::Cpu {
                0
            } else {
                1 << 30
            },
            output_bytes: 1 << 20,
        },
        max_rates: rates(60 + mix(i64, 10) % 140),
        escrow: PublicKey(sha256(&[b"bench-job", &i.to_le_bytes()]).0),
    }
}

/// The `permille`/1000 quantile of sorted figures.
fn percentile(sorted: &[Duration], permille: usize) -> Duration {
    sorted[(sorted.len() - 1) * permille / 1000]
}

/// The naive baseline: every node checked for every job, cheapest worst-case cost wins.
fn naive_pick(nodes: &mut [(NodeRecord, u16)], job: &JobSpec) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for (index, (node, running)) in nodes.iter().enumerate() {
        let m = &node.manifest.manifest;
        if *running >= node.max_jobs
            || !m.workload_classes.contains(&job.class)
            || job.region.as_ref().is_some_and(|r| *r != m.region)
            || m.benchmark_class < job.min_benchmark_class
            || !m.price_floor.within(&job.max_rates)
        {
            continue;
        }
        let cost = worst_case_cost(job, &m.price_floor);
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, index));
        }
    }
    let (_, index) = best?;
    nodes[index].1 += 1;
    Some(index)
}

fn bench_matching(plan: &Plan) {
    let records: Vec<_> = (0..plan.nodes).map(record).collect();
    let jobs: Vec<_> = (0..plan.jobs).map(job).collect();
    let mut matcher = Matcher::new(kiln_scheduler::config::DEFAULT_MAX_CANDIDATES);
    for node in &records {
        matcher.nodes.link(node, 0);
    }
    let mut latencies = Vec::with_capacity(jobs.len());
    let mut assigned = 0usize;
    let started = Instant::now();
    for spec in &jobs {
        let t = Instant::now();
        if matcher.pick(spec).is_some() {
            assigned += 1;
        }
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let rate = assigned as f64 / elapsed.as_secs_f64();

    let mut naive_nodes: Vec<_> = records.iter().cloned().map(|r| (r, 0u16)).collect();
    let started = Instant::now();
    let mut naive_assigned = 0usize;
    for spec in jobs.iter().take(plan.baseline_jobs) {
        if naive_pick(&mut naive_nodes, spec).is_some() {
            naive_assigned += 1;
        }
    }
    let naive_elapsed = started.elapsed();
    let naive_rate = naive_assigned as f64 / naive_elapsed.as_secs_f64();

    println!(
        "matching, in process: {} nodes, {} queued jobs, built-in policies",
        plan.nodes, plan.jobs
    );
    println!(
        "  assigned {assigned} of {} in {elapsed:.2?}: {rate:.0} assignments/s (target: at least 50000)",
        plan.jobs
    );
    println!(
        "  pick latency p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        percentile(&latencies, 500),
        percentile(&latencies, 990),
        latencies[latencies.len() - 1]
    );
    println!(
        "  naive full scan (baseline), first {} jobs: {naive_rate:.0} assignments/s; indexed / naive = {:.0}x",
        plan.baseline_jobs,
        rate / naive_rate
    );
}

fn bench_policies(plan: &Plan) {
    let rounds = if plan.jobs < 100_000 { 5 } else { 21 };
    wasm::bench_per_call(&job(0), rounds, mix, &REGIONS);
    let records: Vec<_> = (0..plan.nodes).map(record).collect();
    let jobs: Vec<_> = (0..plan.jobs / 5).map(job).collect();
    wasm::bench_matching(&records, &jobs);
}

async fn bench_store(plan: &Plan) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url).await.unwrap();
    let scheduler = Scheduler::open(store.clone(), SchedulerConfig::default())
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    for i in 0..plan.store_nodes {
        store.upsert_node(&mut tx, &record(i)).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut senders = Vec::new();
    for i in 0..plan.store_nodes {
        let (sender, receiver) = tokio::sync::mpsc::channel(4096);
        scheduler.link(record(i).id(), sender).await.unwrap();
        senders.push(receiver);
    }
    let renter = SigningKey::from_bytes(&[9; 32]);
    for i in 0..plan.store_jobs {
        let bytes = job(i).to_bytes();
        let submit = SubmitJob {
            spec: hex::encode(&bytes),
            renter: public_key(&renter).to_string(),
            signature: sign(&renter, &submit_message(&bytes)).to_string(),
        };
        scheduler.submit(&submit).await.unwrap();
    }
    let started = Instant::now();
    let made = scheduler.match_pass().await.unwrap();
    let elapsed = started.elapsed();
    println!(
        "matching through the store (SQLite, WAL, synchronous=FULL): {} nodes, {} queued jobs",
        plan.store_nodes, plan.store_jobs
    );
    println!(
        "  {made} proposals committed in {elapsed:.2?}: {:.0} assignments/s",
        made as f64 / elapsed.as_secs_f64()
    );
    drop(senders);
}

/// utime + stime (clock ticks) of this process's threads whose name starts with `prefix`.
fn thread_ticks(prefix: &str) -> u64 {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After the name: state is field 0, utime 11, stime 12.
        ticks += fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    }
    ticks
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

fn bench_links(plan: &Plan) {
    let scheduler_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kiln-sched")
        .enable_all()
        .build()
        .unwrap();
    let nodes_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kiln-nodes")
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("links.db").display());
    let config = SchedulerConfig {
        heartbeat_interval: Duration::from_secs(1),
        ..SchedulerConfig::default()
    };
    let (scheduler, address) = scheduler_rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let scheduler = Scheduler::open(store, config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(kiln_scheduler::server::serve(
            listener,
            scheduler.clone(),
            std::future::pending(),
        ));
        for i in 0..plan.links {
            let signed = SignedManifest::sign(manifest(i), &node_key(i)).unwrap();
            let request = RegisterNode {
                manifest: hex::encode(signed.to_bytes()),
                stake: 100_000_000_000,
            };
            scheduler.register(&request).await.unwrap();
        }
        (scheduler, address)
    });
    let window = Duration::from_secs(plan.link_seconds);
    let measure = || {
        let (ticks, wall) = (thread_ticks("kiln-sched"), Instant::now());
        std::thread::sleep(window);
        let cpu = (thread_ticks("kiln-sched") - ticks) as f64 / CLOCK_TICKS;
        100.0 * cpu / wall.elapsed().as_secs_f64()
    };
    let idle_cpu = measure();
    let rss_before = rss_kib();
    let url = format!("ws://{address}/v1/links/node");
    let links: Vec<NodeLink> = nodes_rt.block_on(async {
        (0..plan.links)
            .map(|i| NodeLink::spawn(url.clone(), manifest(i).node_id, node_key(i)))
            .collect()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while links.iter().any(|l| l.sessions() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let linked = links.iter().filter(|l| l.sessions() > 0).count();
    std::thread::sleep(Duration::from_secs(1));
    let busy_cpu = measure();
    let rss_after = rss_kib();
    let online = scheduler_rt
        .block_on(scheduler.store().nodes())
        .unwrap()
        .iter()
        .filter(|n| n.online)
        .count();
    println!(
        "node links: {linked} WebSockets on one scheduler, heartbeats every 1 s (30x the default rate)"
    );
    println!(
        "  scheduler runtime CPU: {busy_cpu:.1}% of one core with the links, {idle_cpu:.1}% idle; {online} nodes online in the store"
    );
    println!(
        "  process RSS +{} KiB with the links ({:.1} KiB per link, both ends: the simulated nodes share the process)",
        rss_after.saturating_sub(rss_before),
        rss_after.saturating_sub(rss_before) as f64 / linked.max(1) as f64
    );
    drop(links);
    drop(Arc::new(nodes_rt));
}

fn main() {
    let plan = plan();
    // KILN_BENCH_ONLY=policy runs part 4 alone; `policy-call` only its
    // per-call comparison, ten times as many rounds (for a profiler).
    match std::env::var("KILN_BENCH_ONLY").as_deref() {
        Ok("policy") => return bench_policies(&plan),
        Ok("policy-call") => return wasm::bench_per_call(&job(0), 201, mix, &REGIONS),
        _ => {}
    }
    bench_matching(&plan);
    bench_policies(&plan);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(bench_store(&plan));
    drop(runtime);
    bench_links(&plan);
}
