//! The HTTP and WebSocket API (axum). [`app`] builds the router; it is tested
//! with `oneshot`, no socket needed, and served by `server::serve`.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/nodes`, `GET /v1/nodes` | register with a signed manifest; list |
//! | `GET /v1/links/node` | a node's WebSocket link (see `link`) |
//! | `POST /v1/jobs`, `GET /v1/jobs/{id}` | submit; status |
//! | `POST /v1/jobs/{id}/confirm`, `/cancel` | renter-signed actions |
//! | `GET /v1/jobs/{id}/logs`, `/result` | what the node sent |
//! | `GET/POST /v1/jobs/{id}/receipts` | receipts relay |
//! | `GET /v1/jobs/{id}/events` | a renter's WebSocket of job events |
//! | `PUT/GET /v1/components/{digest}` | workload components by SHA-256 |
//! | `POST /v1/jobs/{id}/input`, `GET …/input/{attempt}` | the input, sealed to the node |
//! | `GET /v1/stats`, `/health`, `/metrics`, `/openapi.json` | operations |
//! | `GET /v1/admin/policies`, `PUT /v1/admin/policies/{kind}` | swap a policy plugin (admin token) |

pub mod admin;
pub mod error;
mod jobs;
mod nodes;
mod ops;
mod relay;
mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::config::{MAX_BODY_BYTES, MAX_COMPONENT_BYTES, MAX_INPUT_BODY_BYTES};
use crate::scheduler::Scheduler;
use error::ApiError;
use kiln_scheduler_api::wire;

/// The OpenAPI document served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "Kiln scheduler", description = "Node registry, matching and receipts relay of a Kiln scheduler."),
    paths(
        nodes::register, nodes::list,
        jobs::submit, jobs::status, jobs::confirm, jobs::cancel, jobs::logs, jobs::result,
        jobs::receipts, jobs::post_receipt,
        relay::put_component, relay::component, relay::post_input, relay::input,
        ops::stats, ops::health, ops::metrics,
        ws::node_link, ws::job_events,
        admin::set_policy, admin::policies,
    ),
    components(schemas(
        wire::RegisterNode, wire::Registered, wire::NodeInfo, wire::RatesJson, wire::SubmitJob,
        wire::RenterSigned, wire::JobStatus, wire::JobLogs, wire::JobResult, wire::ReceiptJson,
        wire::PostReceipt, wire::NetworkStats, wire::Health, wire::ErrorBody,
        wire::AcceptanceJson, wire::JobInput, wire::ComponentStored,
        wire::PolicySet, wire::PoliciesInUse,
    )),
    tags(
        (name = "nodes", description = "Node registration and listing"),
        (name = "jobs", description = "Jobs and receipts"),
        (name = "operations", description = "Health, stats, metrics"),
    )
)]
pub struct ApiDoc;

/// The router over `scheduler`.
pub fn app(scheduler: Scheduler) -> Router {
    Router::new()
        .route("/v1/nodes", post(nodes::register).get(nodes::list))
        .route("/v1/links/node", get(ws::node_link))
        .route("/v1/jobs", post(jobs::submit))
        .route("/v1/jobs/{id}", get(jobs::status))
        .route("/v1/jobs/{id}/confirm", post(jobs::confirm))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/v1/jobs/{id}/logs", get(jobs::logs))
        .route("/v1/jobs/{id}/result", get(jobs::result))
        .route(
            "/v1/jobs/{id}/receipts",
            get(jobs::receipts).post(jobs::post_receipt),
        )
        .route("/v1/jobs/{id}/events", get(ws::job_events))
        .route(
            "/v1/components/{digest}",
            put(relay::put_component)
                .get(relay::component)
                .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES)),
        )
        .route(
            "/v1/jobs/{id}/input",
            post(relay::post_input).layer(DefaultBodyLimit::max(MAX_INPUT_BODY_BYTES)),
        )
        .route("/v1/jobs/{id}/input/{attempt}", get(relay::input))
        .route("/v1/stats", get(ops::stats))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/admin/policies", get(admin::policies))
        .route(
            "/v1/admin/policies/{kind}",
            put(admin::set_policy).layer(DefaultBodyLimit::max(admin::MAX_PLUGIN_BYTES)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(scheduler)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}
