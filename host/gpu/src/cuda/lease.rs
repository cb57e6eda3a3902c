//! One CUDA job per device at a time.
//!
//! Jobs would otherwise share the device's primary context: one job's kernel
//! could read or write another's device memory, a fault in one (an illegal
//! address) would leave the context unusable for the others, and on the
//! context's one stream each job's waits and timing events would take in
//! the other jobs' kernels. So a job's first `context.open` of a device
//! takes a lease on it, every CUDA object the job makes on that device holds
//! the lease, and the lease goes when the last of them is dropped (at the
//! latest when the job ends, however it ends). Another job's `open` waits
//! for it, until its own deadline, and then answers `launch-failed`
//! ("device 0 is busy: …"). A new `cuda-error` case would have changed the
//! interface's type, and no component built before would link.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::webgpu::objects::JobId;

/// Who holds which device: the job, and how many of its leases are alive.
#[derive(Debug, Default)]
pub(crate) struct DeviceLeases {
    held: Mutex<HashMap<u32, (JobId, usize)>>,
    released: Condvar,
}

/// A job's hold on one device; dropping the last one frees the device.
#[derive(Debug)]
pub(crate) struct Lease {
    leases: Arc<DeviceLeases>,
    ordinal: u32,
}

impl DeviceLeases {
    fn held(&self) -> MutexGuard<'_, HashMap<u32, (JobId, usize)>> {
        // The map stays consistent if a holder panicked: every update is one
        // insert, increment or removal.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes device `ordinal` for `job`, waiting until `deadline` while
    /// another job holds it (`None` if it still does then). A job that
    /// holds the device already gets another lease at once.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        ordinal: u32,
        job: JobId,
        deadline: Instant,
    ) -> Option<Lease> {
        let mut held = self.held();
        loop {
            match held.get_mut(&ordinal) {
                None => {
                    held.insert(ordinal, (job, 1));
                    break;
                }
                Some((holder, count)) if *holder == job => {
                    *count = count.saturating_add(1);
                    break;
                }
                Some(_) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    held = self
                        .released
                        .wait_timeout(held, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        Some(Lease {
            leases: self.clone(),
            ordinal,
        })
    }
}

impl Clone for Lease {
    fn clone(&self) -> Self {
        if let Some((_, count)) = self.leases.held().get_mut(&self.ordinal) {
            *count = count.saturating_add(1);
        }
        Self {
            leases: self.leases.clone(),
            ordinal: self.ordinal,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut held = self.leases.held();
        if let Some((_, count)) = held.get_mut(&self.ordinal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.ordinal);
                self.leases.released.notify_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn later(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn a_held_device_is_refused_to_another_job_until_its_deadline() {
        let leases = Arc::new(DeviceLeases::default());
        let a = leases.acquire(0, JobId(1), later(0)).unwrap();
        assert!(leases.acquire(0, JobId(2), later(20)).is_none());
        // Another device is free.
        assert!(leases.acquire(1, JobId(2), later(0)).is_some());
        drop(a);
        assert!(leases.acquire(0, JobId(2), later(0)).is_some());
    }

    #[test]
    fn the_device_is_free_only_when_the_jobs_last_lease_goes() {
        let leases = Arc::new(DeviceLeases::default());
        let context = leases.acquire(0, JobId(1), later(0)).unwrap();
        let second_context = leases.acquire(0, JobId(1), later(0)).unwrap();
        let buffer = context.clone();
        drop(context);
        drop(second_context);
        assert!(leases.acquire(0, JobId(2), later(0)).is_none());
        drop(buffer);
        assert!(leases.acquire(0, JobId(2), later(0)).is_some());
    }

    #[test]
    fn a_waiting_job_gets_the_device_when_the_holder_lets_go() {
        let leases = Arc::new(DeviceLeases::default());
        let held = leases.acquire(0, JobId(1), later(0)).unwrap();
        let waiter = {
            let leases = leases.clone();
            std::thread::spawn(move || leases.acquire(0, JobId(2), later(60_000)).is_some())
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        assert!(waiter.join().unwrap());
    }
}
