//! The crash-loop guard: a plugin that fails too many calls in a row is
//! unloaded, so a broken plugin costs a bounded number of deadlines.

use std::sync::atomic::{AtomicU32, Ordering};

use super::error::PolicyCallError;

/// Counts failures in a row; a success resets the count. Once the count
/// reaches the threshold it stays there: the plugin is unloaded for good
/// (an operator loads it, or another, again).
#[derive(Debug)]
pub(crate) struct CrashGuard {
    failures: AtomicU32,
    threshold: u32,
}

impl CrashGuard {
    pub(crate) fn new(threshold: u32) -> Self {
        Self {
            failures: AtomicU32::new(0),
            threshold: threshold.max(1),
        }
    }

    pub(crate) fn unloaded(&self) -> bool {
        self.failures.load(Ordering::Relaxed) >= self.threshold
    }

    /// Runs `call` unless unloaded, and counts how it went. Reports each
    /// failure (a warning) and the unload (an error) in the log.
    pub(crate) fn run<T>(
        &self,
        name: &str,
        call: impl FnOnce() -> Result<T, PolicyCallError>,
    ) -> Result<T, PolicyCallError> {
        if self.unloaded() {
            return Err(PolicyCallError::Unloaded {
                failures: self.threshold,
            });
        }
        match call() {
            Ok(answer) => {
                self.failures.store(0, Ordering::Relaxed);
                Ok(answer)
            }
            Err(error) => {
                let failures = self
                    .failures
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                tracing::warn!(policy = name, %error, failures, "policy plugin call failed; the built-in answers");
                if failures >= self.threshold {
                    tracing::error!(
                        policy = name,
                        failures,
                        "policy plugin unloaded by the crash-loop guard"
                    );
                }
                Err(error)
            }
        }
    }
}
