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

/// A PDA to create, owned by this program.
///
/// One struct rather than six arguments: upstream LLVM passes arguments past
/// the fifth register on the caller's stack, which SBPF v0's separate frames
/// do not allow (an access violation at run time), so no call in this program
/// takes more than five registers of arguments.
pub struct NewAccount<'a> {
    /// Pays the rent and `extra`; signs.
    pub payer: &'a AccountView,
    /// The account to create, at the PDA of `signer_seeds`.
    pub account: &'a AccountView,
    /// The PDA's seeds with its canonical bump last.
    pub signer_seeds: &'a [Seed<'a>],
    /// Data size in bytes.
    pub space: usize,
    /// Lamports on top of the rent-exempt minimum (a job's escrow).
    pub extra: u64,
}

/// Creates `new.account`, funded with the rent-exempt minimum plus `new.extra`.
pub fn create_pda(new: &NewAccount<'_>, program_id: &Address) -> Result<(), ProgramError> {
    let account = new.account;
    let empty =
        account.lamports() == 0 && account.is_data_empty() && account.owned_by(&SYSTEM_PROGRAM_ID);
    require(empty, SettlementError::AccountAlreadyExists)?;
    let overflow = SettlementError::ArithmeticOverflow;
    let rent = crate::sysvar::rent_exempt_minimum(new.space)?;
    let lamports = rent.checked_add(new.extra).or_fail(overflow)?;
    CreateAccount {
        from: new.payer,
        to: account,
        lamports,
        space: u64::try_from(new.space).map_err(|_| fail(overflow))?,
        owner: program_id,
    }
    .invoke_signed(&[Signer::from(new.signer_seeds)])
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

pub use crate::sysvar::now;
