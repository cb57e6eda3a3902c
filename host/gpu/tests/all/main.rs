//! kiln-gpu's tests, one binary: every test runs real GPU work on the
//! node's adapter (Mesa's lavapipe in CI) through the sandbox.

mod common;
mod examples;
