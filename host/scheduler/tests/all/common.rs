//! Fixtures: keys, manifests, job specs, stores on both backends, fake links.

use std::time::Duration;

use kiln_protocol::class::{BenchmarkClass, WorkloadClass};
use kiln_protocol::job::{JOB_SPEC_VERSION, JobLimits};
use kiln_protocol::manifest::{
    CapabilityManifest, CpuInfo, DeviceKind, GpuBackend, GpuInfo, MANIFEST_VERSION, SignedManifest,
};
use kiln_protocol::signing::{SigningKey, public_key, sign};
use kiln_protocol::{EncryptionKey, JobSpec, PublicKey, Rates, sha256};
use kiln_scheduler::model::{RenterAction, renter_action_message, submit_message};
use kiln_scheduler::{Scheduler, SchedulerConfig, Store};
use kiln_scheduler_api::link::ToNode;
use kiln_scheduler_api::wire::{RegisterNode, RenterSigned, SubmitJob};
use sqlx::Connection as _;
use tokio::sync::mpsc;

/// One SOL: stake of tier 0 in the default tiers.
pub const SOL: u64 = 1_000_000_000;

/// Env var naming a PostgreSQL server for the tests (set by `cargo xtask test`).
pub const POSTGRES_URL_ENV: &str = "KILN_TEST_POSTGRES_URL";
/// Set by `cargo xtask test`: PostgreSQL tests fail instead of skipping.
pub const REQUIRE_POSTGRES_ENV: &str = "KILN_REQUIRE_POSTGRES";

/// A deterministic signing key from a label.
pub fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&sha256(&[label.as_bytes()]).0)
}

/// A deterministic 32-byte id from a label.
pub fn id(label: &str) -> PublicKey {
    PublicKey(sha256(&[b"id", label.as_bytes()]).0)
}

/// What a test node offers.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub region: String,
    pub classes: Vec<WorkloadClass>,
    pub floor: Rates,
    pub benchmark: u8,
    pub max_parallel: u16,
    pub issued_at: u64,
}

impl NodeSpec {
    pub fn cpu(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            region: "eu-west".to_owned(),
            classes: vec![WorkloadClass::Cpu],
            floor: rates(10),
            benchmark: 5,
            max_parallel: 8,
            issued_at: 1_000,
        }
    }

    pub fn node_id(&self) -> PublicKey {
        id(&format!("node/{}", self.name))
    }

    pub fn key(&self) -> SigningKey {
        key(&format!("key/{}", self.name))
    }

    pub fn operator(&self) -> PublicKey {
        id(&format!("operator/{}", self.name))
    }

    pub fn manifest(&self) -> CapabilityManifest {
        let gpus = if self.classes.iter().any(|c| *c != WorkloadClass::Cpu) {
            vec![GpuInfo {
                name: "test gpu".to_owned(),
                backend: GpuBackend::Cuda,
                kind: DeviceKind::Discrete,
                memory_bytes: 1 << 34,
            }]
        } else {
            Vec::new()
        };
        CapabilityManifest {
            version: MANIFEST_VERSION,
            node_id: self.node_id(),
            operator: self.operator(),
            receipt_key: public_key(&self.key()),
            encryption_key: EncryptionKey([7; 32]),
            cpu: CpuInfo {
                model: "test cpu".to_owned(),
                cores: 8,
            },
            ram_bytes: 1 << 34,
            gpus,
            benchmark_class: BenchmarkClass(self.benchmark),
            region: self.region.clone(),
            price_floor: self.floor,
            workload_classes: self.classes.clone(),
            max_parallel_jobs: self.max_parallel,
            client_version: "test".to_owned(),
            issued_at: self.issued_at,
        }
    }

    pub fn signed(&self) -> SignedManifest {
        SignedManifest::sign(self.manifest(), &self.key()).unwrap()
    }

    pub fn register(&self, stake: u64) -> RegisterNode {
        RegisterNode {
            manifest: hex::encode(self.signed().to_bytes()),
            stake,
        }
    }
}

/// The same rate for all three amounts.
pub fn rates(rate: u64) -> Rates {
    Rates {
        per_million_fuel: rate,
        per_gpu_second: rate,
        per_wall_second: rate,
    }
}

/// The renter every test uses.
pub fn renter() -> SigningKey {
    key("renter")
}

/// A CPU job whose escrow is derived from `name`.
pub fn spec(name: &str) -> JobSpec {
    JobSpec {
        version: JOB_SPEC_VERSION,
        component: sha256(&[b"component"]),
        input_size: 10,
        class: WorkloadClass::Cpu,
        min_benchmark_class: BenchmarkClass(0),
        region: None,
        limits: JobLimits {
            fuel: 1_000_000,
            memory_bytes: 1 << 20,
            wall_clock_ms: 1_000,
            gpu_memory_bytes: 0,
            output_bytes: 1 << 20,
        },
        max_rates: rates(100),
        escrow: id(&format!("escrow/{name}")),
    }
}

/// A signed submission of `spec`.
pub fn submit(spec: &JobSpec) -> SubmitJob {
    let bytes = spec.to_bytes();
    SubmitJob {
        spec: hex::encode(&bytes),
        renter: public_key(&renter()).to_string(),
        signature: sign(&renter(), &submit_message(&bytes)).to_string(),
    }
}

/// The renter's signed action on attempt `attempt` of `job`.
pub fn renter_signed(job: &PublicKey, action: RenterAction, attempt: u32) -> RenterSigned {
    RenterSigned {
        attempt,
        signature: sign(&renter(), &renter_action_message(job, action, attempt)).to_string(),
    }
}

/// A fresh SQLite store in a temp dir (kept alive by the returned guard).
pub async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scheduler.db").display());
    (Store::connect(&url).await.unwrap(), dir)
}

/// The URL of a fresh PostgreSQL schema, or `None` (printed) when no
/// server is configured and none is required.
pub async fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var(POSTGRES_URL_ENV) else {
        assert!(
            std::env::var_os(REQUIRE_POSTGRES_ENV).is_none(),
            "{REQUIRE_POSTGRES_ENV} is set but {POSTGRES_URL_ENV} is not: \
             `cargo xtask test` should have started PostgreSQL"
        );
        eprintln!("skipped: {POSTGRES_URL_ENV} is not set (cargo xtask test sets it)");
        return None;
    };
    sqlx::any::install_default_drivers();
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).unwrap();
    let name = format!("kiln_test_{}", hex::encode(nonce));
    let mut admin = sqlx::AnyConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {base}: {e}"));
    // A schema per test, not a database: a database copies its template
    // (megabytes on disk each), a schema costs a catalog row.
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{name}"
    ))
}

/// A fresh PostgreSQL store, or `None` as in [`postgres_url`].
pub async fn postgres() -> Option<Store> {
    let url = postgres_url().await?;
    Some(Store::connect(&url).await.unwrap())
}

/// A config with short intervals for tests.
pub fn fast_config() -> SchedulerConfig {
    SchedulerConfig {
        heartbeat_interval: Duration::from_millis(100),
        proposal_timeout: Duration::from_secs(60),
        ..SchedulerConfig::default()
    }
}

/// Registers `node` with `stake` and links it through a channel; returns
/// the receiving end of its link and the link id.
pub async fn link(
    scheduler: &Scheduler,
    node: &NodeSpec,
    stake: u64,
) -> (mpsc::Receiver<ToNode>, u64) {
    scheduler.register(&node.register(stake)).await.unwrap();
    let (sender, receiver) = mpsc::channel(1024);
    let link_id = scheduler.link(node.node_id(), sender).await.unwrap();
    (receiver, link_id)
}

/// The next message on a link, within a few seconds.
pub async fn next(receiver: &mut mpsc::Receiver<ToNode>) -> ToNode {
    tokio::time::timeout(Duration::from_secs(10), receiver.recv())
        .await
        .expect("a message within 10 s")
        .expect("link open")
}

/// Runs the body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_stores {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports, reason = "each body uses its own subset")]
            use super::*;

            async fn body($store: kiln_scheduler::Store) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _dir) = $crate::common::sqlite().await;
                body(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(store) = $crate::common::postgres().await {
                    body(store).await;
                }
            }
        }
    };
}
