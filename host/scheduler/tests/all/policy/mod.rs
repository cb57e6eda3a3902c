//! Policy plugins: loading (pins, imports, worlds), each way a plugin can
//! fail and what the scheduler does then, the shipped plugins, and swapping
//! at run time. Every plugin is a real component built by `cargo xtask guests`.

mod admin;
mod failures;
mod loading;
mod plugins;

use std::sync::Arc;

use kiln_protocol::class::BenchmarkClass;
use kiln_protocol::{PublicKey, Rates, sha256};
use kiln_runtime::Runtime;
use kiln_scheduler::matching::Candidate;
use kiln_scheduler::policy::{Pins, PolicyConfig, PolicyHost};

use crate::common::{id, rates};

/// The plugins and test guests, by file stem.
pub const RANK_DEFAULT: &str = "kiln_plugin_rank_default";
pub const RANK_LOCALITY_FIRST: &str = "kiln_plugin_rank_locality_first";
pub const PRICE_LOWEST_FLOOR: &str = "kiln_plugin_price_lowest_floor";
pub const PRICE_GUARD: &str = "kiln_plugin_price_guard";
pub const HOSTILE: &str = "kiln_test_hostile_policy";

/// The bytes of a built guest.
pub fn plugin(name: &str) -> Vec<u8> {
    kiln_test_guests::guest(name)
}

/// The hex SHA-256 of a built guest.
pub fn pin_of(name: &str) -> String {
    hex::encode(sha256(&[&plugin(name)]).0)
}

/// A policy runtime as a scheduler builds one, with a few more instance
/// slots (tests call from several threads), and its scratch root.
pub fn runtime() -> (Runtime, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let mut config = kiln_scheduler::policy::runtime_config(scratch.path());
    config.max_concurrent_jobs = 8;
    (Runtime::new(config).unwrap(), scratch)
}

/// A policy host that pins every guest named, with `configure` applied.
pub fn host_with(
    names: &[&str],
    configure: impl FnOnce(&mut PolicyConfig),
) -> (PolicyHost, tempfile::TempDir) {
    let pins: Vec<String> = names.iter().map(|name| pin_of(name)).collect();
    let mut config = PolicyConfig::new(Pins::from_hex(&pins).unwrap());
    configure(&mut config);
    let (runtime, scratch) = runtime();
    (PolicyHost::new(runtime, config).unwrap(), scratch)
}

/// A policy host that pins every guest named, with the default limits.
pub fn host(names: &[&str]) -> (PolicyHost, tempfile::TempDir) {
    host_with(names, |_| {})
}

/// A candidate with every field given.
pub fn candidate(
    label: &str,
    floor: Rates,
    reputation: u32,
    benchmark: u8,
    region: &str,
) -> Candidate {
    Candidate {
        node: id(label),
        floor,
        reputation,
        benchmark_class: BenchmarkClass(benchmark),
        stake_tier: 1,
        free_slots: 4,
        max_jobs: 4,
        region: Arc::from(region),
    }
}

/// A plain candidate at `rate`.
pub fn cheap(label: &str, rate: u64) -> Candidate {
    candidate(label, rates(rate), 500, 5, "eu-west")
}

/// Node ids in the order `order` names them.
pub fn nodes(candidates: &[Candidate], order: &[usize]) -> Vec<PublicKey> {
    order.iter().map(|&i| candidates[i].node).collect()
}
