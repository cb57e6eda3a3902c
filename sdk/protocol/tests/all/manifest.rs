//! Capability manifests: rules, signatures, decoding.

use kiln_protocol::manifest::{GpuBackend, MAX_GPUS, MAX_MODEL_NAME_LEN, ManifestError};
use kiln_protocol::signing::SignatureError;
use kiln_protocol::{
    BenchmarkClass, CapabilityManifest, DecodeError, SignedManifest, WorkloadClass,
};

use crate::common::{Edit, key, sample_manifest};

fn field_error(manifest: &CapabilityManifest) -> &'static str {
    match manifest.validate() {
        Err(DecodeError::InvalidField { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn signed_manifest_round_trips_and_verifies() {
    let node = key(1);
    let signed = SignedManifest::sign(sample_manifest(&node), &node).unwrap();
    let decoded = SignedManifest::from_bytes(&signed.to_bytes()).unwrap();
    assert_eq!(decoded, signed);
    decoded.verify().unwrap();
}

#[test]
fn manifest_signed_by_another_key_is_refused() {
    let node = key(1);
    assert_eq!(
        SignedManifest::sign(sample_manifest(&node), &key(5)),
        Err(ManifestError::Signature(SignatureError::WrongSigner))
    );
}

#[test]
fn tampered_manifest_fails_verification() {
    let node = key(1);
    let mut signed = SignedManifest::sign(sample_manifest(&node), &node).unwrap();
    signed.manifest.price_floor.per_gpu_second = 1;
    assert_eq!(
        signed.verify(),
        Err(ManifestError::Signature(SignatureError::BadSignature))
    );
}

#[test]
fn manifest_rules_name_the_offending_field() {
    let node = key(1);
    let base = sample_manifest(&node);
    let cases: &[(&str, Edit<CapabilityManifest>)] = &[
        ("cpu.cores", |m| m.cpu.cores = 0),
        ("cpu.model", |m| {
            m.cpu.model = "x".repeat(MAX_MODEL_NAME_LEN + 1)
        }),
        ("gpus", |m| m.gpus = vec![m.gpus[0].clone(); MAX_GPUS + 1]),
        ("gpus.name", |m| {
            m.gpus[0].name = "x".repeat(MAX_MODEL_NAME_LEN + 1)
        }),
        ("benchmark_class", |m| {
            m.benchmark_class = BenchmarkClass(16)
        }),
        ("region", |m| m.region = String::new()),
        ("region", |m| m.region = "EU West".into()),
        ("workload_classes", |m| m.workload_classes.clear()),
        ("workload_classes", |m| {
            m.workload_classes = vec![WorkloadClass::Cpu; 2]
        }),
        ("workload_classes", |m| m.gpus.clear()),
        ("workload_classes", |m| {
            m.workload_classes.push(WorkloadClass::Cuda)
        }),
        ("max_parallel_jobs", |m| m.max_parallel_jobs = 0),
        ("max_parallel_jobs", |m| m.max_parallel_jobs = 1025),
        ("client_version", |m| m.client_version = "v".repeat(65)),
    ];
    for &(field, edit) in cases {
        let mut manifest = base.clone();
        edit(&mut manifest);
        assert_eq!(field_error(&manifest), field);
        // A rule-breaking manifest is refused when signed and when decoded.
        assert!(matches!(
            SignedManifest::sign(manifest.clone(), &node),
            Err(ManifestError::Invalid(_))
        ));
        let forged = SignedManifest {
            manifest,
            signature: kiln_protocol::Signature::ZERO,
        };
        assert!(matches!(
            SignedManifest::from_bytes(&forged.to_bytes()),
            Err(DecodeError::InvalidField { field: f, .. }) if f == field
        ));
    }
}

#[test]
fn cuda_class_is_fine_with_a_cuda_gpu() {
    let node = key(1);
    let mut manifest = sample_manifest(&node);
    manifest.gpus[0].backend = GpuBackend::Cuda;
    manifest.workload_classes.push(WorkloadClass::Cuda);
    manifest.validate().unwrap();
}

#[test]
fn unknown_enum_tag_in_a_manifest_is_malformed() {
    let node = key(1);
    let signed = SignedManifest::sign(sample_manifest(&node), &node).unwrap();
    let mut bytes = signed.to_bytes();
    // The workload class list is near the end: tag bytes 0 (Cpu) and 1 (WebGpu)
    // sit just before max_parallel_jobs (2 bytes), the version string and
    // issued_at (8 bytes), then the 64-byte signature.
    let tail = 64 + 8 + 4 + "kiln-node 0.1.0".len() + 2;
    let webgpu_tag = bytes.len() - tail - 1;
    assert_eq!(bytes[webgpu_tag], 1);
    bytes[webgpu_tag] = 7;
    assert_eq!(
        SignedManifest::from_bytes(&bytes),
        Err(DecodeError::Malformed)
    );
}
