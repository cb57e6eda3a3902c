//! The settlement client's tests: every operation against the embedded
//! backend (the real SBF ELF in LiteSVM, found through `KILN_SETTLEMENT_SO`),
//! and the RPC backend against a JSON-RPC server on loopback that answers from
//! LiteSVM, so solana-client's `RpcClient` runs unchanged. One binary, a
//! module per topic.

mod embedded;
mod keys;
mod limits;
mod rpc;
mod rpc_server;
mod snapshot;
mod support;
