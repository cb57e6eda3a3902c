//! Waiting for the device without waiting past the job's deadline.
//!
//! cudarc's waits (`synchronize`, the copy back of a read) block until the
//! device is done, with no timeout: a kernel that never ends would hold the
//! host call, and the job's thread, forever. Kiln records an event after the
//! work instead and polls it, sleeping a little longer after each poll,
//! until it completes or the job's deadline passes. A kernel still running
//! at the deadline keeps running on the device (CUDA cannot cancel one
//! kernel), but the job ends.

use std::time::{Duration, Instant};

/// The first sleep between polls. Most waits are for work that is done or
/// nearly done, so the first polls come quickly.
const FIRST_SLEEP: Duration = Duration::from_micros(10);

/// The longest sleep between polls: how late, at most, a long wait notices
/// that the work is done, against a poll of the driver every millisecond.
const LONGEST_SLEEP: Duration = Duration::from_millis(1);

/// Polls `done` until it says true (`Ok(true)`) or `deadline` passes
/// (`Ok(false)`); an error from `done` ends the wait with that error.
pub(crate) fn until<E>(
    deadline: Instant,
    mut done: impl FnMut() -> Result<bool, E>,
) -> Result<bool, E> {
    let mut sleep = FIRST_SLEEP;
    loop {
        if done()? {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        std::thread::sleep(sleep.min(left));
        sleep = sleep.saturating_mul(2).min(LONGEST_SLEEP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_that_finishes_ends_the_wait() {
        let mut polls = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        let done = until(deadline, || {
            polls += 1;
            Ok::<_, ()>(polls == 5)
        });
        assert_eq!(done, Ok(true));
        assert_eq!(polls, 5);
    }

    #[test]
    fn work_that_never_finishes_ends_at_the_deadline() {
        let deadline = Instant::now() + Duration::from_millis(20);
        let mut polls = 0;
        let done = until(deadline, || {
            polls += 1;
            Ok::<_, ()>(false)
        });
        assert_eq!(done, Ok(false));
        assert!(Instant::now() >= deadline);
        assert!(polls > 1, "{polls}");
    }

    #[test]
    fn a_driver_error_ends_the_wait_with_it() {
        let deadline = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            until(deadline, || Err::<bool, _>("illegal address")),
            Err("illegal address")
        );
    }

    #[test]
    fn a_deadline_already_past_still_polls_once() {
        let mut polls = 0;
        let done = until(Instant::now(), || {
            polls += 1;
            Ok::<_, ()>(true)
        });
        assert_eq!((done, polls), (Ok(true), 1));
    }
}
