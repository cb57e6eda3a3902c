//! The admin API: swap a policy plugin at run time.
//!
//! Protected by a bearer token from the scheduler's configuration
//! ([`crate::SchedulerConfig::admin_token`]): without one configured the
//! routes answer 404 as if they did not exist, so a scheduler is never
//! administrable by accident; a wrong or missing token gets 401. The token
//! guards *who* may swap; the operator's SHA-256 pins guard *what* may run,
//! so even a leaked token loads only plugins the operator pinned.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};

use super::error::{ApiError, ApiResult};
use crate::policy::{LoadedPolicy, PolicyKind, PolicyLoadError};
use crate::scheduler::Scheduler;
use kiln_scheduler_api::wire::{PoliciesInUse, PolicySet};

/// Largest plugin the admin API takes. Policy components are tens to a few
/// hundred KiB; 16 MiB leaves room for a large one and bounds what one
/// request can make the scheduler buffer and compile.
pub const MAX_PLUGIN_BYTES: usize = 16 << 20;

/// Checks the bearer token in constant time over its length.
fn authorize(scheduler: &Scheduler, headers: &HeaderMap) -> ApiResult<()> {
    let Some(expected) = scheduler.config().admin_token.as_deref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    let same_length = given.len() == expected.len();
    let difference = given
        .bytes()
        .zip(expected.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if same_length && difference == 0 {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin bearer token is required",
        ))
    }
}

fn kind_of(kind: &str) -> ApiResult<PolicyKind> {
    match kind {
        "rank" => Ok(PolicyKind::Rank),
        "pricing" => Ok(PolicyKind::Pricing),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "policy kind is `rank` or `pricing`",
        )),
    }
}

impl From<PolicyLoadError> for ApiError {
    fn from(error: PolicyLoadError) -> Self {
        let (status, code) = match &error {
            PolicyLoadError::NotPinned { .. } => (StatusCode::FORBIDDEN, "not_pinned"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_plugin"),
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// Swaps the `rank` or `pricing` plugin for the component in the body
/// (`application/wasm`). Its SHA-256 must be pinned in the configuration.
/// Picks already running finish on the old plugin.
#[utoipa::path(put, path = "/v1/admin/policies/{kind}", tag = "operations",
    params(("kind" = String, Path, description = "`rank` or `pricing`")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses(
        (status = 200, description = "Swapped", body = PolicySet),
        (status = 401, description = "No or wrong admin token", body = kiln_scheduler_api::wire::ErrorBody),
        (status = 403, description = "Not pinned", body = kiln_scheduler_api::wire::ErrorBody),
        (status = 409, description = "This scheduler hosts no plugins", body = kiln_scheduler_api::wire::ErrorBody),
        (status = 422, description = "Not a plugin of that world", body = kiln_scheduler_api::wire::ErrorBody),
    ))]
pub async fn set_policy(
    State(scheduler): State<Scheduler>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PolicySet>> {
    authorize(&scheduler, &headers)?;
    let kind = kind_of(&kind)?;
    let Some(host) = scheduler.policy_host() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "policies_disabled",
            "this scheduler was started without a policy host",
        ));
    };
    // Compiling takes milliseconds to seconds: off the async workers.
    let loaded = tokio::task::spawn_blocking(move || host.load(kind, &body))
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                error.to_string(),
            )
        })??;
    let sha256 = loaded.digest_hex();
    let name = match loaded {
        LoadedPolicy::Rank(policy) => {
            let name = crate::RankPolicy::name(policy.as_ref()).to_owned();
            scheduler.set_rank_policy(policy);
            name
        }
        LoadedPolicy::Pricing(policy) => {
            let name = crate::PricingPolicy::name(policy.as_ref()).to_owned();
            scheduler.set_pricing_policy(policy);
            name
        }
    };
    tracing::info!(?kind, %sha256, %name, "policy plugin swapped");
    Ok(Json(PolicySet { name, sha256 }))
}

/// The policies in use.
#[utoipa::path(get, path = "/v1/admin/policies", tag = "operations",
    responses(
        (status = 200, description = "In use", body = PoliciesInUse),
        (status = 401, description = "No or wrong admin token", body = kiln_scheduler_api::wire::ErrorBody),
    ))]
pub async fn policies(
    State(scheduler): State<Scheduler>,
    headers: HeaderMap,
) -> ApiResult<Json<PoliciesInUse>> {
    authorize(&scheduler, &headers)?;
    let (rank, pricing) = scheduler.policy_names();
    Ok(Json(PoliciesInUse { rank, pricing }))
}
