//! The sandbox's tests, against real components built for wasm32-wasip2 by
//! `cargo xtask guests` (the examples and the hostile test guests).

mod cache;
mod cleanup;
mod command;
mod common;
mod concurrency;
mod examples;
mod hostile;
mod load;
mod metering;
