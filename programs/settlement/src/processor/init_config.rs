//! `InitConfig`: create the config and the treasury, once per deployment.
//!
//! Whoever sends it first becomes `admin`, so a deployment sends it in the
//! same transaction as (or right after) the program deploy.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::instruction::ConfigParams;
use kiln_settlement_interface::pda::{CONFIG_SEED, TREASURY_SEED};
use kiln_settlement_interface::state::{BPS_DENOMINATOR, Config, State, Treasury};
use pinocchio::cpi::Seed;
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use crate::accounts::{
    NewAccount, canonical_bump, create_pda, fail, require, signer, store, system_program, writable,
};

/// Accounts: admin (s,w), config (w), treasury (w), system program.
pub fn process(
    program_id: &Address,
    accounts: &mut [AccountView],
    params: &ConfigParams,
) -> Result<(), ProgramError> {
    let [admin, config, treasury, system, ..] = accounts else {
        return Err(fail(SettlementError::NotEnoughAccounts));
    };
    signer(admin)?;
    writable(config)?;
    writable(treasury)?;
    system_program(system)?;
    let bps_ok = u64::from(params.fee_bps) <= BPS_DENOMINATOR
        && u64::from(params.slash_cap_bps) <= BPS_DENOMINATOR;
    require(bps_ok, SettlementError::InvalidConfig)?;

    let config_bump = canonical_bump(config, &[CONFIG_SEED], program_id)?;
    let bump = [config_bump];
    let seeds = [Seed::from(CONFIG_SEED), Seed::from(&bump)];
    let new = NewAccount {
        payer: admin,
        account: config,
        signer_seeds: &seeds,
        space: Config::LEN,
        extra: 0,
    };
    create_pda(&new, program_id)?;
    let state = Config {
        bump: config_bump,
        admin: admin.address().to_bytes(),
        scheduler: params.scheduler,
        fee_bps: params.fee_bps,
        slash_cap_bps: params.slash_cap_bps,
        tier_min_stake: params.tier_min_stake,
        unstake_cooldown_seconds: params.unstake_cooldown_seconds,
        expire_grace_seconds: params.expire_grace_seconds,
    };
    store(config, &state)?;

    let treasury_bump = canonical_bump(treasury, &[TREASURY_SEED], program_id)?;
    let bump = [treasury_bump];
    let seeds = [Seed::from(TREASURY_SEED), Seed::from(&bump)];
    let new = NewAccount {
        payer: admin,
        account: treasury,
        signer_seeds: &seeds,
        space: Treasury::LEN,
        extra: 0,
    };
    create_pda(&new, program_id)?;
    let state = Treasury {
        bump: treasury_bump,
        fees: 0,
        slashed: 0,
    };
    store(treasury, &state)
}
