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
//! - passes the child only the driver's environment (`CUDA_*`, `NVIDIA_*`,
//!   `__NV*`, `LD_LIBRARY_PATH`), with the driver's disk cache of compiled
//!   modules off: one job's module is not kept for, nor timed by, another;
//! - writes the PTX to the child's stdin, and reads at most
//!   [`MAX_CUBIN_BYTES`] of cubin and [`MAX_COMPILE_LOG_BYTES`] of log;
//! - kills the child's process group at the job's deadline, or as soon as
//!   either output passes its bound, before reaping the child, so that the
//!   group's id cannot have been reused; and waits for it to end at most
//!   [`COMPILER_KILL_GRACE`] more;
//! - maps the outcome to a typed error: a compile error or a crash is
//!   `invalid-module` (the guest's module did it), a child that found no
//!   driver or device is `no-driver`, anything else `launch-failed`;
//! - hands the driver only a cubin whose headers, sections and segments
//!   lie inside the bytes read (`cubin.rs`), which it loads without
//!   compiling: PTX or a fatbin handed back would be compiled in the node's
//!   process after all.

use std::ffi::OsString;
use std::io::{Read, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use crate::bindings::cuda::CudaError;
use crate::limits::{COMPILER_KILL_GRACE, MAX_COMPILE_LOG_BYTES, MAX_CUBIN_BYTES};

use super::wait;

pub(super) mod child;
mod cubin;
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
/// The driver failed for a reason of its own (out of memory, no JIT
/// compiler); the message is on stderr (`EX_TEMPFAIL`).
const EXIT_DRIVER_FAILED: u8 = 75;

/// The variable that tells the child its node's process id, so that it can
/// see whether the node died before the child armed its death signal.
const NODE_PID_VARIABLE: &str = "KILN_NODE_PID";

/// The environment variables the child keeps, by prefix: what the driver
/// reads (device selection and order, library paths).
const PASSED_ENV_PREFIXES: [&str; 4] = ["CUDA_", "NVIDIA_", "__NV", "LD_LIBRARY_PATH"];

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
    /// [`compiler_main`](super::compiler_main) when run with them. Named
    /// as `/proc/self/exe`, so that a binary replaced on disk while the
    /// node runs (a deploy) still runs the node's own version.
    pub fn this_executable(args: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        Self::new("/proc/self/exe", args)
    }

    /// The program it runs.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }
}

/// Compiles `ptx` for device `ordinal` in a child process, waiting no
/// later than `deadline` (and [`COMPILER_KILL_GRACE`] for a killed child to
/// end): the cubin, or why not.
pub(crate) fn compile(
    compiler: &PtxCompiler,
    ordinal: u32,
    ptx: String,
    deadline: Instant,
) -> Result<Vec<u8>, CudaError> {
    let mut child = Command::new(&compiler.program)
        .args(&compiler.args)
        .arg(ordinal.to_string())
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| {
            let name = name.to_string_lossy();
            PASSED_ENV_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
                && !name.starts_with("CUDA_CACHE")
        }))
        .env("CUDA_CACHE_DISABLE", "1")
        .env(NODE_PID_VARIABLE, std::process::id().to_string())
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
    let running = match Running::watch(&mut child, ptx) {
        Ok(running) => running,
        Err(e) => {
            kill_group(&child);
            reap(child);
            return Err(CudaError::LaunchFailed(format!(
                "running the PTX compiler: {e}"
            )));
        }
    };
    let finished = wait::until(deadline, || {
        Ok::<_, std::io::Error>(running.overflowed() || exited(&child)?)
    });
    // Whatever happened, the group is killed. The child is not reaped yet,
    // so its group's id is still its own: nothing else in the node reaps
    // children it did not start (no SIGCHLD ignored, no waitpid(-1)).
    kill_group(&child);
    let status = reap(child).ok_or_else(|| {
        CudaError::LaunchFailed("the PTX compiler did not end when killed".into())
    })?;
    let (cubin, log) = running
        .collect()
        .map_err(|e| CudaError::LaunchFailed(format!("reading the PTX compiler's output: {e}")))?;
    match finished {
        Ok(true) => {}
        Ok(false) => {
            return Err(CudaError::LaunchFailed(
                "the PTX compile was still running at the job's deadline; stopped".into(),
            ));
        }
        Err(e) => {
            return Err(CudaError::LaunchFailed(format!(
                "running the PTX compiler: {e}"
            )));
        }
    }
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
        Some(EXIT_COMPILED) => match cubin::check(&cubin.bytes) {
            Ok(()) => Ok(cubin.bytes),
            Err(why) => Err(CudaError::LaunchFailed(format!(
                "the PTX compiler {} wrote no cubin ({why}); not loaded",
                compiler.program.display()
            ))),
        },
        Some(EXIT_INVALID_MODULE) => Err(CudaError::InvalidModule(log)),
        Some(EXIT_NO_DRIVER) => Err(CudaError::NoDriver(log)),
        Some(EXIT_DRIVER_FAILED) => Err(CudaError::LaunchFailed(log)),
        _ => Err(CudaError::LaunchFailed(format!(
            "the PTX compiler {} failed ({status}): {log}",
            compiler.program.display()
        ))),
    }
}

/// The child's process id, which is also its group's.
fn pid(child: &Child) -> Option<Pid> {
    i32::try_from(child.id()).ok().and_then(Pid::from_raw)
}

/// True once the child has exited, without reaping it (`WNOWAIT`): until
/// it is reaped, its id, and its group's, cannot be reused.
fn exited(child: &Child) -> std::io::Result<bool> {
    let Some(pid) = pid(child) else {
        return Ok(true);
    };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    Ok(rustix::process::waitid(WaitId::Pid(pid), options)?.is_some())
}

/// Kills the child's process group: the child, and anything it started
/// that stayed in the group. Those may all be gone already (`ESRCH`).
fn kill_group(child: &Child) {
    if let Some(group) = pid(child) {
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
    }
}

/// The killed child's exit status, waited for [`COMPILER_KILL_GRACE`] at
/// most; past that, a thread of its own reaps it whenever it ends.
fn reap(mut child: Child) -> Option<ExitStatus> {
    let grace = Instant::now() + COMPILER_KILL_GRACE;
    let mut status = None;
    let _ = wait::until(grace, || {
        status = child.try_wait()?;
        Ok::<_, std::io::Error>(status.is_some())
    });
    if status.is_none() {
        // Without a thread, the child stays a zombie until the node exits.
        let _ = std::thread::Builder::new()
            .name("kiln-ptx-reaper".into())
            .spawn(move || child.wait());
    }
    status
}

/// The threads feeding a running child and reading its output.
struct Running {
    cubin: Receiver<Capped>,
    log: Receiver<Capped>,
    /// Set by a reader whose output passed its bound.
    overflow: Arc<AtomicBool>,
}

impl Running {
    /// Starts the threads. Each ends when its pipe closes, which the group's
    /// kill makes sure of, unless a process left the group.
    fn watch(child: &mut Child, ptx: String) -> std::io::Result<Self> {
        let missing = || std::io::Error::other("a pipe to the compiler is missing");
        let (mut stdin, stdout, stderr) = (
            child.stdin.take().ok_or_else(missing)?,
            child.stdout.take().ok_or_else(missing)?,
            child.stderr.take().ok_or_else(missing)?,
        );
        // A child that exits without reading breaks the pipe: not an error
        // of its own, its exit status says what happened.
        std::thread::Builder::new()
            .name("kiln-ptx-input".into())
            .spawn(move || {
                let _ = stdin.write_all(ptx.as_bytes());
            })?;
        let overflow = Arc::new(AtomicBool::new(false));
        Ok(Self {
            cubin: Capped::read_on_thread(stdout, MAX_CUBIN_BYTES, overflow.clone())?,
            log: Capped::read_on_thread(stderr, MAX_COMPILE_LOG_BYTES, overflow.clone())?,
            overflow,
        })
    }

    fn overflowed(&self) -> bool {
        self.overflow.load(Ordering::Relaxed)
    }

    /// The child's output, once its group is killed (so every pipe has
    /// closed), waited for [`COMPILER_KILL_GRACE`] at most.
    fn collect(self) -> std::io::Result<(Capped, Capped)> {
        let grace = Instant::now() + COMPILER_KILL_GRACE;
        let receive = |reader: Receiver<Capped>| {
            let left = grace.saturating_duration_since(Instant::now());
            reader.recv_timeout(left).map_err(|_| {
                std::io::Error::other(
                    "its output stayed open after it was killed (a process left its group)",
                )
            })
        };
        Ok((receive(self.cubin)?, receive(self.log)?))
    }
}

/// Up to a bound of one output stream, and whether there was more.
#[derive(Debug)]
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl Capped {
    fn read_on_thread(
        stream: impl Read + Send + 'static,
        bound: usize,
        overflow: Arc<AtomicBool>,
    ) -> std::io::Result<Receiver<Capped>> {
        let (send, receive) = sync_channel(1);
        std::thread::Builder::new()
            .name("kiln-ptx-output".into())
            .spawn(move || {
                let mut bytes = Vec::new();
                let limit = u64::try_from(bound).unwrap_or(u64::MAX).saturating_add(1);
                let _ = stream.take(limit).read_to_end(&mut bytes);
                let overflowed = bytes.len() > bound;
                if overflowed {
                    bytes.truncate(bound);
                    overflow.store(true, Ordering::Relaxed);
                }
                let _ = send.send(Capped { bytes, overflowed });
            })?;
        Ok(receive)
    }
}
