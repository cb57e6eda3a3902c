//! Example GPU workload: multiply two pseudo-random `n × n` f32 matrices in
//! a WGSL compute shader, and check the product against the CPU.
//!
//! Input: empty (`n = 256, seed = 1`, checked) or 12 bytes, little-endian
//! `u32 n`, `u32 seed`, `u32 check` (0: skip the CPU check, which the
//! benchmark does to time the GPU path alone). The matrices are those of the
//! CPU example (`kiln-example-matmul`, whose generator [`matrix`] repeats:
//! linking that crate would also link its component exports). Output: 16 bytes, the f64 sum of
//! every element of the product, `n` as a u32, and the largest difference
//! from the CPU product as an f32 (0 when unchecked). A product that differs
//! by more than [`TOLERANCE`] is an error.

/// A deterministic `n × n` matrix from `seed` (xorshift32, values in [0, 1)),
/// the same as `kiln-example-matmul`'s.
pub fn matrix(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.max(1);
    (0..n * n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // 24 bits times 2^-24: the same value as dividing, without a
            // division per element (the scale is a power of two, so exact).
            (state >> 8) as f32 * UNIT_SCALE
        })
        .collect()
}

/// 2^-24: maps the generator's top 24 bits to [0, 1).
const UNIT_SCALE: f32 = 1.0 / (1u32 << 24) as f32;

/// The CPU reference: `a × b` for row-major `n × n` matrices.
pub fn multiply(a: &[f32], b: &[f32], n: usize) -> Vec<f32> {
    let mut c = vec![0f32; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            let (row, b_row) = (&mut c[i * n..(i + 1) * n], &b[k * n..(k + 1) * n]);
            for (cij, bkj) in row.iter_mut().zip(b_row) {
                *cij += aik * bkj;
            }
        }
    }
    c
}

/// `n` when the input is empty: large enough that the GPU work dominates.
pub const DEFAULT_N: u32 = 256;
/// Largest `n`: three 1024² f32 matrices are 12 MiB of GPU buffers.
pub const MAX_N: u32 = 1024;
/// Threads per workgroup along x and y (the shader's `@workgroup_size`).
pub const WORKGROUP_SIDE: u32 = 16;
/// Largest accepted difference from the CPU, relative to `n` (both sum `n`
/// products of values in [0, 1) in different orders, so rounding grows with `n`).
pub const TOLERANCE: f32 = 1e-5;

/// `c = a × b`, one element per thread.
pub const WGSL: &str = r#"
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: vec4<u32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let n = dims.x;
    if (id.x >= n || id.y >= n) {
        return;
    }
    var sum = 0.0;
    for (var k = 0u; k < n; k = k + 1u) {
        sum = sum + a[id.y * n + k] * b[k * n + id.x];
    }
    c[id.y * n + id.x] = sum;
}
"#;

/// What a job asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Matrix side.
    pub n: u32,
    /// Seed of the matrices.
    pub seed: u32,
    /// Whether to check against the CPU.
    pub check: bool,
}

impl Job {
    /// Parses the job input (see the crate docs).
    pub fn parse(input: &[u8]) -> Result<Self, String> {
        let job = match input {
            [] => Self {
                n: DEFAULT_N,
                seed: 1,
                check: true,
            },
            [n0, n1, n2, n3, s0, s1, s2, s3, c0, c1, c2, c3] => Self {
                n: u32::from_le_bytes([*n0, *n1, *n2, *n3]),
                seed: u32::from_le_bytes([*s0, *s1, *s2, *s3]),
                check: u32::from_le_bytes([*c0, *c1, *c2, *c3]) != 0,
            },
            _ => {
                return Err(format!(
                    "input must be empty or 12 bytes (u32 n, seed, check), got {}",
                    input.len()
                ));
            }
        };
        if !(1..=MAX_N).contains(&job.n) {
            return Err(format!("n must be 1..={MAX_N}, got {}", job.n));
        }
        Ok(job)
    }

    /// The job input that asks for this.
    pub fn to_input(self) -> Vec<u8> {
        [self.n, self.seed, u32::from(self.check)]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    /// The two input matrices, as the CPU example makes them.
    pub fn matrices(self) -> (Vec<f32>, Vec<f32>) {
        let n = self.n as usize;
        (matrix(n, self.seed), matrix(n, self.seed.wrapping_add(1)))
    }

    /// The uniform block: `n` and padding.
    pub fn uniform_bytes(self) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes[..4].copy_from_slice(&self.n.to_le_bytes());
        bytes
    }

    /// Workgroups to dispatch.
    pub fn workgroups(self) -> [u32; 3] {
        let groups = self.n.div_ceil(WORKGROUP_SIDE);
        [groups, groups, 1]
    }
}

/// f32s as little-endian bytes. Written into a buffer of the final size in
/// fixed-size chunks, which compiles to a plain copy (a `flat_map` collect
/// grows its vector byte by byte).
pub fn to_bytes(values: &[f32]) -> Vec<u8> {
    let mut bytes = vec![0; values.len() * 4];
    let (chunks, _) = bytes.as_chunks_mut::<4>();
    for (chunk, value) in chunks.iter_mut().zip(values) {
        *chunk = value.to_le_bytes();
    }
    bytes
}

/// Little-endian bytes as f32s (a trailing partial value is ignored).
pub fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    let (chunks, _) = bytes.as_chunks::<4>();
    chunks
        .iter()
        .map(|chunk| f32::from_le_bytes(*chunk))
        .collect()
}

/// Checks `product` against the CPU's and builds the output.
#[expect(clippy::cast_precision_loss, reason = "n is at most 1024")]
pub fn finish(job: Job, product: &[f32]) -> Result<Vec<u8>, String> {
    let mut worst = 0f32;
    if job.check {
        let (a, b) = job.matrices();
        let reference = multiply(&a, &b, job.n as usize);
        worst = reference
            .iter()
            .zip(product)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        if worst > TOLERANCE * job.n as f32 {
            return Err(format!(
                "GPU product differs from the CPU's by {worst} (tolerance {})",
                TOLERANCE * job.n as f32
            ));
        }
    }
    let sum: f64 = product.iter().map(|&x| f64::from(x)).sum();
    let mut output = sum.to_le_bytes().to_vec();
    output.extend_from_slice(&job.n.to_le_bytes());
    output.extend_from_slice(&worst.to_le_bytes());
    Ok(output)
}

#[cfg(target_arch = "wasm32")]
mod component {
    use kiln_guest::gpu::Gpu;

    use super::{Job, WGSL, finish, from_bytes, to_bytes};

    struct MatmulGpu;

    impl kiln_guest::Workload for MatmulGpu {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            let job = Job::parse(&input)?;
            let (a, b) = job.matrices();
            let bytes = u64::from(job.n) * u64::from(job.n) * 4;
            let gpu = Gpu::new()?;
            let kernel = gpu.kernel(WGSL, "main")?;
            let (ga, gb, gc) = (
                gpu.storage_buffer(bytes)?,
                gpu.storage_buffer(bytes)?,
                gpu.storage_buffer(bytes)?,
            );
            let dims = gpu.uniform_buffer(16)?;
            gpu.write(&ga, 0, &to_bytes(&a))?;
            gpu.write(&gb, 0, &to_bytes(&b))?;
            gpu.write(&dims, 0, &job.uniform_bytes())?;
            let group = gpu.bind(&kernel, 0, &[&ga, &gb, &gc, &dims])?;
            let product = from_bytes(&gpu.dispatch_and_read(
                &kernel,
                &[&group],
                job.workgroups(),
                (&gc, 0, bytes),
            )?);
            finish(job, &product)
        }
    }

    kiln_guest::export_workload!(MatmulGpu);
}
