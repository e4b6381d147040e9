//! OpenID Connect sign-in end to end against a real provider (panva/oidc-provider on
//! loopback, PKCE required): a first sign-in provisions a pseudonymous user with the
//! default role, the same person maps to the same user in a tenant and to another in a
//! second tenant, and ID tokens with a tampered signature, a wrong audience, a wrong
//! nonce or an expired lifetime are each refused.

use crate::staff::tenant_of;
use crate::support::{Server, demo};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Provider {
    child: Child,
    issuer: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// TLS settings for the provider client (it speaks plain HTTP on loopback; the client
/// still needs a crypto provider to be built).
fn plain_tls() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

const SECRET: &str = "a-client-secret-of-some-length";

fn start_provider(redirect: &str) -> Provider {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider/provider.mjs");
    assert!(
        script.with_file_name("node_modules").exists(),
        "run `npm ci` in tests/oidc-provider first (scripts/test.sh does)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let clients = json!([{"client_id": "custos-test", "client_secret": SECRET, "redirect_uris": [redirect]}]);
    let child = Command::new("node")
        .arg(&script)
        .env("PORT", port.to_string())
        .env("CLIENTS", clients.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node must be installed");
    let mut p = Provider {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .tls_backend_preconfigured(plain_tls())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    for _ in 0..200 {
        if p.child.try_wait().unwrap().is_none() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return p;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("oidc-provider did not start");
}

impl Provider {
    async fn mode(&self, mode: &str) {
        let r =
            self.http.post(format!("{}/__test/mode", self.issuer)).body(json!({"mode": mode}).to_string()).send().await;
        assert_eq!(r.unwrap().status(), 200);
    }
}

fn cookies_of(resp: &reqwest::Response, jar: &mut HashMap<String, String>) {
    for v in resp.headers().get_all("set-cookie") {
        let kv = v.to_str().unwrap().split(';').next().unwrap();
        if let Some((k, v)) = kv.split_once('=') {
            jar.insert(k.trim().to_owned(), v.to_owned());
        }
    }
}

fn cookie_header(jar: &HashMap<String, String>) -> String {
    jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
}

/// One browser sign-in: Custos start, the provider's redirects (its own cookies kept),
/// and the callback with Custos's state cookie. Returns the callback's answer and URL.
async fn sign_in(
    s: &Server,
    nav: &reqwest::Client,
    p: &Provider,
    tenant: &str,
    person: &str,
) -> (reqwest::StatusCode, Value, String) {
    let start = nav.get(format!("{}/v1/auth/oidc/{tenant}/start", s.url)).send().await.unwrap();
    assert_eq!(start.status(), 303);
    let mut custos_jar = HashMap::new();
    cookies_of(&start, &mut custos_jar);
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.starts_with(&format!("{}/auth?", p.issuer)), "{authorize}");
    for part in ["code_challenge_method=S256", "code_challenge=", "nonce=", "state=", "response_type=code"] {
        assert!(authorize.contains(part), "{part} in {authorize}");
    }
    let mut url = format!("{authorize}&login_hint={person}");
    let mut jar = HashMap::new();
    let callback = loop {
        let r = p.http.get(&url).header("cookie", cookie_header(&jar)).send().await.unwrap();
        cookies_of(&r, &mut jar);
        assert!(r.status().is_redirection(), "provider answered {}: {}", r.status(), r.text().await.unwrap());
        let next = r.headers()["location"].to_str().unwrap().to_owned();
        let next = if next.starts_with('/') { format!("{}{next}", p.issuer) } else { next };
        if next.starts_with(&s.url) {
            break next;
        }
        url = next;
    };
    let r = nav.get(&callback).header("cookie", cookie_header(&custos_jar)).send().await.unwrap();
    let status = r.status();
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
    (status, body, callback)
}

fn last_login_reason(d: &Path) -> Option<String> {
    crate::support::db(d)
        .query_row("SELECT reason FROM audit_log WHERE action = 'auth.login' ORDER BY seq DESC LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap()
}

#[tokio::test]
async fn openid_connect_sign_in_with_pkce_and_refused_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let t = tenant_of(&creds);
    let p = start_provider(&format!("{}/v1/auth/oidc/callback", s.url));
    let nav = crate::support::client_builder(&s.ca).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = s.call(Method::POST, "/v1/tenants", Some(op), None, Some(json!({"code": "other", "name": "Other"}))).await;
    assert_eq!(r.status, 201);
    for tenant in [t, "other"] {
        let cfg = json!({"issuer": p.issuer, "client_id": "custos-test", "client_secret": SECRET,
                         "scopes": ["openid", "email"], "default_role": "grader"});
        let r = s.call(Method::PUT, &format!("/v1/tenants/{tenant}/oidc"), Some(op), None, Some(cfg)).await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    // First sign-in provisions a user with the default role.
    let (status, body, callback) = sign_in(&s, &nav, &p, t, "student-42").await;
    assert_eq!(status, 200, "{body}");
    let tok = body["token"].as_str().unwrap().to_owned();
    let me = s.call(Method::GET, "/v1/auth/session", Some(&tok), None, None).await;
    assert_eq!(me.body["kind"], "user");
    assert!(me.body["permissions"].as_array().unwrap().contains(&json!("records:write")), "grader: {}", me.text);
    let uid = me.body["id"].as_str().unwrap().to_owned();
    // The callback cannot be replayed.
    let again = nav.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 401);
    // The same person is the same user in this tenant, another one in the other tenant.
    let (_, body2, _) = sign_in(&s, &nav, &p, t, "student-42").await;
    let me2 = s.call(Method::GET, "/v1/auth/session", Some(body2["token"].as_str().unwrap()), None, None).await;
    assert_eq!(me2.body["id"], uid.as_str());
    let (_, body3, _) = sign_in(&s, &nav, &p, "other", "student-42").await;
    let me3 = s.call(Method::GET, "/v1/auth/session", Some(body3["token"].as_str().unwrap()), None, None).await;
    assert_ne!(me3.body["id"], uid.as_str());
    assert_eq!(me3.body["tenant"], "other");
    // Neither the provider's subject nor its email is stored (the tenant did not ask).
    let c = crate::support::db(dir.path());
    let users: Vec<(Option<Vec<u8>>, Vec<u8>)> = c
        .prepare("SELECT email_mac, login_mac FROM users")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| u.0.is_none()), "no email kept");
    assert_ne!(users[0].1, users[1].1, "unrelated lookups across tenants");
    let mut db_bytes = std::fs::read(dir.path().join("zone.db")).unwrap();
    db_bytes.extend(std::fs::read(dir.path().join("zone.db-wal")).unwrap_or_default());
    for plain in [&b"student-42"[..], b"student-42@example.test"] {
        assert!(!db_bytes.windows(plain.len()).any(|w| w == plain));
    }

    // Each defect is refused, with its cause in the audit trail.
    for (mode, reason) in [
        ("tamper-signature", "id_token_signature"),
        ("wrong-audience", "id_token_audience"),
        ("wrong-nonce", "id_token_nonce"),
        ("expired", "id_token_expired"),
    ] {
        p.mode(mode).await;
        let (status, body, _) = sign_in(&s, &nav, &p, t, "student-42").await;
        assert_eq!(status, 401, "{mode}: {body}");
        assert_eq!(body["type"], "urn:custos:problem:login-failed", "{mode}");
        assert_eq!(last_login_reason(dir.path()).as_deref(), Some(reason), "{mode}");
    }
    p.mode("normal").await;
    let (status, _, _) = sign_in(&s, &nav, &p, t, "student-42").await;
    assert_eq!(status, 200, "a good token is accepted again");
}
