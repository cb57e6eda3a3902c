//! The `kiln` binary: parses the command line, runs it, maps the outcome to
//! an exit code and prints the error chain.

mod cli;
mod commands;
mod config;

fn main() -> std::process::ExitCode {
    cli::main()
}
