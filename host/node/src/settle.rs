//! The node's side of settlement: check that a job's escrow is open on chain
//! before running it, and close it with the highest co-signed receipt after.
//!
//! [`Settler`] is a trait so the node runs against any chain the settlement
//! client speaks (the in-process program of `kiln demo`, or a cluster over
//! RPC) and so a node can run without chain access, leaving the claim to the
//! renter or anyone (the program lets anyone claim a co-signed receipt).

use std::sync::{Arc, Mutex};

use kiln_protocol::{PublicKey, SignedReceipt};
use kiln_settlement::{Chain, Settlement};
use kiln_settlement_interface::state::Job;
use solana_address::Address;
use solana_keypair::Keypair;

/// Why a settlement step failed.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The settlement client or the program refused.
    #[error(transparent)]
    Chain(#[from] kiln_settlement::Error),
    /// Another thread panicked while holding the chain.
    #[error("the chain handle is poisoned")]
    Poisoned,
}

/// What the node needs from the chain.
pub trait Settler: Send + Sync {
    /// The job account `escrow`, or `None` when it is not open.
    fn job(&self, escrow: &PublicKey) -> Result<Option<Job>, SettleError>;
    /// Closes the job at `escrow` (signed by the node key, which the program
    /// takes as the node's receipt key), paying the operator for `receipt`
    /// first when given and refunding the renter the rest.
    fn close(&self, escrow: &PublicKey, receipt: Option<&SignedReceipt>)
    -> Result<(), SettleError>;
}

/// A [`Settler`] over a settlement client shared with others in the process
/// (the demo's one in-process chain), signing with the node key, which also
/// pays the transaction fees.
pub struct ChainSettler<C> {
    settlement: Arc<Mutex<Settlement<C>>>,
    node_key: Keypair,
}

impl<C> ChainSettler<C> {
    /// Settles on `settlement`, signing with `node_key`.
    pub fn new(settlement: Arc<Mutex<Settlement<C>>>, node_key: Keypair) -> Self {
        Self {
            settlement,
            node_key,
        }
    }
}

impl<C: Chain + Send> Settler for ChainSettler<C> {
    fn job(&self, escrow: &PublicKey) -> Result<Option<Job>, SettleError> {
        let settlement = self.settlement.lock().map_err(|_| SettleError::Poisoned)?;
        Ok(settlement.try_read::<Job>(&Address::new_from_array(escrow.0))?)
    }

    fn close(
        &self,
        escrow: &PublicKey,
        receipt: Option<&SignedReceipt>,
    ) -> Result<(), SettleError> {
        let mut settlement = self.settlement.lock().map_err(|_| SettleError::Poisoned)?;
        settlement.close(&self.node_key, &Address::new_from_array(escrow.0), receipt)?;
        Ok(())
    }
}
