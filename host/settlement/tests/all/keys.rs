//! Keypair files: solana-keygen's format, mode 0600 enforced.

use std::os::unix::fs::PermissionsExt;

use kiln_settlement::Error;
use kiln_settlement::keys::{create_keypair, read_keypair};
use solana_signer::Signer;

#[test]
fn a_new_keypair_is_0600_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("id.json");
    let created = create_keypair(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(read_keypair(&path).unwrap().pubkey(), created.pubkey());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with('[') && text.split(',').count() == 64,
        "{text}"
    );
    assert!(
        create_keypair(&path).is_err(),
        "an existing key is never overwritten"
    );
}

#[test]
fn a_group_readable_keypair_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("id.json");
    create_keypair(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let error = read_keypair(&path).unwrap_err();
    assert!(
        matches!(&error, Error::Key { reason, .. } if reason.contains("0640")),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_a_keypair_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("id.json");
    std::fs::write(&path, "[1,2,3]").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(read_keypair(&path), Err(Error::Key { .. })));
}
