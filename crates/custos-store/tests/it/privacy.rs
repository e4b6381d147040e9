//! The privacy lifecycle on a manual clock over real SQLite files (zone and ledger):
//! retention removes exactly what expired at exactly its time, deleted records wait for
//! their delay, and an erasure locks, waits for its grace window, then purges with the
//! anonymised fields kept under a tombstone.

use custos_core::Vault;
use custos_core::audit::RequestMeta;
use custos_core::clock::{Clock, ManualClock, Timestamp};
use custos_core::ids::{CollectionName, Pseudonym, RecordId, TenantCode, ZoneName};
use custos_core::policy::RoleName;
use custos_core::schema::CollectionSchema;
use custos_core::service::{Caller, InitParams, Mode, NewApiKey, NewFile, PageRequest, PrivacyConfig};
use custos_store::{SqlStore, SqliteLedger, SqliteOptions};
use serde_json::{Map, Value, json};
use std::sync::Arc;

const DAY: i64 = 86_400_000;

struct Fixture {
    vault: Vault,
    clock: Arc<ManualClock>,
    admin: Caller,
    dpo: Caller,
    t: TenantCode,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zone.db");
    let store = SqlStore::open_sqlite(&path, SqliteOptions::default()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let vault = Vault::new(Arc::new(store), clock.clone(), ZoneName::parse("default").unwrap());
    vault.set_ledger(Arc::new(SqliteLedger::open(&dir.path().join("erasure-ledger.db")).unwrap()));
    vault.set_privacy_config(PrivacyConfig {
        grace_ms: 30 * DAY,
        delete_delay_ms: 7 * DAY,
        ..PrivacyConfig::default()
    });
    let out = vault.initialize(InitParams { shares: 1, threshold: 1, mode: Mode::Production }).await.unwrap();
    let meta = RequestMeta { request_id: "test".into(), client: None };
    vault.unseal(out.shares[0].expose(), &meta).await.unwrap();
    let op = vault.authenticate(out.operator_token.expose(), &meta).await.unwrap();
    let t = TenantCode::parse("clock").unwrap();
    vault.create_tenant(&op, t.clone(), "Clock school").await.unwrap();
    let key =
        |role: &str| NewApiKey { name: role.into(), role: RoleName::parse(role).unwrap(), expires_in_days: Some(365) };
    let admin_key = vault.create_api_key(&op, &t, key("admin")).await.unwrap();
    let dpo_key = vault.create_api_key(&op, &t, key("dpo")).await.unwrap();
    let admin = vault.authenticate(admin_key.key.expose(), &meta).await.unwrap();
    let dpo = vault.authenticate(dpo_key.key.expose(), &meta).await.unwrap();
    Fixture { vault, clock, admin, dpo, t, _dir: dir, path }
}

fn coll(name: &str) -> CollectionName {
    CollectionName::parse(name).unwrap()
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

async fn put(f: &Fixture, name: &str, schema: Value) {
    let s: CollectionSchema = serde_json::from_value(schema).unwrap();
    f.vault.put_collection(&f.admin, &f.t, &coll(name), s).await.unwrap();
}

fn count(path: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_exactly_what_expired_at_its_time() {
    let f = fixture().await;
    let v = &f.vault;
    put(&f, "uploads_log", json!({"fields": {"note": {"type": "string"}}, "retention_days": 10})).await;
    put(&f, "grades", json!({"fields": {"score": {"type": "integer"}}})).await;
    let t0 = f.clock.now();
    let (old, _) =
        v.create_record(&f.admin, &f.t, &coll("uploads_log"), None, fields(json!({"note": "a"}))).await.unwrap();
    let (kept_forever, _) =
        v.create_record(&f.admin, &f.t, &coll("grades"), None, fields(json!({"score": 3}))).await.unwrap();
    let transfer = upload(&f, "transfer", b"name,score\nA,1\n").await;
    let attachment = upload(&f, "attachment", b"name,score\nB,2\n").await;
    f.clock.advance_ms(DAY);
    let (young, _) =
        v.create_record(&f.admin, &f.t, &coll("uploads_log"), None, fields(json!({"note": "b"}))).await.unwrap();

    let exists = |id: &RecordId, c: &str| {
        count(&f.path, &format!("SELECT count(*) FROM records WHERE id = '{id}' AND collection = '{c}'")) == 1
    };
    let file_exists = |id: &str| count(&f.path, &format!("SELECT count(*) FROM files WHERE id = '{id}'")) == 1;

    // One millisecond before the transfer file's 4 days: nothing goes.
    f.clock.set(Timestamp(t0.0 + 4 * DAY - 1));
    assert_eq!(v.run_retention().await.unwrap().files, 0);
    assert!(file_exists(&transfer) && file_exists(&attachment));
    // At exactly 4 days the transfer file goes; the attachment (no expiry) stays.
    f.clock.set(Timestamp(t0.0 + 4 * DAY));
    let r = v.run_retention().await.unwrap();
    assert_eq!((r.files, r.records_expired), (1, 0));
    assert!(!file_exists(&transfer) && file_exists(&attachment));
    assert_eq!(count(&f.path, &format!("SELECT count(*) FROM file_chunks WHERE file_id = '{transfer}'")), 0);

    f.clock.set(Timestamp(t0.0 + 10 * DAY - 1));
    assert_eq!(v.run_retention().await.unwrap().records_expired, 0);
    f.clock.set(Timestamp(t0.0 + 10 * DAY));
    assert_eq!(v.run_retention().await.unwrap().records_expired, 1);
    assert!(!exists(&old, "uploads_log") && exists(&young, "uploads_log"));
    assert_eq!(count(&f.path, &format!("SELECT count(*) FROM record_fields WHERE record_id = '{old}'")), 0);
    f.clock.set(Timestamp(t0.0 + 11 * DAY));
    assert_eq!(v.run_retention().await.unwrap().records_expired, 1);
    assert!(!exists(&young, "uploads_log"));
    // Nothing else was removed: the collection without retention and the attachment.
    assert!(exists(&kept_forever, "grades") && file_exists(&attachment));
    // Every purge is in the audit trail, and the chain still verifies.
    let audit = count(
        &f.path,
        "SELECT count(*) FROM audit_log WHERE action IN ('retention.purge', 'file.purge') AND outcome = 'ok'",
    );
    assert_eq!(audit, 3);
    assert!(v.verify_audit(None).await.unwrap().fault.is_none());
}

async fn upload(f: &Fixture, kind: &str, content: &[u8]) -> String {
    let req =
        NewFile { kind: kind.into(), content_type: "text/csv".into(), name: format!("{kind}.csv"), subject: None };
    let mut up = f.vault.begin_upload(&f.admin, &f.t, req).await.unwrap();
    up.push(content).unwrap();
    f.vault.finish_upload(up).await.unwrap().id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_records_wait_for_their_delay_then_go() {
    let f = fixture().await;
    let v = &f.vault;
    put(&f, "notes", json!({"fields": {"text": {"type": "string"}}, "purposes": ["support"]})).await;
    let (id, _) = v.create_record(&f.admin, &f.t, &coll("notes"), None, fields(json!({"text": "x"}))).await.unwrap();
    let t0 = f.clock.now();
    v.delete_record(&f.admin, &f.t, &coll("notes"), &id).await.unwrap();
    // Locked at once: gone for the admin, still there for the DPO, still stored.
    assert!(v.get_record(&f.admin, &f.t, &coll("notes"), &id, None).await.is_err());
    assert!(v.get_record(&f.dpo, &f.t, &coll("notes"), &id, None).await.is_ok());
    let page = v.list_records(&f.admin, &f.t, &coll("notes"), None, PageRequest::default(), None).await.unwrap();
    assert!(page.records.is_empty());
    f.clock.set(Timestamp(t0.0 + 7 * DAY - 1));
    assert_eq!(v.run_retention().await.unwrap().records_deleted, 0);
    f.clock.set(Timestamp(t0.0 + 7 * DAY));
    assert_eq!(v.run_retention().await.unwrap().records_deleted, 1);
    assert_eq!(count(&f.path, "SELECT count(*) FROM records"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_locks_then_purges_after_the_grace_window_keeping_anonymised_fields() {
    let f = fixture().await;
    let v = &f.vault;
    put(
        &f,
        "reviews",
        json!({"fields": {
            "author_name": {"type": "string", "pii": true, "identifying": true},
            "text": {"type": "string", "pii": true, "anonymise_on_erasure": true},
            "stars": {"type": "integer"}
        }, "purposes": ["support", "dsr"]}),
    )
    .await;
    let s = v.create_subject(&f.admin, &f.t).await.unwrap();
    let other = v.create_subject(&f.admin, &f.t).await.unwrap();
    let review = fields(json!({"author_name": "Kari Nordmann", "text": "A fine course", "stars": 5}));
    let (rid, _) = v.create_record(&f.admin, &f.t, &coll("reviews"), Some(s.clone()), review.clone()).await.unwrap();
    v.create_record(&f.admin, &f.t, &coll("reviews"), Some(other.clone()), review).await.unwrap();
    let support = custos_core::ids::Purpose::parse("support").unwrap();

    let t0 = f.clock.now();
    let req = v.request_erasure(&f.dpo, &f.t, &s, Some("asked by the student"), false).await.unwrap();
    assert_eq!(req.row.purge_after, Some(Timestamp(t0.0 + 30 * DAY)));
    assert!(v.get_subject(&f.admin, &f.t, &s).await.is_err(), "locked: invisible to the admin");
    assert!(v.get_subject(&f.dpo, &f.t, &s).await.is_ok(), "the DPO still sees it");
    assert!(v.get_record(&f.admin, &f.t, &coll("reviews"), &rid, Some(&support)).await.is_err());

    f.clock.set(Timestamp(t0.0 + 30 * DAY - 1));
    assert_eq!(v.run_retention().await.unwrap().subjects, 0);
    f.clock.set(Timestamp(t0.0 + 30 * DAY));
    assert_eq!(v.run_retention().await.unwrap().subjects, 1);

    // The subject is gone; the review is kept with only its anonymised text, under a
    // tombstone, readable by the admin; the other subject's review is untouched.
    assert!(v.get_subject(&f.dpo, &f.t, &s).await.is_err());
    let kept = v.get_record(&f.admin, &f.t, &coll("reviews"), &rid, Some(&support)).await.unwrap();
    let tomb: Pseudonym = kept.subject.clone().unwrap();
    assert_ne!(tomb, s);
    assert_eq!(Value::Object(kept.fields), json!({"text": "A fine course"}));
    assert!(v.get_subject(&f.admin, &f.t, &tomb).await.is_err(), "a tombstone is not a subject");
    let others =
        v.list_records(&f.dpo, &f.t, &coll("reviews"), Some(other), PageRequest::default(), Some(&support)).await;
    assert_eq!(others.unwrap().records[0].fields.len(), 3);
    assert_eq!(count(&f.path, &format!("SELECT count(*) FROM subjects WHERE pseudonym = '{s}'")), 0);
    let done = v.get_dsr(&f.dpo, &f.t, &req.row.id).await.unwrap();
    assert_eq!(done.row.state, custos_core::store::DsrState::Purged);
    assert_eq!(done.row.subject, None, "the request forgets the subject; the ledger keeps it");
    assert!(v.verify_audit(None).await.unwrap().fault.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gdpr_clock_marks_open_requests_overdue_after_a_month_and_delete_shared_deletes() {
    let f = fixture().await;
    let v = &f.vault;
    put(
        &f,
        "reviews",
        json!({"fields": {"text": {"type": "string", "pii": true, "anonymise_on_erasure": true}}, "purposes": ["support"]}),
    )
    .await;
    // A grace window longer than a month makes the request overdue before its purge.
    let long = custos_core::service::TenantPrivacy { grace_days: 45 };
    v.set_tenant_privacy(&f.dpo, &f.t, long).await.unwrap();
    let s = v.create_subject(&f.admin, &f.t).await.unwrap();
    let (rid, _) =
        v.create_record(&f.admin, &f.t, &coll("reviews"), Some(s.clone()), fields(json!({"text": "t"}))).await.unwrap();
    let req = v.request_erasure(&f.dpo, &f.t, &s, None, true).await.unwrap();
    assert_eq!(req.row.due_at, req.row.received_at.plus_one_month());
    f.clock.set(req.row.due_at);
    assert!(v.overdue_dsrs().await.unwrap().is_empty(), "not overdue on its due date");
    f.clock.advance_ms(1);
    let overdue = v.overdue_dsrs().await.unwrap();
    assert_eq!(overdue.iter().map(|d| &d.id).collect::<Vec<_>>(), vec![&req.row.id]);
    v.note_overdue_dsr(&overdue[0]).await.unwrap();
    assert_eq!(count(&f.path, "SELECT count(*) FROM audit_log WHERE action = 'dsr.overdue'"), 1);
    // After the 45 days: purged, closed, no longer overdue; delete_shared kept nothing.
    f.clock.set(Timestamp(req.row.received_at.0 + 45 * DAY));
    assert_eq!(v.run_retention().await.unwrap().subjects, 1);
    assert!(v.overdue_dsrs().await.unwrap().is_empty());
    assert_eq!(
        count(&f.path, &format!("SELECT count(*) FROM records WHERE id = '{rid}'")),
        0,
        "delete_shared deletes shared content"
    );
    assert_eq!(count(&f.path, "SELECT count(*) FROM subjects WHERE state = 'tombstone'"), 0);
}
