//! The program's errors: `ProgramError::Custom(code)` on chain.
//!
//! Codes are ABI. The enum is numbered and append-only: a variant is never
//! renumbered or reused, so a client built against an older interface still
//! names every error it knows correctly. `from_code` inverts `code`, and a test
//! walks every code to prove it.

/// Every way an instruction of the settlement program can fail, with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u32)]
pub enum SettlementError {
    /// The instruction data is empty, has an unknown tag, or has the wrong length.
    #[error("instruction data does not decode")]
    InvalidInstructionData = 0,
    /// Fewer accounts were passed than the instruction needs.
    #[error("not enough accounts for this instruction")]
    NotEnoughAccounts = 1,
    /// An account that must sign did not.
    #[error("a required signature is missing")]
    MissingSigner = 2,
    /// An account the instruction writes to was passed read-only.
    #[error("an account that must be writable is not")]
    NotWritable = 3,
    /// A state account is owned by another program.
    #[error("account is not owned by the settlement program")]
    InvalidOwner = 4,
    /// A state account holds another type, or a layout of the wrong size.
    #[error("account data is not the expected type")]
    InvalidDiscriminator = 5,
    /// An account's address is not the canonical PDA for its seeds.
    #[error("account address is not the canonical program-derived address")]
    InvalidPda = 6,
    /// The system program account is not the system program.
    #[error("system program account is not the system program")]
    InvalidSystemProgram = 7,
    /// The instructions sysvar account is not the real instructions sysvar.
    #[error("instructions sysvar account is not the instructions sysvar")]
    InvalidInstructionsSysvar = 8,
    /// A state account to be created already exists (or holds lamports or data).
    #[error("account to create already exists")]
    AccountAlreadyExists = 9,
    /// A state account to be read does not exist: never created, or closed.
    #[error("account does not exist or was closed")]
    AccountNotInitialized = 10,
    /// The signer is not the authority this instruction requires.
    #[error("signer is not the authority for this instruction")]
    Unauthorized = 11,
    /// Config values out of range (basis points above 10 000).
    #[error("config value out of range")]
    InvalidConfig = 12,
    /// Node parameters out of range (class above the highest tier, bad region).
    #[error("node parameters out of range")]
    InvalidNodeParameters = 13,
    /// A checked addition, subtraction or multiplication overflowed.
    #[error("arithmetic overflow")]
    ArithmeticOverflow = 14,
    /// An amount of zero where a positive amount is required.
    #[error("amount must be positive")]
    ZeroAmount = 15,
    /// Asked to unstake more than is staked.
    #[error("not enough stake")]
    InsufficientStake = 16,
    /// Withdraw with no unstake pending.
    #[error("nothing is waiting to be withdrawn")]
    NothingToWithdraw = 17,
    /// Withdraw before the unstake cooldown has passed.
    #[error("unstake cooldown has not elapsed")]
    CooldownNotElapsed = 18,
    /// The node's stake is below the config's lowest tier.
    #[error("node stake is below the minimum")]
    NodeUnderstaked = 19,
    /// A job's rates are below the node's price floor.
    #[error("job rates are below the node's price floor")]
    RatesBelowFloor = 20,
    /// A job's deadline is not in the future.
    #[error("job deadline is not in the future")]
    InvalidDeadline = 21,
    /// No Ed25519 precompile instruction sits right before this one.
    #[error("the previous instruction is not an Ed25519 precompile instruction")]
    MissingEd25519Instruction = 22,
    /// The precompile instruction verifies another number of signatures.
    #[error("the Ed25519 instruction carries the wrong number of signatures")]
    SignatureCountMismatch = 23,
    /// A precompile offset points into another instruction's data.
    #[error("an Ed25519 offset points outside the precompile instruction")]
    SignatureDataElsewhere = 24,
    /// A precompile offset or size points past the end of its data.
    #[error("an Ed25519 offset is out of bounds")]
    SignatureOffsetsOutOfBounds = 25,
    /// A signature is by another key than the node's receipt key.
    #[error("signed by a key other than the node's receipt key")]
    WrongNodeSigner = 26,
    /// A signature is by another key than the job's renter.
    #[error("signed by a key other than the renter")]
    WrongRenterSigner = 27,
    /// The signed message is not the one this instruction expects.
    #[error("the signed message is not the expected message")]
    SignedMessageMismatch = 28,
    /// The signed message is not a receipt this program reads.
    #[error("the signed message is not a valid receipt")]
    InvalidReceipt = 29,
    /// The receipt names another job (escrow account).
    #[error("receipt is for another job")]
    ReceiptForAnotherJob = 30,
    /// The receipt's node or renter key is not the job's.
    #[error("receipt names other parties than the job")]
    ReceiptPartiesMismatch = 31,
    /// The receipt's seq is not above the last one paid.
    #[error("receipt is not newer than the last one paid")]
    StaleReceipt = 32,
    /// The receipt is worth less than what was already paid.
    #[error("receipt is worth less than what was already paid")]
    ReceiptBelowPaid = 33,
    /// The payee account is not the job's node operator.
    #[error("payee is not the job's node operator")]
    WrongOperator = 34,
    /// The renter account is not the job's renter.
    #[error("account is not the job's renter")]
    WrongRenter = 35,
    /// The node account is not the job's node.
    #[error("account is not the job's node")]
    WrongNode = 36,
    /// Expire before the job's deadline plus grace.
    #[error("job has not expired yet")]
    JobNotExpired = 37,
    /// A slash above the config's cap.
    #[error("slash exceeds the configured cap")]
    SlashOverCap = 38,
    /// The node's stake is locked while the node is unstaking, or the reverse.
    #[error("node is not active")]
    NodeNotActive = 39,
}

impl SettlementError {
    /// Every error, in code order.
    pub const ALL: [SettlementError; 40] = [
        Self::InvalidInstructionData,
        Self::NotEnoughAccounts,
        Self::MissingSigner,
        Self::NotWritable,
        Self::InvalidOwner,
        Self::InvalidDiscriminator,
        Self::InvalidPda,
        Self::InvalidSystemProgram,
        Self::InvalidInstructionsSysvar,
        Self::AccountAlreadyExists,
        Self::AccountNotInitialized,
        Self::Unauthorized,
        Self::InvalidConfig,
        Self::InvalidNodeParameters,
        Self::ArithmeticOverflow,
        Self::ZeroAmount,
        Self::InsufficientStake,
        Self::NothingToWithdraw,
        Self::CooldownNotElapsed,
        Self::NodeUnderstaked,
        Self::RatesBelowFloor,
        Self::InvalidDeadline,
        Self::MissingEd25519Instruction,
        Self::SignatureCountMismatch,
        Self::SignatureDataElsewhere,
        Self::SignatureOffsetsOutOfBounds,
        Self::WrongNodeSigner,
        Self::WrongRenterSigner,
        Self::SignedMessageMismatch,
        Self::InvalidReceipt,
        Self::ReceiptForAnotherJob,
        Self::ReceiptPartiesMismatch,
        Self::StaleReceipt,
        Self::ReceiptBelowPaid,
        Self::WrongOperator,
        Self::WrongRenter,
        Self::WrongNode,
        Self::JobNotExpired,
        Self::SlashOverCap,
        Self::NodeNotActive,
    ];

    /// The code carried in `ProgramError::Custom`.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The error with `code`, if this interface knows it.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.get(usize::try_from(code).ok()?).copied()
    }

    /// The variant's name, for logs and the README's error table.
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvalidInstructionData => "InvalidInstructionData",
            Self::NotEnoughAccounts => "NotEnoughAccounts",
            Self::MissingSigner => "MissingSigner",
            Self::NotWritable => "NotWritable",
            Self::InvalidOwner => "InvalidOwner",
            Self::InvalidDiscriminator => "InvalidDiscriminator",
            Self::InvalidPda => "InvalidPda",
            Self::InvalidSystemProgram => "InvalidSystemProgram",
            Self::InvalidInstructionsSysvar => "InvalidInstructionsSysvar",
            Self::AccountAlreadyExists => "AccountAlreadyExists",
            Self::AccountNotInitialized => "AccountNotInitialized",
            Self::Unauthorized => "Unauthorized",
            Self::InvalidConfig => "InvalidConfig",
            Self::InvalidNodeParameters => "InvalidNodeParameters",
            Self::ArithmeticOverflow => "ArithmeticOverflow",
            Self::ZeroAmount => "ZeroAmount",
            Self::InsufficientStake => "InsufficientStake",
            Self::NothingToWithdraw => "NothingToWithdraw",
            Self::CooldownNotElapsed => "CooldownNotElapsed",
            Self::NodeUnderstaked => "NodeUnderstaked",
            Self::RatesBelowFloor => "RatesBelowFloor",
            Self::InvalidDeadline => "InvalidDeadline",
            Self::MissingEd25519Instruction => "MissingEd25519Instruction",
            Self::SignatureCountMismatch => "SignatureCountMismatch",
            Self::SignatureDataElsewhere => "SignatureDataElsewhere",
            Self::SignatureOffsetsOutOfBounds => "SignatureOffsetsOutOfBounds",
            Self::WrongNodeSigner => "WrongNodeSigner",
            Self::WrongRenterSigner => "WrongRenterSigner",
            Self::SignedMessageMismatch => "SignedMessageMismatch",
            Self::InvalidReceipt => "InvalidReceipt",
            Self::ReceiptForAnotherJob => "ReceiptForAnotherJob",
            Self::ReceiptPartiesMismatch => "ReceiptPartiesMismatch",
            Self::StaleReceipt => "StaleReceipt",
            Self::ReceiptBelowPaid => "ReceiptBelowPaid",
            Self::WrongOperator => "WrongOperator",
            Self::WrongRenter => "WrongRenter",
            Self::WrongNode => "WrongNode",
            Self::JobNotExpired => "JobNotExpired",
            Self::SlashOverCap => "SlashOverCap",
            Self::NodeNotActive => "NodeNotActive",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_back_to_its_variant() {
        for (index, error) in SettlementError::ALL.iter().enumerate() {
            let code = error.code();
            assert_eq!(code as usize, index, "{} is out of order", error.name());
            assert_eq!(SettlementError::from_code(code), Some(*error));
        }
        let past_the_end = u32::try_from(SettlementError::ALL.len()).unwrap();
        assert_eq!(SettlementError::from_code(past_the_end), None);
    }
}
