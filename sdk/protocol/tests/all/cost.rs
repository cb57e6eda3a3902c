//! Cost of a receipt: exact figures, rounding, escrow cap, overflow.

use kiln_protocol::rates::usage_cost;
use kiln_protocol::{Cost, CostError, Digest, Parties, PublicKey, Rates, Receipt, Usage, cost};

fn receipt(usage: Usage) -> Receipt {
    let parties = Parties {
        job: PublicKey([1; 32]),
        node: PublicKey([2; 32]),
        renter: PublicKey([3; 32]),
    };
    Receipt::first(parties, usage, 0, Digest::ZERO)
}

const RATES: Rates = Rates {
    per_million_fuel: 7,
    per_gpu_second: 1_000_000,
    per_wall_second: 50,
};

#[test]
fn cost_sums_each_amount_at_its_unit() {
    // 3.5 million fuel at 7/million = 24 (24.5 rounded down),
    // 2.5 GPU seconds at 1e6/s = 2_500_000, 10.999 s wall at 50/s = 549 (549.95 down).
    let usage = Usage {
        fuel: 3_500_000,
        gpu_ns: 2_500_000_000,
        wall_ms: 10_999,
    };
    let cost = cost(&receipt(usage), &RATES, u64::MAX).unwrap();
    assert_eq!(
        cost,
        Cost {
            owed: 24 + 2_500_000 + 549,
            payable: 24 + 2_500_000 + 549
        }
    );
    assert!(!cost.is_capped());
}

#[test]
fn cost_is_capped_by_the_escrow() {
    let usage = Usage {
        fuel: 0,
        gpu_ns: 10_000_000_000,
        wall_ms: 0,
    };
    let cost = cost(&receipt(usage), &RATES, 1_234).unwrap();
    assert_eq!(
        cost,
        Cost {
            owed: 10_000_000,
            payable: 1_234
        }
    );
    assert!(cost.is_capped());
}

#[test]
fn zero_usage_costs_nothing() {
    assert_eq!(usage_cost(&Usage::default(), &RATES), Ok(0));
}

#[test]
fn a_total_beyond_u64_is_an_overflow_not_a_wrap() {
    let max = Rates {
        per_million_fuel: u64::MAX,
        per_gpu_second: u64::MAX,
        per_wall_second: u64::MAX,
    };
    let usage = Usage {
        fuel: u64::MAX,
        gpu_ns: u64::MAX,
        wall_ms: u64::MAX,
    };
    assert_eq!(usage_cost(&usage, &max), Err(CostError::Overflow));
    // Even a large escrow does not turn an overflow into a payable amount.
    assert_eq!(
        cost(&receipt(usage), &max, u64::MAX),
        Err(CostError::Overflow)
    );
    // Just at the edge: u64::MAX wall-seconds worth at rate 1 fits.
    let edge = Usage {
        fuel: 0,
        gpu_ns: 0,
        wall_ms: u64::MAX,
    };
    let one = Rates {
        per_wall_second: 1,
        ..Rates::default()
    };
    assert_eq!(usage_cost(&edge, &one), Ok(u64::MAX / 1000));
}

#[test]
fn rates_within_compares_every_rate() {
    let floor = Rates {
        per_million_fuel: 5,
        per_gpu_second: 5,
        per_wall_second: 5,
    };
    assert!(floor.within(&floor));
    assert!(!floor.within(&Rates {
        per_gpu_second: 4,
        ..floor
    }));
    assert!(Rates::default().within(&floor));
}
