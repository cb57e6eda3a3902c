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

/// `vecadd(const float* a, const float* b, float* c, unsigned n)`, compiled
/// by `nvcc -ptx` for `sm_52` (any CUDA GPU since Maxwell runs it).
pub const PTX: &str = r#"
.version 6.0
.target sm_52
.address_size 64

.visible .entry vecadd(
    .param .u64 a,
    .param .u64 b,
    .param .u64 c,
    .param .u32 n
)
{
    .reg .pred %p<2>;
    .reg .f32 %f<4>;
    .reg .b32 %r<6>;
    .reg .b64 %rd<11>;

    ld.param.u64 %rd1, [a];
    ld.param.u64 %rd2, [b];
    ld.param.u64 %rd3, [c];
    ld.param.u32 %r2, [n];
    mov.u32 %r3, %ctaid.x;
    mov.u32 %r4, %ntid.x;
    mov.u32 %r5, %tid.x;
    mad.lo.s32 %r1, %r3, %r4, %r5;
    setp.ge.u32 %p1, %r1, %r2;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd4, %rd1;
    cvta.to.global.u64 %rd5, %rd2;
    cvta.to.global.u64 %rd6, %rd3;
    mul.wide.u32 %rd7, %r1, 4;
    add.s64 %rd8, %rd4, %rd7;
    add.s64 %rd9, %rd5, %rd7;
    add.s64 %rd10, %rd6, %rd7;
    ld.global.f32 %f1, [%rd8];
    ld.global.f32 %f2, [%rd9];
    add.f32 %f3, %f1, %f2;
    st.global.f32 [%rd10], %f3;
DONE:
    ret;
}
"#;

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
