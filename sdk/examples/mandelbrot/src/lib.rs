//! Example GPU workload: the Mandelbrot set, one pixel per GPU thread, as a PNG.
//!
//! Input: empty (512×512, 256 iterations) or 12 bytes, little-endian `u32`
//! width, height and iteration limit. Output: the PNG file's bytes (RGBA).
//! The shader ([`WGSL`]) and its parameters ([`Params`]) are public so the
//! benchmark can drive the very same shader natively.

/// Image side and iterations when the input is empty.
pub const DEFAULT_SIZE: (u32, u32) = (512, 512);
/// Iterations per pixel when the input is empty.
pub const DEFAULT_ITERATIONS: u32 = 256;
/// Largest width or height: 4096² RGBA pixels is 64 MiB of GPU buffer,
/// within the default GPU memory cap (256 MiB) with room for the read-back.
pub const MAX_SIDE: u32 = 4096;
/// Most iterations per pixel accepted (bounds one dispatch's run time).
pub const MAX_ITERATIONS: u32 = 100_000;
/// Threads per workgroup along x and y (the shader's `@workgroup_size`).
pub const WORKGROUP_SIDE: u32 = 16;

/// The compute shader: binding 0 the parameters, binding 1 one RGBA8 pixel
/// (as a little-endian `u32`) per thread.
pub const WGSL: &str = r#"
struct Params {
    width: u32,
    height: u32,
    max_iter: u32,
    pad: u32,
    center_x: f32,
    center_y: f32,
    scale: f32,
    pad2: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> pixels: array<u32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.width || id.y >= params.height) {
        return;
    }
    let c = vec2<f32>(
        params.center_x + (f32(id.x) - f32(params.width) * 0.5) * params.scale,
        params.center_y + (f32(id.y) - f32(params.height) * 0.5) * params.scale,
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
    var rgba: u32 = 0xff000000u;
    if (i < params.max_iter) {
        let t = f32(i) / f32(params.max_iter);
        let r = u32(clamp(9.0 * (1.0 - t) * t * t * t, 0.0, 1.0) * 255.0);
        let g = u32(clamp(15.0 * (1.0 - t) * (1.0 - t) * t * t, 0.0, 1.0) * 255.0);
        let b = u32(clamp(8.5 * (1.0 - t) * (1.0 - t) * (1.0 - t) * t, 0.0, 1.0) * 255.0);
        rgba = rgba | (b << 16u) | (g << 8u) | r;
    }
    pixels[id.y * params.width + id.x] = rgba;
}
"#;

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

    /// The uniform block: the whole set, 3.0 wide, centred at (-0.5, 0).
    #[expect(clippy::cast_precision_loss, reason = "widths are at most 4096")]
    pub fn uniform_bytes(self) -> [u8; 32] {
        let scale = 3.0 / self.width as f32;
        let words: [[u8; 4]; 8] = [
            self.width.to_le_bytes(),
            self.height.to_le_bytes(),
            self.max_iter.to_le_bytes(),
            0u32.to_le_bytes(),
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

    /// Bytes of the pixel buffer.
    pub fn pixel_bytes(self) -> u64 {
        u64::from(self.width) * u64::from(self.height) * 4
    }

    /// Workgroups to dispatch along x and y.
    pub fn workgroups(self) -> [u32; 3] {
        [
            self.width.div_ceil(WORKGROUP_SIDE),
            self.height.div_ceil(WORKGROUP_SIDE),
            1,
        ]
    }
}

/// How the PNG is compressed: `Fastest` is fdeflate's ultra-fast mode with
/// the `Up` filter on every row. On the default image it is about twice as
/// fast as `Fast` (whose adaptive filter tries all five filters on every row)
/// for a file 3% larger (67 KB against 65 KB; `NoCompression` is 1 MiB and no
/// faster, its checksums run over every byte). The benchmark's native
/// baseline encodes with this same function, so both paths do the same work.
pub const PNG_COMPRESSION: png::Compression = png::Compression::Fastest;

/// Encodes RGBA8 pixels as a PNG ([`PNG_COMPRESSION`]).
pub fn encode_png(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<u8>, String> {
    let mut png = Vec::with_capacity(rgba.len() / 8);
    let mut encoder = png::Encoder::new(&mut png, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(PNG_COMPRESSION);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgba).map_err(|e| e.to_string())?;
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
            gpu.dispatch(&kernel, &[&group], params.workgroups())?;
            let rgba = gpu.read(&pixels, 0, params.pixel_bytes())?;
            encode_png(params.width, params.height, &rgba)
        }
    }

    kiln_guest::export_workload!(Mandelbrot);
}
