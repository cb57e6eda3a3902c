//! One CUDA job per device at a time.
//!
//! Jobs would otherwise share the device's primary context: one job's kernel
//! could read or write another's device memory, a fault in one (an illegal
//! address) would leave the context unusable for the others, and on the
//! context's one stream each job's waits and timing events would take in
//! the other jobs' kernels. So a job's first `context.open` of a device
//! takes a lease on it, every CUDA object the job makes on that device holds
//! the lease (and so does a PTX compile still running), and the lease goes
//! when the last of them is dropped. Another job's `open` meanwhile answers
//! `launch-failed` ("device 0 is busy: …") at once: waiting would hold the
//! job's thread where neither a kill nor a pause can reach it. A new
//! `cuda-error` case would have changed the interface's type, and no
//! component built before would link.
//!
//! The leases are the process's, as the primary context is.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use crate::webgpu::objects::JobId;

/// Who holds which device: the job, and how many of its leases are alive.
#[derive(Debug, Default)]
pub(crate) struct DeviceLeases {
    held: Mutex<HashMap<u32, (JobId, usize)>>,
}

/// A job's hold on one device; dropping the last one frees the device.
#[derive(Debug)]
pub(crate) struct Lease {
    leases: Arc<DeviceLeases>,
    ordinal: u32,
}

static PROCESS: LazyLock<Arc<DeviceLeases>> = LazyLock::new(Arc::default);

impl DeviceLeases {
    /// The process's leases.
    pub(crate) fn of_process() -> &'static Arc<Self> {
        &PROCESS
    }

    fn held(&self) -> MutexGuard<'_, HashMap<u32, (JobId, usize)>> {
        // The map stays consistent if a holder panicked: every update is one
        // insert, increment or removal.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes device `ordinal` for `job`, or `None` while another job holds
    /// it. A job that holds the device already gets another lease.
    pub(crate) fn acquire(self: &Arc<Self>, ordinal: u32, job: JobId) -> Option<Lease> {
        let mut held = self.held();
        match held.get_mut(&ordinal) {
            None => {
                held.insert(ordinal, (job, 1));
            }
            Some((holder, count)) if *holder == job => *count = count.saturating_add(1),
            Some(_) => return None,
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
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_device_is_refused_to_another_job() {
        let leases = Arc::new(DeviceLeases::default());
        let a = leases.acquire(0, JobId(1)).unwrap();
        assert!(leases.acquire(0, JobId(2)).is_none());
        // Another device is free.
        assert!(leases.acquire(1, JobId(2)).is_some());
        drop(a);
        assert!(leases.acquire(0, JobId(2)).is_some());
    }

    #[test]
    fn the_device_is_free_only_when_the_jobs_last_lease_goes() {
        let leases = Arc::new(DeviceLeases::default());
        let context = leases.acquire(0, JobId(1)).unwrap();
        let second_context = leases.acquire(0, JobId(1)).unwrap();
        let buffer = context.clone();
        drop(context);
        drop(second_context);
        assert!(leases.acquire(0, JobId(2)).is_none());
        // A compile still running on its own thread holds it too.
        let compile = std::thread::spawn(move || drop(buffer));
        compile.join().unwrap();
        assert!(leases.acquire(0, JobId(2)).is_some());
    }

    #[test]
    fn one_process_one_set_of_leases() {
        assert!(Arc::ptr_eq(
            DeviceLeases::of_process(),
            DeviceLeases::of_process()
        ));
    }
}
