//! A workload that misbehaves on command, for the sandbox's tests.
//!
//! The input is a command, `name` or `name:argument`:
//!
//! | command | does |
//! |---|---|
//! | `echo:TEXT` | returns TEXT |
//! | `count:N` | spins N iterations of a hash, returns the result (fuel scales with N) |
//! | `spin` | loops forever, doing work |
//! | `memory-bomb` | allocates 16 MiB blocks until something stops it |
//! | `recurse` | recurses without end, in wasm locals (overflows the wasm stack) |
//! | `recurse-shadow` | recurses without end with a frame in linear memory (overflows Rust's shadow stack) |
//! | `output:N` | returns N bytes |
//! | `fail:TEXT` | returns the error TEXT |
//! | `panic` | panics (a trap) |
//! | `write:PATH` | writes a file at PATH, returns "written" |
//! | `read:PATH` | returns the contents of PATH |
//! | `symlink-out` | makes `/scratch/out` point outside and reads through it |
//! | `stash` | writes `/scratch/stash`, then loops forever (for cleanup tests) |
//! | `env` | returns the number of environment variables and arguments |
//! | `flood:N` | prints N bytes to stdout, then returns "flooded" |
//! | `log:TEXT` | prints TEXT to stdout and stderr, returns "logged" |

use std::hint::black_box;
use std::io::Write as _;

struct Hostile;

fn count(n: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..n {
        x = black_box(x.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01B3);
    }
    x
}

/// Recursion whose frames live in wasm locals only: it exhausts the engine's
/// wasm stack. The non-associative combine keeps LLVM from turning it into a loop.
fn recurse(depth: u64, limit: u64) -> u64 {
    if depth >= limit {
        return depth;
    }
    recurse(depth + 1, limit).rotate_left(u32::try_from(depth % 63).unwrap_or(0)) ^ depth
}

/// Recursion with an address-taken frame: it exhausts Rust's shadow stack in
/// linear memory first, which traps as an out-of-bounds access.
#[expect(unconditional_recursion, reason = "runaway recursion is the point")]
fn recurse_shadow(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    black_box(recurse_shadow(depth + 1)) + frame[3]
}

fn symlink_out() -> Result<Vec<u8>, String> {
    let (scratch, _) = wasip2::filesystem::preopens::get_directories()
        .into_iter()
        .find(|(_, path)| path == "/scratch")
        .ok_or("no /scratch preopen")?;
    scratch
        .symlink_at("../../../../../../etc", "out")
        .map_err(|e| format!("symlink refused: {e:?}"))?;
    std::fs::read("/scratch/out/passwd").map_err(|e| format!("read through symlink refused: {e}"))
}

impl kiln_guest::Workload for Hostile {
    fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let command = String::from_utf8(input).map_err(|_| "input is not UTF-8")?;
        let (name, arg) = command.split_once(':').unwrap_or((&command, ""));
        let number = || {
            arg.parse::<u64>()
                .map_err(|e| format!("bad number {arg:?}: {e}"))
        };
        match name {
            "echo" => Ok(arg.as_bytes().to_vec()),
            "count" => Ok(count(number()?).to_le_bytes().to_vec()),
            "spin" => loop {
                black_box(count(1_000_000));
            },
            "memory-bomb" => {
                let mut blocks = Vec::new();
                loop {
                    blocks.push(black_box(vec![1u8; 16 << 20]));
                }
            }
            "recurse" => Ok(recurse(0, black_box(u64::MAX)).to_le_bytes().to_vec()),
            "recurse-shadow" => Ok(recurse_shadow(0).to_le_bytes().to_vec()),
            "output" => Ok(vec![
                7u8;
                usize::try_from(number()?).map_err(|e| e.to_string())?
            ]),
            "fail" => Err(arg.to_owned()),
            "panic" => panic!("the guest panicked on purpose"),
            "write" => std::fs::write(arg, b"escaped?")
                .map(|()| b"written".to_vec())
                .map_err(|e| format!("write refused: {e}")),
            "read" => std::fs::read(arg).map_err(|e| format!("read refused: {e}")),
            "symlink-out" => symlink_out(),
            "stash" => {
                std::fs::write("/scratch/stash", b"left behind?")
                    .map_err(|e| format!("stash refused: {e}"))?;
                loop {
                    black_box(count(1_000_000));
                }
            }
            "env" => Ok(format!(
                "{} {}",
                std::env::vars_os().count(),
                std::env::args_os().count()
            )
            .into_bytes()),
            "flood" => {
                let line = [b'x'; 1024];
                let mut stdout = std::io::stdout();
                for _ in 0..number()?.div_ceil(1024) {
                    let _ = stdout.write_all(&line);
                }
                Ok(b"flooded".to_vec())
            }
            "log" => {
                println!("{arg}");
                eprintln!("{arg}");
                Ok(b"logged".to_vec())
            }
            _ => Err(format!("unknown command {name:?}")),
        }
    }
}

kiln_guest::export_workload!(Hostile);
