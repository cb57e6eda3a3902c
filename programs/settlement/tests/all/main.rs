//! The settlement program's tests, in LiteSVM, against the real SBF ELF that
//! `cargo xtask sbf` builds (found through `KILN_SETTLEMENT_SO`). One binary
//! with a module per topic, to save link time. Each failure test asserts the
//! exact program error and the index of the instruction that raised it.

mod admin;
mod claim;
mod close_expire;
mod compute_units;
mod harness;
mod open_job;
mod signatures;
mod slash;
mod staking;
