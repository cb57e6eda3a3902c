//! The renter's side of settlement: open the escrow with the node's signed
//! acceptance, read a job account, claim a co-signed receipt for a node
//! that vanished, expire an escrow after its deadline, read balances.

use std::sync::{Arc, Mutex};

use kiln_protocol::{PublicKey, SignedReceipt};
use kiln_settlement::{Acceptance, Chain, Settlement};
use kiln_settlement_interface::instruction::OpenJobParams;
use kiln_settlement_interface::state::Job;
use solana_address::Address;
use solana_keypair::Keypair;

use crate::error::{ClientError, Result};

/// What the renter needs from the chain.
pub trait Ledger: Send + Sync {
    /// Opens `renter`'s job on `operator`'s node with the node's acceptance.
    fn open_job(
        &self,
        renter: &Keypair,
        operator: &PublicKey,
        acceptance: &Acceptance,
        params: OpenJobParams,
    ) -> Result<()>;
    /// The job account at `escrow`, `None` once closed (or never opened).
    fn job(&self, escrow: &PublicKey) -> Result<Option<Job>>;
    /// Claims `receipt` for its node (anyone may); `payer` pays the fee.
    fn claim(&self, payer: &Keypair, receipt: &SignedReceipt) -> Result<()>;
    /// Refunds the renter of `escrow` after its deadline and grace.
    fn expire(&self, payer: &Keypair, escrow: &PublicKey) -> Result<()>;
    /// Lamports at `address`.
    fn balance(&self, address: &PublicKey) -> Result<u64>;
}

/// A [`Ledger`] over a settlement client shared in the process.
pub struct SharedLedger<C>(pub Arc<Mutex<Settlement<C>>>);

impl<C> SharedLedger<C> {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Settlement<C>>> {
        self.0
            .lock()
            .map_err(|_| ClientError::File("the chain handle is poisoned".into()))
    }
}

fn address(key: &PublicKey) -> Address {
    Address::new_from_array(key.0)
}

impl<C: Chain + Send> Ledger for SharedLedger<C> {
    fn open_job(
        &self,
        renter: &Keypair,
        operator: &PublicKey,
        acceptance: &Acceptance,
        params: OpenJobParams,
    ) -> Result<()> {
        self.lock()?
            .open_job(renter, &address(operator), acceptance, params)?;
        Ok(())
    }

    fn job(&self, escrow: &PublicKey) -> Result<Option<Job>> {
        Ok(self.lock()?.try_read::<Job>(&address(escrow))?)
    }

    fn claim(&self, payer: &Keypair, receipt: &SignedReceipt) -> Result<()> {
        self.lock()?.claim(payer, receipt)?;
        Ok(())
    }

    fn expire(&self, payer: &Keypair, escrow: &PublicKey) -> Result<()> {
        self.lock()?.expire(payer, &address(escrow))?;
        Ok(())
    }

    fn balance(&self, key: &PublicKey) -> Result<u64> {
        Ok(self.lock()?.balance(&address(key))?)
    }
}
