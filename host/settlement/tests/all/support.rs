//! Shared setup: parties with fixed keys, the test config and node, and a
//! world with the config, a staked node and an open job on any backend.

use kiln_protocol::signing::{SigningKey, public_key};
use kiln_protocol::{Digest, Parties, PublicKey, Rates, Receipt, SignedReceipt, Usage};
use kiln_settlement::keys::signing_key;
use kiln_settlement::{Acceptance, Chain, Embedded, Settlement};
use kiln_settlement_interface::instruction::{ConfigParams, NodeParams, OpenJobParams};
use kiln_settlement_interface::state::DEFAULT_UNSTAKE_COOLDOWN_SECONDS;
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// One SOL in lamports.
pub const SOL: u64 = 1_000_000_000;
/// Treasury fee of the test config: 2.5 %.
pub const FEE_BPS: u16 = 250;
/// Slash cap of the test config: 10 %.
pub const SLASH_CAP_BPS: u16 = 1_000;
/// Tier-0 stake of the test config.
pub const MIN_STAKE: u64 = SOL;
/// Grace after a deadline in the test config.
pub const GRACE_SECONDS: u64 = 3_600;
/// The default job's escrow.
pub const ESCROW: u64 = SOL;

/// The ELF `cargo xtask sbf` built.
pub fn elf() -> std::path::PathBuf {
    Embedded::elf_path(None).expect("KILN_SETTLEMENT_SO points at the ELF (cargo xtask sbf)")
}

/// An in-memory embedded chain.
pub fn embedded() -> Embedded {
    Embedded::in_memory(&elf()).expect("the ELF loads")
}

/// Rates of the node's floor and of jobs.
pub fn rates() -> Rates {
    Rates {
        per_million_fuel: 10,
        per_gpu_second: 1_000,
        per_wall_second: 100,
    }
}

/// Ten seconds of GPU and wall time times `n`: `n` × 11 000 lamports.
pub fn usage(n: u64) -> Usage {
    Usage {
        fuel: 0,
        gpu_ns: n * 10_000_000_000,
        wall_ms: n * 10_000,
    }
}

/// The parties, from fixed seeds.
pub struct Parties3 {
    /// Sends `InitConfig`.
    pub admin: Keypair,
    /// The config's scheduler authority.
    pub scheduler: Keypair,
    /// The node's operator wallet.
    pub operator: Keypair,
    /// The node's receipt key.
    pub node_key: SigningKey,
    /// The renter's wallet (also its receipt counter-signing key).
    pub renter: Keypair,
}

impl Parties3 {
    /// Fixed parties.
    pub fn new() -> Self {
        Self {
            admin: Keypair::new_from_array([1; 32]),
            scheduler: Keypair::new_from_array([2; 32]),
            operator: Keypair::new_from_array([3; 32]),
            node_key: SigningKey::from_bytes(&[4; 32]),
            renter: Keypair::new_from_array([5; 32]),
        }
    }

    /// The test config.
    pub fn config(&self) -> ConfigParams {
        ConfigParams {
            scheduler: self.scheduler.pubkey().to_bytes(),
            fee_bps: FEE_BPS,
            slash_cap_bps: SLASH_CAP_BPS,
            tier_min_stake: [MIN_STAKE, 10 * SOL, 50 * SOL, 100 * SOL],
            unstake_cooldown_seconds: DEFAULT_UNSTAKE_COOLDOWN_SECONDS,
            expire_grace_seconds: GRACE_SECONDS,
        }
    }

    /// The test node.
    pub fn node(&self) -> NodeParams {
        let mut region = [0; 32];
        region[..7].copy_from_slice(b"eu-west");
        NodeParams {
            receipt_key: public_key(&self.node_key).0,
            class: 3,
            region,
            price_floor: rates(),
        }
    }

    /// A co-signed receipt for `job` at `seq`.
    pub fn receipt(&self, job: &Address, seq: u64, usage: Usage) -> SignedReceipt {
        let parties = Parties {
            job: PublicKey(job.to_bytes()),
            node: public_key(&self.node_key),
            renter: public_key(&signing_key(&self.renter)),
        };
        let mut receipt = Receipt::first(parties, usage, 0, Digest::ZERO);
        receipt.seq = seq;
        let mut signed = SignedReceipt::signed_by_node(receipt, &self.node_key).unwrap();
        signed.counter_sign(&signing_key(&self.renter)).unwrap();
        signed
    }
}

/// Funds the parties, inits the config, registers and stakes the node.
pub fn with_node<C: Chain>(chain: C) -> (Settlement<C>, Parties3) {
    let parties = Parties3::new();
    let mut settlement = Settlement::new(chain);
    for wallet in [
        &parties.admin,
        &parties.scheduler,
        &parties.operator,
        &parties.renter,
    ] {
        settlement.fund(&wallet.pubkey(), 100 * SOL).unwrap();
    }
    settlement
        .init_config(&parties.admin, parties.config())
        .unwrap();
    settlement
        .register_node(&parties.operator, parties.node())
        .unwrap();
    settlement.stake(&parties.operator, MIN_STAKE).unwrap();
    (settlement, parties)
}

/// Job `job_id`'s terms: the default escrow and rates, deadline an hour out.
pub fn job_params<C: Chain>(settlement: &Settlement<C>, job_id: u64) -> OpenJobParams {
    OpenJobParams {
        job_id,
        escrow: ESCROW,
        rates: rates(),
        deadline: settlement.now().unwrap() + 3_600,
    }
}

/// Opens the renter's job `job_id` with the node's acceptance.
pub fn open_job<C: Chain>(
    settlement: &mut Settlement<C>,
    parties: &Parties3,
    job_id: u64,
) -> Address {
    let params = job_params(settlement, job_id);
    let operator = parties.operator.pubkey();
    let acceptance = Acceptance::sign(
        &parties.node_key,
        &parties.renter.pubkey(),
        &operator,
        &params,
    );
    settlement
        .open_job(&parties.renter, &operator, &acceptance, params)
        .unwrap()
        .0
}

/// With node, plus job 7 open.
pub fn with_job<C: Chain>(chain: C) -> (Settlement<C>, Parties3, Address) {
    let (mut settlement, parties) = with_node(chain);
    let job = open_job(&mut settlement, &parties, 7);
    (settlement, parties, job)
}
