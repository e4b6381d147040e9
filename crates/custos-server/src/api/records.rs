//! Record endpoints: create, read, patch, delete, list (by collection or subject) and
//! blind-index search. Lookup values travel in the body, never in the URL.

use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth, PurposeHeader};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use custos_core::ids::{CollectionName, FieldName, Pseudonym, RecordId, TenantCode};
use custos_core::service::{ListPage, PageRequest, RecordView};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// A new record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRecord {
    /// Pseudonym of the subject the record is about; its pii fields are sealed under
    /// that subject's key.
    #[serde(default)]
    subject: Option<String>,
    /// Field values, checked against the collection schema.
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
    /// The purposes this record's personal data may be read for: a subset of the
    /// collection's, narrowing them (default: the collection's).
    #[serde(default)]
    purposes: Option<Vec<String>>,
}

/// A created or changed record's id and version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordRef {
    id: String,
    version: i64,
}

/// A record.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordOut {
    id: String,
    subject: Option<String>,
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
    version: i64,
    /// Tenant key version sealing the record's tenant-keyed fields.
    key_version: u32,
    created_at: String,
    updated_at: String,
}

impl From<RecordView> for RecordOut {
    fn from(r: RecordView) -> Self {
        Self {
            id: r.id.to_string(),
            subject: r.subject.map(|s| s.to_string()),
            fields: r.fields,
            version: r.version,
            key_version: r.key_version,
            created_at: r.created_at.to_rfc3339(),
            updated_at: r.updated_at.to_rfc3339(),
        }
    }
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordPage {
    records: Vec<RecordOut>,
    /// Cursor for the next page, or null at the end.
    next: Option<String>,
}

impl From<ListPage> for RecordPage {
    fn from(p: ListPage) -> Self {
        Self { records: p.records.into_iter().map(Into::into).collect(), next: p.next }
    }
}

fn parse_tc(code: &str, name: &str) -> Result<(TenantCode, CollectionName), Problem> {
    Ok((TenantCode::parse(code)?, CollectionName::parse(name)?))
}

/// Create a record.
#[utoipa::path(post, path = "/v1/tenants/{code}/collections/{name}/records", tag = "records", request_body = CreateRecord,
    security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "collection name")),
    responses((status = 201, body = RecordRef), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn create_record(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, name)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<CreateRecord>,
) -> Result<(StatusCode, HeaderMap, Json<RecordRef>), Problem> {
    let (code, name) = parse_tc(&code, &name)?;
    let subject = req.subject.as_deref().map(Pseudonym::parse).transpose()?;
    let purposes = req
        .purposes
        .map(|p| p.iter().map(|x| custos_core::ids::Purpose::parse(x)).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let (id, version) = s.vault.create_record_for(&c, &code, &name, subject, req.fields, purposes).await?;
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/tenants/{code}/collections/{name}/records/{id}")) {
        h.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, h, Json(RecordRef { id: id.to_string(), version })))
}

/// Paging and filtering of a record list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Cursor from the previous page's `next`.
    cursor: Option<String>,
    /// Page size, 1-500 (default 50).
    limit: Option<u32>,
    /// Only this subject's records (a pseudonym).
    subject: Option<String>,
}

/// List records by id, optionally one subject's. Needs `Custos-Purpose` when the
/// collection holds personal data.
#[utoipa::path(get, path = "/v1/tenants/{code}/collections/{name}/records", tag = "records", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "collection name"), ListQuery,
           ("Custos-Purpose" = Option<String>, Header, description = "purpose of the read")),
    responses((status = 200, body = RecordPage), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_records(
    State(s): State<AppState>,
    Auth(c): Auth,
    PurposeHeader(purpose): PurposeHeader,
    ApiPath((code, name)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<RecordPage>, Problem> {
    let (code, name) = parse_tc(&code, &name)?;
    let subject = q.subject.as_deref().map(Pseudonym::parse).transpose()?;
    let page = s
        .vault
        .list_records(
            &c,
            &code,
            &name,
            subject,
            PageRequest { cursor: q.cursor.as_deref(), limit: q.limit },
            purpose.as_ref(),
        )
        .await?;
    Ok(Json(page.into()))
}

/// Read one record. Needs `Custos-Purpose` when the collection holds personal data.
#[utoipa::path(get, path = "/v1/tenants/{code}/collections/{name}/records/{id}", tag = "records", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "collection name"),
           ("id" = String, Path, description = "record id"), ("Custos-Purpose" = Option<String>, Header, description = "purpose of the read")),
    responses((status = 200, body = RecordOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_record(
    State(s): State<AppState>,
    Auth(c): Auth,
    PurposeHeader(purpose): PurposeHeader,
    ApiPath((code, name, id)): ApiPath<(String, String, String)>,
) -> Result<Json<RecordOut>, Problem> {
    let (code, name) = parse_tc(&code, &name)?;
    let id = RecordId::parse(&id)?;
    Ok(Json(s.vault.get_record(&c, &code, &name, &id, purpose.as_ref()).await?.into()))
}

/// A change to some fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchRecord {
    /// Fields to set; `null` removes an optional field.
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
    /// Apply only if the record is still at this version.
    #[serde(default)]
    version: Option<i64>,
}

/// Change fields of a record.
#[utoipa::path(patch, path = "/v1/tenants/{code}/collections/{name}/records/{id}", tag = "records", request_body = PatchRecord,
    security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "collection name"),
           ("id" = String, Path, description = "record id")),
    responses((status = 200, body = RecordRef), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn patch_record(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, name, id)): ApiPath<(String, String, String)>,
    ApiJson(req): ApiJson<PatchRecord>,
) -> Result<Json<RecordRef>, Problem> {
    let (code, name) = parse_tc(&code, &name)?;
    let id = RecordId::parse(&id)?;
    let version = s.vault.update_record(&c, &code, &name, &id, req.fields, req.version).await?;
    Ok(Json(RecordRef { id: id.to_string(), version }))
}

/// Delete a record.
#[utoipa::path(delete, path = "/v1/tenants/{code}/collections/{name}/records/{id}", tag = "records", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "collection name"),
           ("id" = String, Path, description = "record id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn delete_record(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, name, id)): ApiPath<(String, String, String)>,
) -> Result<StatusCode, Problem> {
    let (code, name) = parse_tc(&code, &name)?;
    let id = RecordId::parse(&id)?;
    s.vault.delete_record(&c, &code, &name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An exact-match lookup.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchRequest {
    /// A searchable field.
    field: String,
    /// The value to match (emails match case-insensitively).
    #[schema(value_type = Object)]
    equals: Value,
    /// Cursor from the previous page.
    #[serde(default)]
    cursor: Option<String>,
    /// Page size, 1-500.
    #[serde(default)]
    limit: Option<u32>,
}

/// Find records whose searchable field equals a value, through the blind index.
#[utoipa::path(post, path = "/v1/tenants/{code}/collections/{name}/records/search", tag = "records", request_body = SearchRequest,
    security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "collection name"),
           ("Custos-Purpose" = Option<String>, Header, description = "purpose of the read")),
    responses((status = 200, body = RecordPage), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn search_records(
    State(s): State<AppState>,
    Auth(c): Auth,
    PurposeHeader(purpose): PurposeHeader,
    ApiPath((code, name)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Json<RecordPage>, Problem> {
    let (code, name) = parse_tc(&code, &name)?;
    let field = FieldName::parse(&req.field)?;
    let page = s
        .vault
        .search_records(
            &c,
            &code,
            &name,
            (&field, &req.equals),
            PageRequest { cursor: req.cursor.as_deref(), limit: req.limit },
            purpose.as_ref(),
        )
        .await?;
    Ok(Json(page.into()))
}
