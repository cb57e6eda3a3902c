//! One module per instruction; `payout` is the logic `Claim` and `Close` share.

pub mod claim;
pub mod close;
pub mod expire;
pub mod init_config;
pub mod node;
pub mod open_job;
pub mod payout;
pub mod record_fault;
pub mod stake;

use kiln_settlement_interface::SettlementInstruction;
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use crate::accounts::fail;

/// Decodes `data` and runs the instruction.
pub fn process_instruction(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> Result<(), ProgramError> {
    match SettlementInstruction::decode(data).map_err(fail)? {
        SettlementInstruction::InitConfig(params) => {
            init_config::process(program_id, accounts, &params)
        }
        SettlementInstruction::RegisterNode(params) => {
            node::register(program_id, accounts, &params)
        }
        SettlementInstruction::UpdateNode(params) => node::update(program_id, accounts, &params),
        SettlementInstruction::Stake { amount } => stake::stake(program_id, accounts, amount),
        SettlementInstruction::BeginUnstake { amount } => {
            stake::begin_unstake(program_id, accounts, amount)
        }
        SettlementInstruction::Withdraw => stake::withdraw(program_id, accounts),
        SettlementInstruction::OpenJob(params) => open_job::process(program_id, accounts, &params),
        SettlementInstruction::Claim => claim::process(program_id, accounts),
        SettlementInstruction::Close { with_receipt } => {
            close::process(program_id, accounts, with_receipt)
        }
        SettlementInstruction::Expire => expire::process(program_id, accounts),
        SettlementInstruction::RecordFault {
            slash_bps,
            evidence,
        } => record_fault::process(program_id, accounts, slash_bps, evidence),
    }
}
