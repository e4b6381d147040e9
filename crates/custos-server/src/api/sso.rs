//! OpenID Connect endpoints: a tenant's provider settings, the redirect to the
//! provider, and the callback that validates the ID token and starts a session.

use super::auth::session_response;
use super::secret_text::SecretIn;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth, Meta, cookie};
use crate::oidc::{TokenRefused, authorize_url, validate_id_token};
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_core::CoreError;
use custos_core::ids::TenantCode;
use custos_core::service::{OidcSettings, SsoIdentity};
use custos_crypto::Secret;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Cookie binding a started login to the browser that started it.
const STATE_COOKIE: &str = "custos_oidc_state";

/// Provider settings with the client secret.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidcIn {
    #[serde(flatten)]
    settings: OidcSettings,
    #[schema(value_type = String)]
    client_secret: SecretIn,
}

/// Set the tenant's OpenID Connect provider (`users:manage`).
#[utoipa::path(put, path = "/v1/tenants/{code}/oidc", tag = "auth", request_body = OidcIn, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 204), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn put_oidc(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<OidcIn>,
) -> Result<StatusCode, Problem> {
    let code = TenantCode::parse(&code)?;
    s.vault.set_oidc(&c, &code, req.settings, req.client_secret.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn redirect_uri(s: &AppState) -> String {
    format!("{}/v1/auth/oidc/callback", s.vault.public_url())
}

/// Start single sign-on for a tenant: a redirect to its provider.
#[utoipa::path(get, path = "/v1/auth/oidc/{code}/start", tag = "auth",
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 303, description = "to the provider"), (status = 404, body = Problem), (status = 502, body = Problem)))]
pub(crate) async fn start(State(s): State<AppState>, ApiPath(code): ApiPath<String>) -> Result<Response, Problem> {
    let code = TenantCode::parse(&code)?;
    let begun = s.vault.oidc_begin(&code).await?;
    let d = s.oidc.discover(&begun.settings.issuer).await.map_err(|e| {
        tracing::warn!(error = %e, "provider discovery failed");
        provider_unavailable()
    })?;
    let url = authorize_url(
        &d,
        &begun.settings,
        &redirect_uri(&s),
        begun.state.expose(),
        begun.nonce.expose(),
        begun.verifier.expose(),
    );
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&url).map_err(|_| provider_unavailable())?);
    let c = format!(
        "{STATE_COOKIE}={}; Path=/v1/auth/oidc; HttpOnly; Secure; SameSite=Lax; Max-Age=600",
        begun.state.expose()
    );
    h.insert(header::SET_COOKIE, HeaderValue::from_str(&c).map_err(|_| Problem::internal())?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn provider_unavailable() -> Problem {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "provider-unavailable",
        "Provider unavailable",
        "the identity provider could not be reached",
    )
}

/// The provider's answer.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The browser's state cookie.
pub(crate) struct StateCookie(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for StateCookie {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(StateCookie(cookie(parts, STATE_COOKIE).map(str::to_owned)))
    }
}

/// Finish single sign-on: exchange the code (with the PKCE verifier), validate the ID
/// token, and start a session.
#[utoipa::path(get, path = "/v1/auth/oidc/callback", tag = "auth", params(Callback),
    responses((status = 200, body = super::auth::SessionOut), (status = 401, body = Problem), (status = 502, body = Problem)))]
pub(crate) async fn callback(
    State(s): State<AppState>,
    Meta(meta): Meta,
    StateCookie(bound): StateCookie,
    ApiQuery(q): ApiQuery<Callback>,
) -> Result<Response, Problem> {
    let failed = |cause: &'static str| Problem::from(CoreError::LoginFailed(cause));
    let state = q.state.filter(|st| st.len() <= 128).ok_or_else(|| failed("no_state"))?;
    // The login is taken (once) before anything else, so a replayed callback fails.
    let (tenant, verifier, nonce) = s.vault.oidc_take(&state, &meta).await?;
    if bound.as_deref() != Some(state.as_str()) {
        return Err(s.vault.oidc_refused(&tenant, "state_not_bound_to_browser", &meta).await.into());
    }
    if q.error.is_some() {
        return Err(s.vault.oidc_refused(&tenant, "provider_error", &meta).await.into());
    }
    let code = q.code.filter(|c| c.len() <= 2048).ok_or_else(|| failed("no_code"))?;
    let (settings, secret) = s.vault.oidc_client(&tenant).await?;
    let d = s.oidc.discover(&settings.issuer).await.map_err(|_| provider_unavailable())?;
    let id_token = match s.oidc.exchange(&d, &settings, &secret, &code, &verifier, &redirect_uri(&s)).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "code exchange refused");
            return Err(s.vault.oidc_refused(&tenant, "code_exchange_failed", &meta).await.into());
        }
    };
    let now = s.vault.clock().now().0.div_euclid(1000);
    let check = |keys: &[crate::oidc::Jwk]| {
        validate_id_token(id_token.expose(), keys, &settings.issuer, &settings.client_id, nonce.expose(), now)
    };
    let keys = s.oidc.keys(&d, false).await.map_err(|_| provider_unavailable())?;
    let claims = match check(&keys) {
        Err(TokenRefused::UnknownKey) => {
            let keys = s.oidc.keys(&d, true).await.map_err(|_| provider_unavailable())?;
            check(&keys)
        }
        other => other,
    };
    let claims = match claims {
        Ok(c) => c,
        Err(why) => return Err(s.vault.oidc_refused(&tenant, why.code(), &meta).await.into()),
    };
    let identity = SsoIdentity {
        issuer: claims.iss.clone(),
        subject: Secret::new(claims.sub.clone()),
        email: claims.email.clone().map(Secret::new),
    };
    let created = s.vault.sso_login(&tenant, identity, &meta).await?;
    let mut resp = session_response(&s, created);
    let clear = format!("{STATE_COOKIE}=; Path=/v1/auth/oidc; HttpOnly; Secure; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}
