//! Collection endpoints: put and read a schema.

use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::{CollectionName, TenantCode};
use custos_core::schema::CollectionSchema;

/// Create or grow a collection's schema (tenant admin). Existing fields keep their type
/// and flags; new fields must be optional.
#[utoipa::path(put, path = "/v1/tenants/{code}/collections/{name}", tag = "collections", request_body = CollectionSchema,
    security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "collection name")),
    responses((status = 201, body = CollectionSchema), (status = 200, body = CollectionSchema), (status = 400, body = Problem),
               (status = 409, body = Problem)))]
pub(crate) async fn put_collection(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, name)): ApiPath<(String, String)>,
    ApiJson(schema): ApiJson<CollectionSchema>,
) -> Result<(StatusCode, Json<CollectionSchema>), Problem> {
    let code = TenantCode::parse(&code)?;
    let name = CollectionName::parse(&name)?;
    let (created, stored) = s.vault.put_collection(&c, &code, &name, schema).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(stored)))
}

/// Read a collection's schema.
#[utoipa::path(get, path = "/v1/tenants/{code}/collections/{name}", tag = "collections", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "collection name")),
    responses((status = 200, body = CollectionSchema), (status = 404, body = Problem)))]
pub(crate) async fn get_collection(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, name)): ApiPath<(String, String)>,
) -> Result<Json<CollectionSchema>, Problem> {
    let code = TenantCode::parse(&code)?;
    let name = CollectionName::parse(&name)?;
    Ok(Json(s.vault.get_collection(&c, &code, &name).await?))
}
