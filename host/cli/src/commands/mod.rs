//! One module per subcommand.

pub mod chain;
pub mod demo;
pub mod job;
pub mod keys;
pub mod node;
pub mod policy;
pub mod receipts;
pub mod run;
pub mod scheduler;
pub mod scheduler_policy;
