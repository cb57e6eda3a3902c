//! The compute-unit table of every instruction, and the proof that a claim
//! costs the same at any seq. Run with `--nocapture` to see the table (the
//! program README has it); the units are the program's own, from its
//! "consumed" log line, so the Ed25519 precompile is not counted.

use kiln_protocol::Usage;
use kiln_settlement_interface::builders;
use kiln_settlement_interface::pda::job_address;
use kiln_settlement_interface::state::DEFAULT_UNSTAKE_COOLDOWN_SECONDS;
use solana_address::Address;
use solana_signer::Signer;

use crate::harness::{Env, JOB_ID, MIN_STAKE};

/// Claim must stay under this many units besides the precompile (issue 6).
const CLAIM_BUDGET: u64 = 20_000;

fn usage() -> Usage {
    Usage {
        fuel: 5_000_000,
        gpu_ns: 3_000_000_000,
        wall_ms: 4_000,
    }
}

/// The units of a first claim at `first_seq` and of the next claim after it,
/// each on a fresh job with the same amounts.
fn claim_units(first_seq: u64) -> (u64, u64) {
    let (mut env, job) = Env::with_job();
    let renter = env.renter.insecure_clone();
    let first = env.receipt(&job, first_seq, usage());
    let a = env.send_program_units(&env.claim_ixs(&job, &first), &[&renter]);
    let later = Usage {
        fuel: 10_000_000,
        gpu_ns: 6_000_000_000,
        wall_ms: 8_000,
    };
    let second = env.receipt(&job, first_seq + 1, later);
    let b = env.send_program_units(&env.claim_ixs(&job, &second), &[&renter]);
    (a, b)
}

#[test]
fn claim_units_do_not_grow_with_seq() {
    let at_one = claim_units(1);
    let at_a_million = claim_units(1_000_000);
    assert_eq!(at_one, at_a_million, "claim units depend on seq");
    assert!(
        at_one.0 < CLAIM_BUDGET && at_one.1 < CLAIM_BUDGET,
        "{at_one:?}"
    );
}

#[test]
fn compute_unit_table() {
    let mut rows: Vec<(&str, u64)> = Vec::new();

    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let ix = builders::init_config(&admin.pubkey(), env.config_params());
    rows.push(("InitConfig", env.send_program_units(&[ix], &[&admin])));

    let operator = env.operator.insecure_clone();
    let ix = builders::register_node(&operator.pubkey(), env.node_params());
    rows.push(("RegisterNode", env.send_program_units(&[ix], &[&operator])));
    let ix = builders::update_node(&operator.pubkey(), env.node_params());
    rows.push(("UpdateNode", env.send_program_units(&[ix], &[&operator])));
    let ix = builders::stake(&operator.pubkey(), 2 * MIN_STAKE);
    rows.push(("Stake", env.send_program_units(&[ix], &[&operator])));
    let ix = builders::begin_unstake(&operator.pubkey(), MIN_STAKE / 2);
    rows.push(("BeginUnstake", env.send_program_units(&[ix], &[&operator])));
    env.warp(i64::try_from(DEFAULT_UNSTAKE_COOLDOWN_SECONDS).unwrap());
    let ix = builders::withdraw(&operator.pubkey());
    rows.push(("Withdraw", env.send_program_units(&[ix], &[&operator])));

    let renter = env.renter.insecure_clone();
    let params = env.job_params(JOB_ID);
    let ixs = env.open_job_ixs(&params);
    rows.push(("OpenJob", env.send_program_units(&ixs, &[&renter])));
    let job = job_address(&renter.pubkey(), JOB_ID).0;
    let signed = env.receipt(&job, 1, usage());
    rows.push((
        "Claim (seq 1)",
        env.send_program_units(&env.claim_ixs(&job, &signed), &[&renter]),
    ));
    let signed = env.receipt(&job, 1_000_000, usage());
    rows.push((
        "Claim (seq 1 000 000)",
        env.send_program_units(&env.claim_ixs(&job, &signed), &[&renter]),
    ));
    let last = env.receipt(&job, 1_000_001, usage());
    let ixs = vec![
        builders::receipt_signatures(&last).unwrap(),
        builders::close(
            &operator.pubkey(),
            &operator.pubkey(),
            &job,
            &renter.pubkey(),
            true,
        ),
    ];
    rows.push((
        "Close (with final receipt)",
        env.send_program_units(&ixs, &[&operator]),
    ));

    let params = env.job_params(JOB_ID + 1);
    env.send(&env.open_job_ixs(&params), &[&renter]).unwrap();
    let job: Address = job_address(&renter.pubkey(), JOB_ID + 1).0;
    let ix = builders::close(
        &operator.pubkey(),
        &operator.pubkey(),
        &job,
        &renter.pubkey(),
        false,
    );
    rows.push((
        "Close (no receipt)",
        env.send_program_units(&[ix], &[&operator]),
    ));

    let params = env.job_params(JOB_ID + 2);
    env.send(&env.open_job_ixs(&params), &[&renter]).unwrap();
    let job: Address = job_address(&renter.pubkey(), JOB_ID + 2).0;
    env.warp(2 * 3_600 + 1);
    let ix = builders::expire(&job, &renter.pubkey());
    rows.push(("Expire", env.send_program_units(&[ix], &[&renter])));

    let scheduler = env.scheduler.insecure_clone();
    let ix = builders::record_fault(&scheduler.pubkey(), &operator.pubkey(), 500, [3; 32]);
    rows.push((
        "RecordFault (slash)",
        env.send_program_units(&[ix], &[&scheduler]),
    ));

    println!("| instruction | compute units |\n|---|---:|");
    for (name, units) in &rows {
        println!("| {name} | {units} |");
    }
    let claims: Vec<u64> = rows
        .iter()
        .filter(|(name, _)| name.starts_with("Claim"))
        .map(|(_, units)| *units)
        .collect();
    assert_eq!(claims.len(), 2);
    assert_eq!(claims[0], claims[1], "claim units depend on seq");
    assert!(claims[0] < CLAIM_BUDGET);
}
