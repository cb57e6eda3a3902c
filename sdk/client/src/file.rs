//! Receipt files, and verifying one offline (`kiln receipts verify`).
//!
//! A receipts file is JSON: the job's parties, rates and escrow, then every
//! receipt as hex of its borsh `SignedReceipt`, first first, counter-signed
//! where the renter signed. Verifying it checks, receipt by receipt, what
//! the settlement program would: the chain (parties, seq, amounts only
//! growing, each `prev` the digest of the one before), the node's signature
//! on every receipt and the renter's on every counter-signed one; then the
//! cost of the payable receipt at the rates, capped by the escrow. With a
//! ledger it also reads what the program paid.

use kiln_protocol::chain::{ChainError, verify_chain};
use kiln_protocol::rates::cost;
use kiln_protocol::{PublicKey, Rates, SignedReceipt};
use kiln_scheduler_api::wire::RatesJson;
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};
use crate::job::parse_key;
use crate::ledger::Ledger;

/// The layout version this build writes and reads.
pub const RECEIPTS_FILE_VERSION: u8 = 1;

/// Largest receipts file read: a receipt a second for a week is ~600 000
/// receipts of ~500 hex bytes, so 512 MiB bounds any real job.
pub const MAX_RECEIPTS_FILE_BYTES: u64 = 512 << 20;

/// A job's receipts as the renter keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsFile {
    /// [`RECEIPTS_FILE_VERSION`].
    pub version: u8,
    /// The job (escrow account), hex.
    pub job: String,
    /// The node's receipt key, hex.
    pub node: String,
    /// The renter, hex.
    pub renter: String,
    /// The price.
    pub rates: RatesJson,
    /// Lamports escrowed.
    pub escrow: u64,
    /// Every receipt (hex `SignedReceipt`), first first.
    pub receipts: Vec<String>,
}

/// A verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Receipts in the chain.
    pub receipts: usize,
    /// The payable receipt: the highest counter-signed.
    pub payable: SignedReceipt,
    /// What it is owed at the rates.
    pub owed: u64,
    /// What it can be paid (owed capped by the escrow).
    pub payable_amount: u64,
    /// What the program says: `Some((paid, last_paid_seq))` while the job
    /// account is open, `None` when closed or no ledger was given.
    pub on_chain: Option<(u64, u64)>,
}

/// Why a file does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file is not a receipts file.
    #[error("{0}")]
    Malformed(String),
    /// Receipt `index` is the first bad one.
    #[error("receipt #{index} (seq {seq}) is bad: {reason}")]
    BadReceipt {
        /// Its position in the file, from 0.
        index: usize,
        /// Its seq.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// No receipt is counter-signed.
    #[error("{0}")]
    NothingPayable(String),
    /// The program paid something other than the file's receipts say.
    #[error(
        "on chain the program paid {paid} through seq {seq}, but the file's receipt at that seq costs {expected}"
    )]
    PaidMismatch {
        /// What it paid.
        paid: u64,
        /// Through which seq.
        seq: u64,
        /// What the file says that receipt is worth.
        expected: u64,
    },
}

impl ReceiptsFile {
    /// The file for `receipts` of `job`.
    pub fn new(
        job: PublicKey,
        node: PublicKey,
        renter: PublicKey,
        rates: Rates,
        escrow: u64,
        receipts: &[SignedReceipt],
    ) -> Self {
        Self {
            version: RECEIPTS_FILE_VERSION,
            job: job.to_string(),
            node: node.to_string(),
            renter: renter.to_string(),
            rates: rates.into(),
            escrow,
            receipts: receipts.iter().map(|r| hex::encode(r.to_bytes())).collect(),
        }
    }

    /// Reads a file written by [`Self::write`].
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let size = std::fs::metadata(path)
            .map_err(|e| ClientError::File(format!("{}: {e}", path.display())))?
            .len();
        if size > MAX_RECEIPTS_FILE_BYTES {
            return Err(ClientError::File(format!(
                "{} is {size} bytes, over the {MAX_RECEIPTS_FILE_BYTES}-byte cap",
                path.display()
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| ClientError::File(format!("{}: {e}", path.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::File(format!("{}: {e}", path.display())))
    }

    /// Writes the file (pretty JSON).
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| ClientError::File(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| ClientError::File(format!("{}: {e}", path.display())))
    }

    /// Verifies the file (see the module docs); with `ledger`, checks what
    /// the program paid too.
    pub fn verify(&self, ledger: Option<&dyn Ledger>) -> Result<Verified, VerifyError> {
        if self.version != RECEIPTS_FILE_VERSION {
            return Err(VerifyError::Malformed(format!(
                "version {} (this build reads {RECEIPTS_FILE_VERSION})",
                self.version
            )));
        }
        let key = |what: &str, text: &str| {
            parse_key(text)
                .ok_or_else(|| VerifyError::Malformed(format!("{what} is not 32 bytes of hex")))
        };
        let job = key("job", &self.job)?;
        let node = key("node", &self.node)?;
        let renter = key("renter", &self.renter)?;
        let mut receipts = Vec::with_capacity(self.receipts.len());
        for (index, text) in self.receipts.iter().enumerate() {
            let decoded = hex::decode(text)
                .map_err(|e| e.to_string())
                .and_then(|bytes| SignedReceipt::from_bytes(&bytes).map_err(|e| e.to_string()))
                .map_err(|reason| VerifyError::BadReceipt {
                    index,
                    seq: 0,
                    reason,
                })?;
            let r = &decoded.receipt;
            if r.job != job || r.node != node || r.renter != renter {
                return Err(VerifyError::BadReceipt {
                    index,
                    seq: r.seq,
                    reason: "it names another job, node or renter than the file".into(),
                });
            }
            receipts.push(decoded);
        }
        let payable = *verify_chain(&receipts).map_err(|error| match error {
            ChainError::BadLink { index, seq, error } => VerifyError::BadReceipt {
                index,
                seq,
                reason: error.to_string(),
            },
            other => VerifyError::NothingPayable(other.to_string()),
        })?;
        let rates: Rates = self.rates.into();
        let worth = |receipt: &SignedReceipt| {
            cost(&receipt.receipt, &rates, self.escrow).map_err(|e| VerifyError::BadReceipt {
                index: 0,
                seq: receipt.receipt.seq,
                reason: e.to_string(),
            })
        };
        let value = worth(&payable)?;
        let mut on_chain = None;
        if let Some(ledger) = ledger {
            let account = ledger
                .job(&job)
                .map_err(|e| VerifyError::Malformed(format!("reading the job account: {e}")))?;
            if let Some(account) = account {
                on_chain = Some((account.paid, account.last_paid_seq));
                if account.last_paid_seq > 0 {
                    let expected = receipts
                        .iter()
                        .find(|r| r.receipt.seq == account.last_paid_seq)
                        .map(worth)
                        .transpose()?
                        .map(|c| c.payable);
                    if expected != Some(account.paid) {
                        return Err(VerifyError::PaidMismatch {
                            paid: account.paid,
                            seq: account.last_paid_seq,
                            expected: expected.unwrap_or(0),
                        });
                    }
                }
            }
        }
        Ok(Verified {
            receipts: receipts.len(),
            payable,
            owed: value.owed,
            payable_amount: value.payable,
            on_chain,
        })
    }
}
