//! Example CUDA workload: `c = a + b` for `n` f32s, by a PTX kernel.
//!
//! Input: empty (`n = 1 << 20`) or 4 bytes, little-endian `u32 n`. Output:
//! the f64 sum of `c`, little-endian, after checking every element on the
//! CPU. On a node without a CUDA driver the job fails with a message that
//! says so ("no CUDA driver on this node: …").

/// `n` when the input is empty.
pub const DEFAULT_N: u32 = 1 << 20;
/// Largest `n`: three buffers of 64 MiB.
pub const MAX_N: u32 = 1 << 24;
/// Threads per block.
pub const BLOCK: u32 = 256;

/// `vecadd(const float* a, const float* b, float* c, unsigned n)` in PTX for
/// `sm_52`, so any CUDA GPU since Maxwell runs it (the driver compiles it for
/// the GPU it finds). `ptxas` 12.9 assembles it for `sm_52` and `sm_90`.
pub const PTX: &str = include_str!("vecadd.ptx");

/// Parses the input into `n`.
pub fn parse_input(input: &[u8]) -> Result<u32, String> {
    let n = match input {
        [] => DEFAULT_N,
        [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => {
            return Err(format!(
                "input must be empty or 4 bytes (u32 n), got {}",
                input.len()
            ));
        }
    };
    if !(1..=MAX_N).contains(&n) {
        return Err(format!("n must be 1..={MAX_N}, got {n}"));
    }
    Ok(n)
}

/// The inputs: `a[i] = i`, `b[i] = 2 i`.
#[expect(clippy::cast_precision_loss, reason = "exact below 2^24")]
pub fn inputs(n: u32) -> (Vec<f32>, Vec<f32>) {
    let a = (0..n).map(|i| i as f32).collect();
    let b = (0..n).map(|i| 2.0 * i as f32).collect();
    (a, b)
}

#[cfg(target_arch = "wasm32")]
mod component {
    use kiln_guest::cuda::{Arg, Context, Error, LaunchConfig};

    use super::{BLOCK, PTX, inputs, parse_input};

    fn bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn vecadd(n: u32) -> Result<Vec<u8>, Error> {
        let cuda = Context::open(0)?;
        let module = cuda.load_ptx(PTX)?;
        let (a, b) = inputs(n);
        let len = u64::from(n) * 4;
        let (da, db, dc) = (cuda.alloc(len)?, cuda.alloc(len)?, cuda.alloc(len)?);
        da.write(0, &bytes(&a))?;
        db.write(0, &bytes(&b))?;
        let args = [
            Arg::Buffer(&da),
            Arg::Buffer(&db),
            Arg::Buffer(&dc),
            Arg::U32(n),
        ];
        module.launch("vecadd", LaunchConfig::linear(n, BLOCK), &args)?;
        cuda.synchronize()?;
        dc.read(0, len)
    }

    struct VecAdd;

    impl kiln_guest::Workload for VecAdd {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            let n = parse_input(&input)?;
            let c = vecadd(n).map_err(|error| match error {
                Error::NoDriver(why) => format!("no CUDA driver on this node: {why}"),
                other => format!("CUDA failed: {other:?}"),
            })?;
            let (a, b) = inputs(n);
            let mut sum = 0f64;
            for (i, chunk) in c.chunks_exact(4).enumerate() {
                let got = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                if got != a[i] + b[i] {
                    return Err(format!("c[{i}] = {got}, expected {}", a[i] + b[i]));
                }
                sum += f64::from(got);
            }
            Ok(sum.to_le_bytes().to_vec())
        }
    }

    kiln_guest::export_workload!(VecAdd);
}
