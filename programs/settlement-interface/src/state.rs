//! Account layouts. Every state account is a PDA of the program whose data
//! starts with a one-byte type discriminator and the canonical bump it was
//! created with; the rest is fixed little-endian fields (see [`crate::codec`]).
//!
//! Invariants the program keeps:
//! - The discriminator is written once, at creation, and an account is only
//!   ever read as the type its discriminator names, so one kind of account can
//!   never be passed where another is expected.
//! - `bump` is the canonical bump (found with `find_program_address` at
//!   creation); later instructions re-derive the address from the seeds and
//!   this bump and compare, which is one SHA-256, not a bump search.
//! - Lamports held by an account are its rent-exempt minimum plus exactly the
//!   funds its fields account for: `Node` holds `stake + unstaking`, `Job`
//!   holds `escrow - paid`, `Treasury` holds every fee and slash.

use kiln_protocol::Rates;

use crate::codec::{RATES_LEN, Reader, Writer};
use crate::error::SettlementError;

/// The first byte of every state account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AccountType {
    /// [`Config`].
    Config = 1,
    /// [`Node`].
    Node = 2,
    /// [`Job`].
    Job = 3,
    /// [`Treasury`].
    Treasury = 4,
}

/// A fixed-layout state account.
pub trait State: Sized {
    /// The discriminator this type's accounts start with.
    const TYPE: AccountType;
    /// Encoded size, discriminator and bump included.
    const LEN: usize;

    /// Reads the fields after the discriminator and bump.
    fn read(bump: u8, reader: &mut Reader<'_>) -> Option<Self>;
    /// Writes the fields after the discriminator and bump.
    fn write(&self, writer: &mut Writer<'_>);
    /// The canonical bump stored in the account.
    fn bump(&self) -> u8;

    /// Decodes an account's data, checking size and discriminator.
    fn unpack(data: &[u8]) -> Result<Self, SettlementError> {
        if data.len() != Self::LEN {
            return Err(SettlementError::InvalidDiscriminator);
        }
        let mut reader = Reader::new(data);
        if reader.u8() != Some(Self::TYPE as u8) {
            return Err(SettlementError::InvalidDiscriminator);
        }
        let bump = reader.u8().ok_or(SettlementError::InvalidDiscriminator)?;
        let value = Self::read(bump, &mut reader).ok_or(SettlementError::InvalidDiscriminator)?;
        reader
            .finish()
            .ok_or(SettlementError::InvalidDiscriminator)?;
        Ok(value)
    }

    /// Encodes into an account's data, which must be exactly `LEN` bytes.
    fn pack(&self, data: &mut [u8]) -> Result<(), SettlementError> {
        if data.len() != Self::LEN {
            return Err(SettlementError::InvalidDiscriminator);
        }
        let mut writer = Writer::new(data);
        writer.u8(Self::TYPE as u8);
        writer.u8(self.bump());
        self.write(&mut writer);
        Ok(())
    }
}

/// Number of stake tiers in [`Config::tier_min_stake`].
pub const STAKE_TIERS: usize = 4;

/// Default unstake cooldown: seven days, long enough for the scheduler to
/// record a fault the node committed just before it asked to leave.
pub const DEFAULT_UNSTAKE_COOLDOWN_SECONDS: u64 = 7 * 24 * 60 * 60;

/// Basis points in one whole.
pub const BPS_DENOMINATOR: u64 = 10_000;

/// Program-wide settings, one per deployment. PDA seeds: [`crate::pda::CONFIG_SEED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Canonical bump.
    pub bump: u8,
    /// Who created the config. Reserved for later admin instructions.
    pub admin: [u8; 32],
    /// The only key that may record faults and slash.
    pub scheduler: [u8; 32],
    /// Treasury fee on every payout, in basis points of the payout.
    pub fee_bps: u16,
    /// Largest slash one fault may take, in basis points of the node's stake.
    pub slash_cap_bps: u16,
    /// Stake (lamports) for each tier; a node below tier 0 cannot take jobs.
    pub tier_min_stake: [u64; STAKE_TIERS],
    /// Seconds between begin-unstake and withdraw.
    pub unstake_cooldown_seconds: u64,
    /// Seconds after a job's deadline during which the node may still claim
    /// and close, before the renter may expire the job.
    pub expire_grace_seconds: u64,
}

impl State for Config {
    const TYPE: AccountType = AccountType::Config;
    const LEN: usize = 2 + 32 + 32 + 2 + 2 + 8 * STAKE_TIERS + 8 + 8;

    fn read(bump: u8, reader: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            bump,
            admin: reader.array()?,
            scheduler: reader.array()?,
            fee_bps: reader.u16()?,
            slash_cap_bps: reader.u16()?,
            tier_min_stake: [reader.u64()?, reader.u64()?, reader.u64()?, reader.u64()?],
            unstake_cooldown_seconds: reader.u64()?,
            expire_grace_seconds: reader.u64()?,
        })
    }

    fn write(&self, writer: &mut Writer<'_>) {
        writer.bytes(&self.admin);
        writer.bytes(&self.scheduler);
        writer.u16(self.fee_bps);
        writer.u16(self.slash_cap_bps);
        for stake in self.tier_min_stake {
            writer.u64(stake);
        }
        writer.u64(self.unstake_cooldown_seconds);
        writer.u64(self.expire_grace_seconds);
    }

    fn bump(&self) -> u8 {
        self.bump
    }
}

/// Whether a node may take new jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeStatus {
    /// Registered; may take jobs when staked above tier 0.
    Active = 1,
}

/// A registered node, one per operator. PDA seeds: [`crate::pda::NODE_SEED`], operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Canonical bump.
    pub bump: u8,
    /// Always [`NodeStatus::Active`] in this version; a byte so later
    /// versions can add states without moving fields.
    pub status: u8,
    /// Benchmark class (0 to 15, see `kiln_protocol::BenchmarkClass`).
    pub class: u8,
    /// The wallet that registered the node, signs its stake moves and is paid.
    pub operator: [u8; 32],
    /// The ed25519 key the node signs receipts and job acceptances with.
    pub receipt_key: [u8; 32],
    /// Region label, zero-padded (a-z, 0-9, '-').
    pub region: [u8; 32],
    /// Lowest rates the node takes.
    pub price_floor: Rates,
    /// Lamports staked and not leaving.
    pub stake: u64,
    /// Lamports asked to leave, withdrawable after the cooldown (still slashable).
    pub unstaking: u64,
    /// Unix time of the last begin-unstake.
    pub unstake_requested_at: i64,
    /// Jobs closed with a final claim.
    pub jobs_done: u64,
    /// Faults the scheduler recorded.
    pub faults: u32,
    /// Evidence hash of the last fault.
    pub last_fault_evidence: [u8; 32],
}

impl State for Node {
    const TYPE: AccountType = AccountType::Node;
    const LEN: usize = 2 + 1 + 1 + 32 * 3 + RATES_LEN + 8 * 4 + 4 + 32;

    fn read(bump: u8, reader: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            bump,
            status: reader.u8()?,
            class: reader.u8()?,
            operator: reader.array()?,
            receipt_key: reader.array()?,
            region: reader.array()?,
            price_floor: reader.rates()?,
            stake: reader.u64()?,
            unstaking: reader.u64()?,
            unstake_requested_at: reader.i64()?,
            jobs_done: reader.u64()?,
            faults: reader.u32()?,
            last_fault_evidence: reader.array()?,
        })
    }

    fn write(&self, writer: &mut Writer<'_>) {
        writer.u8(self.status);
        writer.u8(self.class);
        writer.bytes(&self.operator);
        writer.bytes(&self.receipt_key);
        writer.bytes(&self.region);
        writer.rates(&self.price_floor);
        writer.u64(self.stake);
        writer.u64(self.unstaking);
        writer.i64(self.unstake_requested_at);
        writer.u64(self.jobs_done);
        writer.u32(self.faults);
        writer.bytes(&self.last_fault_evidence);
    }

    fn bump(&self) -> u8 {
        self.bump
    }
}

/// One job's escrow. PDA seeds: [`crate::pda::JOB_SEED`], renter, job id (u64 LE).
///
/// A job exists from open to close or expire; closing deletes the account, so
/// there is no "closed" status to check, and a closed job reads as
/// [`SettlementError::AccountNotInitialized`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Canonical bump.
    pub bump: u8,
    /// The renter's chosen id, part of the address.
    pub job_id: u64,
    /// Who funded the escrow, counter-signs receipts, and gets the refund.
    pub renter: [u8; 32],
    /// The node account that accepted the job.
    pub node: [u8; 32],
    /// That node's operator: who claims are paid to.
    pub operator: [u8; 32],
    /// The node's receipt key when the job opened; receipts must be signed by it.
    pub node_receipt_key: [u8; 32],
    /// The rates the node accepted.
    pub rates: Rates,
    /// Treasury fee in basis points, fixed when the job opened.
    pub fee_bps: u16,
    /// Lamports the renter put in escrow.
    pub escrow: u64,
    /// Lamports paid out so far (to the operator and the treasury together).
    pub paid: u64,
    /// The seq of the last receipt paid; 0 before the first claim.
    pub last_paid_seq: u64,
    /// Unix time after which (plus the config's grace) the renter may expire the job.
    pub deadline: i64,
}

impl State for Job {
    const TYPE: AccountType = AccountType::Job;
    const LEN: usize = 2 + 8 + 32 * 4 + RATES_LEN + 2 + 8 * 4;

    fn read(bump: u8, reader: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            bump,
            job_id: reader.u64()?,
            renter: reader.array()?,
            node: reader.array()?,
            operator: reader.array()?,
            node_receipt_key: reader.array()?,
            rates: reader.rates()?,
            fee_bps: reader.u16()?,
            escrow: reader.u64()?,
            paid: reader.u64()?,
            last_paid_seq: reader.u64()?,
            deadline: reader.i64()?,
        })
    }

    fn write(&self, writer: &mut Writer<'_>) {
        writer.u64(self.job_id);
        writer.bytes(&self.renter);
        writer.bytes(&self.node);
        writer.bytes(&self.operator);
        writer.bytes(&self.node_receipt_key);
        writer.rates(&self.rates);
        writer.u16(self.fee_bps);
        writer.u64(self.escrow);
        writer.u64(self.paid);
        writer.u64(self.last_paid_seq);
        writer.i64(self.deadline);
    }

    fn bump(&self) -> u8 {
        self.bump
    }
}

/// Where fees and slashes go. PDA seeds: [`crate::pda::TREASURY_SEED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Treasury {
    /// Canonical bump.
    pub bump: u8,
    /// Lamports received as fees.
    pub fees: u64,
    /// Lamports received from slashes.
    pub slashed: u64,
}

impl State for Treasury {
    const TYPE: AccountType = AccountType::Treasury;
    const LEN: usize = 2 + 8 + 8;

    fn read(bump: u8, reader: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            bump,
            fees: reader.u64()?,
            slashed: reader.u64()?,
        })
    }

    fn write(&self, writer: &mut Writer<'_>) {
        writer.u64(self.fees);
        writer.u64(self.slashed);
    }

    fn bump(&self) -> u8 {
        self.bump
    }
}
