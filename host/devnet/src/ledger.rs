//! The scheduler's [`StakeLedger`] over a settlement client: what
//! `kiln scheduler serve --rpc` and the devnet's scheduler check a node's
//! declared stake against.

use std::sync::{Arc, Mutex};

use kiln_protocol::PublicKey;
use kiln_scheduler::{NodeOnChain, StakeLedger};
use kiln_settlement::{Chain, Settlement};
use kiln_settlement_interface::pda::node_address;
use kiln_settlement_interface::state::Node;
use solana_address::Address;

/// Reads node accounts through a settlement client, which may be shared
/// with others in the process (the devnet's one in-process chain).
pub struct SettlementLedger<C> {
    settlement: Arc<Mutex<Settlement<C>>>,
}

impl<C> SettlementLedger<C> {
    /// Reads through `settlement`.
    pub fn new(settlement: Arc<Mutex<Settlement<C>>>) -> Self {
        Self { settlement }
    }
}

impl<C> std::fmt::Debug for SettlementLedger<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettlementLedger").finish_non_exhaustive()
    }
}

impl<C: Chain + Send + 'static> StakeLedger for SettlementLedger<C> {
    fn node_of(&self, operator: &PublicKey) -> Result<Option<NodeOnChain>, String> {
        // A read leaves nothing half-done, so a panic elsewhere under the
        // lock does not make later reads wrong.
        let settlement = self
            .settlement
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let address = node_address(&Address::new_from_array(operator.0)).0;
        let node = settlement
            .try_read::<Node>(&address)
            .map_err(|error| error.to_string())?;
        Ok(node.map(|node| NodeOnChain {
            receipt_key: PublicKey(node.receipt_key),
            stake: node.stake,
        }))
    }
}
