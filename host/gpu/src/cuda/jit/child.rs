//! The compiler process's side: PTX on stdin, a cubin on stdout.
//!
//! It opens the device's primary context (the JIT compiles for the device
//! of the current context), links the PTX with `cuLinkCreate`,
//! `cuLinkAddData` and `cuLinkComplete`, and writes the image. First it
//! makes itself undumpable (a module that crashes the compiler leaves no
//! core on the node's disk, nor hands one to a `core_pattern` handler), the
//! first process the kernel's OOM killer takes, and killed with the thread
//! that started it (a node that dies takes its compile with it; one that
//! died before that was armed is no longer the child's parent, and the
//! child exits). The exit
//! code says what happened (`EXIT_*` in the parent module); messages go to
//! stderr, which the node reads as the log.

use std::ffi::{OsString, c_void};
use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use cudarc::driver::sys::{
    CUjit_option, CUjitInputType, CUlinkState, CUresult, cuLinkAddData_v2, cuLinkComplete,
    cuLinkCreate_v2, cuLinkDestroy,
};

use super::{
    EXIT_COMPILED, EXIT_DRIVER_FAILED, EXIT_INVALID_MODULE, EXIT_NO_DRIVER, EXIT_USAGE,
    NODE_PID_VARIABLE,
};
use crate::cuda::driver::{NO_DRIVER, OpenFailure, open_context};
use crate::limits::MAX_PTX_BYTES;

/// The driver's error log buffer: ptxas reports a bad module in a few
/// lines; the node caps what it reads again.
const LOG_BYTES: usize = 16 << 10;

/// Runs the compiler process: `args` is the device's ordinal (what follows
/// the program, or the subcommand, on its command line). For a binary's
/// `main`: `std::process::exit` is not needed, the code is returned.
pub fn compiler_main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    if !contain_this_process() {
        return fail(
            EXIT_DRIVER_FAILED,
            "the node that started this compile is gone",
        );
    }
    match run(args) {
        Ok(cubin) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&cubin).and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::from(EXIT_COMPILED),
                Err(e) => fail(EXIT_USAGE, &format!("writing the cubin: {e}")),
            }
        }
        Err((code, message)) => fail(code, &message),
    }
}

/// Best effort each: where one cannot be set, the system's default holds.
/// False when the node that started the compile (`NODE_PID_VARIABLE`) is
/// no longer this process's parent: it died before the death signal was
/// armed.
fn contain_this_process() -> bool {
    use rustix::process::{
        DumpableBehavior, Resource, Rlimit, Signal, getppid, set_dumpable_behavior,
        set_parent_process_death_signal, setrlimit,
    };
    // First: once undumpable, /proc/self is root's, and a node that does
    // not run as root could no longer write it.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    let _ = set_dumpable_behavior(DumpableBehavior::NotDumpable);
    let _ = set_parent_process_death_signal(Some(Signal::KILL));
    let node = std::env::var(NODE_PID_VARIABLE)
        .ok()
        .and_then(|pid| pid.parse::<i32>().ok());
    node.is_none_or(|node| getppid().is_some_and(|parent| parent.as_raw_nonzero().get() == node))
}

fn fail(code: u8, message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{message}");
    ExitCode::from(code)
}

pub(super) fn run(args: impl IntoIterator<Item = OsString>) -> Result<Vec<u8>, (u8, String)> {
    let mut args = args.into_iter();
    let ordinal = match (args.next(), args.next()) {
        (Some(ordinal), None) => ordinal
            .to_str()
            .and_then(|ordinal| ordinal.parse::<usize>().ok())
            .ok_or_else(|| (EXIT_USAGE, format!("not a device ordinal: {ordinal:?}")))?,
        _ => return Err((EXIT_USAGE, "usage: <device ordinal> < module.ptx".into())),
    };
    let mut ptx = Vec::new();
    let limit = u64::try_from(MAX_PTX_BYTES).unwrap_or(u64::MAX) + 1;
    std::io::stdin()
        .lock()
        .take(limit)
        .read_to_end(&mut ptx)
        .map_err(|e| (EXIT_USAGE, format!("reading the PTX: {e}")))?;
    if ptx.len() > MAX_PTX_BYTES {
        return Err((
            EXIT_INVALID_MODULE,
            format!("more than {MAX_PTX_BYTES} bytes of PTX"),
        ));
    }
    if ptx.contains(&0) {
        return Err((EXIT_INVALID_MODULE, "the PTX holds a NUL byte".into()));
    }
    let device_failed = |e: cudarc::driver::DriverError| {
        let code = match e.0 {
            CUresult::CUDA_ERROR_NO_DEVICE
            | CUresult::CUDA_ERROR_INVALID_DEVICE
            | CUresult::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
            | CUresult::CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE => EXIT_NO_DRIVER,
            _ => EXIT_DRIVER_FAILED,
        };
        (code, format!("device {ordinal}: {e}"))
    };
    let ctx = open_context(ordinal).map_err(|failure| match failure {
        OpenFailure::NoDriver => (EXIT_NO_DRIVER, NO_DRIVER.to_owned()),
        OpenFailure::Panicked => (EXIT_NO_DRIVER, "the CUDA driver could not start".into()),
        OpenFailure::Driver(e) => device_failed(e),
    })?;
    ctx.bind_to_thread().map_err(device_failed)?;
    // The driver reads PTX up to its terminating NUL.
    ptx.push(0);
    let mut link = Link::create().map_err(|message| (EXIT_DRIVER_FAILED, message))?;
    link.compile(&mut ptx)
}

/// True when the driver refused the module itself, rather than failing
/// for a reason of its own (memory, a missing JIT compiler): the guest is
/// told `invalid-module` only then.
fn blames_the_module(result: CUresult) -> bool {
    matches!(
        result,
        CUresult::CUDA_ERROR_INVALID_PTX
            | CUresult::CUDA_ERROR_INVALID_IMAGE
            | CUresult::CUDA_ERROR_UNSUPPORTED_PTX_VERSION
            | CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU
            | CUresult::CUDA_ERROR_INVALID_SOURCE
            | CUresult::CUDA_ERROR_NOT_FOUND
            | CUresult::CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND
    )
}

/// One `cuLink*` invocation, with the option arrays and log buffer the
/// driver keeps pointers into until `cuLinkDestroy`.
/// `Vec`s rather than `Box`es: moving a `Box` asserts it is the only
/// pointer to its memory, and the driver holds others.
struct Link {
    state: CUlinkState,
    log: Vec<u8>,
    _options: Vec<CUjit_option>,
    _values: Vec<*mut c_void>,
}

impl Link {
    fn create() -> Result<Self, String> {
        let mut log = vec![0u8; LOG_BYTES];
        let mut options = vec![
            CUjit_option::CU_JIT_ERROR_LOG_BUFFER,
            CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
        ];
        let mut values = vec![
            log.as_mut_ptr().cast::<c_void>(),
            std::ptr::without_provenance_mut(LOG_BYTES),
        ];
        let mut state: CUlinkState = std::ptr::null_mut();
        #[allow(unsafe_code, reason = "a raw driver call")]
        // SAFETY: the driver is loaded and a context is current (checked by
        // the caller); the two options name a buffer of LOG_BYTES that lives,
        // with both arrays, in the returned `Link` until `cuLinkDestroy`.
        let result = unsafe {
            cuLinkCreate_v2(2, options.as_mut_ptr(), values.as_mut_ptr(), &raw mut state)
        };
        if result != CUresult::CUDA_SUCCESS {
            return Err(format!("cuLinkCreate: {result:?}"));
        }
        Ok(Self {
            state,
            log,
            _options: options,
            _values: values,
        })
    }

    /// Compiles the NUL-terminated `ptx` and copies out the cubin, or says
    /// why not, with the exit code that tells whose fault it was.
    fn compile(&mut self, ptx: &mut [u8]) -> Result<Vec<u8>, (u8, String)> {
        #[allow(unsafe_code, reason = "a raw driver call")]
        // SAFETY: `state` is a live link; `ptx` is NUL-terminated and
        // outlives the call, which reads it; the name is a C string literal;
        // no per-input options are passed.
        let added = unsafe {
            cuLinkAddData_v2(
                self.state,
                CUjitInputType::CU_JIT_INPUT_PTX,
                ptx.as_mut_ptr().cast::<c_void>(),
                ptx.len(),
                c"guest.ptx".as_ptr(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if added != CUresult::CUDA_SUCCESS {
            return Err(self.error("compiling the PTX", added));
        }
        let (mut image, mut size) = (std::ptr::null_mut::<c_void>(), 0usize);
        #[allow(unsafe_code, reason = "a raw driver call")]
        // SAFETY: `state` is a live link; the call writes the two locals.
        let completed = unsafe { cuLinkComplete(self.state, &raw mut image, &raw mut size) };
        if completed != CUresult::CUDA_SUCCESS || image.is_null() {
            return Err(self.error("linking the module", completed));
        }
        #[allow(unsafe_code, reason = "reading the image the driver returned")]
        // SAFETY: on success the driver returns `size` bytes at `image`, owned
        // by the link state, which lives until `self` drops.
        let cubin = unsafe { std::slice::from_raw_parts(image.cast::<u8>(), size) }.to_vec();
        Ok(cubin)
    }

    /// `doing` failed with `result`: the exit code and the message, with
    /// the driver's log.
    fn error(&self, doing: &str, result: CUresult) -> (u8, String) {
        let end = self.log.iter().position(|&b| b == 0).unwrap_or(LOG_BYTES);
        let log = String::from_utf8_lossy(&self.log[..end]);
        let code = if blames_the_module(result) {
            EXIT_INVALID_MODULE
        } else {
            EXIT_DRIVER_FAILED
        };
        (code, format!("{doing}: {result:?}\n{}", log.trim()))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        #[allow(unsafe_code, reason = "a raw driver call")]
        // SAFETY: `state` came from a successful `cuLinkCreate` and is
        // destroyed once, before the buffers it points into are freed.
        let _ = unsafe { cuLinkDestroy(self.state) };
    }
}
