//! Instruction builders for the host and clients (feature `client`).
//!
//! Each builder derives the PDAs itself and lists accounts in the order the
//! program reads them (see [`crate::instruction`]), so a caller cannot pass a
//! wrong PDA by mistake; tests that want a wrong one edit the result.

use alloc::vec;
use alloc::vec::Vec;

use kiln_protocol::signing::{SigningKey, public_key, sign};
use kiln_protocol::{Receipt, SignedReceipt};
use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};

use crate::acceptance::{Terms, acceptance_message};
use crate::ed25519::{ED25519_PROGRAM_ID, INSTRUCTIONS_SYSVAR_ID, instruction_data};
use crate::instruction::{
    ConfigParams, MAX_INSTRUCTION_LEN, NodeParams, OpenJobParams, SettlementInstruction,
};
use crate::pda::{config_address, job_address, node_address, treasury_address};
use crate::program_id;

/// The system program's address.
pub const SYSTEM_PROGRAM: Address = Address::new_from_array([0; 32]);
/// The instructions sysvar's address.
pub const INSTRUCTIONS_SYSVAR: Address = Address::new_from_array(INSTRUCTIONS_SYSVAR_ID);
/// The Ed25519 precompile's address.
pub const ED25519_PROGRAM: Address = Address::new_from_array(ED25519_PROGRAM_ID);

fn instruction(data: SettlementInstruction, accounts: Vec<AccountMeta>) -> Instruction {
    let mut buffer = [0u8; MAX_INSTRUCTION_LEN];
    Instruction {
        program_id: program_id(),
        accounts,
        data: data.encode(&mut buffer).to_vec(),
    }
}

/// `InitConfig`, paid by `admin`.
pub fn init_config(admin: &Address, params: ConfigParams) -> Instruction {
    let accounts = vec![
        AccountMeta::new(*admin, true),
        AccountMeta::new(config_address().0, false),
        AccountMeta::new(treasury_address().0, false),
        AccountMeta::new_readonly(SYSTEM_PROGRAM, false),
    ];
    instruction(SettlementInstruction::InitConfig(params), accounts)
}

/// `RegisterNode`, paid by `operator`.
pub fn register_node(operator: &Address, params: NodeParams) -> Instruction {
    let accounts = vec![
        AccountMeta::new(*operator, true),
        AccountMeta::new(node_address(operator).0, false),
        AccountMeta::new_readonly(SYSTEM_PROGRAM, false),
    ];
    instruction(SettlementInstruction::RegisterNode(params), accounts)
}

/// `UpdateNode`.
pub fn update_node(operator: &Address, params: NodeParams) -> Instruction {
    let accounts = vec![
        AccountMeta::new_readonly(*operator, true),
        AccountMeta::new(node_address(operator).0, false),
    ];
    instruction(SettlementInstruction::UpdateNode(params), accounts)
}

/// `Stake` `amount` lamports from `operator`.
pub fn stake(operator: &Address, amount: u64) -> Instruction {
    let accounts = vec![
        AccountMeta::new(*operator, true),
        AccountMeta::new(node_address(operator).0, false),
        AccountMeta::new_readonly(SYSTEM_PROGRAM, false),
    ];
    instruction(SettlementInstruction::Stake { amount }, accounts)
}

/// `BeginUnstake` of `amount` lamports.
pub fn begin_unstake(operator: &Address, amount: u64) -> Instruction {
    let accounts = vec![
        AccountMeta::new_readonly(*operator, true),
        AccountMeta::new(node_address(operator).0, false),
    ];
    instruction(SettlementInstruction::BeginUnstake { amount }, accounts)
}

/// `Withdraw` what finished its cooldown.
pub fn withdraw(operator: &Address) -> Instruction {
    let accounts = vec![
        AccountMeta::new(*operator, true),
        AccountMeta::new_readonly(config_address().0, false),
        AccountMeta::new(node_address(operator).0, false),
    ];
    instruction(SettlementInstruction::Withdraw, accounts)
}

/// `OpenJob` by `renter` on `operator`'s node. Needs [`acceptance_signature`] before it.
pub fn open_job(renter: &Address, operator: &Address, params: OpenJobParams) -> Instruction {
    let accounts = vec![
        AccountMeta::new(*renter, true),
        AccountMeta::new_readonly(config_address().0, false),
        AccountMeta::new_readonly(node_address(operator).0, false),
        AccountMeta::new(job_address(renter, params.job_id).0, false),
        AccountMeta::new_readonly(SYSTEM_PROGRAM, false),
        AccountMeta::new_readonly(INSTRUCTIONS_SYSVAR, false),
    ];
    instruction(SettlementInstruction::OpenJob(params), accounts)
}

/// `Claim` on `job`, paying `operator`. Needs [`receipt_signatures`] before it.
pub fn claim(job: &Address, operator: &Address) -> Instruction {
    let accounts = vec![
        AccountMeta::new(*job, false),
        AccountMeta::new(*operator, false),
        AccountMeta::new(treasury_address().0, false),
        AccountMeta::new_readonly(INSTRUCTIONS_SYSVAR, false),
    ];
    instruction(SettlementInstruction::Claim, accounts)
}

/// `Close` `job` on `operator`'s node, signed by `closer`: the operator
/// itself, or the node's receipt key (so the operator's wallet can stay off
/// the node's machine). The pay goes to `operator` either way.
pub fn close(
    closer: &Address,
    operator: &Address,
    job: &Address,
    renter: &Address,
    with_receipt: bool,
) -> Instruction {
    let accounts = vec![
        AccountMeta::new_readonly(*closer, true),
        AccountMeta::new(*operator, false),
        AccountMeta::new(*job, false),
        AccountMeta::new(*renter, false),
        AccountMeta::new(node_address(operator).0, false),
        AccountMeta::new(treasury_address().0, false),
        AccountMeta::new_readonly(INSTRUCTIONS_SYSVAR, false),
    ];
    instruction(SettlementInstruction::Close { with_receipt }, accounts)
}

/// `Expire` `job`, refunding `renter`. Anyone may send it.
pub fn expire(job: &Address, renter: &Address) -> Instruction {
    let accounts = vec![
        AccountMeta::new(*job, false),
        AccountMeta::new(*renter, false),
        AccountMeta::new_readonly(config_address().0, false),
    ];
    instruction(SettlementInstruction::Expire, accounts)
}

/// `RecordFault` against `operator`'s node, signed by the config's scheduler.
pub fn record_fault(
    scheduler: &Address,
    operator: &Address,
    slash_bps: u16,
    evidence: [u8; 32],
) -> Instruction {
    let accounts = vec![
        AccountMeta::new_readonly(*scheduler, true),
        AccountMeta::new_readonly(config_address().0, false),
        AccountMeta::new(node_address(operator).0, false),
        AccountMeta::new(treasury_address().0, false),
    ];
    let data = SettlementInstruction::RecordFault {
        slash_bps,
        evidence,
    };
    instruction(data, accounts)
}

/// An Ed25519 precompile instruction over `message` with each of `signatures`.
pub fn ed25519_instruction(signatures: &[([u8; 32], [u8; 64])], message: &[u8]) -> Instruction {
    Instruction {
        program_id: ED25519_PROGRAM,
        accounts: vec![],
        data: instruction_data(signatures, message),
    }
}

/// The precompile instruction that goes right before `OpenJob`: the node's
/// receipt key signing its acceptance of `terms`.
pub fn acceptance_signature(node_key: &SigningKey, terms: &Terms) -> Instruction {
    let message = acceptance_message(terms);
    let signature = sign(node_key, &message);
    ed25519_instruction(&[(public_key(node_key).0, signature.0)], &message)
}

/// The precompile instruction that goes right before `Claim` (or `Close`):
/// the node's signature, then the renter's, over the receipt's signing
/// message. `None` when the renter has not counter-signed yet.
pub fn receipt_signatures(signed: &SignedReceipt) -> Option<Instruction> {
    let renter_signature = signed.renter_signature?;
    let receipt: &Receipt = &signed.receipt;
    Some(ed25519_instruction(
        &[
            (receipt.node.0, signed.node_signature.0),
            (receipt.renter.0, renter_signature.0),
        ],
        &receipt.signing_message(),
    ))
}
