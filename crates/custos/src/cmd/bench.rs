//! `custos bench`: start a demo server and the plaintext floor as child processes on
//! loopback, drive each over HTTPS at a fixed concurrency, and print throughput and
//! p50/p99 for record create (pii fields, linked subject) and record read, with the
//! cost of the security layers as the drop against the floor.

use super::load::{self, MakeRequest, OnBody, Stats};
use crate::client;
use anyhow::{Context, Result, bail};
use custos_store::{SqlStore, SqliteOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Options of `custos bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Subjects to spread records over.
    #[arg(long, default_value_t = 1000)]
    subjects: usize,
    /// Skip the plaintext floor.
    #[arg(long)]
    no_floor: bool,
    /// Print the results as one JSON object too.
    #[arg(long)]
    json: bool,
    /// Run the demo without the JSON Lines audit exporter (to separate its cost).
    #[arg(long)]
    no_export: bool,
}

pub(super) fn schema() -> Value {
    json!({
        "fields": {
            "email": {"type": "email", "pii": true, "searchable": true, "required": true},
            "name": {"type": "string", "pii": true},
            "score": {"type": "integer"}
        },
        "purposes": ["grading"]
    })
}

pub(super) fn record_body(subjects: &[String], n: usize) -> Value {
    json!({
        "subject": subjects[n % subjects.len()],
        "fields": {"email": format!("bench.person{n}@example.org"), "name": format!("Bench Person {n}"), "score": n % 100}
    })
}

/// A child server process, killed when dropped.
pub(super) struct Child {
    _proc: tokio::process::Child,
    pub(super) first_line: String,
}

pub(super) async fn spawn(args: &[&str]) -> Result<Child> {
    let exe = std::env::current_exe().context("locating the custos binary")?;
    let mut proc = tokio::process::Command::new(exe)
        .args(args)
        .env("CUSTOS_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting a server process")?;
    let stdout = proc.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first_line = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await? {
            if l.starts_with("custos: listening on ") || l.starts_with("{") {
                return Ok::<_, std::io::Error>(l);
            }
        }
        Err(std::io::Error::other("server exited before listening"))
    })
    .await
    .context("server did not start within 60 s")??;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Child { _proc: proc, first_line })
}

/// What the load runs against: the records URL of each node (requests go round robin).
pub(super) struct Target {
    pub(super) client: reqwest::Client,
    pub(super) urls: Vec<String>,
    pub(super) key: Option<String>,
    pub(super) subjects: Vec<String>,
}

/// One second of warm-up, then `seconds` of creates, then `seconds` of reads of them.
pub(super) async fn phases(t: Target, concurrency: usize, seconds: u64) -> Result<(Stats, Stats)> {
    let subjects = Arc::new(t.subjects);
    let key = t.key.clone();
    let urls = Arc::new(t.urls);
    if urls.is_empty() {
        bail!("no server to load");
    }
    let make_create: MakeRequest = {
        let (urls, key, subjects) = (urls.clone(), key.clone(), subjects.clone());
        Arc::new(move |c: &reqwest::Client, n| {
            let r = c.post(&urls[n % urls.len()]).json(&record_body(&subjects, n));
            match &key {
                Some(k) => r.bearer_auth(k),
                None => r,
            }
        })
    };
    let ids: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
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
    // Warm-up: connections, caches.
    load::run(t.client.clone(), concurrency, Duration::from_secs(1), make_create.clone(), Some(collect.clone())).await;
    let create =
        load::run(t.client.clone(), concurrency, Duration::from_secs(seconds), make_create, Some(collect)).await;
    let ids = Arc::new(std::mem::take(&mut *ids.lock().unwrap_or_else(|p| p.into_inner())));
    if ids.is_empty() {
        bail!("no record was created; the server refused every request");
    }
    let make_read: MakeRequest = {
        let ids = ids.clone();
        Arc::new(move |c: &reqwest::Client, n| {
            let url = &urls[n % urls.len()];
            let r = c.get(format!("{url}/{}", ids[(n * 7919) % ids.len()])).header("custos-purpose", "grading");
            match &key {
                Some(k) => r.bearer_auth(k),
                None => r,
            }
        })
    };
    let read = load::run(t.client, concurrency, Duration::from_secs(seconds), make_read, None).await;
    Ok((create, read))
}

/// Create `n` subjects at `url` (a tenant's `/subjects`); their ids.
pub(super) async fn subjects(http: &reqwest::Client, url: &str, key: &str, n: usize) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v: Value = http.post(url).bearer_auth(key).json(&json!({})).send().await?.json().await?;
        out.push(v["id"].as_str().context("subject id")?.to_owned());
    }
    Ok(out)
}

async fn secure_target(dir: &Path, a: &BenchArgs) -> Result<(Child, Target)> {
    // First run creates the directory; then a JSON Lines audit exporter is added, as a
    // deployment would have one, and the demo is started again with it.
    let demo_args = ["demo", "--data-dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"];
    drop(spawn(&demo_args).await?);
    if !a.no_export {
        let cfg = std::fs::read_to_string(dir.join("custos.toml"))?;
        let exporter = "[[audit.exporters]]\nkind = \"jsonl\"\nname = \"bench\"\npath = \"audit-export/audit.jsonl\"\n";
        std::fs::write(dir.join("custos.toml"), format!("{cfg}\n{exporter}"))?;
    }
    let child = spawn(&demo_args).await?;
    let creds: Value = serde_json::from_slice(&std::fs::read(dir.join("demo-credentials.json"))?)?;
    let (url, ca, key) = (
        creds["url"].as_str().context("url")?.to_owned(),
        PathBuf::from(creds["ca_cert"].as_str().context("ca_cert")?),
        creds["api_key"].as_str().context("api_key")?.to_owned(),
    );
    let http = client::https_client(Some(&ca), a.concurrency)?;
    let base = format!("{url}/v1/tenants/demo/collections/bench");
    let r = http.put(&base).bearer_auth(&key).json(&schema()).send().await?;
    if !r.status().is_success() {
        bail!("creating the bench collection: {}", r.text().await?);
    }
    let subjects = subjects(&http, &format!("{url}/v1/tenants/demo/subjects"), &key, a.subjects).await?;
    let t = Target { client: http, urls: vec![format!("{base}/records")], key: Some(key), subjects };
    Ok((child, t))
}

async fn floor_target(dir: &Path, a: &BenchArgs) -> Result<(Child, Target)> {
    let child = spawn(&["bench-floor", "--data-dir", &dir.display().to_string()]).await?;
    let info: Value = serde_json::from_str(&child.first_line).context("floor start line")?;
    let url = info["url"].as_str().context("url")?.to_owned();
    let ca = PathBuf::from(info["ca_cert"].as_str().context("ca_cert")?);
    let subjects =
        info["subjects"].as_array().context("subjects")?.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect();
    let http = client::https_client(Some(&ca), a.concurrency)?;
    Ok((child, Target { client: http, urls: vec![format!("{url}/floor/records")], key: None, subjects }))
}

fn line(name: &str, s: &Stats) {
    println!(
        "{name:<24} {:>10.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} ok, {} errors)",
        s.throughput, s.p50_ms, s.p99_ms, s.ok, s.errors
    );
}

/// `custos bench`
pub async fn run(a: BenchArgs) -> Result<()> {
    if a.concurrency == 0 || a.concurrency > 1024 || a.seconds == 0 || a.seconds > 600 || a.subjects == 0 {
        bail!("--concurrency 1-1024, --seconds 1-600, --subjects at least 1");
    }
    let root = std::env::temp_dir().join(format!("custos-bench-{}", std::process::id()));
    let _cleanup = Cleanup(root.clone());
    println!(
        "custos bench: {} connections, {} s per phase, {} cores",
        a.concurrency,
        a.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let (child, t) = secure_target(&root.join("secure"), &a).await?;
    let (http, base) = (t.client.clone(), t.urls[0].split("/v1/").next().unwrap_or_default().to_owned());
    let (create, read) = phases(t, a.concurrency, a.seconds).await?;
    let export = exporter_catch_up(&http, &base).await?;
    drop(child);
    line("create (custos)", &create);
    line("read (custos)", &read);
    println!(
        "audit export (jsonl)     {} entries in the run; lag at end of load {}; caught up {:.0} entries/s",
        export.head, export.lag_at_end, export.catch_up_rate
    );
    let mut out = json!({"concurrency": a.concurrency, "seconds": a.seconds, "audit_no_audit_build": cfg!(feature = "bench-no-audit"),
        "custos": {"create": create, "read": read},
        "export": {"entries": export.head, "lag_at_end": export.lag_at_end, "catch_up_entries_per_s": export.catch_up_rate}});
    if !a.no_floor {
        let (child, t) = floor_target(&root.join("floor"), &a).await?;
        let (fc, fr) = phases(t, a.concurrency, a.seconds).await?;
        drop(child);
        line("create (plaintext floor)", &fc);
        line("read (plaintext floor)", &fr);
        let cost = |s: &Stats, f: &Stats| {
            if f.throughput > 0.0 { 100.0 * (1.0 - s.throughput / f.throughput) } else { 0.0 }
        };
        println!(
            "security cost: create {:.1}% , read {:.1}% of floor throughput",
            cost(&create, &fc),
            cost(&read, &fr)
        );
        out["floor"] = json!({"create": fc, "read": fr});
        out["cost_percent"] = json!({"create": cost(&create, &fc), "read": cost(&read, &fr)});
    }
    if a.json {
        println!("{out}");
    }
    Ok(())
}

struct Export {
    head: i64,
    lag_at_end: i64,
    catch_up_rate: f64,
}

/// Read the exporter's lag when the load stops, then time how fast it catches up.
async fn exporter_catch_up(http: &reqwest::Client, base: &str) -> Result<Export> {
    let health = || async {
        let h: Value = http.get(format!("{base}/v1/sys/health")).send().await?.json().await?;
        let e = &h["audit"]["exporters"][0];
        Ok::<_, anyhow::Error>((
            h["audit"]["head"].as_i64().unwrap_or(0),
            e["lag"].as_i64().unwrap_or(0),
            e["delivered"].as_u64().unwrap_or(0),
        ))
    };
    let (head, lag_at_end, delivered0) = health().await?;
    let start = std::time::Instant::now();
    let mut last = (head, lag_at_end, delivered0);
    while last.1 > 0 && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = health().await?;
    }
    let secs = start.elapsed().as_secs_f64().max(0.001);
    let rate = if lag_at_end > 0 { (last.2.saturating_sub(delivered0)) as f64 / secs } else { 0.0 };
    Ok(Export { head: last.0, lag_at_end, catch_up_rate: rate })
}

pub(super) struct Cleanup(pub(super) PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `custos bench-floor`: serve the plaintext floor; print one JSON line with its URL.
pub async fn serve_floor(dir: &Path) -> Result<()> {
    crate::datadir::create_private_dir(dir)?;
    let tls = custos_server::tls::generate_local(&dir.join("tls"))?;
    let store = Arc::new(SqlStore::open_sqlite(&dir.join("floor.db"), SqliteOptions::default())?);
    let schema = serde_json::from_value(schema())?;
    let (app, subjects) =
        custos_server::floor::setup(store, schema, 1000).await.map_err(|p| anyhow::anyhow!(p.detail))?;
    let cfg = custos_server::tls::server_config(&tls.cert, &tls.key)?;
    let running =
        custos_server::start(app, custos_server::ListenOptions { addr: "127.0.0.1:0".parse()?, tls: Some(cfg) })?;
    let url = super::serve::url(running.addr, true);
    println!("{}", json!({"url": url, "ca_cert": tls.ca_cert, "subjects": subjects}));
    super::shutdown_signal().await;
    running.shutdown(Duration::from_secs(2)).await;
    Ok(())
}
