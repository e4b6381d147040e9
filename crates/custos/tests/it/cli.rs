//! The command line: init refuses to overwrite, the demo reuses its directory and refuses
//! a production one, plain HTTP only on loopback, config check, TLS 1.2+ only.

use crate::support::*;
use reqwest::Method;
use serde_json::json;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env("CUSTOS_LOG", "error").output().unwrap()
}

#[test]
fn init_refuses_an_initialised_or_bad_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    init(&d, 3, 2);
    let out = run(&["init", "--data-dir", d.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already initialised"));
    let e = dir.path().join("e");
    let out = run(&["init", "--data-dir", e.to_str().unwrap(), "--shares", "2", "--threshold", "3"]);
    assert!(!out.status.success());
    assert!(!e.exists(), "nothing left behind");
    let out = run(&["init", "--data-dir", e.to_str().unwrap(), "--shares", "0"]);
    assert!(!out.status.success());
    // the root key is never written whole: the shares alone are not in any file
    let shares = init(&e, 2, 2);
    for entry in walk(&e) {
        let bytes = std::fs::read(&entry).unwrap();
        for s in shares["shares"].as_array().unwrap() {
            let text = s.as_str().unwrap();
            let body = text.rsplit('.').next().unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(body), "{} holds a share", entry.display());
        }
        assert!(
            !String::from_utf8_lossy(&bytes).contains(shares["operator_token"].as_str().unwrap()),
            "token stored in clear"
        );
    }
    assert!(!e.join("dev-unseal.share").exists());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn config_check_reports_and_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    init(&d, 1, 1);
    let out = run(&["config", "check", "--data-dir", d.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration ok"));
    let cfg = std::fs::read_to_string(d.join("custos.toml")).unwrap();
    std::fs::write(d.join("custos.toml"), format!("{cfg}\nsurprise = true\n")).unwrap();
    let out = run(&["config", "check", "--data-dir", d.to_str().unwrap()]);
    assert!(!out.status.success());
}

#[test]
fn plain_http_only_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    init(&d, 1, 1);
    let out = run(&["serve", "--data-dir", d.to_str().unwrap(), "--insecure-http", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[tokio::test]
async fn demo_reuses_its_directory_and_refuses_production() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    let (s, first) = demo(&d);
    let r = s
        .call(
            Method::GET,
            "/v1/tenants/demo/collections/candidates/records?limit=100",
            Some(first["api_key"].as_str().unwrap()),
            Some("grading"),
            None,
        )
        .await;
    let people = r.body["records"].as_array().unwrap().len();
    assert!(people >= 10, "synthetic people seeded: {people}");
    drop(s);
    let (s, second) = demo(&d);
    assert_eq!(first["api_key"], second["api_key"]);
    assert_eq!(first["operator_token"], second["operator_token"]);
    let r = s
        .call(
            Method::GET,
            "/v1/tenants/demo/collections/candidates/records?limit=100",
            Some(second["api_key"].as_str().unwrap()),
            Some("grading"),
            None,
        )
        .await;
    assert_eq!(r.body["records"].as_array().unwrap().len(), people, "not seeded twice");
    for k in ["url", "ca_cert", "operator_token", "tenant", "api_key"] {
        assert!(second[k].is_string(), "{k}");
    }
    assert_eq!(second["tenant"], json!("demo"));
    drop(s);

    let p = dir.path().join("prod");
    init(&p, 3, 2);
    let out = run(&["demo", "--data-dir", p.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("production"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn tls_below_1_2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = demo(dir.path());
    let hostport = s.url.trim_start_matches("https://").replace("localhost", "127.0.0.1");
    let probe = |flag: &str| {
        Command::new("openssl")
            .args(["s_client", "-connect", &hostport, flag, "-CAfile", dir.path().join("tls/ca.pem").to_str().unwrap()])
            .stdin(std::process::Stdio::null())
            .output()
    };
    let Ok(ok) = probe("-tls1_2") else {
        eprintln!("openssl not installed; TLS version probe skipped");
        return;
    };
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("Protocol  : TLSv1.2")
            || String::from_utf8_lossy(&ok.stdout).contains("TLSv1.2")
    );
    let old = probe("-tls1_1").unwrap();
    assert!(!String::from_utf8_lossy(&old.stdout).contains("Cipher is ECDHE"), "TLS 1.1 negotiated");
    assert!(!old.status.success() || String::from_utf8_lossy(&old.stdout).contains("Cipher is (NONE)"));
}

/// The README's quick start, run verbatim against a fresh demo.
#[tokio::test]
async fn readme_quick_start_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block =
        readme.split("<!-- quickstart:begin -->").nth(1).unwrap().split("<!-- quickstart:end -->").next().unwrap();
    let script = block.trim().trim_start_matches("```sh").trim_end_matches("```");
    let dir = tempfile::tempdir().unwrap();
    let (_s, _) = demo(&dir.path().join("demo-data"));
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", script]).current_dir(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let reads: Vec<&str> = stdout.lines().filter(|l| l.contains("\"Kari Nordmann\"")).collect();
    assert_eq!(reads.len(), 2, "read and search both return the record:\n{stdout}");
    assert!(reads[0].contains("\"key_version\":1") && reads[1].starts_with("{\"records\":[{"), "{stdout}");
    assert!(stdout.contains("\"purposes\":[\"grading\",\"support\"]"), "{stdout}");
}
