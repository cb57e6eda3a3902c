//! kiln-scheduler's integration tests, one binary (see STYLE.md). Tests that
//! touch the store run on SQLite and on PostgreSQL (`on_both_stores!`); the
//! PostgreSQL half needs `KILN_TEST_POSTGRES_URL`, which `cargo xtask test`
//! sets after starting a server, and otherwise says it skipped.

mod api;
mod common;
mod failover;
mod flow;
mod links;
mod policy;
mod registration;
mod replicas;
mod storage;
