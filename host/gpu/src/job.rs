//! One job's GPU state: its handle table, memory account, error scopes,
//! timing and submissions.
//!
//! What always holds:
//!
//! - A handle is resolved only in the calling job's own table, and the
//!   object found must name the job as its owner (`GpuJob::get`): a job can
//!   reach nothing of another job's, whatever index it passes.
//! - The bytes of a job's live buffers never pass its cap
//!   (`JobLimits::gpu_memory_bytes`): a buffer is charged before wgpu is asked
//!   for it, and released when it is destroyed or dropped.
//! - The table holds at most [`MAX_OBJECTS_PER_JOB`] objects.
//! - When the job ends, however it ends (return, trap, deadline, kill), the
//!   runtime drops its store and with it this state: pending timestamps are
//!   read (bounded by [`FINAL_TIMING_WAIT`]) so the final usage has the job's
//!   GPU time, and every object is dropped; the job's unsubmitted writes are
//!   flushed and the device polled once its work is done, so wgpu frees the
//!   memory then, not at some later job's poll.

use std::sync::Arc;

use kiln_runtime::JobMeter;
use wasmtime::component::{Resource, ResourceTable};

use crate::HostShared;
use crate::device::SharedDevice;
use crate::error::GpuError;
use crate::limits::{FINAL_TIMING_WAIT, MAX_OBJECTS_PER_JOB};
use crate::scope::ScopeStack;
use crate::timing::Timing;
use crate::webgpu::objects::{JobId, MemoryAccount, Object};

/// The GPU state of one job. Made by [`crate::GpuHost`] when the job starts.
pub struct GpuJob {
    pub(crate) id: JobId,
    pub(crate) shared: Arc<HostShared>,
    pub(crate) table: ResourceTable,
    objects: usize,
    pub(crate) memory: Arc<MemoryAccount>,
    pub(crate) scopes: ScopeStack,
    pub(crate) timing: Option<Timing>,
    pub(crate) meter: JobMeter,
    /// The job's latest submission, what its waits wait for.
    pub(crate) last_submission: Option<wgpu::SubmissionIndex>,
    /// True when the job wrote through the queue (`write-buffer`, unmapping
    /// a buffer mapped for writing, at creation or by `map-async`) since its
    /// last submission: wgpu holds such writes, and the buffers they go to,
    /// until the next submission.
    pub(crate) unsubmitted_writes: bool,
    pub(crate) cuda: crate::cuda::CudaJob,
    /// CUDA objects whose handles the guest dropped after the job was
    /// wedged: dropping them could wait on the device, so they wait for the
    /// teardown's own thread.
    pub(crate) cuda_dropped: Vec<Box<dyn std::any::Any + Send>>,
    /// When the job's wall-clock deadline passes: no wait for the device
    /// inside a host call lasts past it.
    pub(crate) deadline: std::time::Instant,
}

impl std::fmt::Debug for GpuJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuJob")
            .field("id", &self.id)
            .field("objects", &self.objects)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl GpuJob {
    pub(crate) fn new(
        shared: Arc<HostShared>,
        gpu_memory_bytes: u64,
        wall_clock: std::time::Duration,
        meter: JobMeter,
    ) -> Self {
        let id = JobId(
            shared
                .next_job
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        let deadline = std::time::Instant::now() + wall_clock;
        let compiler = shared.config.ptx_compiler.clone();
        let memory = Arc::new(MemoryAccount {
            cap: gpu_memory_bytes,
            used: Default::default(),
            live: shared.live.clone(),
        });
        Self {
            id,
            shared,
            table: ResourceTable::new(),
            objects: 0,
            memory: memory.clone(),
            scopes: ScopeStack::default(),
            timing: None,
            cuda: crate::cuda::CudaJob::new(id, memory, meter.clone(), deadline, compiler),
            cuda_dropped: Vec::new(),
            meter,
            last_submission: None,
            unsubmitted_writes: false,
            deadline,
        }
    }

    /// The shared device, opened on first use.
    pub(crate) fn device(&self) -> Result<Arc<SharedDevice>, GpuError> {
        self.shared
            .device()
            .map_err(|e| GpuError::NoAdapter(e.to_string()))
    }

    /// Adds an object to the job's table.
    pub(crate) fn push<T: Object>(&mut self, object: T) -> Result<Resource<T>, GpuError> {
        if self.objects >= MAX_OBJECTS_PER_JOB {
            return Err(GpuError::TooManyObjects {
                limit: MAX_OBJECTS_PER_JOB,
            });
        }
        let handle = self
            .table
            .push(object)
            .map_err(|e| GpuError::Internal(format!("handle table: {e}")))?;
        self.objects += 1;
        Ok(handle)
    }

    /// Adds a CUDA object to the job's table (bounded like every object).
    pub(crate) fn cuda_push<T: Send + 'static>(
        &mut self,
        object: T,
    ) -> wasmtime::Result<Resource<T>> {
        if self.objects >= MAX_OBJECTS_PER_JOB {
            return Err(wasmtime::Error::msg(
                GpuError::TooManyObjects {
                    limit: MAX_OBJECTS_PER_JOB,
                }
                .to_string(),
            ));
        }
        self.objects += 1;
        Ok(self.table.push(object)?)
    }

    /// The object behind `handle`, if it is this job's and of kind `T`.
    pub(crate) fn get<T: Object>(&self, handle: &Resource<T>) -> Result<&T, GpuError> {
        let object = self
            .table
            .get(handle)
            .map_err(|_| GpuError::UnknownHandle {
                kind: T::KIND,
                rep: handle.rep(),
            })?;
        if object.owner() != self.id {
            return Err(GpuError::ForeignHandle {
                kind: T::KIND,
                rep: handle.rep(),
            });
        }
        Ok(object)
    }

    /// [`GpuJob::get`], mutably.
    pub(crate) fn get_mut<T: Object>(&mut self, handle: &Resource<T>) -> Result<&mut T, GpuError> {
        let id = self.id;
        let object = self
            .table
            .get_mut(handle)
            .map_err(|_| GpuError::UnknownHandle {
                kind: T::KIND,
                rep: handle.rep(),
            })?;
        if object.owner() != id {
            return Err(GpuError::ForeignHandle {
                kind: T::KIND,
                rep: handle.rep(),
            });
        }
        Ok(object)
    }

    /// Drops the object behind an owned handle the guest let go of.
    pub(crate) fn delete<T: Object>(&mut self, rep: u32) -> Result<(), GpuError> {
        let handle = Resource::<T>::new_own(rep);
        self.get(&handle)?;
        self.table
            .delete(handle)
            .map_err(|e| GpuError::Internal(format!("handle table: {e}")))?;
        self.objects = self.objects.saturating_sub(1);
        Ok(())
    }

    /// Reports errors to the job's scopes.
    pub(crate) fn report_all(&mut self, errors: Vec<GpuError>) {
        for error in errors {
            self.scopes.report(error);
        }
    }

    /// Bytes the job's live buffers hold.
    pub fn gpu_memory_used(&self) -> u64 {
        self.memory.used.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Errors no error scope of the job caught.
    pub fn uncaptured_errors(&self) -> u64 {
        self.scopes.uncaptured()
    }

    /// Submits command buffers, timed, and remembers the submission.
    pub(crate) fn submit(&mut self, shared: &SharedDevice, buffers: Vec<wgpu::CommandBuffer>) {
        let index = if shared.timestamps {
            let timing = self
                .timing
                .get_or_insert_with(|| Timing::new(&shared.device));
            if timing.full() {
                self.read_timestamps_blocking(shared, FINAL_TIMING_WAIT);
            }
            let timing = self
                .timing
                .get_or_insert_with(|| Timing::new(&shared.device));
            timing.submit(shared, buffers)
        } else {
            crate::timing::host_timed_submit(shared, buffers, &self.meter)
        };
        self.last_submission = Some(index);
        self.unsubmitted_writes = false;
    }

    /// Starts reading pending timestamps back, if any (a mapping of the
    /// read-back buffer, see [`Timing::begin_read`]); returns the submission
    /// it had to make, if any, which becomes the one to wait for.
    pub(crate) fn begin_timestamp_read(
        &mut self,
        shared: &SharedDevice,
    ) -> Option<wgpu::SubmissionIndex> {
        let index = self.timing.as_mut()?.begin_read(shared)?;
        self.last_submission = Some(index.clone());
        Some(index)
    }

    /// Records the timestamps read back, once mapped.
    pub(crate) fn finish_timestamp_read(&mut self, shared: &SharedDevice) {
        if let Some(timing) = &mut self.timing {
            timing.finish_read(shared, &self.meter);
        }
    }

    /// Drops the job's objects and has wgpu free their memory now. wgpu keeps
    /// an object the device may still be using until a poll sees that work
    /// done, and a write the job never submitted until someone submits: left
    /// to itself, a finished job's buffers stayed allocated on the device
    /// until some later job's poll (Kiln's own count said released). So the
    /// job's unsubmitted writes are flushed, and the device is polled once
    /// its last submission is done, waiting at most [`FINAL_TIMING_WAIT`]
    /// (a killed job's kernels still run to their end).
    fn release_device_memory(&mut self) {
        self.table = ResourceTable::new();
        self.timing = None;
        if !self.unsubmitted_writes && self.last_submission.is_none() {
            return;
        }
        let Ok(shared) = self.device() else {
            return;
        };
        if self.unsubmitted_writes {
            self.last_submission = Some(
                shared
                    .queue
                    .submit(std::iter::empty::<wgpu::CommandBuffer>()),
            );
            self.unsubmitted_writes = false;
        }
        let waited = shared.device.poll(wgpu::PollType::Wait {
            submission_index: self.last_submission.take(),
            timeout: Some(FINAL_TIMING_WAIT),
        });
        if let Err(error) = waited {
            tracing::warn!(target: "kiln.gpu", %error, "the job's GPU work is still running; its memory is freed when it ends");
        }
    }

    /// Reads every pending timestamp, waiting on this thread up to `limit`
    /// for each read-back: two rounds, because pairs may be pending behind a
    /// read-back that an earlier wait left unfinished.
    fn read_timestamps_blocking(&mut self, shared: &SharedDevice, limit: std::time::Duration) {
        for _ in 0..2 {
            self.begin_timestamp_read(shared);
            if !self.timing.as_ref().is_some_and(Timing::is_reading) {
                return;
            }
            let waited = shared.device.poll(wgpu::PollType::Wait {
                submission_index: self.last_submission.clone(),
                timeout: Some(limit),
            });
            if let Err(error) = waited {
                tracing::warn!(target: "kiln.gpu", %error, "GPU work still running; its time is not billed");
                return;
            }
            self.finish_timestamp_read(shared);
        }
    }
}

impl GpuJob {
    /// Drops the job's objects on a thread of its own. Used when the job's
    /// CUDA work was still running at its deadline: freeing its device
    /// memory may wait for that work, for as long as it runs, and must not
    /// hold the thread that ends the job. The device's lease goes with the
    /// objects, so other jobs' `open` waits, or says the device is busy, meanwhile.
    fn tear_down_aside(&mut self) {
        let table = std::mem::replace(&mut self.table, ResourceTable::new());
        let dropped = std::mem::take(&mut self.cuda_dropped);
        let contexts = self.cuda.take_contexts();
        let job = self.id.0;
        let spawned = std::thread::Builder::new()
            .name(format!("kiln-cuda-teardown-{job}"))
            .spawn(move || {
                // Wait for the job's work first, so that the device's lease,
                // which goes with the objects, is not free while it runs.
                for context in &contexts {
                    if let Err(error) = context.synchronize() {
                        tracing::warn!(target: "kiln.gpu", job, %error, "a wedged CUDA job's context failed");
                    }
                }
                drop((table, dropped));
                tracing::info!(target: "kiln.gpu", job, "a wedged CUDA job's objects are released");
            });
        if let Err(error) = spawned {
            tracing::error!(target: "kiln.gpu", job, %error, "no thread for a wedged CUDA job's teardown; its objects were released on the job's thread");
        }
    }
}

impl Drop for GpuJob {
    fn drop(&mut self) {
        let pending = self
            .timing
            .as_ref()
            .is_some_and(|timing| timing.has_pending() || timing.is_reading());
        if pending && let Ok(shared) = self.device() {
            self.read_timestamps_blocking(&shared, FINAL_TIMING_WAIT);
        }
        if self.cuda.wedged() {
            self.tear_down_aside();
        }
        self.release_device_memory();
        tracing::debug!(
            target: "kiln.gpu",
            job = self.id.0,
            objects = self.objects,
            gpu_ns = self.meter.gpu_ns(),
            uncaptured = self.scopes.uncaptured(),
            "GPU job state dropped"
        );
    }
}

#[cfg(test)]
mod tests {
    use kiln_runtime::JobMeter;
    use wasmtime::component::Resource;

    use crate::error::GpuError;
    use crate::webgpu::objects::{Device, Queue};
    use crate::{DeviceConfig, GpuHost};

    #[test]
    fn a_handle_resolves_only_in_its_own_jobs_table_and_to_its_own_jobs_objects() {
        let host = GpuHost::new(DeviceConfig::default());
        let mut a = host.job_for_tests(1 << 20, JobMeter::detached());
        let mut b = host.job_for_tests(1 << 20, JobMeter::detached());
        let device_of_a = a.push(Device { owner: a.id }).unwrap();

        // Job B has nothing at A's index.
        let unknown = GpuError::UnknownHandle {
            kind: "gpu-device",
            rep: device_of_a.rep(),
        };
        assert_eq!(b.get(&device_of_a).err().unwrap(), unknown);

        // B's own object at the same index, of another kind, is not a device.
        let queue_of_b = b.push(Queue { owner: b.id }).unwrap();
        assert_eq!(queue_of_b.rep(), device_of_a.rep());
        let forged = Resource::<Device>::new_borrow(queue_of_b.rep());
        assert_eq!(b.get(&forged).err().unwrap(), unknown);

        // An object of A's that reached B's table is refused by its owner.
        let leaked = b.push(Device { owner: a.id }).unwrap();
        assert_eq!(
            b.get(&leaked).err().unwrap(),
            GpuError::ForeignHandle {
                kind: "gpu-device",
                rep: leaked.rep(),
            }
        );
        assert!(a.get(&device_of_a).is_ok());
    }

    #[test]
    fn the_memory_cap_is_enforced_by_the_account_and_released_on_drop() {
        let host = GpuHost::new(DeviceConfig::default());
        let job = host.job_for_tests(1000, JobMeter::detached());
        let first = job.memory.charge(600).unwrap();
        assert!(matches!(
            job.memory.charge(500),
            Err(GpuError::OverCap {
                requested: 500,
                used: 600,
                cap: 1000
            })
        ));
        assert_eq!(host.live_buffers(), (1, 600));
        drop(first);
        assert_eq!(host.live_buffers(), (0, 0));
        assert!(
            job.memory.charge(u64::MAX).is_err(),
            "no overflow past the cap"
        );
    }
}
