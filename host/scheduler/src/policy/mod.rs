//! Policy plugins: ranking and pricing as swappable, fuel-metered
//! WebAssembly components (`kiln:policy`, `wit/policy`).
//!
//! [`PolicyHost`] loads plugins on kiln-runtime's one engine (its pooling
//! allocator, fuel and epoch ticker) with its own [`wasmtime::component::Linker`]:
//! [`WasmRank`] and [`WasmPricing`] then sit behind the matcher's
//! [`RankPolicy`](crate::RankPolicy) and [`PricingPolicy`](crate::PricingPolicy)
//! traits, so the matcher's fallback to the built-ins covers them.
//!
//! What always holds:
//!
//! - **Pinned.** A plugin loads only when the SHA-256 of its bytes is one of
//!   the operator's [`Pins`]; otherwise [`PolicyLoadError::NotPinned`].
//! - **Pure.** A plugin imports nothing but the world's `types` and the
//!   inert stdio plumbing of Rust's standard library ([`wasi`]); anything
//!   else is refused at load, named. Each call gets a fresh instance, so
//!   nothing one call leaves in memory reaches the next.
//! - **Bounded.** Each call runs under [`PolicyConfig::fuel`], a deadline
//!   ([`PolicyConfig::deadline`], epochs) and a memory cap. A trap, running
//!   out of either, an index out of range or repeated, a quote outside the
//!   chosen floor and the job's maximum, or a flag naming no offer is a
//!   failed call: logged, counted by the matcher
//!   (`kiln_scheduler_policy_fallbacks_total`), and answered by the
//!   built-in for that call.
//! - **Crash-loop guard.** After [`PolicyConfig::crash_loop_failures`]
//!   failures in a row a plugin is unloaded; the matcher swaps in the
//!   built-in (`kiln_scheduler_policy_unloads_total`).
//! - **Swapped between picks.** A pick takes the policies once, so a swap
//!   (admin API, `kiln scheduler policy set`) never changes a policy midway
//!   through a match: in-flight picks finish on the old one.

mod bindings;
pub mod config;
mod convert;
pub mod error;
mod guard;
mod host;
mod load;
mod plugin;
pub mod wasi;

pub use config::{Pins, PolicyConfig, runtime_config};
pub use error::{PolicyCallError, PolicyLoadError};
pub use host::{PolicyHost, PolicyState};
pub use load::{LoadedPolicy, PolicyKind};
pub use plugin::{Cleared, WasmPricing, WasmRank};
