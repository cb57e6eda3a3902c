//! Receipt-chain verification: which receipt of a job may be paid.
//!
//! A job's receipts form a hash chain. [`ReceiptChain`] checks it one receipt
//! at a time (the renter does this as receipts stream in; a verifier does it
//! over a whole file with [`verify_chain`]). A receipt is accepted only when:
//!
//! 1. its version and flags are valid;
//! 2. it names the same job, node and renter as the chain;
//! 3. its `seq` is at least 1 and strictly above the previous receipt's;
//! 4. none of its cumulative amounts is below the previous receipt's;
//! 5. its `prev` is the previous receipt's digest (zero for the first);
//! 6. the node's signature verifies, and the renter's counter-signature, when
//!    present, verifies too (a bad counter-signature is an error, not ignored).
//!
//! The payable receipt is the highest one the renter counter-signed. A node
//! alone cannot make one (it lacks the renter's key) and a renter alone cannot
//! either (it lacks the node's key). Checks 1–5 need no signatures and are
//! available without the `ed25519` feature through [`ReceiptChain::check_link`].

use crate::bytes::{Digest, PublicKey};
use crate::codec::DecodeError;
use crate::receipt::{Parties, Receipt};

/// Which cumulative amount went backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Amount {
    /// `fuel`.
    Fuel,
    /// `gpu_ns`.
    GpuNs,
    /// `wall_ms`.
    WallMs,
}

/// Why one receipt does not extend the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The receipt itself is invalid (version, reserved flags).
    #[error("invalid receipt: {0}")]
    Invalid(DecodeError),
    /// It names another job.
    #[error("receipt is for job {found}, the chain is for job {expected}")]
    JobMismatch {
        /// The chain's job.
        expected: PublicKey,
        /// The receipt's job.
        found: PublicKey,
    },
    /// It names another node.
    #[error("receipt is from node {found}, the chain is node {expected}'s")]
    NodeMismatch {
        /// The chain's node.
        expected: PublicKey,
        /// The receipt's node.
        found: PublicKey,
    },
    /// It names another renter.
    #[error("receipt is for renter {found}, the chain is renter {expected}'s")]
    RenterMismatch {
        /// The chain's renter.
        expected: PublicKey,
        /// The receipt's renter.
        found: PublicKey,
    },
    /// `seq` is 0, or not above the previous receipt's.
    #[error("seq {found} does not follow seq {previous}")]
    SeqNotIncreasing {
        /// The previous receipt's seq (0 before the first).
        previous: u64,
        /// This receipt's seq.
        found: u64,
    },
    /// A cumulative amount is below the previous receipt's.
    #[error("cumulative {amount:?} went down from {previous} to {found}")]
    AmountDecreased {
        /// Which amount.
        amount: Amount,
        /// The previous receipt's value.
        previous: u64,
        /// This receipt's value.
        found: u64,
    },
    /// `prev` is not the previous receipt's digest.
    #[error("prev is {found}, expected {expected}")]
    BrokenLink {
        /// The digest it should carry.
        expected: Digest,
        /// The digest it carries.
        found: Digest,
    },
    /// The node's signature does not verify.
    #[cfg(feature = "ed25519")]
    #[error("node signature invalid: {0}")]
    NodeSignature(crate::signing::SignatureError),
    /// The renter's counter-signature is present but does not verify.
    #[cfg(feature = "ed25519")]
    #[error("renter counter-signature invalid: {0}")]
    RenterSignature(crate::signing::SignatureError),
}

/// A chain that failed: which receipt broke it and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The chain holds no receipts.
    #[error("the receipt chain is empty")]
    Empty,
    /// A receipt does not extend the chain.
    #[error("receipt #{index} (seq {seq}) is the first bad link: {error}")]
    BadLink {
        /// Position in the chain, from 0.
        index: usize,
        /// The receipt's seq.
        seq: u64,
        /// What is wrong with it.
        error: LinkError,
    },
    /// Every receipt is valid but none is counter-signed, so nothing is payable.
    #[error("no receipt in the chain of {len} is counter-signed by the renter")]
    NothingCoSigned {
        /// How many receipts the chain holds.
        len: usize,
    },
}

/// Incremental verifier for one job's receipts. See the module docs.
#[derive(Debug, Clone)]
pub struct ReceiptChain {
    parties: Parties,
    last: Option<Receipt>,
    payable: Option<Receipt>,
    len: usize,
}

impl ReceiptChain {
    /// An empty chain for `parties`: the next receipt must be the job's first.
    pub fn new(parties: Parties) -> Self {
        Self {
            parties,
            last: None,
            payable: None,
            len: 0,
        }
    }

    /// A chain that continues after `last`, a receipt already verified and
    /// counter-signed (for example the last one claimed on chain).
    pub fn resume_after(last: Receipt) -> Self {
        Self {
            parties: last.parties(),
            last: Some(last),
            payable: Some(last),
            len: 0,
        }
    }

    /// The parties every receipt must name.
    pub fn parties(&self) -> Parties {
        self.parties
    }

    /// The newest accepted receipt.
    pub fn last(&self) -> Option<&Receipt> {
        self.last.as_ref()
    }

    /// The highest counter-signed receipt: what may be paid.
    pub fn payable(&self) -> Option<&Receipt> {
        self.payable.as_ref()
    }

    /// How many receipts were accepted (not counting a resumed-after receipt).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no receipt was accepted yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks 1–5 of the module docs: everything but the signatures.
    pub fn check_link(&self, receipt: &Receipt) -> Result<(), LinkError> {
        receipt.validate().map_err(LinkError::Invalid)?;
        let expected = self.parties;
        if receipt.job != expected.job {
            return Err(LinkError::JobMismatch {
                expected: expected.job,
                found: receipt.job,
            });
        }
        if receipt.node != expected.node {
            return Err(LinkError::NodeMismatch {
                expected: expected.node,
                found: receipt.node,
            });
        }
        if receipt.renter != expected.renter {
            return Err(LinkError::RenterMismatch {
                expected: expected.renter,
                found: receipt.renter,
            });
        }
        let previous_seq = self.last.map_or(0, |last| last.seq);
        if receipt.seq <= previous_seq {
            return Err(LinkError::SeqNotIncreasing {
                previous: previous_seq,
                found: receipt.seq,
            });
        }
        let previous = self.last.map(|last| last.usage()).unwrap_or_default();
        check_amount(Amount::Fuel, previous.fuel, receipt.fuel)?;
        check_amount(Amount::GpuNs, previous.gpu_ns, receipt.gpu_ns)?;
        check_amount(Amount::WallMs, previous.wall_ms, receipt.wall_ms)?;
        let expected_prev = self.last.map_or(Digest::ZERO, |last| last.digest());
        if receipt.prev != expected_prev {
            return Err(LinkError::BrokenLink {
                expected: expected_prev,
                found: receipt.prev,
            });
        }
        Ok(())
    }

    /// Verifies `signed` (links and signatures) and appends it. On error the
    /// chain is unchanged.
    #[cfg(feature = "ed25519")]
    pub fn push(&mut self, signed: &crate::receipt::SignedReceipt) -> Result<(), LinkError> {
        self.check_link(&signed.receipt)?;
        signed
            .verify_node_signature()
            .map_err(LinkError::NodeSignature)?;
        let co_signed = signed
            .verify_renter_signature()
            .map_err(LinkError::RenterSignature)?;
        self.last = Some(signed.receipt);
        if co_signed {
            self.payable = Some(signed.receipt);
        }
        self.len = self.len.saturating_add(1);
        Ok(())
    }
}

fn check_amount(amount: Amount, previous: u64, found: u64) -> Result<(), LinkError> {
    if found < previous {
        return Err(LinkError::AmountDecreased {
            amount,
            previous,
            found,
        });
    }
    Ok(())
}

/// Verifies a whole chain, first receipt first, and returns the payable one
/// (the highest counter-signed) or the first bad link.
#[cfg(feature = "ed25519")]
pub fn verify_chain(
    receipts: &[crate::receipt::SignedReceipt],
) -> Result<&crate::receipt::SignedReceipt, ChainError> {
    let first = receipts.first().ok_or(ChainError::Empty)?;
    let mut chain = ReceiptChain::new(first.receipt.parties());
    let mut payable = None;
    for (index, signed) in receipts.iter().enumerate() {
        chain.push(signed).map_err(|error| ChainError::BadLink {
            index,
            seq: signed.receipt.seq,
            error,
        })?;
        if signed.is_co_signed() {
            payable = Some(signed);
        }
    }
    payable.ok_or(ChainError::NothingCoSigned {
        len: receipts.len(),
    })
}
