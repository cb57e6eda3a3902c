//! [`Chain`]: what a backend must do to carry settlement transactions and
//! reads. It is transport only; every settlement operation is built once, in
//! [`crate::Settlement`], from the interface crate's builders and
//! [`crate::tx::build`], whichever backend carries it.

use solana_account::Account;
use solana_address::Address;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signature::Signature;

use crate::error::Result;

/// What a confirmed transaction cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its signature (the transaction id).
    pub signature: Signature,
    /// Compute units the whole transaction used, when the backend reports it.
    pub compute_units: Option<u64>,
    /// Lamports the fee payer paid, when the backend reports it.
    pub fee: Option<u64>,
}

/// A Solana ledger the settlement program runs on.
pub trait Chain {
    /// Builds (see [`crate::tx::build`]), sends and confirms one transaction;
    /// the first signer pays. A program failure comes back decoded
    /// ([`crate::Error::Program`]).
    fn send(&mut self, instructions: &[Instruction], signers: &[&Keypair]) -> Result<Sent>;

    /// The accounts at `addresses`, `None` where there is none, in order.
    fn accounts(&self, addresses: &[Address]) -> Result<Vec<Option<Account>>>;

    /// Lamports at `address` (0 when there is no account).
    fn balance(&self, address: &Address) -> Result<u64>;

    /// The cluster clock's unix time, which deadlines and cooldowns use.
    fn now(&self) -> Result<i64>;

    /// Succeeds when the settlement program is deployed and executable.
    fn check_program(&self) -> Result<()>;

    /// Gives `address` `lamports` (an airdrop; a local or test cluster only).
    fn fund(&mut self, address: &Address, lamports: u64) -> Result<()>;

    /// Lamports an account of `len` data bytes needs to be rent-exempt.
    fn rent_exempt_minimum(&self, len: usize) -> Result<u64>;
}

impl<C: Chain + ?Sized> Chain for Box<C> {
    fn send(&mut self, instructions: &[Instruction], signers: &[&Keypair]) -> Result<Sent> {
        (**self).send(instructions, signers)
    }
    fn accounts(&self, addresses: &[Address]) -> Result<Vec<Option<Account>>> {
        (**self).accounts(addresses)
    }
    fn balance(&self, address: &Address) -> Result<u64> {
        (**self).balance(address)
    }
    fn now(&self) -> Result<i64> {
        (**self).now()
    }
    fn check_program(&self) -> Result<()> {
        (**self).check_program()
    }
    fn fund(&mut self, address: &Address, lamports: u64) -> Result<()> {
        (**self).fund(address, lamports)
    }
    fn rent_exempt_minimum(&self, len: usize) -> Result<u64> {
        (**self).rent_exempt_minimum(len)
    }
}
