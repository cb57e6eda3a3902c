//! JSON shapes of the HTTP API and the WebSocket links.
//!
//! Keys, digests, signatures and borsh records travel as lowercase hex
//! strings; amounts as JSON integers. The borsh encodings are
//! `kiln-protocol`'s, so what a party signed is exactly what it sent.

use kiln_protocol::{PublicKey, Rates};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::BadField;

/// A decoded field, or which field was bad and why.
pub type Result<T, E = BadField> = std::result::Result<T, E>;

/// Decodes a hex field of exactly `N` bytes.
pub fn hex_array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N]> {
    let bytes = hex::decode(text).map_err(|e| BadField::new(field, e.to_string()))?;
    bytes
        .try_into()
        .map_err(|_| BadField::new(field, format!("must be {N} bytes of hex")))
}

/// Decodes a hex field of any length up to `max` bytes.
pub fn hex_bytes(field: &'static str, text: &str, max: usize) -> Result<Vec<u8>> {
    if text.len() > max.saturating_mul(2) {
        return Err(BadField::new(field, format!("longer than {max} bytes")));
    }
    hex::decode(text).map_err(|e| BadField::new(field, e.to_string()))
}

/// Decodes a 32-byte key.
pub fn hex_key(field: &'static str, text: &str) -> Result<PublicKey> {
    hex_array(field, text).map(PublicKey)
}

/// Prices in base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RatesJson {
    /// Base units per million fuel.
    pub per_million_fuel: u64,
    /// Base units per second of GPU time.
    pub per_gpu_second: u64,
    /// Base units per second of wall-clock time.
    pub per_wall_second: u64,
}

impl From<Rates> for RatesJson {
    fn from(rates: Rates) -> Self {
        Self {
            per_million_fuel: rates.per_million_fuel,
            per_gpu_second: rates.per_gpu_second,
            per_wall_second: rates.per_wall_second,
        }
    }
}

impl From<RatesJson> for Rates {
    fn from(rates: RatesJson) -> Self {
        Self {
            per_million_fuel: rates.per_million_fuel,
            per_gpu_second: rates.per_gpu_second,
            per_wall_second: rates.per_wall_second,
        }
    }
}

/// `POST /v1/nodes`: a node registers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterNode {
    /// Hex of the borsh `SignedManifest`, signed by its `receipt_key`.
    pub manifest: String,
    /// Stake the operator holds for this node on chain, lamports.
    pub stake: u64,
}

/// The answer to a registration.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    /// The node's id (hex).
    pub node_id: String,
    /// Stake tier reached.
    pub tier: u8,
    /// Jobs it may hold at once.
    pub max_jobs: u16,
    /// How often to send heartbeats on the link, milliseconds.
    pub heartbeat_interval_ms: u64,
}

/// A node as listed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeInfo {
    /// Node id (hex).
    pub node_id: String,
    /// Operator wallet (hex).
    pub operator: String,
    /// Receipt key (hex).
    pub receipt_key: String,
    /// X25519 key renters encrypt inputs to (hex).
    pub encryption_key: String,
    /// Region label.
    pub region: String,
    /// Workload classes offered: `cpu`, `webgpu`, `cuda`.
    pub classes: Vec<String>,
    /// Benchmark tier.
    pub benchmark_class: u8,
    /// Lowest rates accepted.
    pub price_floor: RatesJson,
    /// Declared stake, lamports.
    pub stake: u64,
    /// Stake tier.
    pub tier: u8,
    /// Jobs it may hold at once.
    pub max_jobs: u16,
    /// Reputation, 0 to 1000.
    pub reputation: u32,
    /// Heard from within the offline window.
    pub online: bool,
    /// Last heartbeat, Unix milliseconds.
    pub last_seen_ms: i64,
}

/// The wire name of a workload class.
pub fn class_name(class: kiln_protocol::WorkloadClass) -> &'static str {
    match class {
        kiln_protocol::WorkloadClass::Cpu => "cpu",
        kiln_protocol::WorkloadClass::WebGpu => "webgpu",
        kiln_protocol::WorkloadClass::Cuda => "cuda",
    }
}

/// `POST /v1/jobs`: a renter submits a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubmitJob {
    /// Hex of the borsh `JobSpec`. Its `escrow` becomes the job id.
    pub spec: String,
    /// The renter's ed25519 key (hex).
    pub renter: String,
    /// Renter's signature over `kiln/submit/v1\0\0` followed by the spec bytes (hex).
    pub signature: String,
}

/// A renter's signed confirm or cancel.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenterSigned {
    /// The attempt acted on (a job's attempt grows with each proposal).
    pub attempt: u32,
    /// Renter's signature over `kiln/renter/v1\0\0`, job id, action byte
    /// (1 confirm, 2 cancel), attempt as u32 little-endian (hex).
    pub signature: String,
}

/// A job's status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobStatus {
    /// Job id: its escrow account (hex).
    pub job_id: String,
    /// `queued`, `proposed`, `running`, `done`, `failed` or `cancelled`.
    pub state: String,
    /// Proposals made so far.
    pub attempt: u32,
    /// The node proposed or running it (hex).
    pub node_id: Option<String>,
    /// That node's X25519 key, which the renter encrypts the input to (hex).
    pub node_encryption_key: Option<String>,
    /// The cleared price of the current proposal.
    pub price: Option<RatesJson>,
    /// The node confirmed the current proposal.
    pub node_confirmed: bool,
    /// The renter confirmed the current proposal.
    pub renter_confirmed: bool,
    /// Submitted, Unix milliseconds.
    pub submitted_ms: i64,
    /// Last change, Unix milliseconds.
    pub updated_ms: i64,
    /// SHA-256 of the result, once done (hex).
    pub output_digest: Option<String>,
    /// Why it failed, once failed.
    pub error: Option<String>,
    /// The node's acceptance of this attempt's on-chain terms, once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<AcceptanceJson>,
}

/// A node's signed acceptance of a job's on-chain terms (see `link::FromNode::Terms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AcceptanceJson {
    /// The attempt it accepts.
    pub attempt: u32,
    /// Lamports to escrow.
    pub escrow: u64,
    /// Unix seconds.
    pub deadline: i64,
    /// The node's signature (hex, 64 bytes).
    #[serde(with = "hex_64")]
    #[schema(value_type = String)]
    pub signature: [u8; 64],
}

mod hex_64 {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 64], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 64], D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(&text)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| serde::de::Error::custom("expected 64 bytes of hex"))
    }
}

/// A renter's input for one attempt, sealed to that attempt's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobInput {
    /// The attempt whose node it is sealed to.
    pub attempt: u32,
    /// The `kiln-seal` envelope (hex).
    pub sealed: String,
    /// X25519 key the node seals the result to (hex, 32 bytes).
    pub result_key: String,
    /// The renter's signature over `messages::input_message` (hex).
    pub signature: String,
}

/// A stored component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComponentStored {
    /// SHA-256 of its bytes (hex).
    pub digest: String,
    /// Its size.
    pub bytes: u64,
}

/// A job's log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobLogs {
    /// Job id (hex).
    pub job_id: String,
    /// What the node sent, capped.
    pub logs: String,
}

/// A finished job's result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobResult {
    /// Job id (hex).
    pub job_id: String,
    /// The result bytes as the node sent them, normally encrypted to the renter (hex).
    pub output: String,
    /// Their SHA-256 (hex).
    pub output_digest: String,
}

/// One relayed receipt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptJson {
    /// The node that signed it and is owed for it (its receipt key, hex).
    pub node: String,
    /// Sequence number.
    pub seq: u64,
    /// Hex of the borsh `SignedReceipt`.
    pub receipt: String,
    /// The renter's counter-signature is present and verified.
    pub co_signed: bool,
}

/// `POST /v1/jobs/{id}/receipts`: a node-signed receipt (from the node) or a
/// counter-signed one (from the renter).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostReceipt {
    /// Hex of the borsh `SignedReceipt`.
    pub receipt: String,
}

/// `GET /v1/stats`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NetworkStats {
    /// Registered nodes.
    pub nodes_registered: u64,
    /// Nodes heard from within the offline window.
    pub nodes_online: u64,
    /// Nodes linked to this replica.
    pub nodes_linked: u64,
    /// Free job slots on linked nodes.
    pub slots_free: u64,
    /// Job slots on linked nodes.
    pub slots_total: u64,
    /// Jobs per state.
    pub jobs: std::collections::BTreeMap<String, i64>,
    /// Faults recorded.
    pub faults: u64,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the store answers.
    pub status: String,
    /// The store's backend: `sqlite` or `postgres`.
    pub store: String,
}

/// Every error body: a stable code and a sentence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: `bad_request`, `payload_too_large`, `bad_signature`, …
    pub error: String,
    /// What was wrong, for a person.
    pub message: String,
}

/// A plugin the admin API swapped in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicySet {
    /// The policy's name in logs and metrics.
    pub name: String,
    /// SHA-256 of the plugin's bytes, hex.
    pub sha256: String,
}

/// The policies a scheduler matches with now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PoliciesInUse {
    /// The ranking policy's name.
    pub rank: String,
    /// The pricing policy's name.
    pub pricing: String,
}

#[cfg(test)]
mod tests {
    use super::{hex_array, hex_bytes, hex_key};
    use crate::BadField;

    #[test]
    fn a_bad_hex_field_is_named_in_its_error() {
        assert_eq!(hex_key("job id", &"ab".repeat(32)).unwrap().0, [0xab; 32]);
        let short = hex_key("job id", "abcd").unwrap_err();
        assert_eq!(short, BadField::new("job id", "must be 32 bytes of hex"));
        assert_eq!(hex_array::<2>("digest", "zz").unwrap_err().field, "digest");
        assert!(hex_bytes("input", &"00".repeat(5), 4).is_err());
        assert_eq!(hex_bytes("input", "0001", 4).unwrap(), [0, 1]);
    }
}
