//! What Kiln's policy plugins compute alike, in one place: plain Rust with
//! no dependencies, so it builds for `wasm32-wasip2` inside a plugin and for
//! the host, where its tests run. Each plugin generates its own bindings,
//! so the helpers take plain integers, not the bindings' records.

#![no_std]

/// Milliseconds in a second.
const MS_PER_SECOND: u128 = 1_000;
/// Fuel in one priced unit (rates are per million fuel).
const FUEL_PER_UNIT: u128 = 1_000_000;

/// The most a job can cost at a node's floor: its fuel budget, and its
/// deadline as wall time and, for GPU work, GPU time.
///
/// Costs come out in millionths of a base unit, so nothing is divided: the
/// order of two costs is the order of the exact amounts. (`u128` division
/// is a library call in wasm; one per term per candidate once dominated a
/// ranking call.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorstCase {
    fuel: u128,
    wall_ms_scaled: u128,
    gpu: bool,
}

impl WorstCase {
    /// The job's fuel budget, wall-clock deadline (ms), and whether it uses
    /// the GPU (then its deadline is priced as GPU time too).
    pub fn new(fuel: u64, wall_clock_ms: u64, gpu: bool) -> Self {
        Self {
            fuel: u128::from(fuel),
            // A millisecond is a thousandth of a second: scaled by a million
            // over a thousand it lands in the same millionths as fuel.
            wall_ms_scaled: u128::from(wall_clock_ms) * (FUEL_PER_UNIT / MS_PER_SECOND),
            gpu,
        }
    }

    /// The cost at a floor of `per_million_fuel`, `per_gpu_second` and
    /// `per_wall_second`, in millionths of a base unit; saturates at
    /// `u128::MAX` (a floor no job could pay).
    pub fn cost(&self, per_million_fuel: u64, per_gpu_second: u64, per_wall_second: u64) -> u128 {
        // Two u64 factors: the product is below 2^128.
        let fuel = self.fuel * u128::from(per_million_fuel);
        let wall = self
            .wall_ms_scaled
            .saturating_mul(u128::from(per_wall_second));
        let gpu = if self.gpu {
            self.wall_ms_scaled
                .saturating_mul(u128::from(per_gpu_second))
        } else {
            0
        };
        fuel.saturating_add(wall).saturating_add(gpu)
    }
}

/// True when no rate of `rates` exceeds the same rate of `max` (rates in the
/// order per million fuel, per GPU second, per wall second).
pub fn within(rates: [u64; 3], max: [u64; 3]) -> bool {
    rates.iter().zip(max).all(|(rate, max)| *rate <= max)
}

/// The floor of offer `chosen` (per million fuel, per GPU second, per wall
/// second, from the offers' floor columns) if it is within `max`: the
/// clearing rate of a pricing that charges the chosen node's own floor.
/// `None` when `chosen` names no offer or its floor exceeds `max`.
pub fn floor_within(chosen: u32, floors: [&[u64]; 3], max: [u64; 3]) -> Option<[u64; 3]> {
    let i = usize::try_from(chosen).ok()?;
    let floor = [*floors[0].get(i)?, *floors[1].get(i)?, *floors[2].get(i)?];
    within(floor, max).then_some(floor)
}

/// Expands, inside a plugin's `impl Guest` of the `pricing` world, to a
/// `clear` that quotes the chosen node's own floor when the job's maximum
/// covers it ([`floor_within`]) and declines otherwise. A macro because each
/// plugin generates its own bindings: it names that crate's `Job`, `Offers`,
/// `Quote` and `Rates`.
#[macro_export]
macro_rules! clear_at_the_chosen_floor {
    () => {
        fn clear(job: Job, chosen: u32, market: Offers) -> Option<Quote> {
            let max = &job.max_rates;
            let floors = [
                &market.floor_per_million_fuel[..],
                &market.floor_per_gpu_second[..],
                &market.floor_per_wall_second[..],
            ];
            let max = [
                max.per_million_fuel,
                max.per_gpu_second,
                max.per_wall_second,
            ];
            let [per_million_fuel, per_gpu_second, per_wall_second] =
                $crate::floor_within(chosen, floors, max)?;
            Some(Quote {
                rates: Rates {
                    per_million_fuel,
                    per_gpu_second,
                    per_wall_second,
                },
            })
        }
    };
}

#[cfg(test)]
mod tests {
    use super::{WorstCase, floor_within, within};

    #[test]
    fn cost_is_the_exact_amount_in_millionths() {
        // 2e9 fuel at 3 per million = 6000; 1500 ms at 4/s wall = 6, and
        // GPU 1500 ms at 10/s = 15: 6021 base units.
        let gpu = WorstCase::new(2_000_000_000, 1_500, true);
        assert_eq!(gpu.cost(3, 10, 4), 6_021 * 1_000_000);
        // A CPU job pays no GPU time.
        let cpu = WorstCase::new(2_000_000_000, 1_500, false);
        assert_eq!(cpu.cost(3, 10, 4), 6_006 * 1_000_000);
        // Fractions are kept, not rounded away: 1 ms at 1/s is 1000 millionths.
        assert_eq!(WorstCase::new(0, 1, false).cost(0, 0, 1), 1_000);
    }

    #[test]
    fn cost_saturates_instead_of_wrapping() {
        let job = WorstCase::new(u64::MAX, u64::MAX, true);
        assert_eq!(job.cost(u64::MAX, u64::MAX, u64::MAX), u128::MAX);
        assert!(job.cost(1, 0, 0) < job.cost(2, 0, 0));
    }

    #[test]
    fn floor_within_takes_the_chosen_floor_if_the_job_pays_it() {
        let fuel = [1, 5];
        let gpu = [2, 6];
        let wall = [3, 7];
        let floors = [&fuel[..], &gpu[..], &wall[..]];
        assert_eq!(floor_within(1, floors, [5, 6, 7]), Some([5, 6, 7]));
        assert_eq!(floor_within(1, floors, [5, 5, 7]), None);
        assert_eq!(floor_within(2, floors, [9, 9, 9]), None);
        assert_eq!(floor_within(u32::MAX, floors, [9, 9, 9]), None);
    }

    #[test]
    fn within_checks_every_rate() {
        assert!(within([1, 2, 3], [1, 2, 3]));
        assert!(!within([1, 3, 3], [1, 2, 3]));
        assert!(!within([0, 0, 4], [1, 2, 3]));
    }
}
