//! The Ed25519 precompile checks: what a forged or partial signature
//! instruction, or a fake instructions sysvar, gets.

use kiln_protocol::Usage;
use kiln_protocol::signing::{public_key, sign};
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::builders::{self, INSTRUCTIONS_SYSVAR, ed25519_instruction};
use kiln_settlement_interface::ed25519::{OFFSETS_LEN, OFFSETS_START};
use solana_account::Account;
use solana_address::Address;
use solana_signer::Signer;

use crate::harness::{Env, assert_error, party};

fn usage() -> Usage {
    Usage {
        fuel: 1_000_000,
        gpu_ns: 1_000_000_000,
        wall_ms: 1_000,
    }
}

#[test]
fn a_receipt_signed_by_the_node_only_is_refused() {
    let (mut env, job) = Env::with_job();
    let signed = env.receipt(&job, 1, usage());
    let node_only = ed25519_instruction(
        &[(signed.receipt.node.0, signed.node_signature.0)],
        &signed.receipt.signing_message(),
    );
    let ixs = vec![node_only, builders::claim(&job, &env.operator.pubkey())];
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::SignatureCountMismatch,
    );
}

#[test]
fn a_second_signature_by_someone_other_than_the_renter_is_refused() {
    // Given a valid signature over the receipt, but by a key that is not the renter's.
    let (mut env, job) = Env::with_job();
    let signed = env.receipt(&job, 1, usage());
    let message = signed.receipt.signing_message();
    let stranger = party(12).1;
    let ix = ed25519_instruction(
        &[
            (signed.receipt.node.0, signed.node_signature.0),
            (public_key(&stranger).0, sign(&stranger, &message).0),
        ],
        &message,
    );
    let ixs = vec![ix, builders::claim(&job, &env.operator.pubkey())];
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::WrongRenterSigner,
    );
}

#[test]
fn signatures_in_the_wrong_order_are_refused() {
    let (mut env, job) = Env::with_job();
    let signed = env.receipt(&job, 1, usage());
    let ix = ed25519_instruction(
        &[
            (signed.receipt.renter.0, signed.renter_signature.unwrap().0),
            (signed.receipt.node.0, signed.node_signature.0),
        ],
        &signed.receipt.signing_message(),
    );
    let ixs = vec![ix, builders::claim(&job, &env.operator.pubkey())];
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::WrongNodeSigner,
    );
}

#[test]
fn a_precompile_instruction_pointing_at_another_instructions_data_is_refused() {
    // Given instruction 0: a genuine co-signed precompile instruction, and
    // instruction 1: the same offsets but every instruction index pointing at
    // instruction 0. The precompile verifies both (the bytes at instruction 0
    // are valid), yet the keys and message the program would read from
    // instruction 1 are not the ones verified.
    let (mut env, job) = Env::with_job();
    let signed = env.receipt(&job, 1, usage());
    let genuine = builders::receipt_signatures(&signed).unwrap();
    let mut elsewhere = genuine.clone();
    for record in 0..2 {
        for field in [2, 6, 12] {
            let at = OFFSETS_START + record * OFFSETS_LEN + field;
            elsewhere.data[at..at + 2].copy_from_slice(&0u16.to_le_bytes());
        }
    }
    let ixs = vec![
        genuine,
        elsewhere,
        builders::claim(&job, &env.operator.pubkey()),
    ];
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        2,
        SettlementError::SignatureDataElsewhere,
    );
}

#[test]
fn a_fake_instructions_sysvar_is_refused() {
    // Given an account that copies the real sysvar's shape at another address
    // (the Wormhole attack): here, any account the attacker controls.
    let (mut env, job) = Env::with_job();
    let fake = Address::new_from_array([66; 32]);
    let account = Account {
        lamports: 1_000_000,
        data: vec![0; 512],
        owner: Address::new_from_array([0; 32]),
        executable: false,
        rent_epoch: 0,
    };
    env.svm.set_account(fake, account).unwrap();
    let signed = env.receipt(&job, 1, usage());
    let mut ixs = env.claim_ixs(&job, &signed);
    assert_eq!(ixs[1].accounts[3].pubkey, INSTRUCTIONS_SYSVAR);
    ixs[1].accounts[3].pubkey = fake;
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        1,
        SettlementError::InvalidInstructionsSysvar,
    );
}

#[test]
fn a_claim_with_no_precompile_instruction_is_refused() {
    let (mut env, job) = Env::with_job();
    let ixs = vec![builders::claim(&job, &env.operator.pubkey())];
    let renter = env.renter.insecure_clone();
    assert_error(
        env.send(&ixs, &[&renter]),
        0,
        SettlementError::MissingEd25519Instruction,
    );
}
