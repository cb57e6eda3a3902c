//! One module per subcommand.

pub mod chain;
pub mod policy;
pub mod run;
pub mod scheduler;
pub mod scheduler_policy;
