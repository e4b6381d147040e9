//! Audit export against real receivers: rsyslog (Debian's, started by the test on
//! loopback) over TCP and over TLS, and the JSON Lines file with rotation. Every entry
//! arrives, in order, as valid RFC 5424; an outage of the receiver does not stop writes,
//! and the exporter catches up without a gap when it returns.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

struct Rsyslog {
    child: Child,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Start rsyslogd in the foreground, receiving on `port` (TLS with the demo's
/// certificate when `tls`), writing each raw message as one line of `out`.
fn rsyslog(work: &Path, port: u16, tls: Option<&Path>, out: &Path) -> Option<Rsyslog> {
    let bin = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"].into_iter().find(|p| Path::new(p).exists())?;
    std::fs::create_dir_all(work.join("spool")).unwrap();
    let (global, module) = match tls {
        None => (String::new(), r#"module(load="imtcp")"#.to_owned()),
        Some(tlsdir) => (
            format!(
                r#"global(DefaultNetstreamDriverCAFile="{0}/ca.pem" DefaultNetstreamDriverCertFile="{0}/server.pem" DefaultNetstreamDriverKeyFile="{0}/server.key")"#,
                tlsdir.display()
            ),
            r#"module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")"#
                .to_owned(),
        ),
    };
    let conf = format!(
        r#"global(workDirectory="{spool}")
{global}
{module}
input(type="imtcp" port="{port}")
template(name="raw" type="string" string="%rawmsg%\n")
*.* action(type="omfile" file="{out}" template="raw" flushOnTXEnd="on" asyncWriting="off")
"#,
        spool = work.join("spool").display(),
        out = out.display()
    );
    let conf_path = work.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .args(["-n", "-f", conf_path.to_str().unwrap(), "-i", work.join("rsyslog.pid").to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    // wait until it accepts connections
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Rsyslog { child });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Start a demo with `exporter` (a TOML `[[audit.exporters]]` table) configured.
fn demo_with_exporter(dir: &Path, exporter: &str) -> (Server, Value) {
    let (s, _) = demo(dir);
    drop(s);
    let cfg = std::fs::read_to_string(dir.join("custos.toml")).unwrap();
    std::fs::write(dir.join("custos.toml"), format!("{cfg}\n{exporter}\n")).unwrap();
    demo(dir)
}

async fn exporter_state(s: &Server) -> (i64, i64, Option<String>) {
    let h = s.call(Method::GET, "/v1/sys/health", None, None, None).await.body;
    let e = &h["audit"]["exporters"][0];
    (h["audit"]["head"].as_i64().unwrap(), e["lag"].as_i64().unwrap(), e["last_error"].as_str().map(str::to_owned))
}

async fn wait_caught_up(s: &Server) -> i64 {
    for _ in 0..200 {
        let (head, lag, _) = exporter_state(s).await;
        if lag == 0 && head > 0 {
            return head;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("exporter did not catch up: {:?}", exporter_state(s).await);
}

async fn activity(s: &Server, admin: &str, code: &str, n: usize) {
    for i in 0..n {
        let id = record(s, admin, code, None, json!({"email": format!("exp{i}@example.no")})).await;
        s.call(
            Method::GET,
            &format!("/v1/tenants/{code}/collections/people/records/{id}"),
            Some(admin),
            Some("grading"),
            None,
        )
        .await;
    }
}

/// Sequence numbers of the entries in the receiver's file, checking each line.
fn received(out: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let re_ok = |l: &str| -> bool {
        // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
        let parts: Vec<&str> = l.splitn(8, ' ').collect();
        parts.len() == 8
            && parts[0].starts_with('<')
            && parts[0].ends_with(">1")
            && parts[0][1..parts[0].len() - 2].parse::<u16>().is_ok_and(|p| p / 8 == 13 && p % 8 <= 7)
            && parts[1].ends_with('Z')
            && parts[2] == "custos-test"
            && parts[3] == "custos"
            && parts[4] == "-"
            && !parts[5].is_empty()
            && parts[6] == "-"
            && parts[7].starts_with('{')
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            assert!(re_ok(l), "not an RFC 5424 line from custos: {l}");
            let v: Value = serde_json::from_str(l.splitn(8, ' ').nth(7).unwrap()).unwrap();
            assert_eq!(v["action"].as_str().unwrap(), l.split(' ').nth(5).unwrap(), "MSGID is the action");
            v["seq"].as_i64().unwrap()
        })
        .collect()
}

/// Every seq from 1 to `head` at least once, first occurrences in order, no gap.
fn assert_complete(seqs: &[i64], head: i64, exactly_once: bool) {
    let mut firsts = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in seqs {
        if seen.insert(*s) {
            firsts.push(*s);
        }
    }
    assert_eq!(firsts, (1..=head).collect::<Vec<_>>(), "every entry, in order, no gap");
    if exactly_once {
        assert_eq!(seqs.len() as i64, head, "each entry once");
    }
}

async fn syslog_round(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("custos");
    let work = dir.path().join("rsyslog");
    let out = dir.path().join("received.log");
    let port = free_port();
    // the demo's TLS material doubles as the receiver's certificate
    let (s0, _) = demo(&d);
    drop(s0);
    let Some(rx) = rsyslog(&work, port, tls.then(|| d.join("tls")).as_deref(), &out) else {
        panic!("rsyslogd not available; the test command installs Debian's rsyslog and rsyslog-openssl");
    };
    let tls_cfg = if tls {
        format!("tls_ca = \"{}\"\ntls_server_name = \"localhost\"\n", d.join("tls/ca.pem").display())
    } else {
        String::new()
    };
    let exporter = format!(
        "[[audit.exporters]]\nkind = \"syslog\"\nname = \"siem\"\naddress = \"127.0.0.1:{port}\"\nhostname = \"custos-test\"\n{tls_cfg}"
    );
    let cfg = std::fs::read_to_string(d.join("custos.toml")).unwrap();
    std::fs::write(d.join("custos.toml"), format!("{cfg}\n{exporter}\n")).unwrap();
    let (s, creds) = demo(&d);
    let admin = tenant_with_admin(&s, creds["operator_token"].as_str().unwrap(), "exp").await;
    put_people(&s, &admin, "exp").await;
    activity(&s, &admin, "exp", 10).await;
    let head = wait_caught_up(&s).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_complete(&received(&out), head, true);

    // receiver down: writes go on, the exporter falls behind and says why
    drop(rx);
    activity(&s, &admin, "exp", 15).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (head2, lag, err) = exporter_state(&s).await;
    assert!(head2 >= head + 30, "writes continued while the receiver was down: {head} -> {head2}");
    assert!(lag > 0 && err.is_some(), "lag {lag}, error {err:?}");
    // receiver back: everything arrives, at least once, no gap
    let _rx = rsyslog(&work, port, tls.then(|| d.join("tls")).as_deref(), &out).unwrap();
    let head3 = wait_caught_up(&s).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_complete(&received(&out), head3, false);
    let metrics = s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("custos_audit_exporter_lag{exporter=\"siem\"} 0"), "{metrics}");
}

#[tokio::test]
async fn syslog_over_tcp_delivers_every_entry_and_survives_an_outage() {
    syslog_round(false).await;
}

#[tokio::test]
async fn syslog_over_tls_delivers_every_entry_and_survives_an_outage() {
    syslog_round(true).await;
}

fn jsonl_files(base: &Path) -> Vec<PathBuf> {
    // oldest first: base.N … base.1, base
    let mut files: Vec<PathBuf> =
        (1..=20).rev().map(|n| PathBuf::from(format!("{}.{n}", base.display()))).filter(|p| p.exists()).collect();
    files.push(base.to_owned());
    files
}

#[tokio::test]
async fn jsonl_export_rotates_and_keeps_a_verifiable_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("custos");
    let base = dir.path().join("export/audit.jsonl");
    let exporter = format!(
        "[[audit.exporters]]\nkind = \"jsonl\"\nname = \"file\"\npath = \"{}\"\nmax_bytes = 16384\nkeep = 20\n",
        base.display()
    );
    let (s, creds) = demo_with_exporter(&d, &exporter);
    let admin = tenant_with_admin(&s, creds["operator_token"].as_str().unwrap(), "jl").await;
    put_people(&s, &admin, "jl").await;
    activity(&s, &admin, "jl", 25).await;
    let head = wait_caught_up(&s).await;
    let files = jsonl_files(&base);
    assert!(files.len() >= 2, "rotated at 16 KiB: {files:?}");
    let mut entries = Vec::new();
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 16384, "{} over the rotation size", f.display());
        for line in std::fs::read_to_string(f).unwrap().lines() {
            entries.push(serde_json::from_str::<Value>(line).unwrap());
        }
    }
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_complete(&seqs, head, true);
    // the export alone links up: each prev_hash is the previous entry's hash
    for w in entries.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["hash"]);
    }
    assert_eq!(entries[0]["prev_hash"], json!("0".repeat(64)));
}
