//! Account checks and moves shared by every instruction.
//!
//! Each check returns its own [`SettlementError`], in the order the style
//! guide asks for: owner, then discriminator, then address (PDA), then signer
//! or authority. State is copied out with [`load`] and back with [`store`];
//! the layouts are small and fixed, so the copy costs little and no `unsafe`
//! cast of account bytes is needed.

use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::state::State;
use pinocchio::AccountView;
use pinocchio::Address;
use pinocchio::cpi::{Seed, Signer};
use pinocchio::error::ProgramError;
use pinocchio::sysvars::Sysvar;
use pinocchio::sysvars::clock::Clock;
use pinocchio::sysvars::rent::Rent;
use pinocchio_system::instructions::CreateAccount;

/// The system program's address.
pub const SYSTEM_PROGRAM_ID: Address = Address::new_from_array([0; 32]);

/// The program error for `error`.
pub fn fail(error: SettlementError) -> ProgramError {
    ProgramError::Custom(error.code())
}

/// Turns a checked operation's `None` into a settlement error.
pub trait OrFail<T> {
    /// `Ok(value)`, or `error` for `None`.
    fn or_fail(self, error: SettlementError) -> Result<T, ProgramError>;
}

impl<T> OrFail<T> for Option<T> {
    fn or_fail(self, error: SettlementError) -> Result<T, ProgramError> {
        self.ok_or_else(|| fail(error))
    }
}

/// `Ok` when `condition` holds, else `error`.
pub fn require(condition: bool, error: SettlementError) -> Result<(), ProgramError> {
    if condition { Ok(()) } else { Err(fail(error)) }
}

/// The account must have signed the transaction.
pub fn signer(account: &AccountView) -> Result<(), ProgramError> {
    require(account.is_signer(), SettlementError::MissingSigner)
}

/// The account must be writable.
pub fn writable(account: &AccountView) -> Result<(), ProgramError> {
    require(account.is_writable(), SettlementError::NotWritable)
}

/// The account must be the system program.
pub fn system_program(account: &AccountView) -> Result<(), ProgramError> {
    require(
        account.address() == &SYSTEM_PROGRAM_ID,
        SettlementError::InvalidSystemProgram,
    )
}

/// Reads a state account of type `T`: owned by this program, right type.
pub fn load<T: State>(account: &AccountView, program_id: &Address) -> Result<T, ProgramError> {
    if !account.owned_by(program_id) {
        let missing = account.lamports() == 0 && account.owned_by(&SYSTEM_PROGRAM_ID);
        return Err(fail(if missing {
            SettlementError::AccountNotInitialized
        } else {
            SettlementError::InvalidOwner
        }));
    }
    let data = account.try_borrow()?;
    T::unpack(&data).map_err(fail)
}

/// Writes `value` back into its account.
pub fn store<T: State>(account: &mut AccountView, value: &T) -> Result<(), ProgramError> {
    let mut data = account.try_borrow_mut()?;
    value.pack(&mut data).map_err(fail)
}

/// The account's address must be the PDA of `seeds` and the stored canonical
/// `bump` (one SHA-256, no bump search).
pub fn check_pda<const N: usize>(
    account: &AccountView,
    seeds: &[&[u8]; N],
    bump: u8,
    program_id: &Address,
) -> Result<(), ProgramError> {
    let expected = Address::derive_address(seeds, Some(bump), program_id);
    require(account.address() == &expected, SettlementError::InvalidPda)
}

/// The canonical bump of `seeds`, after checking the account is at that
/// address: an account at a non-canonical bump can never be created.
pub fn canonical_bump(
    account: &AccountView,
    seeds: &[&[u8]],
    program_id: &Address,
) -> Result<u8, ProgramError> {
    let (expected, bump) = Address::find_program_address(seeds, program_id);
    require(account.address() == &expected, SettlementError::InvalidPda)?;
    Ok(bump)
}

/// Creates the PDA `account` owned by this program, `space` bytes, funded by
/// `payer` with the rent-exempt minimum plus `extra`. `signer_seeds` are the
/// PDA's seeds with its canonical bump last.
pub fn create_pda(
    payer: &AccountView,
    account: &AccountView,
    signer_seeds: &[Seed<'_>],
    space: usize,
    extra: u64,
    program_id: &Address,
) -> Result<(), ProgramError> {
    let empty =
        account.lamports() == 0 && account.is_data_empty() && account.owned_by(&SYSTEM_PROGRAM_ID);
    require(empty, SettlementError::AccountAlreadyExists)?;
    let overflow = SettlementError::ArithmeticOverflow;
    let rent = Rent::get()?.try_minimum_balance(space)?;
    let lamports = rent.checked_add(extra).or_fail(overflow)?;
    CreateAccount {
        from: payer,
        to: account,
        lamports,
        space: u64::try_from(space).map_err(|_| fail(overflow))?,
        owner: program_id,
    }
    .invoke_signed(&[Signer::from(signer_seeds)])
}

/// Moves `amount` lamports out of the program-owned `from` into `to`.
pub fn move_lamports(
    from: &mut AccountView,
    to: &mut AccountView,
    amount: u64,
) -> Result<(), ProgramError> {
    let overflow = SettlementError::ArithmeticOverflow;
    let debited = from.lamports().checked_sub(amount).or_fail(overflow)?;
    let credited = to.lamports().checked_add(amount).or_fail(overflow)?;
    from.set_lamports(debited);
    to.set_lamports(credited);
    Ok(())
}

/// Moves every lamport of the program-owned `account` to `to` and deletes it.
pub fn close_into(account: &mut AccountView, to: &mut AccountView) -> Result<(), ProgramError> {
    let all = account.lamports();
    move_lamports(account, to, all)?;
    account.close()
}

/// The cluster's unix time.
pub fn now() -> Result<i64, ProgramError> {
    Ok(Clock::get()?.unix_timestamp)
}
