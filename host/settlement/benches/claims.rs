//! Claims through the embedded backend: claims per second (in memory, and
//! with the state file saved after every transaction), and the compute units
//! and fee of one claim. `cargo xtask bench settlement` builds the ELF and
//! runs this in release mode; run by hand with `KILN_SETTLEMENT_SO` set.

use std::time::Instant;

use kiln_protocol::signing::{SigningKey, public_key};
use kiln_protocol::{Digest, Parties, PublicKey, Rates, Receipt, SignedReceipt, Usage};
use kiln_settlement::keys::signing_key;
use kiln_settlement::{Acceptance, Embedded, Settlement};
use kiln_settlement_interface::instruction::{ConfigParams, NodeParams, OpenJobParams};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// Claims timed per run: enough for a stable rate, small enough that the
/// cumulative receipts stay inside one 1-SOL escrow (11 000 lamports each).
const CLAIMS: u64 = 2_000;
/// One SOL in lamports.
const SOL: u64 = 1_000_000_000;

struct World {
    settlement: Settlement<Embedded>,
    node_key: SigningKey,
    renter: Keypair,
    job: Address,
}

fn world(chain: Embedded) -> World {
    let admin = Keypair::new_from_array([1; 32]);
    let operator = Keypair::new_from_array([3; 32]);
    let node_key = SigningKey::from_bytes(&[4; 32]);
    let renter = Keypair::new_from_array([5; 32]);
    let rates = Rates {
        per_million_fuel: 10,
        per_gpu_second: 1_000,
        per_wall_second: 100,
    };
    let mut settlement = Settlement::new(chain);
    for wallet in [&admin, &operator, &renter] {
        settlement.fund(&wallet.pubkey(), 100 * SOL).unwrap();
    }
    let config = ConfigParams {
        scheduler: admin.pubkey().to_bytes(),
        fee_bps: 250,
        slash_cap_bps: 1_000,
        tier_min_stake: [SOL, 10 * SOL, 50 * SOL, 100 * SOL],
        unstake_cooldown_seconds: 60,
        expire_grace_seconds: 60,
    };
    settlement.init_config(&admin, config).unwrap();
    let node = NodeParams {
        receipt_key: public_key(&node_key).0,
        class: 3,
        region: *b"eu-west\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        price_floor: rates,
    };
    settlement.register_node(&operator, node).unwrap();
    settlement.stake(&operator, SOL).unwrap();
    let params = OpenJobParams {
        job_id: 1,
        escrow: 50 * SOL,
        rates,
        deadline: settlement.now().unwrap() + 3_600,
    };
    let acceptance = Acceptance::sign(&node_key, &renter.pubkey(), &operator.pubkey(), &params);
    let (job, _) = settlement
        .open_job(&renter, &operator.pubkey(), &acceptance, params)
        .unwrap();
    World {
        settlement,
        node_key,
        renter,
        job,
    }
}

fn receipts(world: &World, count: u64) -> Vec<SignedReceipt> {
    let renter_key = signing_key(&world.renter);
    let parties = Parties {
        job: PublicKey(world.job.to_bytes()),
        node: public_key(&world.node_key),
        renter: public_key(&renter_key),
    };
    (1..=count)
        .map(|seq| {
            let usage = Usage {
                fuel: 0,
                gpu_ns: seq * 10_000_000_000,
                wall_ms: seq * 10_000,
            };
            let mut receipt = Receipt::first(parties, usage, 0, Digest::ZERO);
            receipt.seq = seq;
            let mut signed = SignedReceipt::signed_by_node(receipt, &world.node_key).unwrap();
            signed.counter_sign(&renter_key).unwrap();
            signed
        })
        .collect()
}

/// Claims per second over [`CLAIMS`] claims; also returns the last claim's CU and fee.
fn claims_per_second(chain: Embedded) -> (f64, u64, u64) {
    let mut world = world(chain);
    let receipts = receipts(&world, CLAIMS);
    let renter = world.renter.insecure_clone();
    let started = Instant::now();
    let mut last = None;
    for receipt in &receipts {
        last = Some(world.settlement.claim(&renter, receipt).unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let last = last.unwrap();
    (
        CLAIMS as f64 / elapsed,
        last.compute_units.unwrap(),
        last.fee.unwrap(),
    )
}

fn main() {
    let elf = Embedded::elf_path(None).expect("KILN_SETTLEMENT_SO (cargo xtask bench settlement)");
    let (in_memory, units, fee) = claims_per_second(Embedded::in_memory(&elf).unwrap());
    let dir = std::env::temp_dir().join(format!("kiln-settlement-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("chain.json");
    let (persisted, _, _) = claims_per_second(Embedded::open(&elf, Some(&state)).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    println!("settlement: {CLAIMS} claims through the embedded backend (LiteSVM, real SBF ELF)");
    println!("  in memory:                 {in_memory:>8.0} claims/s");
    println!(
        "  state file saved per claim: {persisted:>7.0} claims/s ({:.2}x of in memory)",
        persisted / in_memory
    );
    println!(
        "  one claim: {units} compute units (LiteSVM counts the program, not the precompile), fee {fee} lamports"
    );
    println!(
        "  fee / base fee per signature (5000): {:.1}x",
        fee as f64 / 5_000.0
    );
}
