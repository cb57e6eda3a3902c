//! A component that imports `wasi:webgpu` beyond the compute subset is
//! refused at load, naming the function.

use kiln_runtime::LoadError;

use crate::common::GpuSandbox;

/// A component importing `gpu-command-encoder.insert-debug-marker`, which
/// Kiln does not implement, next to a resource it does.
const BEYOND_THE_SUBSET: &str = r#"
(component
  (import "wasi:webgpu/webgpu@0.3.0-rc.2" (instance
    (export "gpu-command-encoder" (type (sub resource)))
    (export "[method]gpu-command-encoder.insert-debug-marker"
      (func (param "self" (borrow 0)) (param "marker-label" string)))
  ))
)
"#;

#[test]
fn an_import_outside_the_compute_subset_fails_at_load_with_its_name() {
    let sandbox = GpuSandbox::new();
    let error = sandbox
        .runtime
        .load(&wat::parse_str(BEYOND_THE_SUBSET).unwrap())
        .unwrap_err();
    match error {
        LoadError::NotProvided { interface, item } => {
            assert_eq!(interface, "wasi:webgpu/webgpu@0.3.0-rc.2");
            assert_eq!(item, "[method]gpu-command-encoder.insert-debug-marker");
        }
        other => panic!("expected NotProvided, got {other:?}"),
    }
}

#[test]
fn the_gpu_examples_link_against_the_subset() {
    let sandbox = GpuSandbox::new();
    for name in [
        "kiln_example_mandelbrot",
        "kiln_example_matmul_gpu",
        "kiln_example_vecadd_cuda",
    ] {
        sandbox.load(name);
    }
}
