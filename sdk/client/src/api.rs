//! The scheduler's HTTP API from the renter's side.

use std::time::Duration;

use kiln_protocol::{Digest, PublicKey};
use kiln_scheduler_api::wire::{
    JobInput, JobLogs, JobResult, JobStatus, NodeInfo, PostReceipt, ReceiptJson, RenterSigned,
    SubmitJob,
};
use serde::de::DeserializeOwned;

use crate::error::{ClientError, Result};

/// How long one request may take (a component upload included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A scheduler's API.
#[derive(Debug, Clone)]
pub struct SchedulerApi {
    base: String,
    http: reqwest::Client,
}

fn failed(what: &'static str) -> impl Fn(reqwest::Error) -> ClientError {
    move |error| ClientError::Scheduler {
        what,
        reason: error.to_string(),
    }
}

async fn answer<T: DeserializeOwned>(what: &'static str, response: reqwest::Response) -> Result<T> {
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(ClientError::Scheduler {
            what,
            reason: format!("{status}: {body}"),
        });
    }
    response.json().await.map_err(failed(what))
}

impl SchedulerApi {
    /// The scheduler at `base` (`http://host:7400`).
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

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The WebSocket URL of `job`'s events.
    pub fn events_url(&self, job: &PublicKey) -> String {
        let base = self
            .base
            .strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
            .or_else(|| {
                self.base
                    .strip_prefix("http://")
                    .map(|rest| format!("ws://{rest}"))
            })
            .unwrap_or_else(|| self.base.clone());
        format!("{base}/v1/jobs/{job}/events")
    }

    async fn get<T: DeserializeOwned>(&self, what: &'static str, path: &str) -> Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(failed(what))?;
        answer(what, response).await
    }

    async fn post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .map_err(failed(what))?;
        answer(what, response).await
    }

    /// Whether the scheduler already stores the component `digest` (a HEAD
    /// request: nothing is downloaded).
    pub async fn has_component(&self, digest: &Digest) -> Result<bool> {
        let response = self
            .http
            .head(format!("{}/v1/components/{digest}", self.base))
            .send()
            .await
            .map_err(failed("component lookup"))?;
        Ok(response.status().is_success())
    }

    /// Uploads a component under its digest.
    pub async fn put_component(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let response = self
            .http
            .put(format!("{}/v1/components/{digest}", self.base))
            .header("content-type", "application/wasm")
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(failed("component upload"))?;
        answer::<serde_json::Value>("component upload", response).await?;
        Ok(())
    }

    /// Submits a signed spec.
    pub async fn submit(&self, request: &SubmitJob) -> Result<JobStatus> {
        self.post("submit", "/v1/jobs", request).await
    }

    /// A job's status.
    pub async fn status(&self, job: &PublicKey) -> Result<JobStatus> {
        self.get("status", &format!("/v1/jobs/{job}")).await
    }

    /// Confirms the current proposal.
    pub async fn confirm(&self, job: &PublicKey, signed: &RenterSigned) -> Result<JobStatus> {
        self.post("confirm", &format!("/v1/jobs/{job}/confirm"), signed)
            .await
    }

    /// Cancels the job.
    pub async fn cancel(&self, job: &PublicKey, signed: &RenterSigned) -> Result<JobStatus> {
        self.post("cancel", &format!("/v1/jobs/{job}/cancel"), signed)
            .await
    }

    /// Posts the sealed input.
    pub async fn post_input(&self, job: &PublicKey, input: &JobInput) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/v1/jobs/{job}/input", self.base))
            .json(input)
            .send()
            .await
            .map_err(failed("input"))?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status();
        Err(ClientError::Scheduler {
            what: "input",
            reason: format!("{status}: {}", response.text().await.unwrap_or_default()),
        })
    }

    /// The receipts relayed so far.
    pub async fn receipts(&self, job: &PublicKey) -> Result<Vec<ReceiptJson>> {
        self.get("receipts", &format!("/v1/jobs/{job}/receipts"))
            .await
    }

    /// Posts a counter-signed receipt back to the node.
    pub async fn post_receipt(
        &self,
        job: &PublicKey,
        receipt: &PostReceipt,
    ) -> Result<ReceiptJson> {
        self.post(
            "counter-signature",
            &format!("/v1/jobs/{job}/receipts"),
            receipt,
        )
        .await
    }

    /// A finished job's (sealed) result.
    pub async fn result(&self, job: &PublicKey) -> Result<JobResult> {
        self.get("result", &format!("/v1/jobs/{job}/result")).await
    }

    /// A job's log.
    pub async fn logs(&self, job: &PublicKey) -> Result<JobLogs> {
        self.get("logs", &format!("/v1/jobs/{job}/logs")).await
    }

    /// Registered nodes.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>> {
        self.get("nodes", "/v1/nodes").await
    }
}
