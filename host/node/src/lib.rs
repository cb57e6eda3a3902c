//! The Kiln node agent: the one piece an operator runs.
//!
//! [`agent::Node`] registers a signed capability manifest ([`probe`] reads the
//! machine and runs the standard benchmark), keeps one WebSocket link to the
//! scheduler, accepts proposals by signing the on-chain terms, and runs
//! started jobs ([`execute`]): component fetched by SHA-256 and checked,
//! input sealed to this node's X25519 key opened, the guest run in
//! kiln-runtime under a receipt stream ([`receipts`], [`metering`]) that
//! pauses it when the renter lags, the result sealed to the renter, the
//! escrow closed with the highest co-signed receipt ([`settle`]). Its state
//! machine ([`state`]) logs `state.transition` events and [`status`] is what
//! `kiln node status` prints.

pub mod agent;
pub mod config;
pub mod execute;
pub mod keys;
pub mod metering;
pub mod probe;
pub mod receipts;
pub mod remote;
pub mod resend;
pub mod settle;
pub mod state;
pub mod status;

pub use agent::{Node, StartError};
pub use config::NodeConfig;
