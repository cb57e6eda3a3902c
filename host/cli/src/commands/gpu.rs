//! The GPU host as this binary runs it, and its hidden `ptx-compile`
//! subcommand: the child process a node compiles CUDA modules in
//! (`kiln_gpu::cuda::PtxCompiler`), so that the driver's compiler never runs
//! on a guest's PTX inside the node's own process.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Args;
use kiln_gpu::DeviceConfig;
use kiln_gpu::cuda::PtxCompiler;

/// The subcommand's name on the command line.
const PTX_COMPILE: &str = "ptx-compile";

/// `kiln ptx-compile <device ordinal> < module.ptx > module.cubin`.
#[derive(Debug, Args)]
pub struct PtxCompileArgs {
    /// What `kiln_gpu::cuda::compiler_main` takes: the device's ordinal.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

pub fn ptx_compile(args: PtxCompileArgs) -> ExitCode {
    kiln_gpu::cuda::compiler_main(args.args)
}

/// The default device, with this binary's `ptx-compile` as the PTX
/// compiler.
pub fn device_config() -> DeviceConfig {
    DeviceConfig {
        ptx_compiler: Some(PtxCompiler::this_executable([PTX_COMPILE])),
        ..DeviceConfig::default()
    }
}
