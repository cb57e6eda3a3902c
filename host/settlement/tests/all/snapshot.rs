//! The embedded chain's state file: a restart keeps balances, and a file of
//! another version is refused.

use kiln_settlement::{Embedded, Error, Settlement};
use solana_signer::Signer;

use crate::support::{MIN_STAKE, elf, usage, with_job};

#[test]
fn a_restart_keeps_balances_stake_and_escrow() {
    // Given a chain with a state file, a staked node, an open job and a claim.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("chain.json");
    let chain = Embedded::open(&elf(), Some(&state)).unwrap();
    let (mut settlement, parties, job) = with_job(chain);
    settlement
        .claim(&parties.renter, &parties.receipt(&job, 1, usage(1)))
        .unwrap();
    let operator = parties.operator.pubkey();
    let balance = settlement.balance(&operator).unwrap();
    let now = settlement.now().unwrap();
    drop(settlement);
    // When it is opened again from the file.
    let reopened = Settlement::new(Embedded::open(&elf(), Some(&state)).unwrap());
    // Then everything is where it was, and the next claim pays the delta.
    assert_eq!(reopened.balance(&operator).unwrap(), balance);
    assert_eq!(reopened.node(&operator).unwrap().stake, MIN_STAKE);
    assert_eq!(reopened.job(&job).unwrap().paid, 11_000);
    assert!(reopened.now().unwrap() >= now);
    let mut reopened = reopened;
    reopened
        .claim(&parties.renter, &parties.receipt(&job, 2, usage(2)))
        .unwrap();
    assert_eq!(reopened.job(&job).unwrap().paid, 22_000);
    assert!(
        !dir.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp-"))
    );
}

#[test]
fn a_state_file_of_another_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("chain.json");
    std::fs::write(
        &state,
        r#"{"format":"kiln-settlement-embedded","version":99,"clock":{"slot":1,"unix_timestamp":1},"accounts":[]}"#,
    )
    .unwrap();
    let error = Embedded::open(&elf(), Some(&state)).err().unwrap();
    assert!(
        matches!(&error, Error::Snapshot { reason, .. } if reason.contains("version 99")),
        "{error}"
    );
}
