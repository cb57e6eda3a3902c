//! HTTP errors: every failure is a status and a JSON [`ErrorBody`].
//!
//! Client errors keep their real status and say what was wrong; internal
//! errors (the store) are logged once, inside the request's span, and the
//! client is told only that something failed on our side.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kiln_protocol::manifest::ManifestError;
use serde::de::DeserializeOwned;

use crate::error::SchedulerError;
use kiln_scheduler_api::wire::ErrorBody;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable code for the body's `error`.
    pub code: &'static str,
    /// The body's `message`.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<SchedulerError> for ApiError {
    fn from(error: SchedulerError) -> Self {
        use SchedulerError as E;
        let (status, code) = match &error {
            E::BadField { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            E::Manifest(ManifestError::Invalid(_)) => (StatusCode::BAD_REQUEST, "invalid_manifest"),
            E::Manifest(ManifestError::Signature(_)) | E::Signature { .. } => {
                (StatusCode::FORBIDDEN, "bad_signature")
            }
            E::JobSpec(_) => (StatusCode::BAD_REQUEST, "invalid_job_spec"),
            E::ReceiptDecode(_) => (StatusCode::BAD_REQUEST, "invalid_receipt"),
            E::ReceiptMismatch(_) => (StatusCode::BAD_REQUEST, "receipt_mismatch"),
            E::StakeTooLow { .. } => (StatusCode::FORBIDDEN, "stake_too_low"),
            E::NotOnChain { .. } => (StatusCode::FORBIDDEN, "not_on_chain"),
            E::ReceiptKeyMismatch { .. } => (StatusCode::FORBIDDEN, "receipt_key_mismatch"),
            E::StakeNotOnChain { .. } => (StatusCode::FORBIDDEN, "stake_not_on_chain"),
            E::ChainUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"),
            E::ChainBusy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "chain_busy"),
            E::Sybil { .. } => (StatusCode::CONFLICT, "sybil"),
            E::Replay { .. } => (StatusCode::CONFLICT, "replayed_registration"),
            E::UnknownJob(_) => (StatusCode::NOT_FOUND, "unknown_job"),
            E::UnknownNode(_) => (StatusCode::NOT_FOUND, "unknown_node"),
            E::DuplicateJob(_) => (StatusCode::CONFLICT, "duplicate_job"),
            E::WrongState { .. } => (StatusCode::CONFLICT, "wrong_state"),
            E::StaleAttempt { .. } => (StatusCode::CONFLICT, "stale_attempt"),
            E::ResultTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            E::NotLinked(_) => (StatusCode::CONFLICT, "not_linked"),
            E::UnknownComponent(_) => (StatusCode::NOT_FOUND, "unknown_component"),
            E::ComponentDigest { .. } => (StatusCode::BAD_REQUEST, "digest_mismatch"),
            E::NoInput { .. } => (StatusCode::NOT_FOUND, "no_input"),
            E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            E::StorageFull(_) => {
                tracing::error!(%error, "the store is full; refusing writes until space is freed");
                return Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the scheduler's storage is full; nothing of this request was kept, retry later",
                );
            }
            E::Store(_) | E::Migrate(_) | E::Corrupt(_) => {
                tracing::error!(%error, "internal error");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the scheduler failed to handle this request; it has been logged",
                );
            }
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<kiln_scheduler_api::BadField> for ApiError {
    fn from(bad: kiln_scheduler_api::BadField) -> Self {
        SchedulerError::from(bad).into()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match &rejection {
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "bad_request",
        };
        Self::new(status, code, rejection.body_text())
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s, so a malformed or oversized
/// body gets the same JSON error shape as everything else.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}

/// Handlers' result.
pub type ApiResult<T> = Result<T, ApiError>;
