//! Subject endpoints: create a pseudonymous subject (or find the one an external id
//! maps to), look one up by external id, check one exists.

use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::{Pseudonym, TenantCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An external id (an SSO `sub`, a student number): mapped through a per-tenant keyed
/// MAC, never stored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExternalId {
    /// What kind of id (`student-number`, `feide-sub`): 1-32 of a-z, 0-9, '-', '_'.
    kind: String,
    /// The id.
    value: String,
}

/// A new subject: with an external id, the existing subject of that id is returned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSubject {
    #[serde(default)]
    external_id: Option<ExternalId>,
}

/// A subject, known only by its pseudonym.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubjectOut {
    /// The pseudonym.
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    /// `active`, or `locked` while an erasure is pending (shown to request handlers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
}

/// Create a subject with a random pseudonym and its own key; with an external id, the
/// subject already mapped to it is returned (200) instead.
#[utoipa::path(post, path = "/v1/tenants/{code}/subjects", tag = "subjects", request_body = CreateSubject, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 201, body = SubjectOut), (status = 200, body = SubjectOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn create_subject(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<CreateSubject>,
) -> Result<(StatusCode, Json<SubjectOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    let (id, created) = match body.external_id {
        Some(e) => s.vault.ensure_subject(&c, &code, &e.kind, &e.value).await?,
        None => (s.vault.create_subject(&c, &code).await?, true),
    };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(SubjectOut { id: id.to_string(), created_at: None, state: None })))
}

/// Find the subject an external id maps to (the id travels in the body, not the URL).
#[utoipa::path(post, path = "/v1/tenants/{code}/subjects/lookup", tag = "subjects", request_body = ExternalId, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = SubjectOut), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn lookup_subject(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<ExternalId>,
) -> Result<Json<SubjectOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = s.vault.lookup_subject(&c, &code, &body.kind, &body.value).await?;
    Ok(Json(SubjectOut { id: id.to_string(), created_at: None, state: None }))
}

/// Read a subject (its pseudonym and creation time).
#[utoipa::path(get, path = "/v1/tenants/{code}/subjects/{id}", tag = "subjects", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "subject pseudonym")),
    responses((status = 200, body = SubjectOut), (status = 404, body = Problem)))]
pub(crate) async fn get_subject(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<SubjectOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = Pseudonym::parse(&id)?;
    let (created, state) = s.vault.get_subject(&c, &code, &id).await?;
    let state = if state == custos_core::store::SubjectState::Locked { "locked" } else { "active" };
    Ok(Json(SubjectOut { id: id.to_string(), created_at: Some(created.to_rfc3339()), state: Some(state) }))
}
