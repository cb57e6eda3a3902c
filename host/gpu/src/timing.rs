//! GPU time of a job, measured on the device.
//!
//! Every submission of a job is bracketed by two timestamp writes on the
//! shared queue: one command buffer before the job's, one after, in the same
//! submit. A submission's command buffers run back to back, and the first
//! timestamp is written once the queue reaches this submission (other jobs'
//! work before it is over), so `end - start` is this job's work alone.
//!
//! The opening command buffer resolves its timestamp at once. Lavapipe takes
//! a timestamp by running a scene on its rasterizer threads, and a resolve
//! waits for it, so those threads are done before the job's dispatch starts:
//! lavapipe splits a dispatch into one share per compute thread, and a share
//! whose thread could not get a core while the scene ran went to the other
//! thread, doubling the job's GPU time (the crate README, "Lavapipe's
//! one-thread dispatches"). On a GPU the resolve of one query costs next to nothing.
//!
//! The closing command buffer resolves its own and copies the pair into the
//! read-back buffer, so the timestamps travel with the job's own work: when
//! the job waits for the GPU anyway (a mapping, `on-submitted-work-done`),
//! when [`TIMESTAMP_PAIRS`] are pending, and when the job ends,
//! `Timing::begin_read` only maps the read-back buffer, in the same wait,
//! with no submission of its own. (The one exception: a pair submitted while
//! an earlier read-back was still mapped could not be copied then; the next
//! read copies those first, in a small submission.) The nanoseconds go to
//! the job's meter as [`GpuClock::Device`].
//!
//! Where the device has no timestamp queries (or the node forces it,
//! [`crate::DeviceConfig::force_host_timing`]), each submission is timed
//! from submit to its completion callback on the host instead
//! (`host_timed_submit`) and recorded as [`GpuClock::Host`], which marks
//! the job's usage host-timed. Lavapipe has timestamps, so CI bills device
//! time; the fallback is tested by forcing it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use kiln_runtime::{GpuClock, JobMeter};

use crate::device::SharedDevice;
use crate::limits::TIMESTAMP_PAIRS;

/// Bytes per resolved timestamp.
const TIMESTAMP_BYTES: usize = 8;

/// Bytes of one resolved pair (start, end).
const PAIR_LEN: usize = 2 * TIMESTAMP_BYTES;

/// [`PAIR_LEN`] as a buffer size.
const PAIR_BYTES: u64 = PAIR_LEN as u64;

/// wgpu requires resolve destinations at this alignment, so each pair is
/// resolved into a slot of its own in the resolve buffer, then copied
/// packed into the read-back buffer.
const RESOLVE_ALIGNMENT: u64 = wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT;

/// Where query `query` (pair `query / 2`'s start or end) is resolved to.
fn resolve_offset(query: u32) -> u64 {
    u64::from(query) * RESOLVE_ALIGNMENT
}

/// Where pair `pair` is read back from.
fn readback_offset(pair: u32) -> u64 {
    u64::from(pair) * PAIR_BYTES
}

/// The outcome of mapping the read-back buffer, filled by wgpu's callback.
pub(crate) type MapSlot = Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>;

/// A job's timestamp queries and the buffers they are read back through.
#[derive(Debug)]
pub(crate) struct Timing {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Pairs written and not yet read.
    pending: u32,
    /// True when some pending pair is resolved but not yet copied to the
    /// read-back buffer (which was mapped when it was submitted).
    uncopied: bool,
    /// Pairs being read back, and where wgpu says the mapping is done.
    reading: Option<(u32, MapSlot)>,
}

impl Timing {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        Self {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kiln job timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: TIMESTAMP_PAIRS * 2,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kiln timestamp resolve"),
                size: resolve_offset(TIMESTAMP_PAIRS * 2),
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kiln timestamp readback"),
                size: readback_offset(TIMESTAMP_PAIRS),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            pending: 0,
            uncopied: false,
            reading: None,
        }
    }

    /// True when no more submissions can be timed before a read-back.
    pub(crate) fn full(&self) -> bool {
        self.pending >= TIMESTAMP_PAIRS
    }

    /// True when timestamps wait to be read.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending > 0
    }

    /// Submits `guest` between a pair of timestamp writes; the closing
    /// command buffer resolves the pair and copies it to the read-back
    /// buffer (unless that is mapped now: see [`Timing::begin_read`]).
    pub(crate) fn submit(
        &mut self,
        shared: &SharedDevice,
        guest: Vec<wgpu::CommandBuffer>,
    ) -> wgpu::SubmissionIndex {
        let pair = self.pending;
        let encoder = || {
            shared
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor::default())
        };
        let (start, end) = (pair * 2, pair * 2 + 1);
        let mut before = encoder();
        before.write_timestamp(&self.queries, start);
        before.resolve_query_set(
            &self.queries,
            start..end,
            &self.resolve,
            resolve_offset(start),
        );
        let mut after = encoder();
        after.write_timestamp(&self.queries, end);
        after.resolve_query_set(
            &self.queries,
            end..end + 1,
            &self.resolve,
            resolve_offset(end),
        );
        if self.reading.is_none() {
            self.copy_pair(&mut after, pair);
        } else {
            self.uncopied = true;
        }
        let (before, after) = (before.finish(), after.finish());
        self.pending += 1;
        shared.queue.submit(
            std::iter::once(before)
                .chain(guest)
                .chain(std::iter::once(after)),
        )
    }

    /// Copies pair `pair`'s resolved start and end into its read-back slot.
    fn copy_pair(&self, encoder: &mut wgpu::CommandEncoder, pair: u32) {
        for (query, at) in [(pair * 2, 0), (pair * 2 + 1, TIMESTAMP_BYTES as u64)] {
            encoder.copy_buffer_to_buffer(
                &self.resolve,
                resolve_offset(query),
                &self.readback,
                readback_offset(pair) + at,
                TIMESTAMP_BYTES as u64,
            );
        }
    }

    /// Asks for the pending pairs' read-back to be mapped. Their copies rode
    /// in the job's own submissions, so this submits nothing, except when some
    /// pair could not be copied then: the copies go first, and that
    /// submission is returned. The caller waits for the job's latest
    /// submission, then calls [`Timing::finish_read`].
    pub(crate) fn begin_read(&mut self, shared: &SharedDevice) -> Option<wgpu::SubmissionIndex> {
        if self.pending == 0 || self.reading.is_some() {
            return None;
        }
        let pairs = self.pending;
        let mut index = None;
        if self.uncopied {
            let mut encoder = shared
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
            for pair in 0..pairs {
                self.copy_pair(&mut encoder, pair);
            }
            index = Some(shared.queue.submit(std::iter::once(encoder.finish())));
            self.uncopied = false;
        }
        let bytes = readback_offset(pairs);
        let slot: MapSlot = Arc::default();
        let filled = slot.clone();
        self.readback
            .slice(0..bytes)
            .map_async(wgpu::MapMode::Read, move |result| {
                *filled.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        self.reading = Some((pairs, slot));
        self.pending = 0;
        index
    }

    /// True while a read-back is asked for and not yet recorded.
    pub(crate) fn is_reading(&self) -> bool {
        self.reading.is_some()
    }

    /// True unless a read-back is asked for and not mapped yet.
    pub(crate) fn reading_done(&self) -> bool {
        self.reading
            .as_ref()
            .is_none_or(|(_, slot)| slot.lock().unwrap_or_else(|e| e.into_inner()).is_some())
    }

    /// Reads the mapped timestamps and records their sum on `meter`. Does
    /// nothing unless a read-back is mapped.
    pub(crate) fn finish_read(&mut self, shared: &SharedDevice, meter: &JobMeter) {
        if !self.reading_done() {
            return;
        }
        let Some((pairs, slot)) = self.reading.take() else {
            return;
        };
        let mapped = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(Err(error)) = mapped {
            tracing::warn!(target: "kiln.gpu", %error, "timestamp read-back failed; this GPU time is not billed");
            return;
        }
        let bytes = readback_offset(pairs);
        let mut ticks: u64 = 0;
        match self.readback.slice(0..bytes).get_mapped_range() {
            Ok(view) => {
                for pair in view.chunks_exact(PAIR_LEN) {
                    let word = |at: usize| {
                        let mut le = [0u8; TIMESTAMP_BYTES];
                        le.copy_from_slice(&pair[at..at + TIMESTAMP_BYTES]);
                        u64::from_le_bytes(le)
                    };
                    ticks = ticks.saturating_add(word(TIMESTAMP_BYTES).saturating_sub(word(0)));
                }
            }
            Err(error) => {
                tracing::warn!(target: "kiln.gpu", %error, "timestamp read-back not readable");
            }
        }
        self.readback.unmap();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "nanoseconds of GPU time fit a u64 for 584 years; the period is positive"
        )]
        let ns = (ticks as f64 * shared.timestamp_period) as u64;
        meter.record_gpu_time(ns, GpuClock::Device);
    }
}

/// Submits `guest` and times it on the host, from now to wgpu's
/// completion callback.
pub(crate) fn host_timed_submit(
    shared: &SharedDevice,
    guest: Vec<wgpu::CommandBuffer>,
    meter: &JobMeter,
) -> wgpu::SubmissionIndex {
    let started = Instant::now();
    let index = shared.queue.submit(guest);
    let meter = meter.clone();
    shared.queue.on_submitted_work_done(move || {
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        meter.record_gpu_time(ns, GpuClock::Host);
    });
    index
}

#[cfg(test)]
mod tests {
    use kiln_runtime::JobMeter;

    use super::Timing;
    use crate::device::{SharedDevice, block_on};
    use crate::{DeviceConfig, GpuHost};

    /// A command buffer with some work in it: clearing 1 MiB.
    fn work(shared: &SharedDevice) -> Vec<wgpu::CommandBuffer> {
        let buffer = shared.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: 1 << 20,
            usage: wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = shared
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        encoder.clear_buffer(&buffer, 0, None);
        vec![encoder.finish()]
    }

    fn wait(shared: &SharedDevice) {
        shared
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("the device finishes");
    }

    #[test]
    fn timestamps_ride_in_the_jobs_submissions_and_a_pair_submitted_during_a_read_is_still_billed()
    {
        // Given a device with timestamp queries (lavapipe has them) and two
        // timed submissions.
        let host = GpuHost::new(DeviceConfig::default());
        let shared = host.device().expect("a GPU adapter");
        assert!(shared.timestamps, "this adapter has no timestamp queries");
        let meter = JobMeter::detached();
        let errors = shared
            .device
            .push_error_scope(wgpu::ErrorFilter::Validation);
        let mut timing = Timing::new(&shared.device);
        timing.submit(&shared, work(&shared));
        timing.submit(&shared, work(&shared));

        // When their read-back starts, it submits nothing of its own.
        assert!(timing.begin_read(&shared).is_none());
        // And a third submission arrives while the read-back is mapped.
        timing.submit(&shared, work(&shared));
        wait(&shared);
        timing.finish_read(&shared, &meter);
        let first_two = meter.gpu_ns();

        // Then the first two are billed; the third is copied by the next
        // read (in a submission of its own) and billed too, and wgpu saw
        // nothing invalid.
        assert!(first_two > 0);
        assert!(timing.has_pending());
        assert!(timing.begin_read(&shared).is_some());
        wait(&shared);
        timing.finish_read(&shared, &meter);
        assert!(meter.gpu_ns() > first_two);
        assert!(!timing.has_pending() && !timing.is_reading());
        assert!(block_on(errors.pop()).is_none(), "no validation error");
    }
}
