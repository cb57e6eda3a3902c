//! The client's errors. Program failures are decoded from the error code the
//! program returned into the interface's [`SettlementError`], so a caller (and
//! the CLI) can say which check refused and what it means, not just a number.

use std::path::PathBuf;

use kiln_settlement_interface::SettlementError;
use solana_address::Address;
use solana_instruction::error::InstructionError;
use solana_transaction_error::TransactionError;

/// Everything a settlement operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settlement program refused an instruction with one of its own codes.
    #[error("settlement program refused instruction {index}: {} (code {}): {error}", error.name(), error.code())]
    Program {
        /// Index of the refused instruction in the transaction.
        index: u8,
        /// The decoded program error; its `Display` says what it means.
        error: SettlementError,
    },
    /// The program returned a custom code this interface does not know
    /// (a newer program than this client).
    #[error("settlement program refused instruction {index} with unknown code {code}")]
    UnknownProgramCode {
        /// Index of the refused instruction.
        index: u8,
        /// The raw code.
        code: u32,
    },
    /// The runtime refused the transaction for a reason outside the program
    /// (fees, a bad signature in the precompile, an already-processed transaction).
    #[error("transaction failed: {0}")]
    Transaction(TransactionError),
    /// The serialized transaction is over the cluster's packet size, so it was
    /// never sent.
    #[error(
        "transaction is {size} bytes, over the {limit}-byte limit of one packet; send fewer instructions per transaction"
    )]
    TransactionTooLarge {
        /// Its serialized size.
        size: usize,
        /// [`crate::tx::MAX_TRANSACTION_SIZE`].
        limit: usize,
    },
    /// A receipt without the renter's counter-signature cannot be claimed.
    #[error("receipt seq {seq} is not counter-signed by the renter")]
    NotCoSigned {
        /// The receipt's seq.
        seq: u64,
    },
    /// A state account that should exist does not (never created, or closed).
    #[error("no {kind} account at {address}")]
    AccountNotFound {
        /// `Config`, `Node`, `Job` or `Treasury`.
        kind: &'static str,
        /// Where it was looked for.
        address: Address,
    },
    /// An account exists but does not decode as the expected type.
    #[error("account {address} is not a valid {kind}: {error}")]
    InvalidAccount {
        /// The expected type.
        kind: &'static str,
        /// The account.
        address: Address,
        /// Why it does not decode.
        error: SettlementError,
    },
    /// The cluster did not answer at all.
    #[error("cannot reach the Solana cluster at {url}: {reason}")]
    ClusterUnreachable {
        /// The RPC URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// No executable settlement program at its address on this cluster.
    #[error("the settlement program {program} is not deployed on {url} ({reason})")]
    ProgramNotDeployed {
        /// The program id.
        program: Address,
        /// The RPC URL.
        url: String,
        /// No account, or an account that is not an executable program.
        reason: &'static str,
    },
    /// Any other RPC failure.
    #[error("RPC request to {url} failed: {reason}")]
    Rpc {
        /// The RPC URL.
        url: String,
        /// The client's error, as text.
        reason: String,
    },
    /// The transaction was sent but never reached the requested commitment,
    /// even after refreshing the blockhash.
    #[error("transaction not confirmed after {attempts} attempts with fresh blockhashes")]
    NotConfirmed {
        /// Sends tried.
        attempts: u32,
    },
    /// The program ELF could not be found or loaded.
    #[error("settlement program ELF: {0}")]
    Elf(String),
    /// A keypair file is unreadable, malformed, or too open.
    #[error("keypair file {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The embedded chain's state file is unreadable or of another version.
    #[error("embedded chain state {path}: {reason}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// Decodes a failed transaction: a custom code raised by the instruction
    /// at `index` becomes a [`SettlementError`] when that instruction is the
    /// settlement program's (`is_program(index)`); anything else stays a
    /// runtime error.
    pub fn from_transaction(error: TransactionError, is_program: impl Fn(u8) -> bool) -> Self {
        match error {
            TransactionError::InstructionError(index, InstructionError::Custom(code))
                if is_program(index) =>
            {
                match SettlementError::from_code(code) {
                    Some(error) => Self::Program { index, error },
                    None => Self::UnknownProgramCode { index, code },
                }
            }
            other => Self::Transaction(other),
        }
    }

    /// The program error, when the program refused.
    pub fn program_error(&self) -> Option<SettlementError> {
        match self {
            Self::Program { error, .. } => Some(*error),
            _ => None,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
