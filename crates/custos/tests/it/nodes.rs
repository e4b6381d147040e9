//! Several nodes on one PostgreSQL zone: two `custos serve` processes share a database.
//! Both take writes at once; every acknowledged write is there exactly once, the trail
//! is one chain `custos audit verify` accepts, the retention purge runs once (not once
//! per node), and when one node is killed with SIGKILL the other carries on and no
//! acknowledged write is lost.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A production data directory for zone `eu-north` on PostgreSQL at `url`, and a second
/// node's directory sharing its configuration, TLS material and erasure ledger.
pub(crate) fn two_node_dirs(root: &Path, url: &str) -> (PathBuf, PathBuf, Value) {
    let (a, b) = (root.join("node-a"), root.join("node-b"));
    let out = std::process::Command::new(BIN)
        .args(["init", "--data-dir", a.to_str().unwrap(), "--shares", "1", "--threshold", "1", "--json"])
        .args(["--zone", "eu-north", "--region", "EU (Stockholm)", "--store", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ledger = root.join("erasure-ledger.db");
    let mut cfg = std::fs::read_to_string(a.join("custos.toml")).unwrap();
    cfg.push_str(&format!(
        "\n[privacy]\ndelete_delay = \"1s\"\nretention_check = \"1s\"\nledger = \"{}\"\n",
        ledger.display()
    ));
    std::fs::write(a.join("custos.toml"), &cfg).unwrap();
    std::fs::create_dir_all(b.join("tls")).unwrap();
    std::fs::write(b.join("custos.toml"), &cfg).unwrap();
    for f in std::fs::read_dir(a.join("tls")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), b.join("tls").join(f.file_name())).unwrap();
    }
    assert!(!a.join("zone.db").exists(), "a PostgreSQL zone keeps no SQLite file");
    (a, b, init)
}

/// Serve `dir` and unseal it with `share`.
pub(crate) async fn serve_unsealed(dir: &Path, share: &str) -> Server {
    let s = spawn(&["serve", "--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"], dir);
    let r = s.call(Method::POST, "/v1/sys/unseal", None, None, Some(json!({ "share": share }))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["sealed"], json!(false));
    s
}

fn sigkill(pid: u32) {
    let st = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(st.success());
}

async fn all_records(s: &Server, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let path = format!("/v1/tenants/nodes/collections/people/records?limit=500{q}");
        let r = s.call(Method::GET, &path, Some(key), Some("grading"), None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        out.extend(r.body["records"].as_array().unwrap().iter().cloned());
        match r.body["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

async fn purge_count(s: &Server, key: &str) -> u64 {
    let r = s.call(Method::GET, "/v1/tenants/nodes/audit?action=record.purge&limit=1000", Some(key), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["entries"].as_array().unwrap().iter().map(|e| e["count"].as_u64().unwrap()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_zone_write_once_purge_once_and_survive_a_sigkill() {
    let Some(url) = custos_store::scratch_postgres().await.unwrap() else {
        return eprintln!("no PostgreSQL server configured; skipped");
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, init) = two_node_dirs(tmp.path(), &url);
    let share = init["shares"][0].as_str().unwrap();
    let op = init["operator_token"].as_str().unwrap();
    let a = Arc::new(serve_unsealed(&a_dir, share).await);
    let b = Arc::new(serve_unsealed(&b_dir, share).await);
    let ha = a.call(Method::GET, "/v1/sys/health", None, None, None).await.body;
    let hb = b.call(Method::GET, "/v1/sys/health", None, None, None).await.body;
    assert_eq!(ha["zone"]["name"], "eu-north");
    assert_eq!(hb["zone"]["region"], "EU (Stockholm)");
    assert_ne!(ha["zone"]["node"], hb["zone"]["node"], "two nodes, two node ids");

    // Set up through one node, use through the other: one zone, one state.
    let admin = tenant_with_admin(&a, op, "nodes").await;
    put_people(&b, &admin, "nodes").await;
    let id = record(&a, &admin, "nodes", None, json!({"email": "first@example.no", "name": "First"})).await;
    let r = b
        .call(
            Method::GET,
            &format!("/v1/tenants/nodes/collections/people/records/{id}"),
            Some(&admin),
            Some("grading"),
            None,
        )
        .await;
    assert_eq!(r.body["fields"]["email"], "first@example.no", "{}", r.text);

    // The retention purge runs once for the zone, not once per node: five deleted
    // records, five purged, one count of five in the trail (however many nodes ran).
    let mut doomed = Vec::new();
    for i in 0..5 {
        let id =
            record(&a, &admin, "nodes", None, json!({"email": format!("gone{i}@example.no"), "name": "Gone"})).await;
        let path = format!("/v1/tenants/nodes/collections/people/records/{id}");
        let r = if i % 2 == 0 { &a } else { &b }.call(Method::DELETE, &path, Some(&admin), None, None).await;
        assert_eq!(r.status, 204, "{}", r.text);
        doomed.push(id);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while purge_count(&b, &admin).await < 5 {
        assert!(Instant::now() < until, "the purge did not run");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // both nodes' jobs have had turns since
    assert_eq!(purge_count(&a, &admin).await, 5, "each deleted record purged exactly once");

    // Concurrent writes through both nodes; node A is killed in the middle.
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let killed_at = Instant::now() + Duration::from_millis(2500);
    let stop_at = killed_at + Duration::from_millis(2500);
    let mut tasks = Vec::new();
    for w in 0..16usize {
        let s = if w % 2 == 0 { a.clone() } else { b.clone() };
        let (admin, acked) = (admin.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                let email = format!("w{w}.n{n}@example.no");
                let body = json!({"fields": {"email": email, "name": format!("Writer {w}"), "score": n}});
                let res = s
                    .http
                    .post(format!("{}/v1/tenants/nodes/collections/people/records", s.url))
                    .bearer_auth(&admin)
                    .json(&body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 201 => {
                        if let Ok(v) = r.json::<Value>().await {
                            acked.lock().unwrap().insert(v["id"].as_str().unwrap().to_owned(), email);
                        }
                    }
                    Ok(r) => assert!(r.status().is_server_error() || r.status() == 503, "unexpected {}", r.status()),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await, // node A is gone
                }
                n += 1;
            }
        }));
    }
    tokio::time::sleep_until(killed_at.into()).await;
    let acked_before_kill = acked.lock().unwrap().len();
    sigkill(a.child.id());
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked_before_kill > 50, "both nodes took writes before the kill: {acked_before_kill}");
    assert!(acked.len() > acked_before_kill + 20, "node B carried on after the kill: {}", acked.len());
    eprintln!("acknowledged: {acked_before_kill} before the kill, {} in all", acked.len());

    // Every acknowledged write is there, once, with its content.
    let rows = all_records(&b, &admin).await;
    let mut ids = HashSet::new();
    let mut emails: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        assert!(ids.insert(r["id"].as_str().unwrap().to_owned()), "record listed twice");
        *emails.entry(r["fields"]["email"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    for (id, email) in &acked {
        assert!(ids.contains(id), "acknowledged write {id} lost");
        assert_eq!(emails.get(email), Some(&1), "{email} stored exactly once");
    }
    for id in &doomed {
        assert!(!ids.contains(id), "a purged record came back");
    }

    // One chain for the zone, verified offline and by the surviving node.
    let out = std::process::Command::new(BIN)
        .args(["audit", "verify", "--data-dir", b_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = b.call(Method::GET, "/v1/sys/audit/verify", Some(op), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
