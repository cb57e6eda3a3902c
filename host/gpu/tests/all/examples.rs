//! The GPU examples, run as a node runs them.

use kiln_example_mandelbrot::Params;
use kiln_example_matmul_gpu::Job;

use crate::common::{GpuSandbox, limits};

/// Decodes a PNG to RGB (palette expanded): (width, height, pixels).
fn decode_rgb(png_bytes: Vec<u8>) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    assert_eq!(reader.info().color_type, png::ColorType::Indexed);
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    rgb.truncate(frame.buffer_size());
    (frame.width, frame.height, rgb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandelbrot_renders_a_png_of_the_asked_size_and_bills_gpu_time() {
    let sandbox = GpuSandbox::new();
    // 321 wide: rows of the index buffer carry padding the encoder drops.
    for (width, height) in [(320, 200), (321, 200)] {
        let params = Params {
            width,
            height,
            max_iter: 200,
        };
        let report = sandbox
            .run("kiln_example_mandelbrot", &params.to_input(), limits())
            .await;
        let png_bytes = report.result.expect("the job succeeds");
        let (w, h, rgb) = decode_rgb(png_bytes);
        assert_eq!((w, h), (width, height));
        let row = usize::try_from(width).unwrap();
        let pixel = |x: usize, y: usize| &rgb[(y * row + x) * 3..][..3];
        // The image's centre is c = -0.5 + 0i, inside the set: black.
        assert_eq!(pixel(row / 2, 100), [0, 0, 0]);
        // Its corners are around c = -2 ± 1i, which escape at once: coloured.
        assert_ne!(pixel(0, 0), [0, 0, 0]);
        assert_ne!(pixel(row - 1, 199), [0, 0, 0]);
        assert!(
            report.usage.gpu_ns > 0,
            "GPU time billed: {:?}",
            report.usage
        );
        assert!(
            !report.gpu_time_host_measured,
            "lavapipe times on the device"
        );
    }
    sandbox.assert_healthy().await;
}

#[test]
fn the_mandelbrot_encoder_refuses_a_buffer_of_the_wrong_size() {
    let params = Params {
        width: 5,
        height: 2,
        max_iter: 10,
    };
    // Rows of 5 pixels take two words (8 bytes) each.
    assert_eq!(params.pixel_bytes(), 16);
    let error = kiln_example_mandelbrot::encode_png(5, 2, &[0; 10]).unwrap_err();
    assert!(error.contains("expected 16"), "{error}");
    assert!(kiln_example_mandelbrot::encode_png(5, 2, &[7; 16]).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matmul_gpu_equals_the_cpu_reference() {
    let sandbox = GpuSandbox::new();
    let job = Job {
        n: 96,
        seed: 7,
        check: true,
    };
    let report = sandbox
        .run("kiln_example_matmul_gpu", &job.to_input(), limits())
        .await;
    let output = report
        .result
        .expect("the job succeeds and its check passes");
    assert_eq!(output.len(), 16);
    let sum = f64::from_le_bytes(output[..8].try_into().unwrap());
    let n = u32::from_le_bytes(output[8..12].try_into().unwrap());
    let worst = f32::from_le_bytes(output[12..].try_into().unwrap());
    assert_eq!(n, 96);
    let (a, b) = job.matrices();
    let reference: f64 = kiln_example_matmul_gpu::multiply(&a, &b, 96)
        .iter()
        .map(|&x| f64::from(x))
        .sum();
    assert!(
        (sum - reference).abs() < 1e-3 * reference,
        "{sum} vs {reference}"
    );
    assert!(worst <= kiln_example_matmul_gpu::TOLERANCE * 96.0);
    assert!(report.usage.gpu_ns > 0);
    sandbox.assert_healthy().await;
}
