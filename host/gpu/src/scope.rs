//! A job's WebGPU error scopes, kept by Kiln rather than by wgpu.
//!
//! wgpu's own scopes are per thread and shared by everything on the one
//! device, so each host call wraps its wgpu work in wgpu scopes of its own
//! ([`capture`]) and hands what they caught, with the errors Kiln's own
//! checks find, to the calling job's stack ([`ScopeStack::report`]). The
//! guest's `push-error-scope`/`pop-error-scope` work on that stack, as
//! WebGPU specifies: an error goes to the innermost scope whose filter
//! matches, a scope keeps its first error, and an error no scope catches is
//! "uncaptured" (logged and counted).

use crate::device::block_on;
use crate::error::{ErrorClass, GpuError};
use crate::limits::MAX_ERROR_SCOPES;

#[derive(Debug)]
struct Scope {
    filter: ErrorClass,
    error: Option<GpuError>,
}

/// One job's error scopes.
#[derive(Debug, Default)]
pub(crate) struct ScopeStack {
    scopes: Vec<Scope>,
    uncaptured: u64,
}

impl ScopeStack {
    /// Opens a scope; refused past [`MAX_ERROR_SCOPES`].
    pub(crate) fn push(&mut self, filter: ErrorClass) -> Result<(), GpuError> {
        if self.scopes.len() >= MAX_ERROR_SCOPES {
            return Err(GpuError::Validation(format!(
                "more than {MAX_ERROR_SCOPES} nested error scopes"
            )));
        }
        self.scopes.push(Scope {
            filter,
            error: None,
        });
        Ok(())
    }

    /// Closes the innermost scope: `None` when there is none, else its error.
    pub(crate) fn pop(&mut self) -> Option<Option<GpuError>> {
        self.scopes.pop().map(|scope| scope.error)
    }

    /// Gives `error` to the innermost scope that catches its class.
    pub(crate) fn report(&mut self, error: GpuError) {
        let class = error.class();
        match self.scopes.iter_mut().rev().find(|s| s.filter == class) {
            Some(scope) => {
                scope.error.get_or_insert(error);
            }
            None => {
                self.uncaptured += 1;
                tracing::debug!(target: "kiln.gpu", %error, "uncaptured GPU error");
            }
        }
    }

    /// Errors no scope caught so far.
    pub(crate) fn uncaptured(&self) -> u64 {
        self.uncaptured
    }
}

/// Runs `work` inside wgpu error scopes of all three classes on this thread
/// and returns what they caught with its result. `work` must not await: wgpu
/// scopes are thread-local.
pub(crate) fn capture<R>(device: &wgpu::Device, work: impl FnOnce() -> R) -> (R, Vec<GpuError>) {
    let out_of_memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let result = work();
    let mut errors = Vec::new();
    for scope in [validation, internal, out_of_memory] {
        if let Some(error) = block_on(scope.pop()) {
            errors.push(GpuError::from(error));
        }
    }
    (result, errors)
}
