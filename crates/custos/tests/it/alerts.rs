//! Alerts against a local webhook receiver: a burst of failed logins and an unseal each
//! fire exactly once, with a signature that verifies, and each alert is in the trail.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// A minimal HTTP/1.1 receiver: every POST's signature header and body go to the channel.
async fn receiver() -> (u16, mpsc::UnboundedReceiver<(String, String)>) {
    receiver_at(0).await
}

/// The receiver on a given loopback port (0: any).
pub(crate) async fn receiver_at(port: u16) -> (u16, mpsc::UnboundedReceiver<(String, String)>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(sock);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let (mut len, mut sig) = (0usize, String::new());
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).await.unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap(),
                            "custos-signature" => sig = v.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0u8; len];
                    r.read_exact(&mut body).await.unwrap();
                    tx.send((sig, String::from_utf8(body).unwrap())).unwrap();
                    r.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

pub(crate) fn verify_signature(secret: &str, header: &str, body: &str) -> bool {
    let (t, v1) = header.split_once(',').unwrap();
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    custos_server::alerts::signature(secret.as_bytes(), t, body) == format!("t={t},{v1}")
}

async fn drain(rx: &mut mpsc::UnboundedReceiver<(String, String)>, wait: Duration) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some((sig, body))) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.push((sig, serde_json::from_str(&body).unwrap()));
    }
    out
}

#[tokio::test]
async fn failed_login_burst_and_unseal_alert_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (port, mut rx) = receiver().await;
    let (s, creds) = demo(d);
    drop(s);
    let secret = "webhook-secret-for-the-alert-test";
    std::fs::write(d.join("alert.secret"), secret).unwrap();
    let cfg = std::fs::read_to_string(d.join("custos.toml")).unwrap();
    let alerts = format!(
        "[audit.alerts]\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\nwebhook_secret_file = \"alert.secret\"\nwindow_seconds = 60\nfailed_logins = 5\n"
    );
    std::fs::write(d.join("custos.toml"), format!("{cfg}\n{alerts}")).unwrap();
    let (s, _) = demo(d);
    let op = creds["operator_token"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    for _ in 0..8 {
        let r = s.call(Method::GET, "/v1/tenants/demo", Some("ck_guessing"), None, None).await;
        assert_eq!(r.status, 401);
    }
    let got = drain(&mut rx, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 1, "one alert for the burst: {got:?}");
    let (sig, body) = &got[0];
    assert_eq!(body["rule"], json!("failed-logins"));
    assert_eq!(body["key"], json!("127.0.0.1"));
    assert_eq!(body["count"], json!(5));
    assert!(verify_signature(secret, sig, &body.to_string()), "signature verifies");
    assert!(!verify_signature("another-secret-of-enough-length", sig, &body.to_string()));

    // seal, then unseal with the development share: one root-key-use alert
    assert_eq!(s.call(Method::POST, "/v1/sys/seal", Some(op), None, None).await.status, 204);
    let share = std::fs::read_to_string(d.join("dev-unseal.share")).unwrap();
    let r = s.call(Method::POST, "/v1/sys/unseal", None, None, Some(json!({"share": share}))).await;
    assert_eq!(r.body["sealed"], json!(false));
    let got = drain(&mut rx, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 1, "one alert for the unseal: {got:?}");
    assert_eq!(got[0].1["rule"], json!("root-key-use"));
    assert_eq!(got[0].1["key"], json!("sys.unseal"));
    assert!(verify_signature(secret, &got[0].0, &got[0].1.to_string()));

    // both alerts are audit entries too
    let r = s.call(Method::GET, "/v1/sys/audit?limit=1000", Some(op), None, None).await;
    let actions: Vec<&str> =
        r.body["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "alert.failed-logins").count(), 1, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "alert.root-key-use").count(), 1, "{actions:?}");
}

#[tokio::test]
async fn a_lagging_exporter_and_a_forged_entry_alert_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (port, mut rx) = receiver().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (s, creds) = demo(d);
    drop(s);
    let secret = "webhook-secret-for-the-alert-test";
    std::fs::write(d.join("alert.secret"), secret).unwrap();
    let cfg = std::fs::read_to_string(d.join("custos.toml")).unwrap();
    let extra = format!(
        "[[audit.exporters]]\nkind = \"syslog\"\nname = \"down\"\naddress = \"127.0.0.1:{dead}\"\n\n\
         [audit.alerts]\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\nwebhook_secret_file = \"alert.secret\"\nexporter_lag = 5\n"
    );
    std::fs::write(d.join("custos.toml"), format!("{cfg}\n{extra}")).unwrap();
    let (s, _) = demo(d);
    let op = creds["operator_token"].as_str().unwrap();
    for _ in 0..10 {
        s.call(Method::GET, "/v1/tenants/demo", Some(op), None, None).await;
    }
    let got = drain(&mut rx, Duration::from_secs(2)).await;
    let lag: Vec<_> = got.iter().filter(|(_, b)| b["rule"] == json!("exporter-lag")).collect();
    assert_eq!(lag.len(), 1, "{got:?}");
    assert_eq!(lag[0].1["key"], json!("down"));
    assert!(verify_signature(secret, &lag[0].0, &lag[0].1.to_string()));

    // an entry slipped into the chain by hand: the stream check raises it once
    let db = db(d);
    db.execute_batch(
        "INSERT INTO audit_log SELECT seq + 1, time, zone, tenant, principal_kind, principal_id, 'record.delete', collection,
           record_id, subject, purpose, outcome, reason, client, request_id, count, zeroblob(32), hash
         FROM audit_log ORDER BY seq DESC LIMIT 1",
    )
    .unwrap();
    let got = drain(&mut rx, Duration::from_secs(2)).await;
    let forged: Vec<_> = got.iter().filter(|(_, b)| b["rule"] == json!("audit-verification")).collect();
    assert_eq!(forged.len(), 1, "{got:?}");
    assert_eq!(forged[0].1["key"], json!("broken-link"));
    let v = s.call(Method::GET, "/v1/sys/audit/verify", Some(op), None, None).await;
    assert_eq!(v.body["fault"], json!("broken-link"));
}
