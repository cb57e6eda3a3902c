//! One module per subcommand.

pub mod chain;
pub mod run;
pub mod scheduler;
