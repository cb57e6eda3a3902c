//! Captured stdout/stderr with a byte cap.
//!
//! A guest that prints more than the cap is not stopped: the first `cap`
//! bytes are kept, the rest are counted and dropped, and the job's report
//! says how many were dropped. (wasmtime's `MemoryOutputPipe` traps the guest
//! instead, which would turn chatty logging into a failed job.)

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: u64,
    cap: usize,
}

/// One captured output stream. Clones share the buffer and the cap.
#[derive(Debug, Clone)]
pub(crate) struct CappedPipe {
    captured: Arc<Mutex<Captured>>,
}

impl CappedPipe {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            captured: Arc::new(Mutex::new(Captured {
                cap,
                ..Captured::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the cap (before the job runs: bytes already kept stay).
    pub(crate) fn set_cap(&self, cap: usize) {
        self.lock().cap = cap;
    }

    fn push(&self, bytes: &[u8]) {
        let mut captured = self.lock();
        let room = captured.cap.saturating_sub(captured.kept.len());
        let kept = bytes.len().min(room);
        captured.kept.extend_from_slice(&bytes[..kept]);
        let dropped = u64::try_from(bytes.len() - kept).unwrap_or(u64::MAX);
        captured.dropped = captured.dropped.saturating_add(dropped);
    }

    /// The bytes kept and the count of bytes dropped past the cap.
    pub(crate) fn take(&self) -> (Vec<u8>, u64) {
        let mut captured = self.lock();
        (std::mem::take(&mut captured.kept), captured.dropped)
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

/// Largest write the guest is told it may make at once.
const WRITE_PERMIT: usize = 64 * 1024;

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
