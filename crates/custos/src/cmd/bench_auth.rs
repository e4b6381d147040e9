//! `custos bench-auth`: password logins per second (Argon2id-bound), and the cost of
//! checking a session on every request, against an API key (cached) and against no
//! credential at all, on an endpoint that does nothing else (`GET /v1/auth/session`).

use super::bench::spawn;
use super::load::{self, MakeRequest, Stats};
use crate::client;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Options of `custos bench-auth`.
#[derive(Debug, clap::Args)]
pub struct BenchAuthArgs {
    /// Concurrent connections for the login phase.
    #[arg(long, default_value_t = 8)]
    login_concurrency: usize,
    /// Concurrent connections for the session-check phases.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Print the results as one JSON object too.
    #[arg(long)]
    json: bool,
}

const PASSWORD: &str = "benchmark passphrase of users";

fn line(name: &str, s: &Stats) {
    println!(
        "{name:<28} {:>10.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} ok, {} errors)",
        s.throughput, s.p50_ms, s.p99_ms, s.ok, s.errors
    );
}

fn get(url: String, token: Option<String>) -> MakeRequest {
    Arc::new(move |c: &reqwest::Client, _| {
        let r = c.get(&url);
        match &token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    })
}

/// `custos bench-auth`
pub async fn run(a: BenchAuthArgs) -> Result<()> {
    if a.concurrency == 0 || a.concurrency > 1024 || a.login_concurrency == 0 || a.seconds == 0 || a.seconds > 600 {
        bail!("--concurrency and --login-concurrency 1-1024, --seconds 1-600");
    }
    let dir = std::env::temp_dir().join(format!("custos-bench-auth-{}", std::process::id()));
    let _cleanup = super::bench::Cleanup(dir.clone());
    let child = spawn(&["demo", "--data-dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"]).await?;
    let creds: Value = serde_json::from_slice(&std::fs::read(dir.join("demo-credentials.json"))?)?;
    let url = creds["url"].as_str().context("url")?.to_owned();
    let ca = PathBuf::from(creds["ca_cert"].as_str().context("ca_cert")?);
    let (op, key) = (
        creds["operator_token"].as_str().context("operator")?,
        creds["api_key"].as_str().context("api_key")?.to_owned(),
    );
    let http = client::https_client(Some(&ca), a.concurrency.max(a.login_concurrency))?;
    println!(
        "custos bench-auth: {} s per phase, {} cores",
        a.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    // One user per login connection, so no account is ever locked by the load.
    let users = a.login_concurrency * 2;
    for i in 0..users {
        let r = http
            .post(format!("{url}/v1/tenants/demo/users"))
            .bearer_auth(op)
            .json(&json!({"username": format!("bench.user.{i}"), "password": PASSWORD, "roles": ["grader"]}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("creating bench users: {}", r.text().await?);
        }
    }
    let login_url = format!("{url}/v1/auth/login");
    let make_login: MakeRequest = Arc::new(move |c: &reqwest::Client, n| {
        c.post(&login_url)
            .json(&json!({"tenant": "demo", "username": format!("bench.user.{}", n % users), "password": PASSWORD}))
    });
    let logins = load::run(http.clone(), a.login_concurrency, Duration::from_secs(a.seconds), make_login, None).await;
    let v: Value = http
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"tenant": "demo", "username": "bench.user.0", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let session = v["token"].as_str().context("session token")?.to_owned();
    let who = format!("{url}/v1/auth/session");
    let health = format!("{url}/v1/sys/health");
    let phase = |make: MakeRequest| load::run(http.clone(), a.concurrency, Duration::from_secs(a.seconds), make, None);
    // Warm-up.
    let _ =
        load::run(http.clone(), a.concurrency, Duration::from_secs(1), get(who.clone(), Some(session.clone())), None)
            .await;
    let by_session = phase(get(who.clone(), Some(session))).await;
    let by_key = phase(get(who, Some(key))).await;
    let unauthenticated = phase(get(health, None)).await;
    drop(child);
    line("login (argon2id)", &logins);
    line("session check (/auth/session)", &by_session);
    line("api key, cached (/auth/session)", &by_key);
    line("no credential (/sys/health)", &unauthenticated);
    let per_request_us = (by_session.p50_ms - by_key.p50_ms) * 1000.0;
    println!("session check over a cached api key: {per_request_us:+.0} µs at p50");
    if a.json {
        let out = json!({"logins": logins, "session": by_session, "api_key": by_key, "health": unauthenticated,
            "session_minus_key_p50_us": per_request_us});
        println!("{out}");
    }
    Ok(())
}
