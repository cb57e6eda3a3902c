//! The GPU examples, run as a node runs them.

use kiln_example_mandelbrot::Params;
use kiln_example_matmul_gpu::Job;

use crate::common::{GpuSandbox, limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandelbrot_renders_a_png_of_the_asked_size_and_bills_gpu_time() {
    let sandbox = GpuSandbox::new();
    let params = Params {
        width: 320,
        height: 200,
        max_iter: 200,
    };
    let report = sandbox
        .run("kiln_example_mandelbrot", &params.to_input(), limits())
        .await;
    let png_bytes = report.result.expect("the job succeeds");
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut rgba = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut rgba).unwrap();
    assert_eq!((frame.width, frame.height), (320, 200));
    assert_eq!(frame.color_type, png::ColorType::Rgba);
    let pixel = |x: usize, y: usize| &rgba[(y * 320 + x) * 4..][..4];
    // The image's centre is c = -0.5 + 0i, inside the set: black.
    assert_eq!(pixel(160, 100), [0, 0, 0, 255]);
    // Its corner is c = -2 - 1i, which escapes at once: coloured.
    assert_ne!(pixel(0, 0), [0, 0, 0, 255]);
    assert!(
        report.usage.gpu_ns > 0,
        "GPU time billed: {:?}",
        report.usage
    );
    assert!(
        !report.gpu_time_host_measured,
        "lavapipe times on the device"
    );
    sandbox.assert_healthy().await;
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
