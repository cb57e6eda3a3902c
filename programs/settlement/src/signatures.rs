//! Signatures the Ed25519 precompile verified in this transaction.
//!
//! The instruction that needs a signature finds the precompile instruction
//! immediately before itself, through the instructions sysvar, and only
//! after these checks believes it:
//! 1. the sysvar account is the real instructions sysvar (a look-alike
//!    account with forged contents is how Wormhole was drained);
//! 2. the instruction before this one belongs to the Ed25519 program (so the
//!    runtime verified it, or the transaction would not be running);
//! 3. it carries exactly the number of signatures expected;
//! 4. every offset points inside that same instruction and in bounds
//!    ([`kiln_settlement_interface::ed25519::signed_entry`]);
//! 5. each key and message is exactly the one required.
//!
//! Reading goes through pinocchio's checked loaders (`load_current_index`,
//! `load_instruction_at`), which bound every index by the sysvar's own count.

use kiln_protocol::Receipt;
use kiln_protocol::receipt::{RECEIPT_DOMAIN, RECEIPT_LEN};
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::ed25519::{
    ED25519_PROGRAM_ID, INSTRUCTIONS_SYSVAR_ID, signature_count, signed_entry,
};
use pinocchio::AccountView;
use pinocchio::error::ProgramError;
use pinocchio::sysvars::instructions::Instructions;

use crate::accounts::{OrFail, fail, require};

/// Runs `check` on the data of the Ed25519 instruction right before this one,
/// after checks 1 to 3 of the module docs.
fn with_precompile_data<T>(
    sysvar: &AccountView,
    signatures: u8,
    check: impl FnOnce(&[u8]) -> Result<T, SettlementError>,
) -> Result<T, ProgramError> {
    require(
        sysvar.address().as_array() == &INSTRUCTIONS_SYSVAR_ID,
        SettlementError::InvalidInstructionsSysvar,
    )?;
    let instructions = Instructions::try_from(sysvar)?;
    let current = usize::from(instructions.load_current_index());
    let previous = current
        .checked_sub(1)
        .or_fail(SettlementError::MissingEd25519Instruction)?;
    let instruction = instructions
        .load_instruction_at(previous)
        .map_err(|_| fail(SettlementError::MissingEd25519Instruction))?;
    require(
        instruction.get_program_id().as_array() == &ED25519_PROGRAM_ID,
        SettlementError::MissingEd25519Instruction,
    )?;
    let data = instruction.get_instruction_data();
    require(
        signature_count(data).map_err(fail)? == signatures,
        SettlementError::SignatureCountMismatch,
    )?;
    check(data).map_err(fail)
}

/// Checks that `key` signed exactly `message` (one signature).
pub fn verify_single(
    sysvar: &AccountView,
    key: &[u8; 32],
    message: &[u8],
) -> Result<(), ProgramError> {
    with_precompile_data(sysvar, 1, |data| {
        let entry = signed_entry(data, 0)?;
        if entry.public_key != key {
            return Err(SettlementError::WrongNodeSigner);
        }
        if entry.message != message {
            return Err(SettlementError::SignedMessageMismatch);
        }
        Ok(())
    })
}

/// The receipt that `node_key` (first signature) and `renter_key` (second)
/// both signed, decoded with kiln-protocol's own strict decoder.
pub fn co_signed_receipt(
    sysvar: &AccountView,
    node_key: &[u8; 32],
    renter_key: &[u8; 32],
) -> Result<Receipt, ProgramError> {
    with_precompile_data(sysvar, 2, |data| {
        let node = signed_entry(data, 0)?;
        let renter = signed_entry(data, 1)?;
        if node.public_key != node_key {
            return Err(SettlementError::WrongNodeSigner);
        }
        if renter.public_key != renter_key {
            return Err(SettlementError::WrongRenterSigner);
        }
        if node.message != renter.message {
            return Err(SettlementError::SignedMessageMismatch);
        }
        let body = node
            .message
            .strip_prefix(RECEIPT_DOMAIN.as_slice())
            .filter(|body| body.len() == RECEIPT_LEN)
            .ok_or(SettlementError::InvalidReceipt)?;
        Receipt::from_bytes(body).map_err(|_| SettlementError::InvalidReceipt)
    })
}
