//! Crash safety: SIGKILL during a burst of concurrent writes. After restart every
//! acknowledged write reads back intact, and every record present opens completely
//! (nothing half-written).

use crate::support::*;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap().to_owned();
    let admin = tenant_with_admin(&s, &op, "crash").await;
    put_people(&s, &admin, "crash").await;
    let subjects: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(subject(&s, &admin, "crash").await);
        }
        v
    };
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let s = Arc::new(s);
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (s, admin, acked, subjects) = (s.clone(), admin.clone(), acked.clone(), subjects.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            loop {
                let email = format!("w{w}.n{n}@example.no");
                let body = json!({"subject": subjects[(w + n) % subjects.len()], "fields": {"email": email, "name": format!("Writer {w} {n}"), "score": n}});
                let res = s.http.post(format!("{}/v1/tenants/crash/collections/people/records", s.url)).bearer_auth(&admin).json(&body).send().await;
                match res {
                    Ok(r) if r.status() == 201 => {
                        if let Ok(v) = r.json::<serde_json::Value>().await {
                            acked.lock().unwrap().insert(v["id"].as_str().unwrap().to_owned(), email);
                        }
                    }
                    _ => {
                        if Instant::now() > stop_at {
                            break;
                        }
                    }
                }
                n += 1;
                if Instant::now() > stop_at + Duration::from_secs(5) {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL while the writers are still sending
    let pid = s.child.id() as i32;
    assert_eq!(sigkill(pid), 0);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the burst wrote something before the kill: {}", acked.len());
    drop(s);

    let (s, _) = demo(dir.path());
    for (id, email) in &acked {
        let r = s
            .call(
                Method::GET,
                &format!("/v1/tenants/crash/collections/people/records/{id}"),
                Some(&admin),
                Some("grading"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "acknowledged {id} lost: {}", r.text);
        assert_eq!(r.body["fields"]["email"], json!(email));
    }
    // every present record opens completely and has all its fields
    let mut cursor: Option<String> = None;
    let mut present = 0;
    loop {
        let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let r = s
            .call(
                Method::GET,
                &format!("/v1/tenants/crash/collections/people/records?limit=500{q}"),
                Some(&admin),
                Some("grading"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        for rec in r.body["records"].as_array().unwrap() {
            let f = &rec["fields"];
            assert!(
                f["email"].is_string() && f["name"].is_string() && f["score"].is_number(),
                "half-present record: {rec}"
            );
            present += 1;
        }
        match r.body["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    assert!(present >= acked.len(), "{present} present, {} acknowledged", acked.len());
}

/// SIGKILL through the `kill` command (unsafe code is forbidden, so no direct libc call).
fn sigkill(pid: i32) -> i32 {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .map(|s| s.code().unwrap_or(1))
        .unwrap_or(1)
}
