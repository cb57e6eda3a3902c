//! Example GPU workload: the Mandelbrot set, one pixel per GPU thread, as a PNG.
//!
//! Input: empty (512×512, 256 iterations) or 12 bytes, little-endian `u32`
//! width, height and iteration limit. Output: the PNG file's bytes, 8-bit
//! indexed colour over a 256-colour [`palette`].
//! The shader ([`WGSL`]) and its parameters ([`Params`]) are public so the
//! benchmark can drive the very same shader natively.
//!
//! The shader writes one palette index per pixel, four to a `u32`, rather
//! than an RGBA word: a quarter of the bytes to read back, hand to the guest
//! and compress. The colours are the same escape-time gradient as before,
//! over the square root of the escape time (so deep renders keep their outer
//! detail) and quantised to 255 steps; a 512² image's read-back went from
//! 1 MiB to 256 KiB, and its PNG from 67 KB to 30 KB.
//!
//! `cargo xtask guests` compiles this component with
//! `-C llvm-args=-inline-threshold=400` (`TUNED_GUESTS` in `xtask/src/guests.rs`):
//! at LLVM's default threshold the PNG encoder's bit writer stays a call in
//! wasm, and inlining it takes ~70 µs (15%) off the job's PNG step. By hand:
//! `cargo rustc --target wasm32-wasip2 --profile guest -p kiln-example-mandelbrot
//! -- -C llvm-args=-inline-threshold=400`.

/// Image side and iterations when the input is empty.
pub const DEFAULT_SIZE: (u32, u32) = (512, 512);
/// Iterations per pixel when the input is empty.
pub const DEFAULT_ITERATIONS: u32 = 256;
/// Largest width or height: 4096² pixels is 16 MiB of GPU buffer (a byte
/// each), well within the default GPU memory cap (256 MiB) with the read-back.
pub const MAX_SIDE: u32 = 4096;
/// Most iterations per pixel accepted (bounds one dispatch's run time).
pub const MAX_ITERATIONS: u32 = 100_000;
/// Threads per workgroup along x and y (the shader's `@workgroup_size`).
pub const WORKGROUP_SIDE: u32 = 16;
/// Pixels one thread computes: a row of four, one `u32` of indices.
pub const PIXELS_PER_WORD: u32 = 4;

/// The compute shader: binding 0 the parameters, binding 1 the palette
/// indices, four pixels of a row to each little-endian `u32` (one thread
/// each); a row takes `row_words` words, padded with index 0.
pub const WGSL: &str = r#"
struct Params {
    width: u32,
    height: u32,
    max_iter: u32,
    row_words: u32,
    center_x: f32,
    center_y: f32,
    scale: f32,
    pad: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> pixels: array<u32>;

// Palette index of pixel (x, y): 0 (black) inside the set, else 1 plus the
// square root of the escape time (a fraction of max_iter) scaled to 0..=253:
// the root spreads the many pixels that escape early over the gradient, so
// a deep render (thousands of iterations) keeps its outer detail.
fn index_at(x: u32, y: u32) -> u32 {
    let c = vec2<f32>(
        params.center_x + (f32(x) - f32(params.width) * 0.5) * params.scale,
        params.center_y + (f32(y) - f32(params.height) * 0.5) * params.scale,
    );
    var z = vec2<f32>(0.0, 0.0);
    var i: u32 = 0u;
    loop {
        if (i >= params.max_iter || dot(z, z) > 4.0) {
            break;
        }
        z = vec2<f32>(z.x * z.x - z.y * z.y + c.x, 2.0 * z.x * z.y + c.y);
        i = i + 1u;
    }
    if (i >= params.max_iter) {
        return 0u;
    }
    let s = sqrt(f32(i) / f32(params.max_iter));
    return 1u + min(u32(s * 254.0), 253u);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.row_words || id.y >= params.height) {
        return;
    }
    var word: u32 = 0u;
    for (var k: u32 = 0u; k < 4u; k = k + 1u) {
        let x = id.x * 4u + k;
        if (x < params.width) {
            word = word | (index_at(x, id.y) << (8u * k));
        }
    }
    pixels[id.y * params.row_words + id.x] = word;
}
"#;

/// The colour of palette index `k`: black for 0 (the set itself), else the
/// escape-time gradient at `t = (k - 1) / 254` (the shader's index is 1
/// plus the square root of the escape time, scaled).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "each channel is clamped to 0..=255 first"
)]
pub fn palette() -> [u8; 768] {
    let mut rgb = [0; 768];
    for (k, colour) in rgb.chunks_exact_mut(3).enumerate().skip(1) {
        let t = f32::from(u8::try_from(k - 1).unwrap_or(u8::MAX)) / 254.0;
        let u = 1.0 - t;
        let channels = [
            9.0 * u * t * t * t,
            15.0 * u * u * t * t,
            8.5 * u * u * u * t,
        ];
        for (byte, value) in colour.iter_mut().zip(channels) {
            *byte = (value.clamp(0.0, 1.0) * 255.0) as u8;
        }
    }
    rgb
}

/// The shader's uniform block, as bytes in WGSL's layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Iteration limit.
    pub max_iter: u32,
}

impl Params {
    /// Parses the job input (see the crate docs).
    pub fn parse(input: &[u8]) -> Result<Self, String> {
        let params = match input {
            [] => Self {
                width: DEFAULT_SIZE.0,
                height: DEFAULT_SIZE.1,
                max_iter: DEFAULT_ITERATIONS,
            },
            [w0, w1, w2, w3, h0, h1, h2, h3, i0, i1, i2, i3] => Self {
                width: u32::from_le_bytes([*w0, *w1, *w2, *w3]),
                height: u32::from_le_bytes([*h0, *h1, *h2, *h3]),
                max_iter: u32::from_le_bytes([*i0, *i1, *i2, *i3]),
            },
            _ => {
                return Err(format!(
                    "input must be empty or 12 bytes (u32 width, height, iterations), got {}",
                    input.len()
                ));
            }
        };
        if !(1..=MAX_SIDE).contains(&params.width) || !(1..=MAX_SIDE).contains(&params.height) {
            return Err(format!("width and height must be 1..={MAX_SIDE}"));
        }
        if !(1..=MAX_ITERATIONS).contains(&params.max_iter) {
            return Err(format!("iterations must be 1..={MAX_ITERATIONS}"));
        }
        Ok(params)
    }

    /// The job input that gives these parameters.
    pub fn to_input(self) -> Vec<u8> {
        [self.width, self.height, self.max_iter]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    /// `u32` words per row of the index buffer (four pixels each).
    pub fn row_words(self) -> u32 {
        self.width.div_ceil(PIXELS_PER_WORD)
    }

    /// The uniform block: the whole set, 3.0 wide, centred at (-0.5, 0).
    #[expect(clippy::cast_precision_loss, reason = "widths are at most 4096")]
    pub fn uniform_bytes(self) -> [u8; 32] {
        let scale = 3.0 / self.width as f32;
        let words: [[u8; 4]; 8] = [
            self.width.to_le_bytes(),
            self.height.to_le_bytes(),
            self.max_iter.to_le_bytes(),
            self.row_words().to_le_bytes(),
            (-0.5f32).to_le_bytes(),
            0f32.to_le_bytes(),
            scale.to_le_bytes(),
            0f32.to_le_bytes(),
        ];
        let mut bytes = [0; 32];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word);
        }
        bytes
    }

    /// Bytes of the index buffer (rows padded to whole words).
    pub fn pixel_bytes(self) -> u64 {
        u64::from(self.row_words()) * 4 * u64::from(self.height)
    }

    /// Workgroups to dispatch along x (words) and y (rows).
    pub fn workgroups(self) -> [u32; 3] {
        [
            self.row_words().div_ceil(WORKGROUP_SIDE),
            self.height.div_ceil(WORKGROUP_SIDE),
            1,
        ]
    }
}

/// How the PNG is compressed: `Fastest` is fdeflate's ultra-fast mode with
/// the `Up` filter on every row, about twice as fast as `Fast` (whose
/// adaptive filter tries all five filters on every row) for a file a few
/// percent larger. The benchmark's native baseline encodes with this same
/// function, so both paths do the same work.
pub const PNG_COMPRESSION: png::Compression = png::Compression::Fastest;

/// Encodes the shader's index buffer (`Params::pixel_bytes` bytes: rows of
/// `row_words` words) as an 8-bit indexed PNG over [`palette`].
pub fn encode_png(width: u32, height: u32, indices: &[u8]) -> Result<Vec<u8>, String> {
    let width_bytes = usize::try_from(width).map_err(|e| e.to_string())?;
    let stride = width_bytes.div_ceil(4) * 4;
    let rows = usize::try_from(height).map_err(|e| e.to_string())?;
    if indices.len() != stride * rows {
        return Err(format!(
            "index buffer is {} bytes, expected {} ({rows} rows of {stride})",
            indices.len(),
            stride * rows
        ));
    }
    let mut png = Vec::with_capacity(indices.len() / 8);
    let mut encoder = png::Encoder::new(&mut png, width, height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette().to_vec());
    encoder.set_compression(PNG_COMPRESSION);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    if stride == width_bytes {
        writer
            .write_image_data(indices)
            .map_err(|e| e.to_string())?;
    } else {
        // Rows padded to whole words: drop the padding.
        let packed: Vec<u8> = indices
            .chunks_exact(stride)
            .flat_map(|row| &row[..width_bytes])
            .copied()
            .collect();
        writer
            .write_image_data(&packed)
            .map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    Ok(png)
}

#[cfg(target_arch = "wasm32")]
mod component {
    use kiln_guest::gpu::Gpu;

    use super::{Params, WGSL, encode_png};

    struct Mandelbrot;

    impl kiln_guest::Workload for Mandelbrot {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            let params = Params::parse(&input)?;
            let gpu = Gpu::new()?;
            let kernel = gpu.kernel(WGSL, "main")?;
            let uniforms = gpu.uniform_buffer(32)?;
            gpu.write(&uniforms, 0, &params.uniform_bytes())?;
            let pixels = gpu.storage_buffer(params.pixel_bytes())?;
            let group = gpu.bind(&kernel, 0, &[&uniforms, &pixels])?;
            let indices = gpu.dispatch_and_read(
                &kernel,
                &[&group],
                params.workgroups(),
                (&pixels, 0, params.pixel_bytes()),
            )?;
            encode_png(params.width, params.height, &indices)
        }
    }

    kiln_guest::export_workload!(Mandelbrot);
}
