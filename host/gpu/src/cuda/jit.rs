//! The PTX compile, in a child process the node can kill.
//!
//! `load-ptx` hands the guest's PTX to the driver's JIT compiler: a large
//! program reading hostile input, which can crash (ptxas 12.9, the same
//! compiler shipped as a tool, segfaults on a module the header reader
//! accepts; host/gpu/README.md) and cannot be stopped (26 s for 1 MiB).
//! Inside the node's process a crash would end every job on the node, and a
//! compile past the deadline would hold the device on.
//!
//! So the compile runs in a child: [`PtxCompiler`] names the program, either
//! the node's own binary with a subcommand that calls
//! [`compiler_main`](super::compiler_main), or this crate's
//! `kiln-ptx-compile`. The child opens the device, links the PTX with the
//! driver's `cuLink*` calls and writes the cubin to its stdout. The node:
//!
//! - writes the PTX to the child's stdin, and reads at most
//!   [`MAX_CUBIN_BYTES`] of cubin and [`MAX_COMPILE_LOG_BYTES`] of log;
//! - kills the child's process group at the job's deadline, or as soon as
//!   either output passes its bound;
//! - maps the outcome to a typed error: a compile error or a crash is
//!   `invalid-module` (the guest's module did it), a child that found no
//!   driver or device is `no-driver`, anything else `launch-failed`;
//! - hands the driver only an ELF image (a cubin), which it loads without
//!   compiling: PTX or a fatbin handed back would be compiled in the node's
//!   process after all.

use std::ffi::OsString;
use std::io::{Read, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::bindings::cuda::CudaError;
use crate::limits::{MAX_COMPILE_LOG_BYTES, MAX_CUBIN_BYTES};

use super::wait;

pub(super) mod child;
#[cfg(test)]
mod tests;

/// The child compiled the module; the cubin is on its stdout.
const EXIT_COMPILED: u8 = 0;
/// The command line or the input was unusable (sysexits' `EX_USAGE`).
const EXIT_USAGE: u8 = 64;
/// The driver refused the module; its log is on stderr (`EX_DATAERR`).
const EXIT_INVALID_MODULE: u8 = 65;
/// No driver, or no such device (`EX_UNAVAILABLE`).
const EXIT_NO_DRIVER: u8 = 69;

/// A cubin is an ELF image; anything else the driver would compile.
const ELF_MAGIC: &[u8] = b"\x7fELF";

/// How a node runs its PTX compiler: `program args… <device ordinal>`,
/// PTX on stdin, the cubin on stdout, the outcome in the exit code
/// (`EXIT_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtxCompiler {
    program: PathBuf,
    args: Vec<OsString>,
}

impl PtxCompiler {
    /// `program` run with `args` and then the device's ordinal.
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// The running executable with `args`: for a binary that calls
    /// [`compiler_main`](super::compiler_main) when run with them.
    pub fn this_executable(
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> std::io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?, args))
    }

    /// The program it runs.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }
}

/// Compiles `ptx` for device `ordinal` in a child process, waiting no
/// later than `deadline`: the cubin, or why not.
pub(crate) fn compile(
    compiler: &PtxCompiler,
    ordinal: u32,
    ptx: String,
    deadline: Instant,
) -> Result<Vec<u8>, CudaError> {
    let mut child = Command::new(&compiler.program)
        .args(&compiler.args)
        .arg(ordinal.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so that killing it takes anything it started.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            CudaError::LaunchFailed(format!(
                "starting the PTX compiler {}: {e}",
                compiler.program.display()
            ))
        })?;
    let running = Running::watch(&mut child, ptx);
    let finished = wait::until(deadline, || {
        Ok::<_, std::io::Error>(running.overflowed() || child.try_wait()?.is_some())
    });
    // Whatever happened, nothing of the compile outlives this call.
    kill_group(&child);
    let status = child.wait();
    let (cubin, log) = running.collect();
    let status = match (finished, status) {
        (Ok(true), Ok(status)) => status,
        (Ok(false), _) => {
            return Err(CudaError::LaunchFailed(
                "the PTX compile was still running at the job's deadline; stopped".into(),
            ));
        }
        (Err(e), _) | (_, Err(e)) => {
            return Err(CudaError::LaunchFailed(format!(
                "waiting for the PTX compiler: {e}"
            )));
        }
    };
    outcome(compiler, status, cubin, log)
}

/// What the child's exit status and output mean.
fn outcome(
    compiler: &PtxCompiler,
    status: ExitStatus,
    cubin: Capped,
    log: Capped,
) -> Result<Vec<u8>, CudaError> {
    if cubin.overflowed || log.overflowed {
        return Err(CudaError::InvalidModule(format!(
            "the PTX compiler wrote more than {MAX_CUBIN_BYTES} bytes of code or \
             {MAX_COMPILE_LOG_BYTES} bytes of log for this module; stopped"
        )));
    }
    let log = String::from_utf8_lossy(&log.bytes).trim().to_owned();
    if let Some(signal) = status.signal() {
        return Err(CudaError::InvalidModule(format!(
            "the PTX compiler crashed on this module (signal {signal}); the node is unaffected"
        )));
    }
    match status.code().and_then(|code| u8::try_from(code).ok()) {
        Some(EXIT_COMPILED) if cubin.bytes.starts_with(ELF_MAGIC) => Ok(cubin.bytes),
        Some(EXIT_COMPILED) => Err(CudaError::LaunchFailed(format!(
            "the PTX compiler {} wrote no cubin (no ELF header); not loaded",
            compiler.program.display()
        ))),
        Some(EXIT_INVALID_MODULE) => Err(CudaError::InvalidModule(log)),
        Some(EXIT_NO_DRIVER) => Err(CudaError::NoDriver(log)),
        _ => Err(CudaError::LaunchFailed(format!(
            "the PTX compiler {} failed ({status}): {log}",
            compiler.program.display()
        ))),
    }
}

/// Kills the child's process group. It is gone already when the child and
/// everything it started have exited (`ESRCH`), which is fine.
fn kill_group(child: &Child) {
    let group = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
}

/// The threads feeding a running child and reading its output.
struct Running {
    input: Option<JoinHandle<()>>,
    cubin: Option<JoinHandle<Capped>>,
    log: Option<JoinHandle<Capped>>,
    /// Set by a reader whose output passed its bound.
    overflow: Arc<AtomicBool>,
}

impl Running {
    fn watch(child: &mut Child, ptx: String) -> Self {
        let overflow = Arc::new(AtomicBool::new(false));
        // A child that exits without reading breaks the pipe: not an error
        // of its own, its exit status says what happened.
        let input = child.stdin.take().map(|mut stdin| {
            std::thread::spawn(move || {
                let _ = stdin.write_all(ptx.as_bytes());
            })
        });
        let cubin = child
            .stdout
            .take()
            .map(|out| Capped::read_on_thread(out, MAX_CUBIN_BYTES, overflow.clone()));
        let log = child
            .stderr
            .take()
            .map(|err| Capped::read_on_thread(err, MAX_COMPILE_LOG_BYTES, overflow.clone()));
        Self {
            input,
            cubin,
            log,
            overflow,
        }
    }

    fn overflowed(&self) -> bool {
        self.overflow.load(Ordering::Relaxed)
    }

    /// The child's output, once it and its group are gone (so every pipe
    /// has closed and the threads end).
    fn collect(self) -> (Capped, Capped) {
        if let Some(input) = self.input {
            let _ = input.join();
        }
        let join = |reader: Option<JoinHandle<Capped>>| {
            reader
                .and_then(|reader| reader.join().ok())
                .unwrap_or_default()
        };
        (join(self.cubin), join(self.log))
    }
}

/// Up to a bound of one output stream, and whether there was more.
#[derive(Debug, Default)]
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl Capped {
    fn read_on_thread(
        stream: impl Read + Send + 'static,
        bound: usize,
        overflow: Arc<AtomicBool>,
    ) -> JoinHandle<Capped> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let limit = u64::try_from(bound).unwrap_or(u64::MAX).saturating_add(1);
            let _ = stream.take(limit).read_to_end(&mut bytes);
            let overflowed = bytes.len() > bound;
            if overflowed {
                bytes.truncate(bound);
                overflow.store(true, Ordering::Relaxed);
            }
            Capped { bytes, overflowed }
        })
    }
}
