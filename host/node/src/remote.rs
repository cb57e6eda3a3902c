//! The scheduler's HTTP routes the node uses: registration, components by
//! digest, sealed inputs. Every answer is checked here, not trusted: the
//! component's hash and the renter's input signature are verified by the
//! node itself.

use std::time::Duration;

use kiln_protocol::signing::verify;
use kiln_protocol::{Digest, PublicKey, SignedManifest, sha256};
use kiln_scheduler_api::messages::input_message;
use kiln_scheduler_api::wire::{JobInput, RegisterNode, Registered};

/// How long one request to the scheduler may take; a component download of
/// the relay's largest size over a slow link fits well inside it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request to the scheduler failed or its answer was refused.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The scheduler could not be reached or answered with an error.
    #[error("scheduler request {what}: {reason}")]
    Request {
        /// What was asked.
        what: &'static str,
        /// The transport error or the scheduler's error body.
        reason: String,
    },
    /// The component's bytes do not hash to the digest the job names.
    #[error("component hash mismatch: the job names {expected}, the bytes hash to {actual}")]
    HashMismatch {
        /// The job spec's digest.
        expected: Digest,
        /// What arrived.
        actual: Digest,
    },
    /// The input is not what the renter signed.
    #[error("input refused: {0}")]
    BadInput(String),
}

/// A renter's input, checked against the renter's signature.
#[derive(Debug, Clone)]
pub struct CheckedInput {
    /// The sealed envelope.
    pub sealed: Vec<u8>,
    /// The key the result is sealed to.
    pub result_key: [u8; 32],
}

/// The scheduler's HTTP API, from the node's side.
#[derive(Debug, Clone)]
pub struct Remote {
    base: String,
    http: reqwest::Client,
}

fn request_error(what: &'static str) -> impl Fn(reqwest::Error) -> RemoteError {
    move |error| RemoteError::Request {
        what,
        reason: error.to_string(),
    }
}

async fn checked(
    what: &'static str,
    response: reqwest::Response,
) -> Result<reqwest::Response, RemoteError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Err(RemoteError::Request {
        what,
        reason: format!("{status}: {body}"),
    })
}

impl Remote {
    /// The scheduler at `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Registers `manifest` with its declared `stake`.
    pub async fn register(
        &self,
        manifest: &SignedManifest,
        stake: u64,
    ) -> Result<Registered, RemoteError> {
        let body = RegisterNode {
            manifest: hex::encode(manifest.to_bytes()),
            stake,
        };
        let response = self
            .http
            .post(format!("{}/v1/nodes", self.base))
            .json(&body)
            .send()
            .await
            .map_err(request_error("register"))?;
        checked("register", response)
            .await?
            .json()
            .await
            .map_err(request_error("register"))
    }

    /// The component `digest`, whose bytes must hash to it.
    pub async fn component(&self, digest: &Digest) -> Result<Vec<u8>, RemoteError> {
        let response = self
            .http
            .get(format!("{}/v1/components/{digest}", self.base))
            .send()
            .await
            .map_err(request_error("component"))?;
        let bytes = checked("component", response)
            .await?
            .bytes()
            .await
            .map_err(request_error("component"))?;
        let actual = sha256(&[&bytes]);
        if actual != *digest {
            return Err(RemoteError::HashMismatch {
                expected: *digest,
                actual,
            });
        }
        Ok(bytes.to_vec())
    }

    /// The input of `job`'s `attempt`, checked against `renter`'s signature.
    pub async fn input(
        &self,
        job: &PublicKey,
        attempt: u32,
        renter: &PublicKey,
    ) -> Result<CheckedInput, RemoteError> {
        let response = self
            .http
            .get(format!("{}/v1/jobs/{job}/input/{attempt}", self.base))
            .send()
            .await
            .map_err(request_error("input"))?;
        let input: JobInput = checked("input", response)
            .await?
            .json()
            .await
            .map_err(request_error("input"))?;
        let bad = |what: &str| RemoteError::BadInput(what.to_owned());
        let sealed = hex::decode(&input.sealed).map_err(|_| bad("sealed is not hex"))?;
        let result_key: [u8; 32] = hex::decode(&input.result_key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| bad("result_key is not 32 bytes of hex"))?;
        let signature: [u8; 64] = hex::decode(&input.signature)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| bad("signature is not 64 bytes of hex"))?;
        if input.attempt != attempt {
            return Err(bad("it is for another attempt"));
        }
        verify(
            renter,
            &input_message(job, attempt, &sealed, &result_key),
            &signature.into(),
        )
        .map_err(|_| bad("the renter's signature does not verify"))?;
        Ok(CheckedInput { sealed, result_key })
    }
}
