//! Password reset against a real SMTP server (aiosmtpd, STARTTLS with the demo's own
//! certificate): the mail arrives, its link opens the reset page, its token works once,
//! the reset ends earlier sessions, and an unknown address gets the same answer and no
//! mail.

use crate::staff::{PASSWORD, login, session, tenant_of};
use crate::support::{Server, assert_problem, demo, spawn};
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Smtp {
    child: Child,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_smtp(dir: &Path, tls: &Path, port: u16) -> Smtp {
    let maildir = dir.join("maildir");
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg("--tlscert")
        .arg(tls.join("server.pem"))
        .arg("--tlskey")
        .arg(tls.join("server.key"))
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (PyPI aiosmtpd) must be installed");
    let mut smtp = Smtp { child, maildir };
    for _ in 0..100 {
        // Still running (not failed to bind) and accepting.
        if smtp.child.try_wait().unwrap().is_none() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return smtp;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("aiosmtpd did not start");
}

fn mails(maildir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(maildir.join("new")) else { return Vec::new() };
    let mut out: Vec<String> = rd.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    out.sort();
    out
}

async fn wait_for_mails(maildir: &Path, n: usize, log: &Path) -> Vec<String> {
    for _ in 0..200 {
        let m = mails(maildir);
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let mail_lines: Vec<&str> = log.lines().filter(|l| l.contains("mail")).collect();
    panic!("no mail arrived; server log: {mail_lines:?}");
}

/// Undo quoted-printable (RFC 2045): soft line breaks and `=XX` escapes, as a mail
/// client would.
fn quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
            out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A demo server whose configuration points at an SMTP sink started before it (so the
/// server's own port cannot take the sink's).
fn demo_with_smtp(dir: &Path, sink: &Path) -> (Server, serde_json::Value, Smtp) {
    let (s, creds) = demo(dir);
    drop(s);
    let port = free_port();
    let smtp = start_smtp(sink, &dir.join("tls"), port);
    let mut cfg = std::fs::read_to_string(dir.join("custos.toml")).unwrap();
    cfg.push_str(&format!(
        "\n[smtp]\nhost = \"localhost\"\nport = {port}\nsecurity = \"starttls\"\nca_file = \"tls/ca.pem\"\nfrom = \"Custos <custos@localhost>\"\n"
    ));
    std::fs::write(dir.join("custos.toml"), cfg).unwrap();
    let s = spawn(&["demo", "--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"], dir);
    (s, creds, smtp)
}

#[tokio::test]
async fn password_reset_mail_arrives_and_its_link_works_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let (s, creds, smtp) = demo_with_smtp(&d, dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let t = tenant_of(&creds);
    let r = s
        .call(
            Method::POST,
            &format!("/v1/tenants/{t}/users"),
            Some(op),
            None,
            Some(
                json!({"username": "lise", "password": PASSWORD, "email": "Lise.Berg@example.no", "roles": ["grader"]}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let before = session(&s, Some(t), "lise").await;

    // An unknown address and a known one get the same answer.
    let unknown = s
        .call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            None,
            Some(json!({"tenant": t, "email": "nobody@example.no"})),
        )
        .await;
    let known = s
        .call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            None,
            Some(json!({"tenant": t, "email": "lise.berg@example.no"})),
        )
        .await;
    assert_eq!((unknown.status.as_u16(), known.status.as_u16()), (202, 202));
    assert_eq!(unknown.text, known.text);

    let mail = quoted_printable(&wait_for_mails(&smtp.maildir, 1, &s.log).await.remove(0));
    assert!(mail.contains("lise.berg@example.no"), "sent to the account's address");
    let link = mail.split_whitespace().find(|w| w.contains("/console/reset#token=")).expect("a reset link").to_owned();
    assert!(link.starts_with(&s.url), "{link}");
    let token = link.split("#token=").nth(1).unwrap().to_owned();
    // The link opens the reset page (the token stays in the fragment, never sent).
    let page = s.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(page.text().await.unwrap().contains("/console/reset.js"));

    let new_pw = "a brand new passphrase here";
    let done = s
        .call(
            Method::POST,
            "/v1/auth/password-reset/complete",
            None,
            None,
            Some(json!({"token": token, "password": new_pw})),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    // Once, not twice.
    let again = s
        .call(
            Method::POST,
            "/v1/auth/password-reset/complete",
            None,
            None,
            Some(json!({"token": token, "password": "another new passphrase"})),
        )
        .await;
    assert_problem(&again, 400, "invalid-input");
    assert_eq!(login(&s, Some(t), "lise", new_pw, None).await.status, 200);
    assert_problem(&login(&s, Some(t), "lise", PASSWORD, None).await, 401, "login-failed");
    // The reset ended the session from before.
    assert_problem(&s.call(Method::GET, "/v1/auth/session", Some(&before), None, None).await, 401, "unauthenticated");

    // The unknown address got no mail (the known one's mail came after it was asked).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mails(&smtp.maildir).len(), 1, "exactly one mail");
    // Nothing of the address or token in the audit trail or the log.
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(!log.contains("lise.berg") && !log.contains(&token));
    let c = crate::support::db(&d);
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE reason LIKE '%lise%' OR reason LIKE '%' || ?1 || '%'",
            [&token],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    let reasons: Vec<String> = c
        .prepare("SELECT COALESCE(reason, '') FROM audit_log WHERE action LIKE 'auth.password_reset%' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    // asked (unknown), asked (mail sent), used, refused the second time
    assert_eq!(reasons, ["unknown_account", "", "reset", "invalid-input"], "{reasons:?}");
}
