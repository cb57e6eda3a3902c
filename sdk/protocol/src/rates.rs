//! Prices and the cost of a receipt, in integer base units (lamports on Solana).
//!
//! Each amount is priced per a fixed unit: fuel per million, GPU time per
//! second, wall-clock time per second. The cost of a receipt is the sum of the
//! three products, each rounded down (in the renter's favour, by less than one
//! base unit per amount), computed in `u128` so no product can wrap; a total
//! that does not fit in `u64` is [`CostError::Overflow`], never a wrap. What is
//! payable is that total capped by the escrow.
//!
//! Because each term is a non-decreasing function of a cumulative amount, a
//! receipt whose amounts are all lower (an older receipt in the same chain)
//! never costs more. The property tests check this.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::receipt::{Receipt, Usage};

/// Fuel is priced per this many units.
pub const FUEL_PRICE_UNIT: u128 = 1_000_000;
/// GPU time is priced per second, i.e. per this many nanoseconds.
pub const GPU_NS_PRICE_UNIT: u128 = 1_000_000_000;
/// Wall-clock time is priced per second, i.e. per this many milliseconds.
pub const WALL_MS_PRICE_UNIT: u128 = 1_000;

/// Prices in base units. A node's floor, a renter's maximum, or the rates a
/// job's escrow was opened at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Rates {
    /// Base units per million fuel.
    pub per_million_fuel: u64,
    /// Base units per second of GPU time.
    pub per_gpu_second: u64,
    /// Base units per second of wall-clock time.
    pub per_wall_second: u64,
}

impl Rates {
    /// True when no rate of `self` exceeds the same rate of `max`: a node
    /// whose floor is within a job's maximum can take the job.
    pub fn within(&self, max: &Rates) -> bool {
        self.per_million_fuel <= max.per_million_fuel
            && self.per_gpu_second <= max.per_gpu_second
            && self.per_wall_second <= max.per_wall_second
    }
}

/// Why a cost could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// The total does not fit in 64 bits of base units.
    #[error("cost overflows 64 bits of base units")]
    Overflow,
}

/// What a receipt is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cost {
    /// The full price of the usage at the rates.
    pub owed: u64,
    /// `owed` capped by the escrow: what can actually be paid.
    pub payable: u64,
}

impl Cost {
    /// True when the escrow does not cover what is owed.
    pub fn is_capped(&self) -> bool {
        self.payable < self.owed
    }
}

/// The price of `usage` at `rates`, uncapped.
pub fn usage_cost(usage: &Usage, rates: &Rates) -> Result<u64, CostError> {
    let term = |amount: u64, rate: u64, unit: u128| -> Result<u128, CostError> {
        u128::from(amount)
            .checked_mul(u128::from(rate))
            .map(|product| product / unit)
            .ok_or(CostError::Overflow)
    };
    let fuel = term(usage.fuel, rates.per_million_fuel, FUEL_PRICE_UNIT)?;
    let gpu = term(usage.gpu_ns, rates.per_gpu_second, GPU_NS_PRICE_UNIT)?;
    let wall = term(usage.wall_ms, rates.per_wall_second, WALL_MS_PRICE_UNIT)?;
    let total = fuel
        .checked_add(gpu)
        .and_then(|sum| sum.checked_add(wall))
        .ok_or(CostError::Overflow)?;
    u64::try_from(total).map_err(|_| CostError::Overflow)
}

/// What `receipt` is worth at `rates`, capped by `escrow`.
pub fn cost(receipt: &Receipt, rates: &Rates, escrow: u64) -> Result<Cost, CostError> {
    let owed = usage_cost(&receipt.usage(), rates)?;
    Ok(Cost {
        owed,
        payable: owed.min(escrow),
    })
}
