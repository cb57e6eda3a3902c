//! Integration tests of kiln-protocol, one binary with a module per topic.

mod chain;
mod common;
mod cost;
mod decode;
mod job;
mod manifest;
mod properties;
mod vectors;
