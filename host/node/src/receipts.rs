//! A job's receipt stream, node side.
//!
//! Every metering interval the agent reads the job's cumulative usage and
//! [`ReceiptStream::issue`]s the next receipt of the chain, signed with the
//! node's receipt key; the renter sends back counter-signed copies, which
//! [`ReceiptStream::accept`] checks against what was issued. The newest
//! counter-signed receipt is what the node can be paid for on chain.
//!
//! The node must not run far ahead of what the renter has endorsed, or it works
//! for free: [`ReceiptStream::flow`] says [`Flow::Pause`] when more than
//! [`FlowLimits::max_unsigned`] issued receipts wait for a counter-signature,
//! or when the newest issued receipt's cost reaches
//! [`FlowLimits::escrow_high_water_bps`] of the escrow. The agent then pauses
//! the guest at its next fuel interval (kiln-runtime's `JobHandle::pause`) and
//! resumes it when `flow` says [`Flow::Run`] again.

use std::collections::VecDeque;

use kiln_protocol::signing::{SignatureError, SigningKey};
use kiln_protocol::{
    CostError, Digest, Parties, Rates, Receipt, SignedReceipt, Usage, cost, proof_of_execution,
};

/// Default [`FlowLimits::max_unsigned`]: three intervals (three seconds at the
/// default interval) of work at risk is what a node accepts from a slow renter.
pub const DEFAULT_MAX_UNSIGNED: u64 = 3;
/// Default [`FlowLimits::escrow_high_water_bps`]: pause at 95 % of the escrow,
/// so the last interval cannot run past what the escrow can pay.
pub const DEFAULT_ESCROW_HIGH_WATER_BPS: u16 = 9_500;

/// When the node stops the guest to wait for the renter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    /// Issued receipts that may wait for a counter-signature before the guest
    /// pauses.
    pub max_unsigned: u64,
    /// Share of the escrow, in basis points, that the newest issued receipt
    /// may cost before the guest pauses (the renter must top up or end it).
    pub escrow_high_water_bps: u16,
}

impl Default for FlowLimits {
    fn default() -> Self {
        Self {
            max_unsigned: DEFAULT_MAX_UNSIGNED,
            escrow_high_water_bps: DEFAULT_ESCROW_HIGH_WATER_BPS,
        }
    }
}

/// Whether the guest may run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Run.
    Run,
    /// Pause until the renter catches up.
    Pause(PauseReason),
}

/// Why the guest is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseReason {
    /// Too many issued receipts are not counter-signed.
    CounterSignaturesLag {
        /// Issued and not counter-signed.
        unsigned: u64,
    },
    /// The newest issued receipt costs nearly the whole escrow.
    EscrowNearlySpent {
        /// Its cost.
        owed: u64,
        /// The escrow.
        escrow: u64,
    },
}

/// Why a receipt could not be issued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IssueError {
    /// The usage is below the previous receipt's: the meter went backwards.
    #[error("usage went backwards (the previous receipt covers more)")]
    UsageWentBackwards,
    /// The final receipt was issued already; nothing follows it.
    #[error("the job's final receipt was issued already")]
    Finished,
    /// The node key does not match the job's parties.
    #[error("cannot sign: {0}")]
    Signature(#[from] SignatureError),
    /// The receipt's cost does not fit in 64 bits.
    #[error("cannot price the receipt: {0}")]
    Cost(#[from] CostError),
}

/// Why a counter-signed receipt was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AcceptError {
    /// It carries no counter-signature.
    #[error("receipt seq {seq} is not counter-signed")]
    NotCoSigned {
        /// Its seq.
        seq: u64,
    },
    /// The counter-signature does not verify.
    #[error("receipt seq {seq}: the renter's counter-signature does not verify")]
    BadCounterSignature {
        /// Its seq.
        seq: u64,
    },
    /// No receipt this node issued and still awaits has this seq and bytes.
    #[error("receipt seq {seq} is not one this node issued and awaits")]
    NotIssued {
        /// Its seq.
        seq: u64,
    },
}

/// One job's receipts, as the node issues them.
pub struct ReceiptStream {
    node_key: SigningKey,
    parties: Parties,
    rates: Rates,
    escrow: u64,
    limits: FlowLimits,
    /// Issued, not yet counter-signed, oldest first.
    awaiting: VecDeque<SignedReceipt>,
    last_issued: Option<Receipt>,
    payable: Option<SignedReceipt>,
    finished: bool,
}

impl ReceiptStream {
    /// A stream for a job whose rates and escrow the node accepted.
    pub fn new(
        node_key: SigningKey,
        parties: Parties,
        rates: Rates,
        escrow: u64,
        limits: FlowLimits,
    ) -> Self {
        Self {
            node_key,
            parties,
            rates,
            escrow,
            limits,
            awaiting: VecDeque::new(),
            last_issued: None,
            payable: None,
            finished: false,
        }
    }

    /// Signs the next receipt for cumulative `usage`.
    pub fn issue(&mut self, usage: Usage, flags: u8) -> Result<SignedReceipt, IssueError> {
        self.issue_with_output(usage, flags, Digest::ZERO)
    }

    /// Signs the job's final receipt, whose `output` is the proof of execution
    /// `SHA-256(job || result || node)`; nothing can be issued after it.
    pub fn issue_final(
        &mut self,
        usage: Usage,
        flags: u8,
        result: &[u8],
    ) -> Result<SignedReceipt, IssueError> {
        let proof = proof_of_execution(&self.parties.job, result, &self.parties.node);
        let signed = self.issue_with_output(usage, flags, proof)?;
        self.finished = true;
        Ok(signed)
    }

    fn issue_with_output(
        &mut self,
        usage: Usage,
        flags: u8,
        output: Digest,
    ) -> Result<SignedReceipt, IssueError> {
        if self.finished {
            return Err(IssueError::Finished);
        }
        let receipt = match &self.last_issued {
            None => Receipt::first(self.parties, usage, flags, output),
            Some(last) => last
                .next(usage, flags, output)
                .ok_or(IssueError::UsageWentBackwards)?,
        };
        cost(&receipt, &self.rates, self.escrow)?;
        let signed = SignedReceipt::signed_by_node(receipt, &self.node_key)?;
        self.last_issued = Some(receipt);
        self.awaiting.push_back(signed);
        Ok(signed)
    }

    /// Takes the renter's counter-signed copy of an issued receipt. Older
    /// receipts still awaiting are dropped: the newer one covers them.
    pub fn accept(&mut self, co_signed: &SignedReceipt) -> Result<(), AcceptError> {
        let seq = co_signed.receipt.seq;
        let Some(renter_signature) = co_signed.renter_signature else {
            return Err(AcceptError::NotCoSigned { seq });
        };
        let Some(position) = self.awaiting.iter().position(|issued| {
            issued.receipt == co_signed.receipt && issued.node_signature == co_signed.node_signature
        }) else {
            return Err(AcceptError::NotIssued { seq });
        };
        let mut endorsed = self.awaiting[position];
        endorsed.renter_signature = Some(renter_signature);
        if endorsed.verify_renter_signature() != Ok(true) {
            return Err(AcceptError::BadCounterSignature { seq });
        }
        self.awaiting.drain(..=position);
        self.payable = Some(endorsed);
        Ok(())
    }

    /// Whether the guest may run on.
    pub fn flow(&self) -> Flow {
        let unsigned = self.awaiting.len() as u64;
        if unsigned > self.limits.max_unsigned {
            return Flow::Pause(PauseReason::CounterSignaturesLag { unsigned });
        }
        if let Some(last) = &self.last_issued {
            let owed = cost(last, &self.rates, self.escrow).map_or(u64::MAX, |cost| cost.owed);
            let high_water =
                u128::from(self.escrow) * u128::from(self.limits.escrow_high_water_bps) / 10_000;
            if u128::from(owed) >= high_water {
                return Flow::Pause(PauseReason::EscrowNearlySpent {
                    owed,
                    escrow: self.escrow,
                });
            }
        }
        Flow::Run
    }

    /// The newest receipt both sides signed: what the node can claim.
    pub fn payable(&self) -> Option<&SignedReceipt> {
        self.payable.as_ref()
    }

    /// What [`Self::payable`] pays, capped by the escrow (0 before any).
    pub fn earned(&self) -> u64 {
        self.payable
            .as_ref()
            .and_then(|signed| cost(&signed.receipt, &self.rates, self.escrow).ok())
            .map_or(0, |cost| cost.payable)
    }

    /// Issued receipts still waiting for the renter.
    pub fn awaiting(&self) -> impl Iterator<Item = &SignedReceipt> {
        self.awaiting.iter()
    }

    /// True once the final receipt was issued.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests;
