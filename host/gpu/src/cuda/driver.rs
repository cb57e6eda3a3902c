//! The raw driver calls cudarc has no safe wrapper for, each behind a check
//! that the driver has it: cudarc's loader panics on a function the library
//! lacks.

use std::sync::{Arc, OnceLock};

use cudarc::driver::sys::{CUresult, cuDriverGetVersion, cuFuncGetParamInfo, is_culib_present};
use cudarc::driver::{CudaContext, CudaFunction, DriverError};

/// True when the CUDA driver library can be loaded on this machine.
pub fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        #[allow(unsafe_code, reason = "cudarc's probe is an unsafe fn")]
        // SAFETY: `is_culib_present` only tries to dlopen the driver library
        // and reports whether that worked; it calls no CUDA function.
        let present = unsafe { is_culib_present() };
        present
    })
}

/// How many CUDA devices the driver sees: 0 without a driver, and where a
/// driver library loads but finds no device (a container with the library
/// and no GPU). Asked once, since devices do not come and go under a node.
pub fn device_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        if !driver_present() {
            return 0;
        }
        // cudarc panics rather than failing in a few driver-less corners.
        std::panic::catch_unwind(CudaContext::device_count)
            .ok()
            .and_then(Result::ok)
            .and_then(|count| usize::try_from(count).ok())
            .unwrap_or(0)
    })
}

/// What the guest, or the node's compiler process, is told without a driver.
pub(super) const NO_DRIVER: &str = "no CUDA driver (libcuda) on this node";

/// Why a device's context could not be opened.
pub(super) enum OpenFailure {
    /// No driver library.
    NoDriver,
    /// cudarc panicked in one of its driver-less corners.
    Panicked,
    /// The driver refused (no such device, out of memory, …).
    Driver(DriverError),
}

/// Opens device `ordinal`'s primary context, with cudarc's panics contained.
pub(super) fn open_context(ordinal: usize) -> Result<Arc<CudaContext>, OpenFailure> {
    if !driver_present() {
        return Err(OpenFailure::NoDriver);
    }
    std::panic::catch_unwind(|| CudaContext::new(ordinal))
        .map_err(|_| OpenFailure::Panicked)?
        .map_err(OpenFailure::Driver)
}

/// The CUDA driver's version, as `cuDriverGetVersion` gives it (12040 for
/// 12.4), or `None` where it cannot say.
fn driver_version() -> Option<i32> {
    static VERSION: OnceLock<Option<i32>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let mut version = 0;
        #[allow(unsafe_code, reason = "a raw driver call")]
        // SAFETY: called only once `driver_present` loaded the library (a
        // context is open), with a pointer to a local the call writes.
        let result = unsafe { cuDriverGetVersion(&raw mut version) };
        (result == CUresult::CUDA_SUCCESS).then_some(version)
    })
}

/// The first CUDA version whose driver has `cuFuncGetParamInfo`. cudarc's
/// loader panics on a function the library lacks, so older drivers are
/// never asked.
const PARAM_INFO_SINCE: i32 = 12040;

/// The parameter sizes the driver compiled `function` with, where the
/// driver can say (CUDA 12.4 and later): a second opinion on the PTX header
/// reader's, from the compiler the launch will trust. Reads at most one past
/// `expected` parameters, enough to see a difference.
pub(super) fn driver_param_sizes(function: &CudaFunction, expected: usize) -> Option<Vec<usize>> {
    if driver_version()? < PARAM_INFO_SINCE {
        return None;
    }
    let mut sizes = Vec::with_capacity(expected);
    while sizes.len() <= expected {
        let (mut offset, mut size) = (0usize, 0usize);
        #[allow(unsafe_code, reason = "a raw driver call")]
        // SAFETY: `function` is alive (it holds its module); the call writes
        // the two locals, or returns an error for an index past the last
        // parameter.
        let result = unsafe {
            cuFuncGetParamInfo(
                function.cu_function(),
                sizes.len(),
                &raw mut offset,
                &raw mut size,
            )
        };
        match result {
            CUresult::CUDA_SUCCESS => sizes.push(size),
            CUresult::CUDA_ERROR_INVALID_VALUE => return Some(sizes),
            _ => return None,
        }
    }
    Some(sizes)
}
