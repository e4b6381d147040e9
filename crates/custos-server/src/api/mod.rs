//! The `/v1` router. Routes and the OpenAPI document come from the same annotations
//! (`utoipa-axum`), so the published document cannot drift from what is served.

pub(crate) mod audit;
mod auth;
mod backups;
mod collections;
mod files;
mod keys;
mod privacy;
mod recipients;
mod records;
mod review;
mod roles;
mod secret_text;
mod sso;
mod subjects;
mod sys;
mod tenants;
mod users;

use crate::problem::Problem;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Custos API", description = "Privacy vault for education platforms. Errors are RFC 9457 problem+json."),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// Build the OpenAPI document and the router.
fn parts(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(sys::health))
        .routes(routes!(sys::metrics))
        .routes(routes!(sys::unseal))
        .routes(routes!(sys::seal))
        .routes(routes!(backups::create_backup, backups::list_backups))
        .routes(routes!(backups::restore_drill))
        .routes(routes!(audit::public_key))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::sys_audit))
        .routes(routes!(audit::tenant_audit))
        .routes(routes!(tenants::create_tenant))
        .routes(routes!(tenants::get_tenant))
        .routes(routes!(tenants::rotate))
        .routes(routes!(keys::create_api_key, keys::list_api_keys))
        .routes(routes!(keys::rotate_api_key))
        .routes(routes!(keys::revoke_api_key))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::session))
        .routes(routes!(auth::totp_enrol))
        .routes(routes!(auth::totp_confirm))
        .routes(routes!(auth::password_reset))
        .routes(routes!(auth::password_reset_complete))
        .routes(routes!(sso::start))
        .routes(routes!(sso::callback))
        .routes(routes!(sso::put_oidc))
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(users::get_user, users::patch_user, users::delete_user))
        .routes(routes!(users::create_operator, users::list_operators))
        .routes(routes!(roles::list_roles))
        .routes(routes!(roles::put_role, roles::delete_role))
        .routes(routes!(review::access_review))
        .routes(routes!(review::confirm))
        .routes(routes!(collections::put_collection, collections::get_collection))
        .routes(routes!(subjects::create_subject))
        .routes(routes!(subjects::lookup_subject))
        .routes(routes!(subjects::get_subject))
        .routes(routes!(privacy::request_erasure))
        .routes(routes!(privacy::get_erasure))
        .routes(routes!(privacy::cancel_erasure))
        .routes(routes!(privacy::list_dsrs))
        .routes(routes!(privacy::export_subject))
        .routes(routes!(privacy::get_privacy, privacy::put_privacy))
        .routes(routes!(recipients::create_recipient, recipients::list_recipients))
        .routes(routes!(recipients::revoke_recipient))
        .routes(routes!(recipients::create_disclosure, recipients::list_disclosures))
        .routes(routes!(recipients::my_disclosures))
        .routes(routes!(recipients::recipient_subject))
        .routes(routes!(recipients::recipient_erasure))
        .routes(routes!(recipients::acknowledge))
        .routes(routes!(files::upload))
        .routes(routes!(files::download, files::delete))
        .routes(routes!(files::meta))
        .routes(routes!(records::create_record, records::list_records))
        .routes(routes!(records::get_record, records::patch_record, records::delete_record))
        .routes(routes!(records::search_records))
        .with_state(state)
        .split_for_parts()
}

/// The OpenAPI document as served at `/v1/openapi.json`.
pub fn openapi_json(state: AppState) -> String {
    parts(state).1.to_pretty_json().unwrap_or_default()
}

/// The full application: `/v1` routes, OpenAPI, problem+json fallbacks, body limit,
/// security headers and a panic guard.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let max_file = state.vault.max_file_bytes();
    let (router, api) = parts(state);
    let doc = Arc::new(api.to_json().unwrap_or_default());
    router
        .route(
            "/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc.as_ref().clone()) }
            }),
        )
        .merge(crate::console::routes())
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this endpoint does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state((max_body_bytes, max_file), declared_size_limit))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn(request_id))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            Problem::internal().into_response()
        }))
}

/// Refuse a body whose declared length is over the limit before reading any of it
/// (bodies without a declared length are cut at the limit by `DefaultBodyLimit`).
async fn declared_size_limit(
    axum::extract::State((max, max_file)): axum::extract::State<(usize, u64)>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|s| s.parse::<u64>().ok());
    // File uploads stream past the JSON limit; the vault cuts them at the file limit.
    let is_upload = req.method() == axum::http::Method::POST
        && req
            .uri()
            .path()
            .strip_prefix("/v1/tenants/")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(_, r)| r == "files");
    let max = if is_upload { max_file } else { max as u64 };
    if declared.is_some_and(|len| len > max) {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            "the request body exceeds the configured limit",
        )
        .into_response();
    }
    next.run(req).await
}

/// Give every request a random id: in its audit entries, its extensions and the
/// `Custos-Request-Id` response header.
async fn request_id(mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let id = custos_crypto::random_hex(8).unwrap_or_default();
    req.extensions_mut().insert(crate::extract::RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("custos-request-id", v);
    }
    resp
}

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    resp
}
