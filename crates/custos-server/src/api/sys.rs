//! `sys` endpoints: health, unseal and seal.

use crate::extract::{AnyAuth, ApiJson, Meta};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Health and seal state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// No keys in memory: data endpoints answer 503.
    sealed: bool,
    /// Unsealed and serving.
    ready: bool,
    /// Server version.
    version: &'static str,
    /// Whether the data directory has been initialised.
    initialized: bool,
    /// Whether this listener speaks TLS.
    tls: bool,
    /// Whether the FIPS-validated crypto module is in use.
    fips: bool,
}

/// Is the server up, sealed, ready?
#[utoipa::path(get, path = "/v1/sys/health", tag = "sys", responses((status = 200, body = Health)))]
pub(crate) async fn health(State(s): State<AppState>) -> Json<Health> {
    let sealed = s.vault.is_sealed();
    let initialized = matches!(s.vault.mode().await, Ok(Some(_)));
    Json(Health {
        sealed,
        ready: !sealed,
        version: env!("CARGO_PKG_VERSION"),
        initialized,
        tls: s.tls,
        fips: custos_crypto::fips_mode(),
    })
}

/// One unseal share.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnsealRequest {
    /// A share printed by `custos init`.
    share: String,
}

/// Unseal progress.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnsealStatus {
    /// Still sealed.
    sealed: bool,
    /// Distinct shares given so far.
    progress: u8,
    /// Shares needed.
    threshold: u8,
}

/// Offer one share; at the threshold the vault unseals.
#[utoipa::path(post, path = "/v1/sys/unseal", tag = "sys", request_body = UnsealRequest,
    responses((status = 200, body = UnsealStatus), (status = 400, body = Problem)))]
pub(crate) async fn unseal(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(req): ApiJson<UnsealRequest>,
) -> Result<Json<UnsealStatus>, Problem> {
    let st = s.vault.unseal(&req.share, &meta).await?;
    Ok(Json(UnsealStatus { sealed: st.sealed, progress: st.progress, threshold: st.threshold }))
}

/// Drop every key from memory (operator token).
#[utoipa::path(post, path = "/v1/sys/seal", tag = "sys", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn seal(State(s): State<AppState>, AnyAuth(c): AnyAuth) -> Result<StatusCode, Problem> {
    s.vault.seal(&c).await?;
    Ok(StatusCode::NO_CONTENT)
}
