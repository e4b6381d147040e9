//! Request extractors that fail as problem+json: JSON bodies (syntax, types, unknown
//! fields, size), path segments, the bearer principal and the `Custos-Purpose` header.

use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::ConnectInfo;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use custos_core::audit::RequestMeta;
use custos_core::ids::Purpose;
use custos_core::service::Caller;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// A JSON body, refused as problem+json when malformed, mistyped or too large.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(json_problem(e)),
        }
    }
}

fn json_problem(e: JsonRejection) -> Problem {
    match &e {
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON", "the body is not valid JSON")
        }
        JsonRejection::JsonDataError(d) => {
            // serde's message names the field and the expected type; it does not quote
            // string values, but cut it at the first quote to be sure nothing leaks.
            let msg = d.body_text();
            let safe: String = msg.split(['"', '`']).next().unwrap_or("").chars().take(200).collect();
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-body",
                "Invalid body",
                format!("the body does not match the expected shape: {safe}"),
            )
        }
        _ if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            "the request body exceeds the configured limit",
        ),
        _ => Problem::new(StatusCode::BAD_REQUEST, "invalid-body", "Invalid body", "the body could not be read"),
    }
}

/// Path parameters, refused as problem+json when they do not parse.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(Problem::invalid("a path segment is not valid"))
            }
            Err(_) => Err(Problem::internal()),
        }
    }
}

/// Query parameters, refused as problem+json when they do not parse.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(Problem::invalid("the query string is not valid"))
            }
            Err(_) => Err(Problem::invalid("the query string is not valid")),
        }
    }
}

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "custos_session";

/// The credential of a request: `Authorization: Bearer`, else the session cookie.
fn bearer(parts: &Parts) -> &str {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => "",
        };
    }
    cookie(parts, SESSION_COOKIE).unwrap_or("")
}

/// A cookie's value.
pub(crate) fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The request's id, set by the `request_id` middleware.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// Where the request came from: its id and the client address.
pub(crate) fn request_meta(parts: &Parts) -> RequestMeta {
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    RequestMeta { request_id, client }
}

/// The request metadata alone (unauthenticated endpoints that are still audited).
pub(crate) struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(parts)))
    }
}

/// The authenticated caller of a request on an unsealed vault (503 when sealed, 401
/// without a valid token; failed attempts are audited).
pub(crate) struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.vault.is_sealed() {
            return Err(custos_core::CoreError::Sealed.into());
        }
        Ok(Auth(state.vault.authenticate(bearer(parts), &request_meta(parts)).await?))
    }
}

/// The authenticated caller, whether or not the vault is sealed (operator `sys` calls).
pub(crate) struct AnyAuth(pub Caller);

impl FromRequestParts<AppState> for AnyAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(AnyAuth(state.vault.authenticate(bearer(parts), &request_meta(parts)).await?))
    }
}

/// The `Custos-Purpose` header, if any (400 if present but not a purpose).
pub(crate) struct PurposeHeader(pub Option<Purpose>);

impl<S: Send + Sync> FromRequestParts<S> for PurposeHeader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("custos-purpose") {
            None => Ok(PurposeHeader(None)),
            Some(v) => {
                let s = v.to_str().map_err(|_| Problem::invalid("Custos-Purpose: not a purpose name"))?;
                Ok(PurposeHeader(Some(
                    Purpose::parse(s.trim()).map_err(|_| Problem::invalid("Custos-Purpose: not a purpose name"))?,
                )))
            }
        }
    }
}
