//! `kiln-ptx-compile <device ordinal> < module.ptx > module.cubin`: the PTX
//! compiler process a node runs for each CUDA module (`kiln_gpu::cuda`),
//! for nodes that do not run it as a subcommand of their own binary.

fn main() -> std::process::ExitCode {
    kiln_gpu::cuda::compiler_main(std::env::args_os().skip(1))
}
