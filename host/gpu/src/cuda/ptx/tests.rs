//! The PTX header reader against the example's module, an nvcc-style module
//! (both assemble with `ptxas`), and hostile or malformed modules.

use super::{Kernels, PtxError};
use crate::bindings::cuda::CudaError;
use crate::cuda::KernelArgValue::{self, Buffer, F32, F64, I32, U32, U64};

const VECADD: &str = include_str!("../../../../../sdk/examples/vecadd-cuda/src/vecadd.ptx");
const NVCC_STYLE: &str = include_str!("nvcc_style.ptx");

fn kernels(ptx: &str) -> Kernels {
    Kernels::read(ptx).unwrap_or_else(|error| panic!("{error}"))
}

fn params(kernels: &Kernels, name: &str) -> Vec<u32> {
    kernels
        .0
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no kernel {name}"))
}

#[test]
fn the_examples_kernel_takes_three_pointers_and_a_u32() {
    let kernels = kernels(VECADD);
    assert_eq!(kernels.0.len(), 1);
    assert_eq!(params(&kernels, "vecadd"), [8, 8, 8, 4]);
    kernels
        .check_launch("vecadd", &[Buffer, Buffer, Buffer, U32(1)])
        .unwrap();
}

#[test]
fn nvcc_style_headers_are_read_and_device_functions_are_not_kernels() {
    let kernels = kernels(NVCC_STYLE);
    assert_eq!(params(&kernels, "_Z5scalePfjf"), [8, 4, 4]);
    assert_eq!(params(&kernels, "_Z4tilePd6Window"), [8, 16]);
    assert_eq!(params(&kernels, "noop"), Vec::<u32>::new());
    assert_eq!(params(&kernels, "bare"), Vec::<u32>::new());
    assert_eq!(params(&kernels, "lanes"), [8]);
    assert_eq!(kernels.0.len(), 5, "{kernels:?}");
    assert!(matches!(
        kernels.check_launch("twice", &[U32(1)]),
        Err(CudaError::NoSuchKernel(_))
    ));
    kernels
        .check_launch("_Z5scalePfjf", &[Buffer, I32(-1), F32(2.0)])
        .unwrap();
    kernels.check_launch("noop", &[]).unwrap();
}

fn refused(kernels: &Kernels, name: &str, args: &[KernelArgValue]) -> String {
    match kernels.check_launch(name, args) {
        Err(CudaError::InvalidArgument(why)) => why,
        other => panic!("expected invalid-argument, got {other:?}"),
    }
}

#[test]
fn a_launch_with_too_few_or_too_many_values_is_refused() {
    let kernels = kernels(VECADD);
    let why = refused(&kernels, "vecadd", &[Buffer, Buffer, Buffer]);
    assert_eq!(
        why,
        "kernel `vecadd` takes 4 parameters (8 bytes, 8 bytes, 8 bytes, 4 bytes), the launch passes 3"
    );
    refused(
        &kernels,
        "vecadd",
        &[Buffer, Buffer, Buffer, U32(1), U32(2)],
    );
    refused(&kernels, "vecadd", &[]);
}

#[test]
fn a_value_of_the_wrong_size_is_refused() {
    let kernels = kernels(VECADD);
    let why = refused(&kernels, "vecadd", &[Buffer, Buffer, Buffer, U64(1)]);
    assert_eq!(
        why,
        "parameter 3 of `vecadd` is 4 bytes, the launch passes a u64 (8 bytes)"
    );
    // A 4-byte value where the kernel reads an 8-byte pointer.
    refused(&kernels, "vecadd", &[Buffer, U32(0), Buffer, U32(1)]);
    // No value is 16 bytes, so a by-value struct cannot be passed.
    let kernels = self::kernels(NVCC_STYLE);
    refused(&kernels, "_Z4tilePd6Window", &[Buffer, F64(0.0)]);
}

#[test]
fn an_unknown_kernel_is_refused_before_the_driver_sees_its_name() {
    let kernels = kernels(VECADD);
    for name in ["vecad", "vecadd\0", "", "VECADD"] {
        assert!(
            matches!(
                kernels.check_launch(name, &[Buffer, Buffer, Buffer, U32(1)]),
                Err(CudaError::NoSuchKernel(_))
            ),
            "{name:?}"
        );
    }
}

#[test]
fn modules_the_reader_cannot_vouch_for_are_refused() {
    let hidden = "#define P .param .u64 b,\n.visible .entry k(.param .u32 a) { ret; }";
    assert_eq!(Kernels::read(hidden), Err(PtxError::Preprocessor));
    assert_eq!(
        Kernels::read("  #include \"x.ptx\""),
        Err(PtxError::Preprocessor)
    );
    assert_eq!(Kernels::read(".entry k()\0{}"), Err(PtxError::Nul));
    for directive in [
        ".MACRO",
        ".ENDMACRO",
        ".IF",
        ".ELSE",
        ".ELIF",
        ".ENDIF",
        ".if",
    ] {
        let ptx = format!("{directive} X\n.entry k(.param .u32 a) {{ ret; }}");
        assert_eq!(
            Kernels::read(&ptx),
            Err(PtxError::Preprocessor),
            "{directive}"
        );
    }
    // A number ends at a `.`, as for ptxas: the kernel after it is read.
    let kernels = kernels(".address_size 0x40.entry k(.param .u32 a) { ret; }");
    assert_eq!(params(&kernels, "k"), [4]);
    assert_eq!(
        Kernels::read(".entry k() /* {}"),
        Err(PtxError::UnclosedComment)
    );
    assert_eq!(Kernels::read(".file 1 \"a.cu"), Err(PtxError::String));
    let twice = ".entry k() { ret; }\n.entry k(.param .u32 a) { ret; }";
    assert_eq!(Kernels::read(twice), Err(PtxError::Duplicate("k".into())));
    for header in [
        ".entry (.param .u32 a) {}",
        ".entry k(.param .u32) {}",
        ".entry k(.param a) {}",
        ".entry k(.reg .u32 a) {}",
        ".entry k(.param .u32 .u64 a) {}",
        ".entry k(.param .texref t) {}",
        ".entry k(.param .u32 a[]) {}",
        ".entry k(.param .u32 a[4) {}",
        ".entry k(.param .u32 a[99999999999]) {}",
        ".entry k(.param .u64 a[0xffffffff]) {}",
        ".entry k(.param .align .b8 a[4]) {}",
        ".entry k(.param .u32 a .param .u32 b) {}",
        ".entry k(.param .u32 a",
        // A bare name must be followed by a body, `;` or a performance
        // directive; anything else is not read as "no parameters".
        ".entry k .param .u32 a { ret; }",
        ".entry k",
        ".entry k ,",
    ] {
        assert!(
            matches!(Kernels::read(header), Err(PtxError::Header { .. })),
            "{header}: {:?}",
            Kernels::read(header)
        );
    }
}

#[test]
fn array_lengths_are_read_as_ptx_integers() {
    // Each as ptxas reads it (its `-v` constant bank size confirms them).
    for (length, elements) in [
        ("8", 8),
        ("010", 8),
        ("0x8", 8),
        ("0b1000", 8),
        ("8U", 8),
        ("0", 0),
    ] {
        let ptx = format!(".entry k(.param .u32 a[{length}]) {{ ret; }}");
        assert_eq!(params(&kernels(&ptx), "k"), [4 * elements], "{length}");
    }
    for length in ["08", "0x", "0b2", "-1", "+1", "1.0", "8u"] {
        let ptx = format!(".entry k(.param .u32 a[{length}]) {{ ret; }}");
        assert!(Kernels::read(&ptx).is_err(), "{length}");
    }
}

#[test]
fn a_string_cannot_end_where_the_driver_would_not_end_it() {
    // ptxas has no escapes: to it the string ends at `\"` and `k` takes two
    // 8-byte pointers. A reader that took `\"` as an escape would see one
    // u32 instead, and let a one-value launch through.
    let hiding = r#".file 1 "\" .visible .entry k(.param .u64 a, .param .u64 b) { ret; } // " .visible .entry k(.param .u32 a) { ret; }"#;
    assert_eq!(Kernels::read(hiding), Err(PtxError::String));
    assert_eq!(
        Kernels::read(".file 1 \"a\n.entry k(.param .u32 a) { ret; }\""),
        Err(PtxError::String)
    );
    let kernels = kernels(".file 1 \"C:/src/.entry x(.u32 y).cu\"\n.entry k() { ret; }");
    assert_eq!(kernels.0.len(), 1);
}

#[test]
fn bytes_that_are_not_ptx_text_are_refused_outside_comments() {
    for (ptx, offset, byte) in [
        (".entry k(.param .u32\u{b} a) {}", 20, 0x0b),
        (".entry k\u{a0}(.param .u32 a) {}", 8, 0xc2),
        (".entry k(.param .u32 a) {}\u{7f}", 26, 0x7f),
    ] {
        assert_eq!(
            Kernels::read(ptx),
            Err(PtxError::Character { offset, byte }),
            "{ptx:?}"
        );
    }
    let kernels = kernels("// façade \u{b}\n/* ☃ */ .entry k(.param\x0c.u32 a)\r\n{ ret; }");
    assert_eq!(params(&kernels, "k"), [4]);
}

#[test]
fn a_kernel_without_a_list_has_no_parameters_only_before_its_body() {
    let kernels = kernels(".entry a { ret; }\n.entry b .maxntid 32 { ret; }\n.entry c;");
    for name in ["a", "b", "c"] {
        assert_eq!(params(&kernels, name), Vec::<u32>::new(), "{name}");
    }
}

#[test]
fn comments_and_strings_do_not_hide_or_invent_kernels() {
    let ptx = "// .entry fake(.param .u32 a)\n\
               /* .entry fake2(\n .param .u32 a) */\n\
               .file 1 \"src/.entry fake3(.param .u32 a).cu\"\n\
               .visible/* between */.entry/**/real(// trailing\n.param .u32 a)\n{ ret; }";
    let kernels = kernels(ptx);
    assert_eq!(kernels.0.len(), 1, "{kernels:?}");
    assert_eq!(params(&kernels, "real"), [4]);
}
