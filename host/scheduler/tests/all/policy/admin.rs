//! The admin API swaps plugins at run time: only with the admin token, only
//! pinned plugins, only of the right world.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kiln_scheduler::{Scheduler, SchedulerConfig, api};
use serde_json::Value;
use tower::ServiceExt as _;

use super::{PRICE_LOWEST_FLOOR, RANK_DEFAULT, RANK_LOCALITY_FIRST, host, pin_of, plugin};
use crate::common::{fast_config, sqlite};

const TOKEN: &str = "correct horse battery staple";

async fn put(
    scheduler: &Scheduler,
    kind: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = Request::put(format!("/v1/admin/policies/{kind}"))
        .header(header::CONTENT_TYPE, "application/wasm");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = api::app(scheduler.clone())
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn scheduler(admin_token: Option<&str>) -> (Scheduler, tempfile::TempDir) {
    let (store, dir) = sqlite().await;
    let config = SchedulerConfig {
        admin_token: admin_token.map(str::to_owned),
        ..fast_config()
    };
    (Scheduler::open(store, config).await.unwrap(), dir)
}

#[tokio::test]
async fn without_a_configured_token_the_admin_api_does_not_exist() {
    let (scheduler, _dir) = scheduler(None).await;
    let (status, body) = put(&scheduler, "rank", Some(TOKEN), plugin(RANK_DEFAULT)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused() {
    let (scheduler, _dir) = scheduler(Some(TOKEN)).await;
    let (status, _) = put(&scheduler, "rank", None, plugin(RANK_DEFAULT)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = put(
        &scheduler,
        "rank",
        Some("correct horse battery stapler"),
        plugin(RANK_DEFAULT),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_admin_api_swaps_only_pinned_plugins_of_the_right_world() {
    // Given a scheduler whose policy host pins rank-default and price-lowest-floor,
    let (scheduler, _dir) = scheduler(Some(TOKEN)).await;
    let (policy_host, _scratch) = host(&[RANK_DEFAULT, PRICE_LOWEST_FLOOR]);
    let (status, body) = put(&scheduler, "rank", Some(TOKEN), plugin(RANK_DEFAULT)).await;
    assert_eq!(status, StatusCode::CONFLICT, "no host yet: {body}");
    scheduler.set_policy_host(policy_host);

    // an unpinned plugin is refused, and the built-in stays;
    let (status, body) = put(&scheduler, "rank", Some(TOKEN), plugin(RANK_LOCALITY_FIRST)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_pinned"))
    );
    // a pinned plugin of the other world is refused;
    let (status, body) = put(&scheduler, "pricing", Some(TOKEN), plugin(RANK_DEFAULT)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_plugin"))
    );
    assert_eq!(
        scheduler.policy_names(),
        ("builtin-rank".to_owned(), "builtin-pricing".to_owned())
    );

    // a pinned plugin of the right world is swapped in, without a restart.
    let (status, body) = put(&scheduler, "rank", Some(TOKEN), plugin(RANK_DEFAULT)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sha256"].as_str(), Some(pin_of(RANK_DEFAULT).as_str()));
    assert_eq!(scheduler.policy_names().0, body["name"].as_str().unwrap());
    let (status, _) = put(
        &scheduler,
        "pricing",
        Some(TOKEN),
        plugin(PRICE_LOWEST_FLOOR),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(scheduler.policy_names().1.starts_with("wasm-pricing:"));
}
