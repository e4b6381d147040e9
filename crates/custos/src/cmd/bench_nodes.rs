//! `custos bench-nodes`: the same create/read load against one zone served by one
//! SQLite node, one PostgreSQL node, and two PostgreSQL nodes on one database (the load
//! spread over both), each on a fresh zone; throughput and p50/p99 for each.

use super::bench::{Child, Cleanup, Target, phases, spawn};
use super::load::Stats;
use crate::client;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;

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
    nodes: Vec<Child>,
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
    let subjects = super::bench::subjects(&http, &format!("{u}/v1/tenants/bench/subjects"), &key, 200).await?;
    Ok(Zone { nodes: children, urls, http, key, subjects })
}

async fn measure(z: Zone, a: &BenchNodesArgs) -> Result<(Stats, Stats)> {
    let urls = z.urls.iter().map(|u| format!("{u}/v1/tenants/bench/collections/bench/records")).collect();
    let t = Target { client: z.http, urls, key: Some(z.key), subjects: z.subjects };
    let out = phases(t, a.concurrency, a.seconds).await;
    drop(z.nodes);
    out
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
