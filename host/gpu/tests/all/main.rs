//! kiln-gpu's tests, one binary: every test runs real GPU work on the
//! node's adapter (Mesa's lavapipe in CI) through the sandbox, and checks
//! the typed error and that the host is healthy after it.

mod common;
mod cuda;
mod examples;
mod linking;
mod metering;
mod release;
mod safety;
