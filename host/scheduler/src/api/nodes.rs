//! `/v1/nodes`: registration and listing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiJson, ApiResult};
use crate::scheduler::Scheduler;
use kiln_scheduler_api::wire::{ErrorBody, NodeInfo, RegisterNode, Registered};

/// Registers a node, or updates its registration with a newer manifest.
#[utoipa::path(post, path = "/v1/nodes", tag = "nodes", request_body = RegisterNode,
    responses(
        (status = 201, description = "Registered", body = Registered),
        (status = 400, description = "Malformed request or manifest", body = ErrorBody),
        (status = 403, description = "Bad signature; stake below tier 0; with a stake ledger, no node account on chain (`not_on_chain`), another receipt key there (`receipt_key_mismatch`) or less stake there than declared (`stake_not_on_chain`)", body = ErrorBody),
        (status = 409, description = "Key or wallet held by another node, or a replayed manifest", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "The settlement program could not be read to check the stake (`chain_unavailable`), or as many stake checks as the scheduler allows are under way (`chain_busy`); retry later", body = ErrorBody),
    ))]
#[tracing::instrument(name = "kiln.scheduler.register", skip_all)]
pub async fn register(
    State(scheduler): State<Scheduler>,
    ApiJson(request): ApiJson<RegisterNode>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    Ok((
        StatusCode::CREATED,
        Json(scheduler.register(&request).await?),
    ))
}

/// Every registered node.
#[utoipa::path(get, path = "/v1/nodes", tag = "nodes",
    responses((status = 200, description = "Registered nodes", body = [NodeInfo])))]
pub async fn list(State(scheduler): State<Scheduler>) -> ApiResult<Json<Vec<NodeInfo>>> {
    let nodes = scheduler.store().nodes().await?;
    Ok(Json(nodes.iter().map(NodeInfo::from).collect()))
}
