//! The backup commands end to end with the real binary, the real `age-keygen` and a
//! production data directory: `custos backup` asks the serving process, `custos restore`
//! refuses a damaged copy and writes nothing, restores a good one that `custos audit
//! verify` accepts and that serves the same records after unsealing with the zone's own
//! share, and `custos restore-drill` records its result where health shows it.

use crate::support::*;
use reqwest::Method;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn custos(args: &[&str], token: Option<&str>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("CUSTOS_TOKEN");
    if let Some(t) = token {
        c.env("CUSTOS_TOKEN", t);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A production data directory listening on `port`, with one share.
fn init_on(dir: &Path, port: u16) -> serde_json::Value {
    let listen = format!("127.0.0.1:{port}");
    let out = Command::new(BIN)
        .args(["init", "--data-dir", dir.to_str().unwrap(), "--shares", "1", "--threshold", "1", "--json"])
        .args(["--listen", &listen])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn unseal(s: &Server, share: &str) {
    let r = s.call(Method::POST, "/v1/sys/unseal", None, None, Some(json!({ "share": share }))).await;
    assert_eq!(r.body["sealed"], json!(false), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_and_drill_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("zone");
    let port = free_port();
    let creds = init_on(&dir, port);
    let share = creds["shares"][0].as_str().unwrap().to_owned();
    let op = creds["operator_token"].as_str().unwrap().to_owned();

    // The operator's age key pair, from the standard tool.
    let key = tmp.path().join("operator.key");
    let out = Command::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen is installed");
    assert!(out.status.success());
    let recipient = String::from_utf8(Command::new("age-keygen").arg("-y").arg(&key).output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    let mut cfg = std::fs::read_to_string(dir.join("custos.toml")).unwrap();
    cfg.push_str(&format!("\n[backup]\nrecipients = [\"{recipient}\"]\nschedule = false\n"));
    std::fs::write(dir.join("custos.toml"), cfg).unwrap();

    let s = spawn(&["serve", "--data-dir", dir.to_str().unwrap()], &dir);
    unseal(&s, &share).await;
    let h = s.call(Method::GET, "/v1/sys/health", None, None, None).await;
    assert_eq!(h.body["backups"]["last_backup"], json!(null));
    let admin = tenant_with_admin(&s, &op, "uio").await;
    put_people(&s, &admin, "uio").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let sub = subject(&s, &admin, "uio").await;
        let fields = json!({"email": format!("p{i}@uio.example"), "name": format!("Person {i}"), "score": i});
        ids.push((record(&s, &admin, "uio", Some(&sub), fields.clone()).await, fields));
    }

    // Backups need an operator token: none, or a tenant key, is refused.
    let d = dir.to_str().unwrap();
    let none = custos(&["backup", "--data-dir", d], None);
    assert!(!none.status.success() && text(&none).contains("CUSTOS_TOKEN"), "{}", text(&none));
    let tenant = custos(&["backup", "--data-dir", d], Some(&admin));
    assert!(!tenant.status.success() && text(&tenant).contains("forbidden"), "{}", text(&tenant));
    let bad = custos(&["backup", "--data-dir", d, "--recipient", "age1notakey"], Some(&op));
    assert!(!bad.status.success() && text(&bad).contains("recipient"), "{}", text(&bad));

    let out = custos(&["backup", "--data-dir", d], Some(&op));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let id = lines.next().unwrap().to_owned();
    let manifest = lines.next().unwrap().to_owned();
    assert!(id.starts_with("bkp_") && manifest.ends_with(&format!("{id}.manifest.json")), "{stdout}");
    assert!(Path::new(&manifest).is_file());
    let h = s.call(Method::GET, "/v1/sys/health", None, None, None).await;
    assert_eq!(h.body["backups"]["last_backup"], json!(id));
    let listed = s.call(Method::GET, "/v1/sys/backups", Some(&op), None, None).await;
    assert_eq!(listed.body["backups"][0]["id"], json!(id), "{}", listed.text);
    assert_eq!(s.call(Method::GET, "/v1/sys/backups", Some(&admin), None, None).await.status, 403);

    // A damaged copy is refused and nothing is created.
    let bad_dir = tmp.path().join("damaged");
    std::fs::create_dir(&bad_dir).unwrap();
    let src = Path::new(&manifest).parent().unwrap();
    for name in [format!("{id}.age"), format!("{id}.manifest.json")] {
        std::fs::copy(src.join(&name), bad_dir.join(&name)).unwrap();
    }
    let payload = bad_dir.join(format!("{id}.age"));
    let mut bytes = std::fs::read(&payload).unwrap();
    let n = bytes.len() - 20;
    bytes[n] ^= 0x80;
    std::fs::write(&payload, bytes).unwrap();
    let ledger = dir.join("erasure-ledger.db");
    let (k, l) = (key.to_str().unwrap(), ledger.to_str().unwrap());
    let new_bad = tmp.path().join("restored-bad");
    let m = bad_dir.join(format!("{id}.manifest.json"));
    let out = custos(
        &[
            "restore",
            "--from",
            m.to_str().unwrap(),
            "--identity",
            k,
            "--data-dir",
            new_bad.to_str().unwrap(),
            "--ledger",
            l,
        ],
        None,
    );
    assert!(!out.status.success() && text(&out).contains("SHA-256"), "{}", text(&out));
    assert!(!new_bad.exists(), "a refused restore creates nothing");

    // The good one restores, and its trail verifies.
    let new = tmp.path().join("restored");
    let nd = new.to_str().unwrap();
    let new_port = free_port();
    let listen = format!("127.0.0.1:{new_port}");
    let out = custos(
        &["restore", "--from", &manifest, "--identity", k, "--data-dir", nd, "--ledger", l, "--listen", &listen],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("restored {id}")));
    let verify = custos(&["audit", "verify", "--data-dir", nd], None);
    assert!(verify.status.success(), "{}", text(&verify));
    let again = custos(&["restore", "--from", &manifest, "--identity", k, "--data-dir", nd, "--ledger", l], None);
    assert!(!again.status.success() && text(&again).contains("new data directory"), "{}", text(&again));

    // The drill, recorded where health shows it.
    let out = custos(&["restore-drill", "--data-dir", d, "--identity", k], Some(&op));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("backup {id}")) && text(&out).contains("records decrypted"));
    let h = s.call(Method::GET, "/v1/sys/health", None, None, None).await;
    assert_eq!(h.body["backups"]["last_drill_ok"], json!(true), "{}", h.text);
    assert!(h.body["backups"]["last_good_drill_at"].is_string());
    drop(s);

    // The restored directory serves the same records once unsealed with the zone's share.
    let r = spawn(&["serve", "--data-dir", nd], &new);
    unseal(&r, &share).await;
    for (rid, fields) in &ids {
        let got = r
            .call(
                Method::GET,
                &format!("/v1/tenants/uio/collections/people/records/{rid}"),
                Some(&admin),
                Some("grading"),
                None,
            )
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(&got.body["fields"], fields);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_takes_backups_and_drills_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("zone");
    let creds = init_on(&dir, free_port());
    let share = creds["shares"][0].as_str().unwrap().to_owned();
    let op = creds["operator_token"].as_str().unwrap().to_owned();
    let key = dir.join("drill.key");
    assert!(Command::new("age-keygen").arg("-o").arg(&key).output().unwrap().status.success());
    let recipient = String::from_utf8(Command::new("age-keygen").arg("-y").arg(&key).output().unwrap().stdout).unwrap();
    let mut cfg = std::fs::read_to_string(dir.join("custos.toml")).unwrap();
    cfg.push_str(&format!(
        "\n[backup]\nrecipients = [\"{}\"]\nfull_every = \"1s\"\nsnapshot_every = \"off\"\nretention = \"1h\"\n\
         drill_every = \"2s\"\ndrill_identity = \"drill.key\"\n",
        recipient.trim()
    ));
    std::fs::write(dir.join("custos.toml"), cfg).unwrap();
    let s = spawn(&["serve", "--data-dir", dir.to_str().unwrap()], &dir);
    unseal(&s, &share).await;
    let admin = tenant_with_admin(&s, &op, "uio").await;
    put_people(&s, &admin, "uio").await;
    record(&s, &admin, "uio", None, json!({"email": "a@uio.example", "score": 1})).await;

    let mut listed = serde_json::Value::Null;
    for _ in 0..120 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        listed = s.call(Method::GET, "/v1/sys/backups", Some(&op), None, None).await.body;
        let backups = listed["backups"].as_array().map_or(0, Vec::len);
        if backups >= 2 && listed["status"]["last_good_drill"].is_object() {
            break;
        }
    }
    let backups = listed["backups"].as_array().unwrap();
    assert!(backups.len() >= 2, "full backups every second: {listed}");
    assert!(backups.iter().all(|b| b["kind"] == "full" && b["signature"].is_string()));
    let drill = &listed["status"]["last_good_drill"];
    assert_eq!(drill["ok"], json!(true), "{listed}");
    assert!(drill["detail"].as_str().unwrap().contains("records decrypted"), "{listed}");
    let h = s.call(Method::GET, "/v1/sys/health", None, None, None).await;
    assert!(h.body["backups"]["last_backup_at"].is_string() && h.body["backups"]["last_drill_ok"] == json!(true));
    assert_eq!(h.body["backups"]["failing"], json!(false));
}
