//! GPU time of a job, measured on the device.
//!
//! Every submission of a job is bracketed by two timestamp writes on the
//! shared queue: one command buffer before the job's, one after, in the same
//! submit. A submission's command buffers run back to back, and the first
//! timestamp is written once the queue reaches this submission (other jobs'
//! work before it is over), so `end - start` is this job's work alone. The
//! pairs are resolved and read back in one go ([`Timing::begin_read`]) when
//! the job waits for the GPU anyway, when [`TIMESTAMP_PAIRS`] are pending,
//! and when the job ends; the nanoseconds go to the job's meter as
//! [`GpuClock::Device`].
//!
//! Where the device has no timestamp queries (or the node forces it,
//! [`crate::DeviceConfig::force_host_timing`]), each submission is timed
//! from submit to its completion callback on the host instead
//! ([`host_timed_submit`]) and recorded as [`GpuClock::Host`], which marks
//! the job's usage host-timed. Lavapipe has timestamps, so CI bills device
//! time; the fallback is tested by forcing it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use kiln_runtime::{GpuClock, JobMeter};

use crate::device::SharedDevice;
use crate::limits::TIMESTAMP_PAIRS;

/// Bytes per resolved timestamp.
const TIMESTAMP_BYTES: u64 = 8;

/// wgpu requires resolve destinations at this alignment.
const RESOLVE_ALIGNMENT: u64 = wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT;

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
    /// Pairs being read back, and where wgpu says the mapping is done.
    reading: Option<(u32, MapSlot)>,
}

impl Timing {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        let bytes = u64::from(TIMESTAMP_PAIRS) * 2 * TIMESTAMP_BYTES;
        let size = bytes.div_ceil(RESOLVE_ALIGNMENT) * RESOLVE_ALIGNMENT;
        Self {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kiln job timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: TIMESTAMP_PAIRS * 2,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kiln timestamp resolve"),
                size,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kiln timestamp readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            pending: 0,
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

    /// Submits `guest` between a pair of timestamp writes.
    pub(crate) fn submit(
        &mut self,
        shared: &SharedDevice,
        guest: Vec<wgpu::CommandBuffer>,
    ) -> wgpu::SubmissionIndex {
        let pair = self.pending;
        let stamp = |index: u32| {
            let mut encoder = shared
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
            encoder.write_timestamp(&self.queries, index);
            encoder.finish()
        };
        let (before, after) = (stamp(pair * 2), stamp(pair * 2 + 1));
        self.pending += 1;
        shared.queue.submit(
            std::iter::once(before)
                .chain(guest)
                .chain(std::iter::once(after)),
        )
    }

    /// Resolves the pending pairs, copies them to the read-back buffer and
    /// asks for it to be mapped; the caller waits for the returned
    /// submission, then calls [`Timing::finish_read`].
    pub(crate) fn begin_read(&mut self, shared: &SharedDevice) -> Option<wgpu::SubmissionIndex> {
        if self.pending == 0 || self.reading.is_some() {
            return None;
        }
        let pairs = self.pending;
        let bytes = u64::from(pairs) * 2 * TIMESTAMP_BYTES;
        let mut encoder = shared
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        encoder.resolve_query_set(&self.queries, 0..pairs * 2, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, bytes);
        let index = shared.queue.submit(std::iter::once(encoder.finish()));
        let slot: MapSlot = Arc::default();
        let filled = slot.clone();
        self.readback
            .slice(0..bytes)
            .map_async(wgpu::MapMode::Read, move |result| {
                *filled.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        self.reading = Some((pairs, slot));
        self.pending = 0;
        Some(index)
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
        let bytes = u64::from(pairs) * 2 * TIMESTAMP_BYTES;
        let mut ticks: u64 = 0;
        match self.readback.slice(0..bytes).get_mapped_range() {
            Ok(view) => {
                for pair in view.chunks_exact(16) {
                    let word = |at: usize| {
                        let mut le = [0u8; 8];
                        le.copy_from_slice(&pair[at..at + 8]);
                        u64::from_le_bytes(le)
                    };
                    ticks = ticks.saturating_add(word(8).saturating_sub(word(0)));
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
