//! `sys` audit endpoints: the checkpoint public key and a verification of the trail.

use crate::extract::AnyAuth;
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use custos_core::service::AuditReport;
use serde::Serialize;
use utoipa::ToSchema;

/// The key that signs audit checkpoints.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PublicKey {
    /// Always `ed25519`.
    algorithm: &'static str,
    /// The public key, hex.
    public_key: String,
}

/// The checkpoint public key: verify a trail without the root key.
#[utoipa::path(get, path = "/v1/sys/audit/public-key", tag = "audit",
    responses((status = 200, body = PublicKey), (status = 404, body = Problem)))]
pub(crate) async fn public_key(State(s): State<AppState>) -> Result<Json<PublicKey>, Problem> {
    let pk =
        s.vault.audit_public_key().await?.ok_or_else(|| Problem::not_found("no key yet: unseal the vault once"))?;
    Ok(Json(PublicKey { algorithm: "ed25519", public_key: hex::encode(pk) }))
}

/// Result of a verification.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VerifyOut {
    /// True when the chain and every checkpoint verified.
    ok: bool,
    entries: i64,
    verified_to: i64,
    checkpoints: usize,
    last_checkpoint: Option<i64>,
    /// The first bad sequence number.
    first_bad_seq: Option<i64>,
    /// Kind of fault: edited-entry, missing-entry, out-of-order-entry, broken-link,
    /// truncated, forged-checkpoint, checkpoint-mismatch.
    fault: Option<&'static str>,
}

impl From<AuditReport> for VerifyOut {
    fn from(r: AuditReport) -> Self {
        Self {
            ok: r.fault.is_none(),
            entries: r.entries,
            verified_to: r.verified_to,
            checkpoints: r.checkpoints,
            last_checkpoint: r.last_checkpoint,
            first_bad_seq: r.fault.as_ref().map(|f| f.seq),
            fault: r.fault.map(|f| f.kind),
        }
    }
}

/// Recompute the audit chain and check its checkpoints (operator token).
#[utoipa::path(get, path = "/v1/sys/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = VerifyOut), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn verify(State(s): State<AppState>, AnyAuth(c): AnyAuth) -> Result<Json<VerifyOut>, Problem> {
    c.principal.require_operator()?;
    Ok(Json(s.vault.verify_audit(None).await?.into()))
}
