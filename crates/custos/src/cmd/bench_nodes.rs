//! `custos bench-nodes`: the same create/read load against one zone served by one
//! SQLite node, one PostgreSQL node, and two PostgreSQL nodes on one database (the load
//! spread over both), each on a fresh zone; throughput and p50/p99 for each.

use super::bench::{Child, Cleanup, spawn};
use super::load::{self, MakeRequest, OnBody, Stats};
use crate::client;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Options of `custos bench-nodes`.
#[derive(Debug, clap::Args)]
pub struct BenchNodesArgs {
    /// PostgreSQL server to create the bench databases on (an administrator's
    /// `postgres://` URL; loopback only).
    #[arg(long, env = "CUSTOS_BENCH_POSTGRES")]
    postgres: String,
    /// Concurrent connections (spread over the nodes).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

struct Zone {
    _nodes: Vec<Child>,
    urls: Vec<String>,
    http: reqwest::Client,
    key: String,
    subjects: Vec<String>,
}

async fn zone(dir: &Path, store: Option<&str>, nodes: usize, a: &BenchNodesArgs) -> Result<Zone> {
    let exe = std::env::current_exe()?;
    let first = dir.join("node-0");
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args(["init", "--data-dir", &first.display().to_string(), "--shares", "1", "--threshold", "1", "--json"]);
    if let Some(s) = store {
        cmd.args(["--store", s]);
    }
    let out = cmd.output().await?;
    if !out.status.success() {
        bail!("init: {}", String::from_utf8_lossy(&out.stderr));
    }
    let init: Value = serde_json::from_slice(&out.stdout)?;
    let share = init["shares"][0].as_str().context("share")?.to_owned();
    let op = init["operator_token"].as_str().context("token")?.to_owned();
    let http = client::https_client(Some(&first.join("tls/ca.pem")), a.concurrency)?;
    let mut children = Vec::new();
    let mut urls = Vec::new();
    for i in 0..nodes {
        let d = dir.join(format!("node-{i}"));
        if i > 0 {
            std::fs::create_dir_all(d.join("tls"))?;
            std::fs::copy(first.join("custos.toml"), d.join("custos.toml"))?;
            for f in std::fs::read_dir(first.join("tls"))? {
                let f = f?;
                std::fs::copy(f.path(), d.join("tls").join(f.file_name()))?;
            }
        }
        let child = spawn(&["serve", "--data-dir", &d.display().to_string(), "--listen", "127.0.0.1:0"]).await?;
        let url = child.first_line.trim_start_matches("custos: listening on ").to_owned();
        let r = http.post(format!("{url}/v1/sys/unseal")).json(&json!({ "share": share })).send().await?;
        if !r.status().is_success() {
            bail!("unseal: {}", r.text().await?);
        }
        children.push(child);
        urls.push(url);
    }
    let u = &urls[0];
    let r = http
        .post(format!("{u}/v1/tenants"))
        .bearer_auth(&op)
        .json(&json!({"code": "bench", "name": "Bench"}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("tenant: {}", r.text().await?);
    }
    let v: Value = http
        .post(format!("{u}/v1/tenants/bench/api-keys"))
        .bearer_auth(&op)
        .json(&json!({"name": "bench", "role": "admin"}))
        .send()
        .await?
        .json()
        .await?;
    let key = v["key"].as_str().context("api key")?.to_owned();
    let r = http
        .put(format!("{u}/v1/tenants/bench/collections/bench"))
        .bearer_auth(&key)
        .json(&super::bench::schema())
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("collection: {}", r.text().await?);
    }
    let mut subjects = Vec::new();
    for _ in 0..200 {
        let v: Value = http
            .post(format!("{u}/v1/tenants/bench/subjects"))
            .bearer_auth(&key)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        subjects.push(v["id"].as_str().context("subject id")?.to_owned());
    }
    Ok(Zone { _nodes: children, urls, http, key, subjects })
}

async fn measure(z: Zone, a: &BenchNodesArgs) -> Result<(Stats, Stats)> {
    let urls =
        Arc::new(z.urls.iter().map(|u| format!("{u}/v1/tenants/bench/collections/bench/records")).collect::<Vec<_>>());
    let (key, subjects) = (Arc::new(z.key), Arc::new(z.subjects));
    let make_create: MakeRequest = {
        let (urls, key, subjects) = (urls.clone(), key.clone(), subjects.clone());
        Arc::new(move |c: &reqwest::Client, n| {
            c.post(&urls[n % urls.len()]).bearer_auth(key.as_str()).json(&super::bench::record_body(&subjects, n))
        })
    };
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let collect: OnBody = {
        let ids = ids.clone();
        Arc::new(move |b: &[u8]| {
            if let Ok(v) = serde_json::from_slice::<Value>(b)
                && let Some(id) = v["id"].as_str()
            {
                ids.lock().unwrap_or_else(|p| p.into_inner()).push(id.to_owned());
            }
        })
    };
    load::run(z.http.clone(), a.concurrency, Duration::from_secs(1), make_create.clone(), Some(collect.clone())).await;
    let create =
        load::run(z.http.clone(), a.concurrency, Duration::from_secs(a.seconds), make_create, Some(collect)).await;
    let ids = Arc::new(std::mem::take(&mut *ids.lock().unwrap_or_else(|p| p.into_inner())));
    if ids.is_empty() {
        bail!("no record was created");
    }
    let make_read: MakeRequest = Arc::new(move |c: &reqwest::Client, n| {
        c.get(format!("{}/{}", urls[n % urls.len()], ids[(n * 7919) % ids.len()]))
            .bearer_auth(key.as_str())
            .header("custos-purpose", "grading")
    });
    let read = load::run(z.http, a.concurrency, Duration::from_secs(a.seconds), make_read, None).await;
    Ok((create, read))
}

fn line(name: &str, s: &Stats) {
    println!(
        "{name:<28} {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} ok, {} errors)",
        s.throughput, s.p50_ms, s.p99_ms, s.ok, s.errors
    );
}

/// `custos bench-nodes`
pub async fn run(a: BenchNodesArgs) -> Result<()> {
    if a.concurrency == 0 || a.concurrency > 1024 || a.seconds == 0 || a.seconds > 600 {
        bail!("--concurrency 1-1024, --seconds 1-600");
    }
    let host_ok = ["@127.0.0.1", "@localhost", "@[::1]"].iter().any(|h| a.postgres.contains(h));
    if !host_ok {
        bail!("--postgres must name a server on loopback (postgres://user@127.0.0.1:PORT/db)");
    }
    let root = std::env::temp_dir().join(format!("custos-bench-nodes-{}", std::process::id()));
    let _cleanup = Cleanup(root.clone());
    println!(
        "custos bench-nodes: {} connections, {} s per phase, {} cores",
        a.concurrency,
        a.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let mut results = Vec::new();
    for (label, pg, nodes) in
        [("sqlite, 1 node", false, 1), ("postgres, 1 node", true, 1), ("postgres, 2 nodes", true, 2)]
    {
        let store = if pg { Some(custos_store::create_database(&a.postgres).await?) } else { None };
        let z = zone(&root.join(label.replace([',', ' '], "")), store.as_deref(), nodes, &a).await?;
        let (create, read) = measure(z, &a).await?;
        line(&format!("create ({label})"), &create);
        line(&format!("read ({label})"), &read);
        results.push(json!({"setup": label, "create": create, "read": read}));
    }
    println!("{}", json!({"concurrency": a.concurrency, "seconds": a.seconds, "results": results}));
    Ok(())
}
