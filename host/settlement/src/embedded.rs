//! [`Embedded`]: the real settlement ELF in an in-process LiteSVM, the
//! default for `kiln demo` and the tests.
//!
//! Each [`Chain::send`] is one block: the clock catches up with the wall
//! clock (it never goes back), the blockhash moves on, and the transaction
//! runs. With a state file, every successful transaction and airdrop saves
//! the accounts it touched ([`crate::snapshot`]), so a restart keeps
//! balances; without one the chain lives in memory only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use kiln_settlement_interface::program_id;
use litesvm::LiteSVM;
use solana_account::Account;
use solana_address::Address;
use solana_clock::Clock;
use solana_hash::Hash;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

use crate::chain::{Chain, Sent};
use crate::error::{Error, Result};
use crate::snapshot::{SavedClock, Snapshot};
use crate::tx;

/// The environment variable naming the ELF that `cargo xtask sbf` built.
pub const SO_ENV: &str = "KILN_SETTLEMENT_SO";

/// A transaction the runtime refused, as it reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The runtime's error.
    pub error: TransactionError,
    /// The program logs up to the failure.
    pub logs: Vec<String>,
}

/// The settlement program in LiteSVM, optionally persisted to a file.
pub struct Embedded {
    svm: LiteSVM,
    state: Option<PathBuf>,
    /// Accounts any transaction or airdrop named; what a save considers.
    touched: BTreeSet<Address>,
}

impl Embedded {
    /// The ELF's path: `explicit` when given, else [`SO_ENV`].
    pub fn elf_path(explicit: Option<&Path>) -> Result<PathBuf> {
        match explicit {
            Some(path) => Ok(path.to_path_buf()),
            None => std::env::var_os(SO_ENV).map(PathBuf::from).ok_or_else(|| {
                Error::Elf(format!(
                    "{SO_ENV} is not set: build the program with `cargo xtask sbf` and point \
                     {SO_ENV} at the kiln_settlement.so it prints"
                ))
            }),
        }
    }

    /// Deploys the ELF at `elf` into a fresh VM, then restores `state` when
    /// that file exists. Every later change is saved to `state`.
    pub fn open(elf: &Path, state: Option<&Path>) -> Result<Self> {
        let bytes = std::fs::read(elf)
            .map_err(|error| Error::Elf(format!("cannot read {}: {error}", elf.display())))?;
        let mut svm = LiteSVM::new();
        svm.add_program(program_id(), &bytes)
            .map_err(|error| Error::Elf(format!("{} does not load: {error:?}", elf.display())))?;
        let mut embedded = Self {
            svm,
            state: state.map(Path::to_path_buf),
            touched: BTreeSet::new(),
        };
        if let Some(path) = state
            && let Some(snapshot) = Snapshot::load(path)?
        {
            embedded.restore(path, snapshot)?;
        }
        embedded.sync_clock();
        Ok(embedded)
    }

    /// An in-memory chain (nothing saved), for tests and benchmarks.
    pub fn in_memory(elf: &Path) -> Result<Self> {
        Self::open(elf, None)
    }

    fn restore(&mut self, path: &Path, snapshot: Snapshot) -> Result<()> {
        for (address, account) in snapshot.accounts {
            self.svm
                .set_account(address, account)
                .map_err(|error| Error::Snapshot {
                    path: path.to_path_buf(),
                    reason: format!("account {address}: {error:?}"),
                })?;
            self.touched.insert(address);
        }
        let mut clock = self.svm.get_sysvar::<Clock>();
        clock.slot = snapshot.clock.slot;
        clock.unix_timestamp = snapshot.clock.unix_timestamp;
        self.svm.set_sysvar(&clock);
        Ok(())
    }

    /// An in-memory copy of this chain (nothing saved), e.g. to serve it over RPC.
    pub fn clone_state(&self) -> Self {
        Self {
            svm: self.svm.clone(),
            state: None,
            touched: self.touched.clone(),
        }
    }

    /// The VM, for reads the trait does not cover (the test RPC server).
    pub fn svm(&self) -> &LiteSVM {
        &self.svm
    }

    /// The VM, mutably: for tests and tools that set accounts directly.
    pub fn svm_mut(&mut self) -> &mut LiteSVM {
        &mut self.svm
    }

    /// The blockhash a transaction must carry to be accepted now.
    pub fn latest_blockhash(&self) -> Hash {
        self.svm.latest_blockhash()
    }

    /// Starts a new block: a new blockhash, the next slot, and the clock at
    /// least at the wall clock. Transactions built on the old blockhash are
    /// refused from now on, as on a cluster once their blockhash expires.
    pub fn new_block(&mut self) {
        self.sync_clock();
        self.svm.expire_blockhash();
    }

    /// Moves the clock `seconds` ahead of where it is (deadlines, cooldowns).
    pub fn advance_clock(&mut self, seconds: i64) {
        let mut clock = self.svm.get_sysvar::<Clock>();
        clock.unix_timestamp = clock.unix_timestamp.saturating_add(seconds);
        clock.slot = clock.slot.saturating_add(1);
        self.svm.set_sysvar(&clock);
    }

    fn sync_clock(&mut self) {
        let mut clock = self.svm.get_sysvar::<Clock>();
        clock.unix_timestamp = clock.unix_timestamp.max(wall_clock());
        clock.slot = clock.slot.saturating_add(1);
        self.svm.set_sysvar(&clock);
    }

    /// Moves the clock's unix time up to the wall clock (never back) without
    /// starting a block: a validator's clock keeps time between blocks too,
    /// and a server that answers reads between transactions
    /// (`kiln chain serve`) calls this before each answer, so deadlines pass
    /// while nobody sends anything.
    pub fn catch_up_clock(&mut self) {
        let mut clock = self.svm.get_sysvar::<Clock>();
        let wall = wall_clock();
        if clock.unix_timestamp < wall {
            clock.unix_timestamp = wall;
            self.svm.set_sysvar(&clock);
        }
    }

    /// The clock's slot (one per block here).
    pub fn slot(&self) -> u64 {
        self.svm.get_sysvar::<Clock>().slot
    }

    /// Turns off LiteSVM's blockhash check, which accepts only the latest
    /// blockhash. A validator accepts any of its last 150; a server that
    /// hands out blockhashes to several processes (`kiln chain serve`) keeps
    /// that window itself and checks a transaction's age before
    /// [`Self::execute`]. Duplicate signatures are still refused.
    pub fn without_blockhash_check(self) -> Self {
        Self {
            svm: self.svm.with_blockhash_check(false),
            ..self
        }
    }

    /// Runs an already signed transaction as it is (no new block first), the
    /// way a validator runs what it receives, and decodes a failure.
    pub fn submit(&mut self, transaction: &Transaction) -> Result<Sent> {
        let size = tx::serialized_size(transaction);
        if size > tx::MAX_TRANSACTION_SIZE {
            return Err(Error::TransactionTooLarge {
                size,
                limit: tx::MAX_TRANSACTION_SIZE,
            });
        }
        self.execute(transaction)?
            .map_err(|failed| Error::from_transaction(failed.error, tx::is_settlement(transaction)))
    }

    /// Runs `transaction` and saves on success. The outer `Result` is a save
    /// failure; the inner one is the runtime's verdict with its logs, raw,
    /// for callers that relay it (the test RPC server).
    pub fn execute(&mut self, transaction: &Transaction) -> Result<Result<Sent, Failed>> {
        match self.svm.send_transaction(transaction.clone()) {
            Ok(meta) => {
                self.touched
                    .extend(transaction.message.account_keys.iter().copied());
                self.save()?;
                Ok(Ok(Sent {
                    signature: meta.signature,
                    compute_units: Some(meta.compute_units_consumed),
                    fee: Some(meta.fee),
                }))
            }
            Err(failed) => Ok(Err(Failed {
                error: failed.err,
                logs: failed.meta.logs,
            })),
        }
    }

    /// Runs `transaction` on the current state and throws the outcome away
    /// (a validator's preflight): LiteSVM charges the fee of a transaction
    /// that fails while it runs, so a server that must refuse failures
    /// without landing them simulates first.
    pub fn simulate(&self, transaction: &Transaction) -> Result<(), Failed> {
        self.svm
            .simulate_transaction(transaction.clone())
            .map(drop)
            .map_err(|failed| Failed {
                error: failed.err,
                logs: failed.meta.logs,
            })
    }

    /// Airdrops `lamports` to `address` in a new block and saves.
    pub fn airdrop(&mut self, address: &Address, lamports: u64) -> Result<Signature> {
        self.new_block();
        let meta = self
            .svm
            .airdrop(address, lamports)
            .map_err(|failed| Error::Transaction(failed.err))?;
        self.touched.insert(*address);
        self.save()?;
        Ok(meta.signature)
    }

    /// The outcome of a transaction this chain ran, if it ran it.
    pub fn status(&self, signature: &Signature) -> Option<Result<(), TransactionError>> {
        self.svm.get_transaction(signature).map(|outcome| {
            outcome
                .as_ref()
                .map(drop)
                .map_err(|failed| failed.err.clone())
        })
    }

    /// Saves the touched wallets and program accounts, when there is a state file.
    pub fn save(&self) -> Result<()> {
        let Some(path) = &self.state else {
            return Ok(());
        };
        let clock = self.svm.get_sysvar::<Clock>();
        let accounts = self
            .touched
            .iter()
            .filter_map(|address| Some((*address, self.svm.get_account(address)?)))
            .filter(|(_, account)| keep(account))
            .collect();
        Snapshot {
            clock: SavedClock {
                slot: clock.slot,
                unix_timestamp: clock.unix_timestamp,
            },
            accounts,
        }
        .save(path)
    }
}

/// Seconds since the Unix epoch (0 before it, `i64::MAX` past its range).
fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Whether a save keeps `account`: a wallet or one of the program's state
/// accounts with lamports left (a closed job is gone, not saved empty).
fn keep(account: &Account) -> bool {
    let system = solana_sdk_ids::system_program::id();
    account.lamports > 0 && (account.owner == system || account.owner == program_id())
}

impl Chain for Embedded {
    fn send(&mut self, instructions: &[Instruction], signers: &[&Keypair]) -> Result<Sent> {
        self.new_block();
        let transaction = tx::build(instructions, signers, self.svm.latest_blockhash())?;
        self.submit(&transaction)
    }

    fn accounts(&self, addresses: &[Address]) -> Result<Vec<Option<Account>>> {
        Ok(addresses
            .iter()
            .map(|address| self.svm.get_account(address).filter(|a| a.lamports > 0))
            .collect())
    }

    fn balance(&self, address: &Address) -> Result<u64> {
        Ok(self.svm.get_balance(address).unwrap_or(0))
    }

    fn now(&self) -> Result<i64> {
        Ok(self.svm.get_sysvar::<Clock>().unix_timestamp)
    }

    fn check_program(&self) -> Result<()> {
        match self.svm.get_account(&program_id()) {
            Some(account) if account.executable => Ok(()),
            _ => Err(Error::Elf("the program is not loaded".into())),
        }
    }

    fn fund(&mut self, address: &Address, lamports: u64) -> Result<()> {
        self.airdrop(address, lamports).map(drop)
    }

    fn rent_exempt_minimum(&self, len: usize) -> Result<u64> {
        Ok(self.svm.minimum_balance_for_rent_exemption(len))
    }
}
