//! What a co-signed receipt pays: shared by `Claim` and `Close`.
//!
//! Receipts are cumulative, so a job's whole bill is the cost of its newest
//! co-signed receipt, capped by the escrow; a claim pays the difference from
//! what was already paid and records the receipt's seq. The work is the same
//! whether the receipt's seq is 1 or a million: one cost (three u128
//! products), one subtraction, two lamport moves. Receipts with a seq at or
//! below the last one paid are refused, so a receipt pays at most once.
//!
//! Fee: `delta × fee_bps / 10 000`, rounded down, to the treasury; the
//! operator gets the rest, so rounding favours the node by under a lamport.
//! `fee_bps` is the config's value when the job opened.

use kiln_protocol::{Receipt, cost};
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::state::{BPS_DENOMINATOR, Job, Treasury};
use pinocchio::error::ProgramError;
use pinocchio::{AccountView, Address};

use crate::accounts::{OrFail, fail, move_lamports, require};

/// Lamports a receipt moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payout {
    /// To the node's operator.
    pub operator: u64,
    /// To the treasury.
    pub fee: u64,
}

/// Applies `receipt` to `job` (its address `job_address`) and says what to pay.
pub fn settle(
    job: &mut Job,
    job_address: &Address,
    receipt: &Receipt,
) -> Result<Payout, ProgramError> {
    require(
        receipt.job.0 == job_address.to_bytes(),
        SettlementError::ReceiptForAnotherJob,
    )?;
    require(
        receipt.node.0 == job.node_receipt_key && receipt.renter.0 == job.renter,
        SettlementError::ReceiptPartiesMismatch,
    )?;
    require(
        receipt.seq > job.last_paid_seq,
        SettlementError::StaleReceipt,
    )?;
    let overflow = SettlementError::ArithmeticOverflow;
    let bill = cost(receipt, &job.rates, job.escrow).map_err(|_| fail(overflow))?;
    let delta = bill
        .payable
        .checked_sub(job.paid)
        .or_fail(SettlementError::ReceiptBelowPaid)?;
    let fee = u128::from(delta)
        .checked_mul(u128::from(job.fee_bps))
        .and_then(|product| product.checked_div(u128::from(BPS_DENOMINATOR)))
        .and_then(|fee| u64::try_from(fee).ok())
        .or_fail(overflow)?;
    let operator = delta.checked_sub(fee).or_fail(overflow)?;
    job.paid = job.paid.checked_add(delta).or_fail(overflow)?;
    job.last_paid_seq = receipt.seq;
    Ok(Payout { operator, fee })
}

/// The treasury's account and its decoded state, passed together (see
/// `accounts::NewAccount` on why calls stay at five argument registers).
pub struct TreasuryAccount<'a> {
    /// The account, which receives the fee.
    pub account: &'a mut AccountView,
    /// Its state, whose `fees` counts the fee.
    pub state: &'a mut Treasury,
}

/// Moves `payout` out of the job account.
pub fn pay(
    payout: &Payout,
    job: &mut AccountView,
    operator: &mut AccountView,
    treasury: TreasuryAccount<'_>,
) -> Result<(), ProgramError> {
    treasury.state.fees = treasury
        .state
        .fees
        .checked_add(payout.fee)
        .or_fail(SettlementError::ArithmeticOverflow)?;
    move_lamports(job, operator, payout.operator)?;
    move_lamports(job, treasury.account, payout.fee)
}
