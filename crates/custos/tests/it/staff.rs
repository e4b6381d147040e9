//! Helpers for staff identity tests: users, logins, TOTP codes from `oathtool`.

use crate::support::{Resp, Server};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::Command;

pub const PASSWORD: &str = "purple otters juggle quietly";

/// Create a staff user in `tenant` (or an operator with `None`); returns its id.
pub async fn create_user(s: &Server, token: &str, tenant: Option<&str>, username: &str, roles: &[&str]) -> String {
    let path = match tenant {
        Some(t) => format!("/v1/tenants/{t}/users"),
        None => "/v1/sys/users".into(),
    };
    let r = s
        .call(
            Method::POST,
            &path,
            Some(token),
            None,
            Some(json!({"username": username, "password": PASSWORD, "roles": roles})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["mfa"], false);
    r.body["id"].as_str().unwrap().to_owned()
}

/// `POST /v1/auth/login`.
pub async fn login(s: &Server, tenant: Option<&str>, username: &str, password: &str, totp: Option<&str>) -> Resp {
    let mut body = json!({"username": username, "password": password});
    if let Some(t) = tenant {
        body["tenant"] = json!(t);
    }
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    s.call(Method::POST, "/v1/auth/login", None, None, Some(body)).await
}

/// Log in and return the session token.
pub async fn session(s: &Server, tenant: Option<&str>, username: &str) -> String {
    let r = login(s, tenant, username, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["token"].as_str().unwrap().to_owned()
}

/// The current TOTP code for a base32 secret, made by `oathtool` (another
/// implementation), `offset_steps` steps from now.
#[allow(clippy::disallowed_methods)] // the server's clock is the wall clock; so is oathtool's
pub fn oathtool(secret: &str, offset_steps: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let at = now + offset_steps * 30;
    let out = Command::new("oathtool")
        .args(["--totp", "-b", "--now", &format!("@{at}"), secret])
        .output()
        .expect("oathtool (Debian package oathtool) must be installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Enrol the session's user in TOTP with a code from oathtool; returns the secret and
/// the recovery codes.
pub async fn enrol(s: &Server, token: &str) -> (String, Vec<String>) {
    let e = s.call(Method::POST, "/v1/auth/totp/enrol", Some(token), None, None).await;
    assert_eq!(e.status, 200, "{}", e.text);
    let secret = e.body["secret"].as_str().unwrap().to_owned();
    let c = s
        .call(Method::POST, "/v1/auth/totp/confirm", Some(token), None, Some(json!({"code": oathtool(&secret, 0)})))
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    let codes = c.body["recovery_codes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    (secret, codes)
}

/// Audit entries of an action, newest last: (outcome, reason, principal_id).
pub fn audit_of(d: &std::path::Path, action: &str) -> Vec<(String, Option<String>, String)> {
    let c = crate::support::db(d);
    let mut st =
        c.prepare("SELECT outcome, reason, principal_id FROM audit_log WHERE action = ?1 ORDER BY seq").unwrap();
    st.query_map([action], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(|r| r.unwrap()).collect()
}

pub fn tenant_of(v: &Value) -> &str {
    v["tenant"].as_str().unwrap()
}
