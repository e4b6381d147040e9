//! The console pages served so far: the password-reset page that emailed links open.
//! Static, with a strict content security policy (scripts from this origin only).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

const RESET_HTML: &str = include_str!("reset.html");
const RESET_JS: &str = include_str!("reset.js");
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        body,
    )
}

/// Routes of the console.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console/reset", get(|| async { page("text/html; charset=utf-8", RESET_HTML) }))
        .route("/console/reset.js", get(|| async { page("text/javascript; charset=utf-8", RESET_JS) }))
}
