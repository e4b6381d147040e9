//! Request extractors that fail as problem+json: JSON bodies (syntax, types, unknown
//! fields, size), path segments, the bearer principal and the `Custos-Purpose` header.

use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use custos_core::ids::Purpose;
use custos_core::policy::Principal;
use serde::de::DeserializeOwned;

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

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The authenticated principal of a request on an unsealed vault (503 when sealed,
/// 401 without a valid token).
pub(crate) struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.vault.is_sealed() {
            return Err(custos_core::CoreError::Sealed.into());
        }
        let token = bearer(parts).ok_or(custos_core::CoreError::Unauthenticated)?;
        Ok(Auth(state.vault.authenticate(token).await?))
    }
}

/// The authenticated principal, whether or not the vault is sealed (operator `sys` calls).
pub(crate) struct AnyAuth(pub Principal);

impl FromRequestParts<AppState> for AnyAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(custos_core::CoreError::Unauthenticated)?;
        Ok(AnyAuth(state.vault.authenticate(token).await?))
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
