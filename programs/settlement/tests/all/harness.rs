//! Shared setup: a LiteSVM with the real SBF ELF loaded, deterministic
//! parties, and helpers that build transactions through the interface
//! crate's builders (so these tests also prove the ABI).

use kiln_protocol::signing::{SigningKey, public_key};
use kiln_protocol::{Digest, Parties, PublicKey, Receipt, SignedReceipt, Usage};
use kiln_settlement_interface::SettlementError;
use kiln_settlement_interface::acceptance::Terms;
use kiln_settlement_interface::builders;
use kiln_settlement_interface::instruction::{ConfigParams, NodeParams, OpenJobParams};
use kiln_settlement_interface::pda::{job_address, node_address};
use kiln_settlement_interface::program_id;
use kiln_settlement_interface::state::{DEFAULT_UNSTAKE_COOLDOWN_SECONDS, State};
use litesvm::LiteSVM;
use solana_address::Address;
use solana_clock::Clock;
use solana_instruction::Instruction;
use solana_instruction::error::InstructionError;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

/// One SOL in lamports.
pub const SOL: u64 = 1_000_000_000;
/// Treasury fee the test config sets: 2.5 %.
pub const FEE_BPS: u16 = 250;
/// Slash cap the test config sets: 10 %.
pub const SLASH_CAP_BPS: u16 = 1_000;
/// Stake needed for tier 0 in the test config.
pub const MIN_STAKE: u64 = SOL;
/// Grace after a deadline in the test config.
pub const GRACE_SECONDS: u64 = 3_600;
/// The default job's escrow.
pub const ESCROW: u64 = SOL;
/// The default job's id.
pub const JOB_ID: u64 = 7;

/// What a transaction did: its compute units, or why it failed.
pub type Outcome = Result<u64, TransactionError>;

/// The ELF that `cargo xtask sbf` built.
fn program_elf() -> Vec<u8> {
    let path = std::env::var("KILN_SETTLEMENT_SO").unwrap_or_else(|_| {
        panic!(
            "KILN_SETTLEMENT_SO is not set: run `cargo xtask sbf` and point it at \
             target/sbf/kiln_settlement.so (cargo xtask test does both)"
        )
    });
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!("cannot read the settlement ELF at {path} ({error}); run `cargo xtask sbf`")
    })
}

/// Floor and job rates: lamports per million fuel, per GPU second, per wall second.
pub fn rates() -> kiln_protocol::Rates {
    kiln_protocol::Rates {
        per_million_fuel: 10,
        per_gpu_second: 1_000,
        per_wall_second: 100,
    }
}

/// A region label, zero-padded.
pub fn region(label: &str) -> [u8; 32] {
    let mut region = [0; 32];
    region[..label.len()].copy_from_slice(label.as_bytes());
    region
}

/// A keypair and its ed25519 signing key, from one seed byte.
pub fn party(seed: u8) -> (Keypair, SigningKey) {
    (
        Keypair::new_from_array([seed; 32]),
        SigningKey::from_bytes(&[seed; 32]),
    )
}

/// The test world.
pub struct Env {
    /// The VM with the program loaded.
    pub svm: LiteSVM,
    /// Sends `InitConfig`.
    pub admin: Keypair,
    /// The config's scheduler authority.
    pub scheduler: Keypair,
    /// The node's operator wallet.
    pub operator: Keypair,
    /// The node's receipt key.
    pub node_key: SigningKey,
    /// The renter's wallet.
    pub renter: Keypair,
    /// The same key as an ed25519 signing key, for counter-signing receipts.
    pub renter_key: SigningKey,
}

impl Env {
    /// The VM, the program and funded parties; nothing initialised.
    pub fn new() -> Self {
        let mut svm = LiteSVM::new();
        svm.add_program(program_id(), &program_elf())
            .expect("the settlement ELF loads");
        let (renter, renter_key) = party(5);
        let env = Self {
            svm,
            admin: party(1).0,
            scheduler: party(2).0,
            operator: party(3).0,
            node_key: party(4).1,
            renter,
            renter_key,
        };
        let mut env = env;
        for address in [
            env.admin.pubkey(),
            env.scheduler.pubkey(),
            env.operator.pubkey(),
            env.renter.pubkey(),
        ] {
            env.svm.airdrop(&address, 100 * SOL).expect("airdrop");
        }
        env
    }

    /// The config this suite uses.
    pub fn config_params(&self) -> ConfigParams {
        ConfigParams {
            scheduler: self.scheduler.pubkey().to_bytes(),
            fee_bps: FEE_BPS,
            slash_cap_bps: SLASH_CAP_BPS,
            tier_min_stake: [MIN_STAKE, 10 * SOL, 50 * SOL, 100 * SOL],
            unstake_cooldown_seconds: DEFAULT_UNSTAKE_COOLDOWN_SECONDS,
            expire_grace_seconds: GRACE_SECONDS,
        }
    }

    /// The node this suite registers.
    pub fn node_params(&self) -> NodeParams {
        NodeParams {
            receipt_key: public_key(&self.node_key).0,
            class: 3,
            region: region("eu-west"),
            price_floor: rates(),
        }
    }

    /// New, plus the config.
    pub fn with_config() -> Self {
        let mut env = Self::new();
        let ix = builders::init_config(&env.admin.pubkey(), env.config_params());
        env.send(&[ix], &[&env.admin.insecure_clone()])
            .expect("init config");
        env
    }

    /// With config, plus a registered node staked at the minimum.
    pub fn with_node() -> Self {
        let mut env = Self::with_config();
        let operator = env.operator.insecure_clone();
        let register = builders::register_node(&operator.pubkey(), env.node_params());
        let stake = builders::stake(&operator.pubkey(), MIN_STAKE);
        env.send(&[register, stake], &[&operator])
            .expect("register and stake");
        env
    }

    /// With node, plus the default job opened; returns its address too.
    pub fn with_job() -> (Self, Address) {
        let mut env = Self::with_node();
        let params = env.job_params(JOB_ID);
        let ixs = env.open_job_ixs(&params);
        let renter = env.renter.insecure_clone();
        env.send(&ixs, &[&renter]).expect("open job");
        (env, job_address(&renter.pubkey(), JOB_ID).0)
    }

    /// The default job's terms with id `job_id`, deadline an hour from now.
    pub fn job_params(&self, job_id: u64) -> OpenJobParams {
        OpenJobParams {
            job_id,
            escrow: ESCROW,
            rates: rates(),
            deadline: self.now() + 3_600,
        }
    }

    /// The node's acceptance signature, then `OpenJob`.
    pub fn open_job_ixs(&self, params: &OpenJobParams) -> Vec<Instruction> {
        let renter = self.renter.pubkey();
        let operator = self.operator.pubkey();
        let terms = Terms {
            job: job_address(&renter, params.job_id).0.to_bytes(),
            renter: renter.to_bytes(),
            node: node_address(&operator).0.to_bytes(),
            rates: params.rates,
            escrow: params.escrow,
            deadline: params.deadline,
        };
        vec![
            builders::acceptance_signature(&self.node_key, &terms),
            builders::open_job(&renter, &operator, *params),
        ]
    }

    /// A receipt for `job` at `seq` with `usage`, signed by node and renter.
    pub fn receipt(&self, job: &Address, seq: u64, usage: Usage) -> SignedReceipt {
        let parties = Parties {
            job: PublicKey(job.to_bytes()),
            node: public_key(&self.node_key),
            renter: public_key(&self.renter_key),
        };
        let mut receipt = Receipt::first(parties, usage, 0, Digest::ZERO);
        receipt.seq = seq;
        let mut signed = SignedReceipt::signed_by_node(receipt, &self.node_key).unwrap();
        signed.counter_sign(&self.renter_key).unwrap();
        signed
    }

    /// The precompile instruction for `signed`, then `Claim`.
    pub fn claim_ixs(&self, job: &Address, signed: &SignedReceipt) -> Vec<Instruction> {
        vec![
            builders::receipt_signatures(signed).expect("co-signed"),
            builders::claim(job, &self.operator.pubkey()),
        ]
    }

    /// Sends `instructions` paid by the first signer, on a fresh blockhash so
    /// an identical transaction is a new one. `Ok` holds the compute units.
    pub fn send(&mut self, instructions: &[Instruction], signers: &[&Keypair]) -> Outcome {
        self.svm.expire_blockhash();
        let payer = signers[0].pubkey();
        let tx = Transaction::new_signed_with_payer(
            instructions,
            Some(&payer),
            signers,
            self.svm.latest_blockhash(),
        );
        self.svm
            .send_transaction(tx)
            .map(|meta| meta.compute_units_consumed)
            .map_err(|failed| {
                // Captured by the test harness; shown only when a test fails.
                eprintln!("{}", failed.meta.logs.join("\n"));
                failed.err
            })
    }

    /// Like [`Env::send`], but returns the compute units the settlement
    /// program itself consumed (from its "consumed" log line), which leaves
    /// out the Ed25519 precompile.
    pub fn send_program_units(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> u64 {
        self.svm.expire_blockhash();
        let payer = signers[0].pubkey();
        let tx = Transaction::new_signed_with_payer(
            instructions,
            Some(&payer),
            signers,
            self.svm.latest_blockhash(),
        );
        let meta = self.svm.send_transaction(tx).expect("transaction succeeds");
        let prefix = format!("Program {} consumed ", program_id());
        meta.logs
            .iter()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|units| units.parse().ok())
            .expect("the program logs its compute units")
    }

    /// The cluster clock's unix time.
    pub fn now(&self) -> i64 {
        self.svm.get_sysvar::<Clock>().unix_timestamp
    }

    /// Moves the clock forward.
    pub fn warp(&mut self, seconds: i64) {
        let mut clock = self.svm.get_sysvar::<Clock>();
        clock.unix_timestamp += seconds;
        clock.slot += 1;
        self.svm.set_sysvar(&clock);
    }

    /// Lamports at `address` (0 when there is no account).
    pub fn balance(&self, address: &Address) -> u64 {
        self.svm.get_balance(address).unwrap_or(0)
    }

    /// Decodes the state account at `address`.
    pub fn state<T: State>(&self, address: &Address) -> T {
        let account = self.svm.get_account(address).expect("account exists");
        T::unpack(&account.data).expect("decodes")
    }
}

/// Asserts that instruction `index` failed with exactly `error`.
#[track_caller]
pub fn assert_error(outcome: Outcome, index: u8, error: SettlementError) {
    let expected =
        TransactionError::InstructionError(index, InstructionError::Custom(error.code()));
    assert_eq!(outcome, Err(expected), "expected {}", error.name());
}
