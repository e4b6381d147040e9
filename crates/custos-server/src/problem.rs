//! RFC 9457 problem details: every error leaves the server as `application/problem+json`
//! with a stable `type` URI (`urn:custos:problem:<slug>`). Causes go to the log; the body
//! holds a safe message that never echoes personal data or secrets.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_core::CoreError;
use custos_core::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// A problem details body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem: `urn:custos:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// Explanation of this occurrence (no personal data).
    pub detail: String,
    /// Seconds to wait (sent as `Retry-After` with 429).
    #[serde(skip)]
    pub retry_after: Option<i64>,
}

impl Problem {
    /// A problem of kind `slug`.
    pub fn new(status: StatusCode, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:custos:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 404 for an unknown route or resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 400 for malformed input.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-input", "Invalid input", detail)
    }

    /// 429 with the seconds to wait.
    pub fn throttled(retry_after: i64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "Too many attempts",
            "too many failed attempts; wait before trying again",
        );
        p.retry_after = Some(retry_after);
        p
    }

    /// 500 without details.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server could not complete the request; see its log",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Self {
        use StatusCode as S;
        match e {
            CoreError::Sealed => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "sealed",
                "Vault sealed",
                "the vault is sealed; unseal it with the operators' shares",
            ),
            CoreError::Unauthenticated => Problem::new(
                S::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
                "a valid bearer token is required",
            ),
            CoreError::Forbidden(why) => Problem::new(S::FORBIDDEN, "forbidden", "Forbidden", why),
            CoreError::NotFound(what) => Problem::not_found(format!("{what} not found")),
            CoreError::Invalid { field, reason } => Problem::invalid(format!("{field}: {reason}")),
            CoreError::PurposeRequired => Problem::new(
                S::BAD_REQUEST,
                "purpose-required",
                "Purpose required",
                "reading personal data requires a Custos-Purpose header",
            ),
            CoreError::PurposeNotAllowed => Problem::new(
                S::FORBIDDEN,
                "purpose-not-allowed",
                "Purpose not allowed",
                "the stated purpose is not among this collection's allowed purposes",
            ),
            CoreError::Conflict(why) => Problem::new(S::CONFLICT, "conflict", "Conflict", why),
            CoreError::Unseal(why) => Problem::new(S::BAD_REQUEST, "unseal-failed", "Unseal failed", why),
            CoreError::State(why) => Problem::new(S::CONFLICT, "invalid-state", "Invalid state", why),
            CoreError::Integrity => Problem::new(
                S::INTERNAL_SERVER_ERROR,
                "integrity-failure",
                "Integrity failure",
                "stored data failed its integrity check; the event is logged",
            ),
            CoreError::AuditUnavailable => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                "Audit trail unavailable",
                "the access could not be recorded, so it was not carried out",
            ),
            CoreError::MfaRequired => Problem::new(
                S::FORBIDDEN,
                "mfa-required",
                "MFA required",
                "this account must set up multi-factor authentication first (POST /v1/auth/totp/enrol)",
            ),
            CoreError::LoginFailed(_) => {
                Problem::new(S::UNAUTHORIZED, "login-failed", "Login failed", "the credentials were not accepted")
            }
            CoreError::Throttled { retry_after } => Problem::throttled(retry_after),
            CoreError::TooLarge(max) => Problem::new(
                S::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Body too large",
                format!("the upload is larger than the limit of {max} bytes"),
            ),
            CoreError::UnsupportedType => Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "this content type is not accepted",
            ),
            CoreError::Store(StoreError::Locked { .. }) => Problem::throttled(60),
            CoreError::Store(StoreError::Conflict(what)) => {
                Problem::new(S::CONFLICT, "conflict", "Conflict", format!("{what} already exists"))
            }
            CoreError::Store(StoreError::NotFound(what)) => Problem::not_found(format!("{what} not found")),
            CoreError::Store(StoreError::Stale) => {
                Problem::new(S::CONFLICT, "conflict", "Conflict", "changed concurrently; retry")
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Problem::internal()
            }
        }
    }
}
