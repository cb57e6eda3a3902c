//! Operations: stats, health, metrics, the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa::OpenApi as _;

use super::error::ApiResult;
use crate::model::JobState;
use crate::scheduler::{Scheduler, lock};
use crate::store::Backend;
use kiln_scheduler_api::wire::{ErrorBody, Health, NetworkStats};

/// Network-wide counts.
#[utoipa::path(get, path = "/v1/stats", tag = "operations",
    responses((status = 200, description = "Stats", body = NetworkStats)))]
pub async fn stats(State(scheduler): State<Scheduler>) -> ApiResult<Json<NetworkStats>> {
    let store = scheduler.store();
    let nodes = store.nodes().await?;
    let jobs = store.count_jobs_by_state().await?.into_iter().collect();
    let faults = store.faults(None).await?.len();
    let (linked, free, total) = lock(&scheduler.inner.matcher).nodes.capacity();
    Ok(Json(NetworkStats {
        nodes_registered: nodes.len() as u64,
        nodes_online: nodes.iter().filter(|n| n.online).count() as u64,
        nodes_linked: linked as u64,
        slots_free: free,
        slots_total: total,
        jobs,
        faults: faults as u64,
    }))
}

/// Liveness: the store answers.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The store does not answer", body = ErrorBody),
    ))]
pub async fn health(State(scheduler): State<Scheduler>) -> impl IntoResponse {
    let store = match scheduler.store().backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    match scheduler.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok".to_owned(),
                store: store.to_owned(),
            }),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: store does not answer");
            super::error::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store does not answer",
            )
            .into_response()
        }
    }
}

/// Prometheus text format; job gauges are read from the store when scraped.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(scheduler): State<Scheduler>) -> ApiResult<impl IntoResponse> {
    let counts = scheduler.store().count_jobs_by_state().await?;
    let count = |states: &[JobState]| {
        counts
            .iter()
            .filter(|(name, _)| states.iter().any(|s| s.as_str() == name))
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    let metrics = scheduler.metrics();
    metrics.jobs_queued.set(count(&[JobState::Queued]));
    metrics
        .jobs_running
        .set(count(&[JobState::Proposed, JobState::Running]));
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    ))
}

/// The OpenAPI document.
pub async fn openapi() -> impl IntoResponse {
    Json(super::ApiDoc::openapi())
}
