//! The privacy lifecycle end to end, against the real binary: erasure notices to a local
//! webhook receiver (down first, then up), the recipient's grace-window fetch and
//! acknowledgement, the purge, a byte scan of the database files afterwards, and
//! crypto-shredding over a copy of the database taken before the purge.

use crate::alerts::{receiver_at, verify_signature};
use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

pub(crate) const NAME: &str = "Ingrid Kristiansen-Haugland";
pub(crate) const EMAIL: &str = "ingrid.haugland@skole.example";
pub(crate) const REVIEW: &str = "The statistics module finally made sense";

/// A demo server with short privacy timings (so a purge happens within the test).
pub(crate) fn demo_with_privacy(dir: &Path, grace: &str) -> (Server, Value) {
    let (s, creds) = demo(dir);
    drop(s);
    let mut cfg = std::fs::read_to_string(dir.join("custos.toml")).unwrap();
    cfg.push_str(&format!(
        "\n[privacy]\ngrace = \"{grace}\"\ndelete_delay = \"1d\"\nretention_check = \"1s\"\nnotice_retry = \"1s\"\n"
    ));
    std::fs::write(dir.join("custos.toml"), cfg).unwrap();
    (restart(dir), creds)
}

pub(crate) fn restart(dir: &Path) -> Server {
    spawn(&["demo", "--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"], dir)
}

/// A demo server with short privacy timings, the `courses` collection, and keys for
/// the demo admin, a DPO and a service writer.
pub(crate) struct Setup {
    pub _tmp: tempfile::TempDir,
    pub dir: std::path::PathBuf,
    pub s: Server,
    pub op: String,
    pub admin: String,
    pub dpo: String,
    pub writer: String,
}

pub(crate) async fn setup(grace: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let (s, creds) = demo_with_privacy(&dir, grace);
    let op = creds["operator_token"].as_str().unwrap().to_owned();
    let admin = creds["api_key"].as_str().unwrap().to_owned();
    let dpo = key(&s, &op, "dpo").await;
    let writer = key(&s, &op, "service-writer").await;
    courses(&s, &admin).await;
    Setup { _tmp: tmp, dir, s, op, admin, dpo, writer }
}

/// A record of `courses` read as `token` for support.
async fn read_course(s: &Server, rec: &str, token: &str) -> Resp {
    s.call(
        Method::GET,
        &format!("/v1/tenants/demo/collections/courses/records/{rec}"),
        Some(token),
        Some("support"),
        None,
    )
    .await
}

/// An API key of `role` in the demo tenant, made by the operator.
pub(crate) async fn key(s: &Server, op: &str, role: &str) -> String {
    let r = s
        .call(Method::POST, "/v1/tenants/demo/api-keys", Some(op), None, Some(json!({"name": role, "role": role})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["key"].as_str().unwrap().to_owned()
}

/// The `courses` collection: an identifying name, a searchable email, a review kept
/// anonymised after erasure, a grade.
pub(crate) async fn courses(s: &Server, admin: &str) {
    let schema = json!({"fields": {
        "name": {"type": "string", "pii": true, "identifying": true},
        "email": {"type": "email", "pii": true, "searchable": true},
        "review": {"type": "string", "pii": true, "anonymise_on_erasure": true},
        "grade": {"type": "integer"}
    }, "purposes": ["grading", "support", "dsr"]});
    let r = s.call(Method::PUT, "/v1/tenants/demo/collections/courses", Some(admin), None, Some(schema)).await;
    assert!(r.status.is_success(), "{}", r.text);
}

pub(crate) async fn subject_with_record(s: &Server, writer: &str, name: &str, email: &str) -> (String, String) {
    let r = s.call(Method::POST, "/v1/tenants/demo/subjects", Some(writer), None, Some(json!({}))).await;
    let sub = r.body["id"].as_str().unwrap().to_owned();
    let body = json!({"subject": sub, "fields": {"name": name, "email": email, "review": REVIEW, "grade": 5}});
    let r = s.call(Method::POST, "/v1/tenants/demo/collections/courses/records", Some(writer), None, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (sub, r.body["id"].as_str().unwrap().to_owned())
}

async fn erasure(s: &Server, req: &str, token: &str) -> Resp {
    s.call(Method::GET, &format!("/v1/tenants/demo/erasures/{req}"), Some(token), None, None).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, secs: u64, mut f: impl FnMut() -> F) {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}

fn find(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect()
}

/// Which table or index owns each page of the database (SQLite's dbstat).
fn page_owners(db: &Path) -> (usize, std::collections::HashMap<u32, String>) {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let page_size: usize = c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)).unwrap() as usize;
    let mut st = c.prepare("SELECT pageno, name FROM dbstat").unwrap();
    let owners = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))).unwrap();
    (page_size, owners.map(Result::unwrap).collect())
}

/// Every occurrence of `needle` in the zone's files, by the owner of its page (the
/// write-ahead log's frames carry their page number).
fn owners_of(dir: &Path, needle: &[u8]) -> Vec<String> {
    let db = dir.join("zone.db");
    let (page_size, owners) = page_owners(&db);
    let owner = |p: u32| owners.get(&p).cloned().unwrap_or_else(|| format!("free page {p}"));
    let mut out = Vec::new();
    for off in find(&std::fs::read(&db).unwrap(), needle) {
        out.push(owner((off / page_size) as u32 + 1));
    }
    if let Ok(wal) = std::fs::read(dir.join("zone.db-wal")) {
        let frame = 24 + page_size;
        for off in find(&wal, needle) {
            if off < 32 {
                out.push("wal header".into());
                continue;
            }
            let start = 32 + (off - 32) / frame * frame;
            let page = u32::from_be_bytes(wal[start..start + 4].try_into().unwrap());
            out.push(format!("wal:{}", owner(page)));
        }
    }
    if let Ok(shm) = std::fs::read(dir.join("zone.db-shm")) {
        out.extend(find(&shm, needle).into_iter().map(|_| "shm".to_owned()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_notifies_recipients_purges_and_a_restored_copy_stays_shredded() {
    let Setup { _tmp, dir, s, admin, dpo, writer, .. } = setup("12s").await;
    let admin = admin.as_str();
    let (a, rec_a) = subject_with_record(&s, &writer, NAME, EMAIL).await;
    let (b, rec_b) = subject_with_record(&s, &writer, "Other Person", "other@skole.example").await;

    // A recipient whose webhook is down at first.
    let port = free_port();
    let r = s
        .call(
            Method::POST,
            "/v1/tenants/demo/recipients",
            Some(admin),
            None,
            Some(json!({"name": "Exam board", "webhook_url": format!("http://127.0.0.1:{port}/hook")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let rcp = r.body["id"].as_str().unwrap().to_owned();
    let rcp_key = r.body["api_key"].as_str().unwrap().to_owned();
    let secret = r.body["webhook_secret"].as_str().unwrap().to_owned();
    let r = s
        .call(
            Method::POST,
            &format!("/v1/tenants/demo/subjects/{a}/disclosures"),
            Some(&writer),
            None,
            Some(json!({"recipient": rcp, "collection": "courses", "fields": ["email", "grade"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // The recipient reads exactly what was disclosed: two fields of one record.
    let r = s.call(Method::GET, &format!("/v1/tenants/demo/recipient/subjects/{a}"), Some(&rcp_key), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["records"][0]["fields"], json!({"email": EMAIL, "grade": 5}));
    let r = s.call(Method::GET, &format!("/v1/tenants/demo/recipient/subjects/{b}"), Some(&rcp_key), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing of B was disclosed");
    let r = s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{a}"), Some(&rcp_key), None, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a recipient has no other access");

    // Erasure in one request: locked at once, the recipient owed a notice.
    let r = s
        .call(
            Method::POST,
            &format!("/v1/tenants/demo/subjects/{a}/erasure"),
            Some(&dpo),
            None,
            Some(json!({"reason": format!("{NAME} asked to be forgotten"), "delete_shared": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["state"], "locked");
    assert_eq!(
        r.body["recipients"],
        json!([{"recipient": rcp, "notified_at": null, "acknowledged_at": null, "attempts": 0, "last_error": null}])
    );
    let req = r.body["id"].as_str().unwrap().to_owned();
    let received = r.body["received_at"].as_str().unwrap().to_owned();
    assert!(r.body["due_at"].as_str().unwrap() > received.as_str());
    let r = s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{a}"), Some(admin), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "locked: invisible to the admin");

    // Failed deliveries are recorded while the receiver is down...
    wait_for("a failed delivery", 20, || async {
        erasure(&s, &req, &dpo).await.body["recipients"][0]["last_error"] == "connect"
    })
    .await;
    // ...and the notice arrives, signed, once the receiver is up.
    let (_, mut rx) = receiver_at(port).await;
    let (sig, body) = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("notice").unwrap();
    assert!(verify_signature(&secret, &sig, &body), "the notice's signature verifies with the recipient's secret");
    assert!(!verify_signature("another secret entirely", &sig, &body));
    let notice: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (notice["type"].as_str(), notice["request"].as_str(), notice["subject"].as_str()),
        (Some("erasure.notice"), Some(req.as_str()), Some(a.as_str()))
    );
    wait_for("notified_at", 10, || async {
        erasure(&s, &req, &dpo).await.body["recipients"][0]["notified_at"].is_string()
    })
    .await;
    let r = erasure(&s, &req, &dpo).await;
    assert!(r.body["recipients"][0]["attempts"].as_u64().unwrap() >= 2, "{}", r.text);
    let history: Vec<String> =
        r.body["history"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert!(
        history.contains(&format!("notice-failed:{rcp}")) && history.contains(&format!("notified:{rcp}")),
        "{history:?}"
    );

    // During the grace window the recipient fetches what it holds, and acknowledges.
    let fetch =
        notice["fetch_url"].as_str().unwrap().strip_prefix(s.url.as_str()).expect("a link to this server").to_owned();
    let r = s.call(Method::GET, &fetch, Some(&rcp_key), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{fetch}: {}", r.text);
    assert_eq!(r.body["records"][0]["fields"], json!({"email": EMAIL, "grade": 5}));
    let r = s.call(Method::GET, &format!("/v1/tenants/demo/recipient/subjects/{a}"), Some(&rcp_key), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "the ordinary recipient read no longer serves a locked subject");
    let r = s.call(Method::POST, &format!("{fetch}/acknowledge"), Some(&rcp_key), None, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(erasure(&s, &req, &dpo).await.body["recipients"][0]["acknowledged_at"].is_string());

    // A copy of the database taken before the purge.
    let copy = dir.with_extension("before-purge.db");
    rusqlite::Connection::open(dir.join("zone.db"))
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();

    // After the grace window: purged.
    wait_for("the purge", 60, || async { erasure(&s, &req, &dpo).await.body["state"] == "purged" }).await;
    let r = s.call(Method::GET, &fetch, Some(&rcp_key), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing for the recipient after the purge");
    for t in [admin, dpo.as_str()] {
        let r = s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{a}"), Some(t), None, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    // The review is kept, anonymised, under a tombstone; everything else of A is gone.
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/demo/collections/courses/records/{rec_a}"),
            Some(&dpo),
            Some("support"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["fields"], json!({"review": REVIEW}));
    let tomb = r.body["subject"].as_str().unwrap().to_owned();
    assert_ne!(tomb, a);
    let r = read_course(&s, &rec_b, &dpo).await;
    assert_eq!(r.body["fields"]["name"], "Other Person", "B is untouched");
    drop(s);

    // Byte scan of the zone's files: none of A's plaintext; its pseudonym only on pages
    // of the audit trail; the ledger (its own file) holds it.
    for needle in [NAME, EMAIL, "asked to be forgotten", REVIEW] {
        assert!(owners_of(&dir, needle.as_bytes()).is_empty(), "{needle} found in the zone's files");
    }
    let owners = owners_of(&dir, a.as_bytes());
    assert!(!owners.is_empty(), "the audit trail names the pseudonym");
    assert!(
        owners.iter().all(|o| o.trim_start_matches("wal:").starts_with("audit")),
        "pseudonym outside the audit trail: {owners:?}"
    );
    assert!(!find(&std::fs::read(dir.join("erasure-ledger.db")).unwrap(), a.as_bytes()).is_empty());
    let c = rusqlite::Connection::open(dir.join("zone.db")).unwrap();
    let under_tomb: i64 = c
        .query_row(
            "SELECT count(*) FROM records r JOIN record_fields f ON f.record_id = r.id WHERE r.subject = ?1",
            [&tomb],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(under_tomb, 1, "only the anonymised field lives on, under the tombstone");
    drop(c);

    // Crypto-shredding: the pre-purge copy put back in place cannot yield A's data.
    for f in ["zone.db-wal", "zone.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::copy(&copy, dir.join("zone.db")).unwrap();
    let s = restart(&dir);
    for t in [admin, dpo.as_str()] {
        let r = s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{a}"), Some(t), None, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        let r = s
            .call(
                Method::GET,
                &format!("/v1/tenants/demo/collections/courses/records/{rec_a}"),
                Some(t),
                Some("support"),
                None,
            )
            .await;
        assert!(r.body["fields"].get("email").is_none() && r.body["fields"].get("name").is_none(), "{}", r.text);
        let r = s
            .call(
                Method::POST,
                "/v1/tenants/demo/collections/courses/records/search",
                Some(t),
                Some("support"),
                Some(json!({"field": "email", "equals": EMAIL})),
            )
            .await;
        assert_eq!(r.body["records"], json!([]), "{}", r.text);
    }
    let r = read_course(&s, &rec_b, &dpo).await;
    assert_eq!(r.body["fields"]["email"], "other@skole.example", "other subjects still read");
    let gone: i64 = rusqlite::Connection::open(dir.join("zone.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM subjects WHERE pseudonym = ?1", [&a], |r| r.get(0))
        .unwrap();
    assert_eq!(gone, 0, "the ledger re-applied the purge: A's wrapped key is gone from the restored file");
}
