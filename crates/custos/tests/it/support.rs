//! Shared fixtures: a real `custos` process on loopback (demo or initialised data
//! directory), an HTTPS client trusting its CA, and helpers for JSON calls.

use reqwest::{Client, Method, StatusCode};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_custos");

/// A running server process; killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub http: Client,
    pub ca: std::path::PathBuf,
    /// The server's stderr (its log).
    pub log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub fn client(ca: &Path) -> Client {
    client_builder(ca).build().unwrap()
}

/// A client builder trusting the server's CA.
pub fn client_builder(ca: &Path) -> reqwest::ClientBuilder {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    Client::builder().tls_backend_preconfigured(cfg).http1_only().timeout(Duration::from_secs(30))
}

/// Start `custos ARGS` and wait for its "listening on" line.
pub fn spawn(args: &[&str], dir: &Path) -> Server {
    // The log lives beside the data directory (which must start empty for `demo`).
    let log = dir.with_extension("server.log");
    let mut child = Command::new(BIN)
        .args(args)
        .env("CUSTOS_LOG", "info,custos=debug,custos_core=debug,custos_server=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("server log")))
        .spawn()
        .expect("start custos");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("custos exited before listening").unwrap();
        if let Some(u) = line.strip_prefix("custos: listening on ") {
            break u.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let ca = dir.join("tls/ca.pem");
    Server { child, url, http: client(&ca), ca, log }
}

/// A fresh demo server (development mode, demo tenant, admin key).
pub fn demo(dir: &Path) -> (Server, Value) {
    let s = spawn(&["demo", "--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"], dir);
    let creds: Value = serde_json::from_slice(&std::fs::read(dir.join("demo-credentials.json")).unwrap()).unwrap();
    (s, creds)
}

/// `custos init --json` output.
pub fn init(dir: &Path, shares: u8, threshold: u8) -> Value {
    let out = Command::new(BIN)
        .args([
            "init",
            "--data-dir",
            dir.to_str().unwrap(),
            "--shares",
            &shares.to_string(),
            "--threshold",
            &threshold.to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub struct Resp {
    pub headers: reqwest::header::HeaderMap,
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
    pub text: String,
}

impl Resp {
    async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let content_type =
            resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { headers, status, content_type, body, text }
    }
}

impl Server {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        purpose: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut r = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(p) = purpose {
            r = r.header("custos-purpose", p);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        Resp::read(r.send().await.unwrap()).await
    }

    pub async fn raw(&self, method: Method, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        Resp::read(resp).await
    }

    /// Send only the headers of a request that declares a `len`-byte JSON body, and
    /// read the answer: an oversized body is refused from its declared length, before
    /// it is sent (a client streaming it might see the connection close instead).
    pub fn declared_body(&self, method: &str, path: &str, token: &str, len: usize) -> Resp {
        use std::io::{Read, Write};
        let hostport = self.url.trim_start_matches("https://").replace("localhost", "127.0.0.1");
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), "localhost".try_into().unwrap()).unwrap();
        let tcp = std::net::TcpStream::connect(hostport).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        write!(
            tls,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{{"
        )
        .unwrap();
        tls.flush().unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = tls.read(&mut buf) {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let content_type = head.lines().find_map(|l| l.strip_prefix("content-type: ")).unwrap_or_default().to_owned();
        Resp {
            headers: Default::default(),
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            content_type,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            text: body.to_owned(),
        }
    }

    /// `POST …/records/search` on collection `people` of `code`, purpose `grading`.
    pub async fn search(&self, key: &str, code: &str, field: &str, equals: Value) -> Resp {
        let path = format!("/v1/tenants/{code}/collections/people/records/search");
        self.call(Method::POST, &path, Some(key), Some("grading"), Some(json!({"field": field, "equals": equals})))
            .await
    }
}

/// The zone database of a data directory, opened beside the running server.
pub fn db(dir: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(dir.join("zone.db")).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// Assert an RFC 9457 problem with the given status and type slug.
pub fn assert_problem(r: &Resp, status: u16, slug: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.content_type, "application/problem+json", "{}", r.text);
    assert_eq!(r.body["type"], json!(format!("urn:custos:problem:{slug}")), "{}", r.text);
    assert_eq!(r.body["status"], json!(status));
}

/// The schema used by most tests.
pub fn people_schema() -> Value {
    json!({
        "fields": {
            "email": {"type": "email", "pii": true, "searchable": true, "required": true},
            "name": {"type": "string", "pii": true},
            "score": {"type": "integer"},
            "note": {"type": "string"}
        },
        "purposes": ["grading", "support"]
    })
}

/// Create a tenant with an admin key through the operator token; returns the admin key.
pub async fn tenant_with_admin(s: &Server, operator: &str, code: &str) -> String {
    let r = s
        .call(
            Method::POST,
            "/v1/tenants",
            Some(operator),
            None,
            Some(json!({"code": code, "name": format!("Tenant {code}")})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    key(s, operator, code, "admin").await
}

pub async fn key(s: &Server, token: &str, code: &str, role: &str) -> String {
    let r = s
        .call(
            Method::POST,
            &format!("/v1/tenants/{code}/api-keys"),
            Some(token),
            None,
            Some(json!({"name": format!("{role}-key"), "role": role})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["key"].as_str().unwrap().to_owned()
}

pub async fn put_people(s: &Server, admin: &str, code: &str) {
    let r = s
        .call(Method::PUT, &format!("/v1/tenants/{code}/collections/people"), Some(admin), None, Some(people_schema()))
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

pub async fn subject(s: &Server, key: &str, code: &str) -> String {
    let r = s.call(Method::POST, &format!("/v1/tenants/{code}/subjects"), Some(key), None, Some(json!({}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

pub async fn record(s: &Server, key: &str, code: &str, subject: Option<&str>, fields: Value) -> String {
    let mut body = json!({"fields": fields});
    if let Some(sub) = subject {
        body["subject"] = json!(sub);
    }
    let r = s
        .call(Method::POST, &format!("/v1/tenants/{code}/collections/people/records"), Some(key), None, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Upload a file to `path` (with its query) as `token`: status and JSON answer.
pub async fn upload(s: &Server, token: &str, path: &str, ctype: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = s
        .http
        .post(format!("{}{path}", s.url))
        .bearer_auth(token)
        .header("content-type", ctype)
        .header("custos-file-name", "results%202026.csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}
