//! The Kiln node agent: the one piece an operator runs.
//!
//! Built so far: the receipt stream ([`receipts`]), which turns the sandbox's
//! running usage into a chain of node-signed receipts, accepts the renter's
//! counter-signatures, and says when the guest must pause because the renter
//! lags or the escrow is nearly spent; and the node's state machine
//! ([`state`]), whose transitions are logged as `state.transition` events.

pub mod keys;
pub mod metering;
pub mod receipts;
pub mod state;
