//! Example workload: multiply two pseudo-random `n × n` f32 matrices on the CPU.
//!
//! Input: 8 bytes, little-endian `u32 n` then `u32 seed` (an empty input
//! means `n = 128, seed = 1`). Output: 12 bytes, the f64 sum of every element
//! of the product, little-endian, followed by `n` as a little-endian u32.
//! Deterministic: the same input gives the same output and the same fuel on
//! every node (wasm floats are IEEE 754 and the summation order is fixed).
//!
//! The kernel ([`multiply`]) is plain Rust so the sandbox benchmark can run
//! the very same code natively as its baseline.

/// Largest `n` accepted: 1024² f32s per matrix is 4 MiB, three matrices 12 MiB,
/// well inside a default job's memory cap.
pub const MAX_N: u32 = 1024;

/// `n` when the input is empty.
pub const DEFAULT_N: u32 = 128;

/// Parses the input into `(n, seed)`.
pub fn parse_input(input: &[u8]) -> Result<(u32, u32), String> {
    match input {
        [] => Ok((DEFAULT_N, 1)),
        [a, b, c, d, e, f, g, h] => {
            let n = u32::from_le_bytes([*a, *b, *c, *d]);
            let seed = u32::from_le_bytes([*e, *f, *g, *h]);
            if n == 0 || n > MAX_N {
                return Err(format!("n must be 1..={MAX_N}, got {n}"));
            }
            Ok((n, seed))
        }
        _ => Err(format!(
            "input must be empty or 8 bytes (u32 n, u32 seed), got {}",
            input.len()
        )),
    }
}

/// A deterministic `n × n` matrix from `seed` (xorshift32, values in [0, 1)).
pub fn matrix(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.max(1);
    (0..n * n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 8) as f32 / (1u32 << 24) as f32
        })
        .collect()
}

/// Columns of `c` updated per step of the innermost loop. Compiled wasm
/// checks fuel and epochs at every loop header, so a loop that does one
/// multiply-add per iteration pays those checks once per element; a fixed
/// block of 32 (which LLVM unrolls into eight 4-lane SIMD operations) pays
/// them once per 32. The result is bit-for-bit the same: each element gets the
/// same additions in the same order.
pub const COLUMNS_PER_STEP: usize = 32;

/// `a × b` for row-major `n × n` matrices (i-k-j loop order, cache friendly).
pub fn multiply(a: &[f32], b: &[f32], n: usize) -> Vec<f32> {
    let mut c = vec![0f32; n * n];
    for i in 0..n {
        let row = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let aik = a[i * n + k];
            let b_row = &b[k * n..(k + 1) * n];
            let mut c_blocks = row.chunks_exact_mut(COLUMNS_PER_STEP);
            let mut b_blocks = b_row.chunks_exact(COLUMNS_PER_STEP);
            for (c_block, b_block) in (&mut c_blocks).zip(&mut b_blocks) {
                for (cij, bkj) in c_block.iter_mut().zip(b_block) {
                    *cij += aik * bkj;
                }
            }
            let rest = c_blocks.into_remainder().iter_mut();
            for (cij, bkj) in rest.zip(b_blocks.remainder()) {
                *cij += aik * bkj;
            }
        }
    }
    c
}

/// The whole job: parse, build, multiply, summarise.
pub fn run_job(input: &[u8]) -> Result<Vec<u8>, String> {
    let (n, seed) = parse_input(input)?;
    let size = usize::try_from(n).map_err(|e| e.to_string())?;
    let a = matrix(size, seed);
    let b = matrix(size, seed.wrapping_add(1));
    let c = multiply(&a, &b, size);
    let sum: f64 = c.iter().map(|&x| f64::from(x)).sum();
    let mut output = sum.to_le_bytes().to_vec();
    output.extend_from_slice(&n.to_le_bytes());
    Ok(output)
}

#[cfg(target_arch = "wasm32")]
mod component {
    struct Matmul;

    impl kiln_guest::Workload for Matmul {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            super::run_job(&input)
        }
    }

    kiln_guest::export_workload!(Matmul);
}
