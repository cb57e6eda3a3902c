//! Instructions: a one-byte tag, then fixed little-endian fields.
//!
//! | tag | instruction | accounts (s = signer, w = writable) | data after the tag |
//! |---|---|---|---|
//! | 0 | `InitConfig` | admin (s,w), config (w), treasury (w), system program | scheduler, fee bps u16, slash cap bps u16, 4 × tier stake u64, cooldown s u64, grace s u64 |
//! | 1 | `RegisterNode` | operator (s,w), node (w), system program | receipt key, class u8, region `[u8; 32]`, price floor (3 × u64) |
//! | 2 | `UpdateNode` | operator (s), node (w) | same as `RegisterNode` |
//! | 3 | `Stake` | operator (s,w), node (w), system program | lamports u64 |
//! | 4 | `BeginUnstake` | operator (s), node (w) | lamports u64 |
//! | 5 | `Withdraw` | operator (s,w), config, node (w) | — |
//! | 6 | `OpenJob` | renter (s,w), config, node, job (w), system program, instructions sysvar | job id u64, escrow u64, rates (3 × u64), deadline i64 |
//! | 7 | `Claim` | job (w), operator (w), treasury (w), instructions sysvar | — |
//! | 8 | `Close` | closer (s: the operator or the node's receipt key), operator (w), job (w), renter (w), node (w), treasury (w), instructions sysvar | with receipt u8 (0 or 1) |
//! | 9 | `Expire` | job (w), renter (w), config | — |
//! | 10 | `RecordFault` | scheduler (s), config, node (w), treasury (w) | slash bps u16, evidence hash `[u8; 32]` |
//!
//! `OpenJob`, `Claim` and `Close` with a receipt need an Ed25519 precompile
//! instruction immediately before them (see [`crate::ed25519`]).

use kiln_protocol::Rates;

use crate::codec::{RATES_LEN, Reader, Writer};
use crate::error::SettlementError;
use crate::state::STAKE_TIERS;

/// `InitConfig`'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigParams {
    /// The key allowed to record faults and slash.
    pub scheduler: [u8; 32],
    /// Treasury fee, basis points of each payout (at most 10 000).
    pub fee_bps: u16,
    /// Slash cap, basis points of a node's stake (at most 10 000).
    pub slash_cap_bps: u16,
    /// Stake per tier, lamports.
    pub tier_min_stake: [u64; STAKE_TIERS],
    /// Unstake cooldown, seconds.
    pub unstake_cooldown_seconds: u64,
    /// Grace after a job's deadline before the renter may expire it, seconds.
    pub expire_grace_seconds: u64,
}

/// `RegisterNode` and `UpdateNode`'s fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeParams {
    /// The key that signs receipts and acceptances.
    pub receipt_key: [u8; 32],
    /// Benchmark class, 0 to 15.
    pub class: u8,
    /// Region label, zero-padded.
    pub region: [u8; 32],
    /// Lowest rates the node takes.
    pub price_floor: Rates,
}

/// `OpenJob`'s terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenJobParams {
    /// The renter's id for the job; part of the job's address. Never reuse one.
    pub job_id: u64,
    /// Lamports to hold in escrow.
    pub escrow: u64,
    /// Rates the node accepted.
    pub rates: Rates,
    /// Unix seconds after which (plus grace) the renter may expire the job.
    pub deadline: i64,
}

/// A decoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementInstruction {
    /// Create the config and treasury.
    InitConfig(ConfigParams),
    /// Create the operator's node.
    RegisterNode(NodeParams),
    /// Change the operator's node.
    UpdateNode(NodeParams),
    /// Add stake.
    Stake {
        /// Lamports.
        amount: u64,
    },
    /// Move stake to unstaking and start the cooldown.
    BeginUnstake {
        /// Lamports.
        amount: u64,
    },
    /// Take unstaked lamports out after the cooldown.
    Withdraw,
    /// Fund a job's escrow at terms the node signed.
    OpenJob(OpenJobParams),
    /// Pay the node for a co-signed receipt.
    Claim,
    /// Optionally claim a final receipt, refund the rest, delete the job.
    Close {
        /// Whether an Ed25519 instruction with a final receipt precedes this one.
        with_receipt: bool,
    },
    /// Refund the renter after the deadline plus grace.
    Expire,
    /// Record a fault against a node, slashing up to the cap.
    RecordFault {
        /// Basis points of the node's stake to slash (0: record only).
        slash_bps: u16,
        /// Hash of the evidence the scheduler keeps off chain.
        evidence: [u8; 32],
    },
}

/// Tags, in wire order.
mod tag {
    pub const INIT_CONFIG: u8 = 0;
    pub const REGISTER_NODE: u8 = 1;
    pub const UPDATE_NODE: u8 = 2;
    pub const STAKE: u8 = 3;
    pub const BEGIN_UNSTAKE: u8 = 4;
    pub const WITHDRAW: u8 = 5;
    pub const OPEN_JOB: u8 = 6;
    pub const CLAIM: u8 = 7;
    pub const CLOSE: u8 = 8;
    pub const EXPIRE: u8 = 9;
    pub const RECORD_FAULT: u8 = 10;
}

/// Encoded size of `InitConfig`.
const INIT_CONFIG_LEN: usize = 1 + 32 + 2 + 2 + 8 * STAKE_TIERS + 8 + 8;
/// Encoded size of `RegisterNode` and `UpdateNode`.
const NODE_LEN: usize = 1 + 32 + 1 + 32 + RATES_LEN;
/// Largest encoded instruction.
pub const MAX_INSTRUCTION_LEN: usize = if NODE_LEN > INIT_CONFIG_LEN {
    NODE_LEN
} else {
    INIT_CONFIG_LEN
};

impl SettlementInstruction {
    /// Decodes exactly one instruction; anything else is `InvalidInstructionData`.
    pub fn decode(data: &[u8]) -> Result<Self, SettlementError> {
        Self::read(data).ok_or(SettlementError::InvalidInstructionData)
    }

    fn read(data: &[u8]) -> Option<Self> {
        let mut reader = Reader::new(data);
        let instruction = match reader.u8()? {
            tag::INIT_CONFIG => Self::InitConfig(ConfigParams {
                scheduler: reader.array()?,
                fee_bps: reader.u16()?,
                slash_cap_bps: reader.u16()?,
                tier_min_stake: [reader.u64()?, reader.u64()?, reader.u64()?, reader.u64()?],
                unstake_cooldown_seconds: reader.u64()?,
                expire_grace_seconds: reader.u64()?,
            }),
            tag::REGISTER_NODE => Self::RegisterNode(read_node(&mut reader)?),
            tag::UPDATE_NODE => Self::UpdateNode(read_node(&mut reader)?),
            tag::STAKE => Self::Stake {
                amount: reader.u64()?,
            },
            tag::BEGIN_UNSTAKE => Self::BeginUnstake {
                amount: reader.u64()?,
            },
            tag::WITHDRAW => Self::Withdraw,
            tag::OPEN_JOB => Self::OpenJob(OpenJobParams {
                job_id: reader.u64()?,
                escrow: reader.u64()?,
                rates: reader.rates()?,
                deadline: reader.i64()?,
            }),
            tag::CLAIM => Self::Claim,
            tag::CLOSE => Self::Close {
                with_receipt: match reader.u8()? {
                    0 => false,
                    1 => true,
                    _ => return None,
                },
            },
            tag::EXPIRE => Self::Expire,
            tag::RECORD_FAULT => Self::RecordFault {
                slash_bps: reader.u16()?,
                evidence: reader.array()?,
            },
            _ => return None,
        };
        reader.finish()?;
        Some(instruction)
    }

    /// Encodes into `buffer`, returning the bytes used.
    pub fn encode<'a>(&self, buffer: &'a mut [u8; MAX_INSTRUCTION_LEN]) -> &'a [u8] {
        let len = self.encoded_len();
        let (used, _) = buffer.split_at_mut(len);
        let mut writer = Writer::new(used);
        match self {
            Self::InitConfig(params) => {
                writer.u8(tag::INIT_CONFIG);
                writer.bytes(&params.scheduler);
                writer.u16(params.fee_bps);
                writer.u16(params.slash_cap_bps);
                for stake in params.tier_min_stake {
                    writer.u64(stake);
                }
                writer.u64(params.unstake_cooldown_seconds);
                writer.u64(params.expire_grace_seconds);
            }
            Self::RegisterNode(params) => write_node(&mut writer, tag::REGISTER_NODE, params),
            Self::UpdateNode(params) => write_node(&mut writer, tag::UPDATE_NODE, params),
            Self::Stake { amount } => {
                writer.u8(tag::STAKE);
                writer.u64(*amount);
            }
            Self::BeginUnstake { amount } => {
                writer.u8(tag::BEGIN_UNSTAKE);
                writer.u64(*amount);
            }
            Self::Withdraw => writer.u8(tag::WITHDRAW),
            Self::OpenJob(params) => {
                writer.u8(tag::OPEN_JOB);
                writer.u64(params.job_id);
                writer.u64(params.escrow);
                writer.rates(&params.rates);
                writer.i64(params.deadline);
            }
            Self::Claim => writer.u8(tag::CLAIM),
            Self::Close { with_receipt } => {
                writer.u8(tag::CLOSE);
                writer.u8(u8::from(*with_receipt));
            }
            Self::Expire => writer.u8(tag::EXPIRE),
            Self::RecordFault {
                slash_bps,
                evidence,
            } => {
                writer.u8(tag::RECORD_FAULT);
                writer.u16(*slash_bps);
                writer.bytes(evidence);
            }
        }
        &buffer[..len]
    }

    /// Encoded size.
    pub const fn encoded_len(&self) -> usize {
        match self {
            Self::InitConfig(_) => INIT_CONFIG_LEN,
            Self::RegisterNode(_) | Self::UpdateNode(_) => NODE_LEN,
            Self::Stake { .. } | Self::BeginUnstake { .. } => 1 + 8,
            Self::OpenJob(_) => 1 + 8 + 8 + RATES_LEN + 8,
            Self::Withdraw | Self::Claim | Self::Expire => 1,
            Self::Close { .. } => 2,
            Self::RecordFault { .. } => 1 + 2 + 32,
        }
    }
}

fn read_node(reader: &mut Reader<'_>) -> Option<NodeParams> {
    Some(NodeParams {
        receipt_key: reader.array()?,
        class: reader.u8()?,
        region: reader.array()?,
        price_floor: reader.rates()?,
    })
}

fn write_node(writer: &mut Writer<'_>, tag: u8, params: &NodeParams) {
    writer.u8(tag);
    writer.bytes(&params.receipt_key);
    writer.u8(params.class);
    writer.bytes(&params.region);
    writer.rates(&params.price_floor);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rates() -> Rates {
        Rates {
            per_million_fuel: 1,
            per_gpu_second: 2,
            per_wall_second: 3,
        }
    }

    fn every_instruction() -> [SettlementInstruction; 11] {
        let node = NodeParams {
            receipt_key: [1; 32],
            class: 3,
            region: [b'a'; 32],
            price_floor: rates(),
        };
        [
            SettlementInstruction::InitConfig(ConfigParams {
                scheduler: [2; 32],
                fee_bps: 250,
                slash_cap_bps: 1_000,
                tier_min_stake: [1, 2, 3, 4],
                unstake_cooldown_seconds: 5,
                expire_grace_seconds: 6,
            }),
            SettlementInstruction::RegisterNode(node),
            SettlementInstruction::UpdateNode(node),
            SettlementInstruction::Stake { amount: 7 },
            SettlementInstruction::BeginUnstake { amount: 8 },
            SettlementInstruction::Withdraw,
            SettlementInstruction::OpenJob(OpenJobParams {
                job_id: 9,
                escrow: 10,
                rates: rates(),
                deadline: -11,
            }),
            SettlementInstruction::Claim,
            SettlementInstruction::Close { with_receipt: true },
            SettlementInstruction::Expire,
            SettlementInstruction::RecordFault {
                slash_bps: 12,
                evidence: [13; 32],
            },
        ]
    }

    #[test]
    fn every_instruction_round_trips_and_refuses_a_trailing_byte() {
        for instruction in every_instruction() {
            let mut buffer = [0u8; MAX_INSTRUCTION_LEN];
            let bytes = instruction.encode(&mut buffer).to_vec();
            assert_eq!(SettlementInstruction::decode(&bytes), Ok(instruction));
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(
                SettlementInstruction::decode(&longer),
                Err(SettlementError::InvalidInstructionData)
            );
            assert_eq!(
                SettlementInstruction::decode(&bytes[..bytes.len() - 1]),
                Err(SettlementError::InvalidInstructionData)
            );
        }
    }

    proptest! {
        #[test]
        fn decoding_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = SettlementInstruction::decode(&data);
        }
    }
}
