//! Kiln's scheduler: the live view of nodes, matching, failover, the durable
//! store and the HTTP + WebSocket API.
//!
//! - [`registry`]: registration with a signed capability manifest, stake
//!   tiers, the sybil pre-screen and replay refusal.
//! - [`stake`]: the declared stake checked against the settlement program.
//! - [`matching`]: filter, rank ([`RankPolicy`]) and clear the price
//!   ([`PricingPolicy`]); built-in defaults, swappable at run time.
//! - [`policy`]: policy plugins (`kiln:policy` components) behind those
//!   traits: pinned, fuel-metered, swapped at run time.
//! - [`scheduler`]: the service, its match loop and node links.
//! - [`jobs`]: renter actions and node reports; receipts relay.
//! - [`failover`]: silent nodes lose their jobs to the queue, with a fault.
//! - [`store`]: sqlx over SQLite (default) or PostgreSQL (replicas).
//! - [`api`]: the axum router, OpenAPI document, WebSocket links.
//!
//! The wire format (JSON shapes, link messages, signed messages) and the
//! node's side of a link are `kiln-scheduler-api`'s, so renters and nodes
//! depend on that crate, not on this one.
//!
//! The scheduler never holds keys that move funds and never sees a job's
//! input: it proposes an assignment that the renter and the node confirm,
//! and relays receipts both sides sign.

pub mod api;
pub mod config;
pub mod error;
pub mod failover;
pub mod jobs;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod registry;
pub mod relay;
pub mod scheduler;
pub mod server;
pub mod stake;
pub mod store;

pub use config::SchedulerConfig;
pub use error::SchedulerError;
pub use matching::{Candidate, DefaultPricing, DefaultRank, PricingPolicy, RankPolicy};
pub use scheduler::Scheduler;
pub use stake::{NodeOnChain, StakeLedger};
pub use store::Store;
