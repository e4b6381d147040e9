//! Sign-in endpoints: password login (session id as bearer token and cookie), logout,
//! the current session, TOTP enrolment, password reset, and OpenID Connect sign-in.

use super::secret_text::{KeyText, SecretIn};
use crate::extract::{ApiJson, Auth, Meta, SESSION_COOKIE};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_core::ids::TenantCode;
use custos_core::policy::Principal;
use custos_core::service::{LoginRequest, SessionCreated};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    /// Tenant code; leave out to sign in as an operator.
    #[serde(default)]
    tenant: Option<String>,
    username: String,
    #[schema(value_type = String)]
    password: SecretIn,
    /// TOTP code (or a recovery code) once MFA is set up.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    totp: Option<SecretIn>,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionOut {
    /// Session id: send as `Authorization: Bearer`, or rely on the cookie.
    #[schema(value_type = String)]
    token: KeyText,
    expires_at: String,
    /// The account must set up MFA before it can do anything else.
    mfa_enrolment_required: bool,
}

pub(crate) fn session_cookie(token: &str, max_age_s: i64) -> HeaderValue {
    let v = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_s}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("custos_session=; Max-Age=0"))
}

pub(crate) fn session_response(s: &AppState, created: SessionCreated) -> Response {
    let max_age = ((created.expires_at.0 - s.vault.clock().now().0) / 1000).max(0);
    let cookie = session_cookie(created.token.expose(), max_age);
    let body = SessionOut {
        expires_at: created.expires_at.to_rfc3339(),
        mfa_enrolment_required: created.mfa_enrolment_required,
        token: KeyText(created.token),
    };
    let mut resp = (StatusCode::OK, Json(body)).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Sign in with a password (and a TOTP code when enrolled). Every failure is the same
/// 401 `login-failed`; repeated failures give 429 with `Retry-After`.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = SessionOut), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub(crate) async fn login(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(req): ApiJson<Login>,
) -> Result<Response, Problem> {
    let tenant = match req.tenant.as_deref() {
        None => None,
        // A malformed code is an unknown tenant: same answer as any other failure.
        Some(t) => {
            Some(TenantCode::parse(t).map_err(|_| Problem::from(custos_core::CoreError::LoginFailed("bad_tenant")))?)
        }
    };
    if req.username.len() > 256 {
        return Err(custos_core::CoreError::LoginFailed("bad_username").into());
    }
    let created = s
        .vault
        .login(
            LoginRequest { tenant, username: req.username, password: req.password.0, totp: req.totp.map(|t| t.0) },
            &meta,
        )
        .await?;
    Ok(session_response(&s, created))
}

/// End the current session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub(crate) async fn logout(State(s): State<AppState>, Auth(c): Auth) -> Result<Response, Problem> {
    s.vault.logout(&c).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(resp)
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WhoAmI {
    id: String,
    /// operator, user or service.
    kind: &'static str,
    tenant: Option<String>,
    permissions: Vec<&'static str>,
    /// MFA must be set up before anything else.
    mfa_enrolment_required: bool,
}

/// The calling principal (allowed while MFA enrolment is pending).
#[utoipa::path(get, path = "/v1/auth/session", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = Problem)))]
pub(crate) async fn session(Auth(c): Auth) -> Json<WhoAmI> {
    let mfa = c.principal.mfa_pending();
    Json(match c.principal {
        Principal::Operator { id, .. } => {
            WhoAmI { id, kind: "operator", tenant: None, permissions: Vec::new(), mfa_enrolment_required: mfa }
        }
        Principal::Member { id, kind, tenant, permissions, .. } => WhoAmI {
            id,
            kind: match kind {
                custos_core::policy::MemberKind::User => "user",
                custos_core::policy::MemberKind::Service => "service",
                custos_core::policy::MemberKind::Recipient => "recipient",
            },
            tenant: Some(tenant.to_string()),
            permissions: permissions.names(),
            mfa_enrolment_required: mfa,
        },
    })
}

/// A started TOTP enrolment.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnrolOut {
    /// Base32 secret for manual entry.
    #[schema(value_type = String)]
    secret: KeyText,
    #[schema(value_type = String)]
    otpauth_uri: KeyText,
    /// The URI as an SVG QR code.
    #[schema(value_type = String)]
    qr_svg: KeyText,
}

/// Start TOTP enrolment for the signed-in user.
#[utoipa::path(post, path = "/v1/auth/totp/enrol", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = EnrolOut), (status = 401, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn totp_enrol(State(s): State<AppState>, Auth(c): Auth) -> Result<Response, Problem> {
    let e = s.vault.totp_enrol(&c).await?;
    let svg = qrcode::QrCode::new(e.otpauth_uri.expose().as_bytes())
        .map_err(|_| Problem::internal())?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let body = EnrolOut {
        secret: KeyText(e.secret),
        otpauth_uri: KeyText(e.otpauth_uri),
        qr_svg: KeyText(custos_crypto::Secret::new(svg)),
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The first code from the authenticator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Confirm {
    #[schema(value_type = String)]
    code: SecretIn,
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConfirmOut {
    #[schema(value_type = Vec<String>)]
    recovery_codes: Vec<KeyText>,
}

/// Confirm TOTP enrolment with a first code; returns ten single-use recovery codes.
#[utoipa::path(post, path = "/v1/auth/totp/confirm", tag = "auth", request_body = Confirm, security(("bearer" = [])),
    responses((status = 200, body = ConfirmOut), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub(crate) async fn totp_confirm(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiJson(req): ApiJson<Confirm>,
) -> Result<Response, Problem> {
    let out = s.vault.totp_confirm(&c, req.code.0.expose()).await?;
    let body = ConfirmOut { recovery_codes: out.recovery_codes.into_iter().map(KeyText).collect() };
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A reset request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    /// Tenant code; leave out for an operator.
    #[serde(default)]
    tenant: Option<String>,
    #[schema(value_type = String)]
    email: SecretIn,
}

/// Ask for a password-reset mail. Always 202: the answer does not tell whether the
/// account exists.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202), (status = 400, body = Problem)))]
pub(crate) async fn password_reset(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<StatusCode, Problem> {
    let tenant = req.tenant.as_deref().and_then(|t| TenantCode::parse(t).ok());
    if req.tenant.is_some() && tenant.is_none() {
        return Ok(StatusCode::ACCEPTED);
    }
    if let Some(mail) = s.vault.request_password_reset(tenant.as_ref(), req.email.0.expose(), &meta).await? {
        match &s.mailer {
            Some(m) => m.send_later(mail),
            None => tracing::warn!("a password reset was asked for but no SMTP relay is configured"),
        }
    }
    Ok(StatusCode::ACCEPTED)
}

/// A new password with the token from the mail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetComplete {
    #[schema(value_type = String)]
    token: SecretIn,
    #[schema(value_type = String)]
    password: SecretIn,
}

/// Set a new password with a reset or invitation token (single use); ends every
/// session of the account.
#[utoipa::path(post, path = "/v1/auth/password-reset/complete", tag = "auth", request_body = ResetComplete,
    responses((status = 204), (status = 400, body = Problem)))]
pub(crate) async fn password_reset_complete(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(req): ApiJson<ResetComplete>,
) -> Result<StatusCode, Problem> {
    if req.token.0.expose().len() > 128 {
        return Err(Problem::invalid("token: unknown, used or expired"));
    }
    s.vault.complete_password_reset(req.token.0.expose(), req.password.0, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
