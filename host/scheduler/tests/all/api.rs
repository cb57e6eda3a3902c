//! The HTTP API through `oneshot`: routes, bad input, OpenAPI, metrics.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kiln_scheduler::config::MAX_BODY_BYTES;
use kiln_scheduler::{Scheduler, api};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::common::{NodeSpec, SOL, fast_config, spec, submit};
use crate::on_both_stores;

async fn call(
    scheduler: &Scheduler,
    method: &str,
    uri: &str,
    body: Option<Body>,
) -> (StatusCode, Value, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request.body(body.unwrap_or_else(Body::empty)).unwrap();
    let response = api::app(scheduler.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value, text)
}

async fn post_json(scheduler: &Scheduler, uri: &str, body: &Value) -> (StatusCode, Value) {
    let (status, value, _) = call(scheduler, "POST", uri, Some(Body::from(body.to_string()))).await;
    (status, value)
}

/// Every error is JSON with a code and a message.
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

on_both_stores!(registration_and_submission_over_http, |store| {
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let node = NodeSpec::cpu("http");
    let register = serde_json::to_value(node.register(SOL)).unwrap();
    let (status, body) = post_json(&scheduler, "/v1/nodes", &register).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["max_jobs"], 1);
    let (status, body) = post_json(&scheduler, "/v1/nodes", &register).await;
    assert_error(status, &body, StatusCode::CONFLICT, "replayed_registration");
    let (status, list, _) = call(&scheduler, "GET", "/v1/nodes", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["node_id"], node.node_id().to_string());

    let job = spec("http-job");
    let (status, body) = post_json(
        &scheduler,
        "/v1/jobs",
        &serde_json::to_value(submit(&job)).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "queued");
    let (status, body) = post_json(
        &scheduler,
        "/v1/jobs",
        &serde_json::to_value(submit(&job)).unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate_job");
    let (status, body, _) =
        call(&scheduler, "GET", &format!("/v1/jobs/{}", job.escrow), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["job_id"], job.escrow.to_string());
    let (status, body, _) = call(&scheduler, "GET", "/v1/stats", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            body["nodes_registered"].as_u64(),
            body["jobs"]["queued"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let (status, body, _) = call(&scheduler, "GET", "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
});

on_both_stores!(
    bad_input_gets_a_4xx_json_error_and_writes_nothing,
    |store| {
        let scheduler = Scheduler::open(store, fast_config()).await.unwrap();

        // Oversized body.
        let huge = format!(
            "{{\"manifest\":\"{}\",\"stake\":1}}",
            "0".repeat(MAX_BODY_BYTES + 1)
        );
        let (status, body, _) = call(&scheduler, "POST", "/v1/nodes", Some(Body::from(huge))).await;
        assert_error(
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        );

        // Malformed JSON, wrong shape, no content type.
        let (status, body, _) = call(
            &scheduler,
            "POST",
            "/v1/jobs",
            Some(Body::from("{\"spec\": ")),
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_json");
        let (status, body) = post_json(&scheduler, "/v1/jobs", &json!({"spec": 5})).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        );
        let request = Request::post("/v1/jobs").body(Body::from("{}")).unwrap();
        let response = api::app(scheduler.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

        // Bad hex, a spec that breaks the protocol's rules.
        let mut bad = serde_json::to_value(submit(&spec("x"))).unwrap();
        bad["spec"] = json!("zz");
        let (status, body) = post_json(&scheduler, "/v1/jobs", &bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
        let mut broken = spec("broken");
        broken.limits.fuel = 0;
        let (status, body) = post_json(
            &scheduler,
            "/v1/jobs",
            &serde_json::to_value(submit(&broken)).unwrap(),
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_job_spec");

        // A submission signed by someone else.
        let mut forged = serde_json::to_value(submit(&spec("forged"))).unwrap();
        forged["renter"] = json!(NodeSpec::cpu("x").operator().to_string());
        let (status, body) = post_json(&scheduler, "/v1/jobs", &forged).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "bad_signature");

        // A manifest with a bad signature, and one below the lowest stake tier.
        let node = NodeSpec::cpu("bad");
        let mut signed = node.signed();
        signed.signature.0[0] ^= 1;
        let (status, body) = post_json(
            &scheduler,
            "/v1/nodes",
            &json!({"manifest": hex::encode(signed.to_bytes()), "stake": SOL}),
        )
        .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "bad_signature");
        let (status, body) = post_json(
            &scheduler,
            "/v1/nodes",
            &serde_json::to_value(node.register(1)).unwrap(),
        )
        .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "stake_too_low");

        // Unknown and malformed job ids; unknown routes.
        let unknown = spec("never-submitted").escrow;
        for path in ["", "/logs", "/result", "/receipts"] {
            let (status, body, _) = call(
                &scheduler,
                "GET",
                &format!("/v1/jobs/{unknown}{path}"),
                None,
            )
            .await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_job");
        }
        let (status, body, _) = call(&scheduler, "GET", "/v1/jobs/not-hex", None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
        let (status, body) = post_json(
            &scheduler,
            &format!("/v1/jobs/{unknown}/cancel"),
            &json!({"attempt": 0, "signature": "00"}),
        )
        .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_job");
        let (status, body, _) = call(&scheduler, "GET", "/v2/nothing", None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body, _) = call(&scheduler, "DELETE", "/v1/nodes", None).await;
        assert_error(
            status,
            &body,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );

        // Nothing was written.
        assert!(scheduler.store().nodes().await.unwrap().is_empty());
        assert!(
            scheduler
                .store()
                .count_jobs_by_state()
                .await
                .unwrap()
                .is_empty()
        );
    }
);

on_both_stores!(a_cancel_needs_the_renters_signature, |store| {
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let job = spec("cancel-me");
    scheduler.submit(&submit(&job)).await.unwrap();
    let uri = format!("/v1/jobs/{}/cancel", job.escrow);
    let mut signed =
        crate::common::renter_signed(&job.escrow, kiln_scheduler::model::RenterAction::Confirm, 0);
    let (status, body) = post_json(&scheduler, &uri, &serde_json::to_value(&signed).unwrap()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "bad_signature");
    signed =
        crate::common::renter_signed(&job.escrow, kiln_scheduler::model::RenterAction::Cancel, 0);
    let (status, body) = post_json(&scheduler, &uri, &serde_json::to_value(&signed).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "cancelled");
    let (status, body) = post_json(&scheduler, &uri, &serde_json::to_value(&signed).unwrap()).await;
    assert_error(status, &body, StatusCode::CONFLICT, "wrong_state");
});

#[tokio::test]
async fn openapi_and_metrics_are_served() {
    let (store, _dir) = crate::common::sqlite().await;
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let (status, doc, _) = call(&scheduler, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/nodes",
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/receipts",
        "/v1/stats",
        "/metrics",
        "/health",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let (status, _, text) = call(&scheduler, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    for name in [
        "kiln_scheduler_nodes_active",
        "kiln_scheduler_jobs_queued",
        "kiln_scheduler_jobs_running",
        "kiln_scheduler_match_latency_seconds",
        "kiln_scheduler_reschedules_total",
        "kiln_scheduler_faults_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}
