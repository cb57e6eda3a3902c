//! Building a transaction, the one way both backends do it: the first signer
//! pays, every signer signs, and the serialized size is checked against the
//! packet limit before anything leaves the process.

use kiln_settlement_interface::program_id;
use solana_hash::Hash;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;

use crate::error::{Error, Result};

/// Largest serialized transaction a cluster accepts: one network packet
/// (1280-byte IPv6 minimum MTU less 48 bytes of headers, agave's
/// `PACKET_DATA_SIZE`). Anything larger is dropped by the validator, so it
/// is refused here, before sending, with [`Error::TransactionTooLarge`].
pub const MAX_TRANSACTION_SIZE: usize = 1280 - 40 - 8;

/// Signs `instructions` with `signers` (the first pays) on `blockhash`,
/// refusing a transaction over [`MAX_TRANSACTION_SIZE`].
pub fn build(
    instructions: &[Instruction],
    signers: &[&Keypair],
    blockhash: Hash,
) -> Result<Transaction> {
    let payer = signers
        .first()
        .map(|signer| signer.pubkey())
        .ok_or_else(|| Error::Key {
            path: Default::default(),
            reason: "a transaction needs at least one signer to pay for it".into(),
        })?;
    let transaction =
        Transaction::new_signed_with_payer(instructions, Some(&payer), signers, blockhash);
    let size = serialized_size(&transaction);
    if size > MAX_TRANSACTION_SIZE {
        return Err(Error::TransactionTooLarge {
            size,
            limit: MAX_TRANSACTION_SIZE,
        });
    }
    Ok(transaction)
}

/// The transaction's wire size (bincode, as RPC and validators serialize it).
pub fn serialized_size(transaction: &Transaction) -> usize {
    bincode::serialized_size(transaction)
        .ok()
        .and_then(|size| usize::try_from(size).ok())
        .unwrap_or(usize::MAX)
}

/// A closure for [`Error::from_transaction`]: whether instruction `index` of
/// `transaction` is the settlement program's.
pub fn is_settlement(transaction: &Transaction) -> impl Fn(u8) -> bool + '_ {
    move |index| {
        let message = &transaction.message;
        message
            .instructions
            .get(usize::from(index))
            .and_then(|ix| message.account_keys.get(usize::from(ix.program_id_index)))
            .is_some_and(|program| *program == program_id())
    }
}
