//! `/v1/components/{digest}` and `/v1/jobs/{id}/input/{attempt}`: what the
//! scheduler relays without reading (see `relay`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use kiln_protocol::{Digest, PublicKey};

use super::error::{ApiJson, ApiResult};
use crate::scheduler::Scheduler;
use kiln_scheduler_api::wire::{ComponentStored, ErrorBody, JobInput, hex_array, hex_key};

fn digest(text: &str) -> ApiResult<Digest> {
    Ok(Digest(hex_array("digest", text)?))
}

fn job_id(text: &str) -> ApiResult<PublicKey> {
    Ok(hex_key("job id", text)?)
}

/// Stores a workload component under the SHA-256 of its bytes.
#[utoipa::path(put, path = "/v1/components/{digest}", tag = "jobs",
    params(("digest" = String, Path, description = "SHA-256 of the bytes, hex")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses(
        (status = 201, description = "Stored", body = ComponentStored),
        (status = 400, description = "The bytes do not hash to the digest", body = ErrorBody),
        (status = 413, description = "Over the component cap", body = ErrorBody),
        (status = 507, description = "The scheduler's storage is full; nothing was kept", body = ErrorBody),
    ))]
#[tracing::instrument(name = "kiln.scheduler.put_component", skip_all, fields(component = %id))]
pub async fn put_component(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ComponentStored>)> {
    let stored = scheduler.put_component(&digest(&id)?, &body).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// A stored component's bytes.
#[utoipa::path(get, path = "/v1/components/{digest}", tag = "jobs",
    params(("digest" = String, Path, description = "SHA-256 of the bytes, hex")),
    responses(
        (status = 200, description = "The component", body = Vec<u8>, content_type = "application/wasm"),
        (status = 404, description = "Not stored", body = ErrorBody),
    ))]
pub async fn component(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let bytes = scheduler.component(&digest(&id)?).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes))
}

/// The renter posts the job's input, sealed to the node of the current attempt.
#[utoipa::path(post, path = "/v1/jobs/{id}/input", tag = "jobs", request_body = JobInput,
    params(("id" = String, Path, description = "Job id, hex")),
    responses(
        (status = 204, description = "Stored"),
        (status = 403, description = "Bad signature", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not proposed or running, or another attempt", body = ErrorBody),
        (status = 413, description = "Over the input cap", body = ErrorBody),
        (status = 507, description = "The scheduler's storage is full; nothing was kept", body = ErrorBody),
    ))]
#[tracing::instrument(name = "kiln.scheduler.post_input", skip_all, fields(job = %id))]
pub async fn post_input(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<JobInput>,
) -> ApiResult<StatusCode> {
    scheduler.post_input(&job_id(&id)?, &input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The input of one attempt, for its node (it is sealed to that node).
#[utoipa::path(get, path = "/v1/jobs/{id}/input/{attempt}", tag = "jobs",
    params(
        ("id" = String, Path, description = "Job id, hex"),
        ("attempt" = u32, Path, description = "The attempt"),
    ),
    responses(
        (status = 200, description = "The sealed input", body = JobInput),
        (status = 404, description = "No such job, or no input yet", body = ErrorBody),
    ))]
pub async fn input(
    State(scheduler): State<Scheduler>,
    Path((id, attempt)): Path<(String, u32)>,
) -> ApiResult<Json<JobInput>> {
    Ok(Json(scheduler.input(&job_id(&id)?, attempt).await?))
}
