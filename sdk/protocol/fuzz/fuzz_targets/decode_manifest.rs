//! Any bytes through the manifest and job-spec decoders: never a panic;
//! whatever decodes is valid, re-encodes to the same bytes, and its signature
//! check returns rather than panics.
#![no_main]

use kiln_protocol::{JobSpec, SignedManifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = SignedManifest::from_bytes(data) {
        assert_eq!(signed.to_bytes(), data);
        assert!(signed.manifest.validate().is_ok());
        let _ = signed.verify();
    }
    if let Ok(spec) = JobSpec::from_bytes(data) {
        assert_eq!(spec.to_bytes(), data);
        assert!(spec.validate().is_ok());
    }
});
