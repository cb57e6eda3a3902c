//! Any bytes through the receipt decoders: never a panic; whatever decodes
//! re-encodes to exactly the same bytes (the encoding is canonical) and can be
//! run through chain verification.
#![no_main]

use kiln_protocol::{Receipt, SignedReceipt, verify_chain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(receipt) = Receipt::from_bytes(data) {
        assert_eq!(&receipt.to_bytes()[..], data);
    }
    if let Ok(signed) = SignedReceipt::from_bytes(data) {
        assert_eq!(signed.to_bytes(), data);
        let _ = verify_chain(core::slice::from_ref(&signed));
    }
});
