//! `/v1/jobs`: submit, status, renter actions, logs, result, receipts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kiln_protocol::PublicKey;

use super::error::{ApiJson, ApiResult};
use crate::scheduler::Scheduler;
use kiln_scheduler_api::wire::{
    ErrorBody, JobLogs, JobResult, JobStatus, PostReceipt, ReceiptJson, RenterSigned, SubmitJob,
    hex_key,
};

/// The job id in the path.
fn job_id(text: &str) -> ApiResult<PublicKey> {
    Ok(hex_key("job id", text)?)
}

/// Submits a job, signed by the renter.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = SubmitJob,
    responses(
        (status = 201, description = "Queued", body = JobStatus),
        (status = 400, description = "Malformed request or job spec", body = ErrorBody),
        (status = 403, description = "Bad signature", body = ErrorBody),
        (status = 409, description = "A job with this escrow exists", body = ErrorBody),
        (status = 507, description = "The scheduler's storage is full; nothing was kept", body = ErrorBody),
    ))]
#[tracing::instrument(name = "kiln.scheduler.submit", skip_all)]
pub async fn submit(
    State(scheduler): State<Scheduler>,
    ApiJson(request): ApiJson<SubmitJob>,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    Ok((StatusCode::CREATED, Json(scheduler.submit(&request).await?)))
}

/// A job's status.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id: its escrow account, hex")),
    responses(
        (status = 200, description = "Status", body = JobStatus),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn status(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    Ok(Json(scheduler.status(&job_id(&id)?).await?))
}

/// The renter accepts the proposed node and price.
#[utoipa::path(post, path = "/v1/jobs/{id}/confirm", tag = "jobs", request_body = RenterSigned,
    params(("id" = String, Path, description = "Job id, hex")),
    responses(
        (status = 200, description = "Confirmed", body = JobStatus),
        (status = 403, description = "Bad signature", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not proposed, or another attempt", body = ErrorBody),
    ))]
#[tracing::instrument(name = "kiln.scheduler.confirm", skip_all, fields(job = %id))]
pub async fn confirm(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
    ApiJson(signed): ApiJson<RenterSigned>,
) -> ApiResult<Json<JobStatus>> {
    Ok(Json(
        scheduler.confirm_by_renter(&job_id(&id)?, &signed).await?,
    ))
}

/// The renter cancels the job.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", request_body = RenterSigned,
    params(("id" = String, Path, description = "Job id, hex")),
    responses(
        (status = 200, description = "Cancelled", body = JobStatus),
        (status = 403, description = "Bad signature", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Already ended, or another attempt", body = ErrorBody),
    ))]
#[tracing::instrument(name = "kiln.scheduler.cancel", skip_all, fields(job = %id))]
pub async fn cancel(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
    ApiJson(signed): ApiJson<RenterSigned>,
) -> ApiResult<Json<JobStatus>> {
    Ok(Json(scheduler.cancel(&job_id(&id)?, &signed).await?))
}

/// A job's log.
#[utoipa::path(get, path = "/v1/jobs/{id}/logs", tag = "jobs",
    params(("id" = String, Path, description = "Job id, hex")),
    responses(
        (status = 200, description = "Log", body = JobLogs),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn logs(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobLogs>> {
    Ok(Json(scheduler.logs(&job_id(&id)?).await?))
}

/// A finished job's result.
#[utoipa::path(get, path = "/v1/jobs/{id}/result", tag = "jobs",
    params(("id" = String, Path, description = "Job id, hex")),
    responses(
        (status = 200, description = "Result", body = JobResult),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not done", body = ErrorBody),
    ))]
pub async fn result(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobResult>> {
    Ok(Json(scheduler.result(&job_id(&id)?).await?))
}

/// A job's relayed receipts, by node then sequence.
#[utoipa::path(get, path = "/v1/jobs/{id}/receipts", tag = "jobs",
    params(("id" = String, Path, description = "Job id, hex")),
    responses(
        (status = 200, description = "Receipts", body = [ReceiptJson]),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn receipts(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ReceiptJson>>> {
    Ok(Json(scheduler.receipts(&job_id(&id)?).await?))
}

/// Relays a receipt: node-signed (to the renter) or counter-signed (to the node).
#[utoipa::path(post, path = "/v1/jobs/{id}/receipts", tag = "jobs", request_body = PostReceipt,
    params(("id" = String, Path, description = "Job id, hex")),
    responses(
        (status = 200, description = "Stored and relayed", body = ReceiptJson),
        (status = 400, description = "Malformed, or for another job, node or renter", body = ErrorBody),
        (status = 403, description = "A signature does not verify", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
#[tracing::instrument(name = "kiln.scheduler.receipt", skip_all, fields(job = %id))]
pub async fn post_receipt(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
    ApiJson(posted): ApiJson<PostReceipt>,
) -> ApiResult<Json<ReceiptJson>> {
    Ok(Json(scheduler.relay_receipt(&job_id(&id)?, &posted).await?))
}
