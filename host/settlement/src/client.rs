//! [`Settlement`]: every settlement operation, built once from the interface
//! crate's builders and carried by any [`Chain`].
//!
//! Operations that need a job's parties (claim, close, expire) read the job
//! account first, so the caller names only the job; the `*_instructions`
//! functions build the same instructions from a job already read, for callers
//! that batch or pre-build transactions.

use kiln_protocol::SignedReceipt;
use kiln_protocol::signing::{SigningKey, public_key, sign};
use kiln_settlement_interface::acceptance::{Terms, acceptance_message};
use kiln_settlement_interface::builders;
use kiln_settlement_interface::instruction::{ConfigParams, NodeParams, OpenJobParams};
use kiln_settlement_interface::pda::{job_address, node_address};
use kiln_settlement_interface::state::Job;
use solana_address::Address;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::chain::{Chain, Sent};
use crate::error::{Error, Result};

/// A node's signed acceptance of a job's terms, made off chain by the node
/// and handed to the renter, who opens the job with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acceptance {
    /// The node's receipt key.
    pub node_key: [u8; 32],
    /// Its signature over [`acceptance_message`] of the terms.
    pub signature: [u8; 64],
}

impl Acceptance {
    /// Signs the terms of `renter`'s job `params` on `operator`'s node.
    pub fn sign(
        node_key: &SigningKey,
        renter: &Address,
        operator: &Address,
        params: &OpenJobParams,
    ) -> Self {
        let message = acceptance_message(&terms(renter, operator, params));
        Self {
            node_key: public_key(node_key).0,
            signature: sign(node_key, &message).0,
        }
    }
}

/// The terms a node accepts for `renter`'s job `params` on `operator`'s node.
pub fn terms(renter: &Address, operator: &Address, params: &OpenJobParams) -> Terms {
    Terms {
        job: job_address(renter, params.job_id).0.to_bytes(),
        renter: renter.to_bytes(),
        node: node_address(operator).0.to_bytes(),
        rates: params.rates,
        escrow: params.escrow,
        deadline: params.deadline,
    }
}

/// The precompile instruction with both receipt signatures, then `Claim`.
pub fn claim_instructions(job: &Job, receipt: &SignedReceipt) -> Result<[Instruction; 2]> {
    let signatures = builders::receipt_signatures(receipt).ok_or(Error::NotCoSigned {
        seq: receipt.receipt.seq,
    })?;
    let job_account = Address::new_from_array(receipt.receipt.job.0);
    let operator = Address::new_from_array(job.operator);
    Ok([signatures, builders::claim(&job_account, &operator)])
}

/// `Close` of `job` at `job_account` signed by `closer` (the operator or the
/// node's receipt key), after the final receipt's signatures when there is one.
pub fn close_instructions(
    closer: &Address,
    job_account: &Address,
    job: &Job,
    final_receipt: Option<&SignedReceipt>,
) -> Result<Vec<Instruction>> {
    let operator = Address::new_from_array(job.operator);
    let renter = Address::new_from_array(job.renter);
    let mut instructions = Vec::with_capacity(2);
    if let Some(receipt) = final_receipt {
        instructions.push(
            builders::receipt_signatures(receipt).ok_or(Error::NotCoSigned {
                seq: receipt.receipt.seq,
            })?,
        );
    }
    let close = builders::close(
        closer,
        &operator,
        job_account,
        &renter,
        final_receipt.is_some(),
    );
    instructions.push(close);
    Ok(instructions)
}

/// The settlement program's operations over a [`Chain`].
pub struct Settlement<C> {
    chain: C,
}

impl<C: Chain> Settlement<C> {
    /// Operations over `chain`.
    pub fn new(chain: C) -> Self {
        Self { chain }
    }

    /// The backend.
    pub fn chain(&self) -> &C {
        &self.chain
    }

    /// The backend, mutably (the embedded clock, raw transactions).
    pub fn chain_mut(&mut self) -> &mut C {
        &mut self.chain
    }

    /// Sends `instructions`; the first signer pays.
    pub fn send(&mut self, instructions: &[Instruction], signers: &[&Keypair]) -> Result<Sent> {
        self.chain.send(instructions, signers)
    }

    /// Checks that the program is deployed (embedded: loaded from the ELF).
    pub fn check_program(&self) -> Result<()> {
        self.chain.check_program()
    }

    /// Creates the config and treasury; `admin` pays and becomes admin.
    pub fn init_config(&mut self, admin: &Keypair, params: ConfigParams) -> Result<Sent> {
        self.send(&[builders::init_config(&admin.pubkey(), params)], &[admin])
    }

    /// Registers `operator`'s node.
    pub fn register_node(&mut self, operator: &Keypair, params: NodeParams) -> Result<Sent> {
        let ix = builders::register_node(&operator.pubkey(), params);
        self.send(&[ix], &[operator])
    }

    /// Changes `operator`'s node.
    pub fn update_node(&mut self, operator: &Keypair, params: NodeParams) -> Result<Sent> {
        let ix = builders::update_node(&operator.pubkey(), params);
        self.send(&[ix], &[operator])
    }

    /// Adds `amount` lamports of stake from `operator`'s wallet.
    pub fn stake(&mut self, operator: &Keypair, amount: u64) -> Result<Sent> {
        self.send(&[builders::stake(&operator.pubkey(), amount)], &[operator])
    }

    /// Starts the cooldown on `amount` lamports of stake.
    pub fn begin_unstake(&mut self, operator: &Keypair, amount: u64) -> Result<Sent> {
        let ix = builders::begin_unstake(&operator.pubkey(), amount);
        self.send(&[ix], &[operator])
    }

    /// Takes out what finished its cooldown.
    pub fn withdraw(&mut self, operator: &Keypair) -> Result<Sent> {
        self.send(&[builders::withdraw(&operator.pubkey())], &[operator])
    }

    /// Opens `renter`'s job on `operator`'s node with the node's `acceptance`;
    /// returns the job's address.
    pub fn open_job(
        &mut self,
        renter: &Keypair,
        operator: &Address,
        acceptance: &Acceptance,
        params: OpenJobParams,
    ) -> Result<(Address, Sent)> {
        let message = acceptance_message(&terms(&renter.pubkey(), operator, &params));
        let instructions = [
            builders::ed25519_instruction(&[(acceptance.node_key, acceptance.signature)], &message),
            builders::open_job(&renter.pubkey(), operator, params),
        ];
        let sent = self.send(&instructions, &[renter])?;
        Ok((job_address(&renter.pubkey(), params.job_id).0, sent))
    }

    /// Claims a co-signed receipt; `payer` (anyone) pays the fee.
    pub fn claim(&mut self, payer: &Keypair, receipt: &SignedReceipt) -> Result<Sent> {
        let job = self.job(&Address::new_from_array(receipt.receipt.job.0))?;
        let instructions = claim_instructions(&job, receipt)?;
        self.send(&instructions, &[payer])
    }

    /// Claims several receipts (of different jobs) in one transaction, which
    /// must fit in one packet ([`Error::TransactionTooLarge`] otherwise).
    pub fn claim_batch(&mut self, payer: &Keypair, receipts: &[SignedReceipt]) -> Result<Sent> {
        let mut instructions = Vec::with_capacity(receipts.len().saturating_mul(2));
        for receipt in receipts {
            let job = self.job(&Address::new_from_array(receipt.receipt.job.0))?;
            instructions.extend(claim_instructions(&job, receipt)?);
        }
        self.send(&instructions, &[payer])
    }

    /// Closes `job`, signed by `closer`: its node's operator or receipt key
    /// (who also pays the fee). Pays the operator for `final_receipt` first
    /// when given, and refunds the renter the rest.
    pub fn close(
        &mut self,
        closer: &Keypair,
        job: &Address,
        final_receipt: Option<&SignedReceipt>,
    ) -> Result<Sent> {
        let state = self.job(job)?;
        let instructions = close_instructions(&closer.pubkey(), job, &state, final_receipt)?;
        self.send(&instructions, &[closer])
    }

    /// Refunds `job`'s renter after its deadline and grace; `payer` is anyone.
    pub fn expire(&mut self, payer: &Keypair, job: &Address) -> Result<Sent> {
        let state = self.job(job)?;
        let renter = Address::new_from_array(state.renter);
        self.send(&[builders::expire(job, &renter)], &[payer])
    }

    /// Records a fault against `operator`'s node, slashing `slash_bps` of its
    /// stake; `scheduler` must be the config's scheduler.
    pub fn record_fault(
        &mut self,
        scheduler: &Keypair,
        operator: &Address,
        slash_bps: u16,
        evidence: [u8; 32],
    ) -> Result<Sent> {
        let ix = builders::record_fault(&scheduler.pubkey(), operator, slash_bps, evidence);
        self.send(&[ix], &[scheduler])
    }

    /// Airdrops `lamports` to `address` (embedded or a test cluster).
    pub fn fund(&mut self, address: &Address, lamports: u64) -> Result<()> {
        self.chain.fund(address, lamports)
    }
}
