//! A flipped byte, a truncated payload, an edited manifest or a wrong identity makes
//! restore refuse with a clear error and write nothing; the standard `age` tool opens a
//! backup with the operator's identity file.

use crate::support::*;
use custos_backup::{BackupError, BackupKind};
use std::path::{Path, PathBuf};

/// A copy of a backup's two files in a directory of their own; returns the manifest path.
fn copy_backup(z: &Zone, id: &str, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    let from = z.dir.path().join("backups").join("eu");
    for name in [format!("{id}.age"), format!("{id}.manifest.json")] {
        std::fs::copy(from.join(&name), to.join(&name)).unwrap();
    }
    to.join(format!("{id}.manifest.json"))
}

async fn refused(z: &Zone, manifest: &Path) -> String {
    let new = tempfile::tempdir().unwrap();
    let db = new.path().join("zone.db");
    let err = z.restore_from(manifest, &db).await.expect_err("the restore must be refused");
    assert!(files_under(new.path()).is_empty(), "nothing is written: {:?}", files_under(new.path()));
    match err {
        BackupError::Tampered(m) | BackupError::Invalid(m) => m,
        other => panic!("unexpected error kind: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_truncated_or_foreign_backups_are_refused_and_nothing_is_written() {
    let z = zone().await;
    for i in 0..200 {
        z.record(None, &format!("Student {i}"), i).await;
    }
    let id = z.backup(BackupKind::Full).await.manifest.id;
    let work = tempfile::tempdir().unwrap();

    // One flipped byte in the middle of the payload.
    let m = copy_backup(&z, &id, &work.path().join("flip"));
    let payload = m.with_file_name(format!("{id}.age"));
    let mut bytes = std::fs::read(&payload).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&payload, &bytes).unwrap();
    assert!(refused(&z, &m).await.contains("SHA-256"));

    // A truncated payload.
    let m = copy_backup(&z, &id, &work.path().join("cut"));
    let payload = m.with_file_name(format!("{id}.age"));
    let bytes = std::fs::read(&payload).unwrap();
    std::fs::write(&payload, &bytes[..bytes.len() - 100]).unwrap();
    assert!(refused(&z, &m).await.contains("truncated"));

    // A manifest edited to match the truncated payload: its signature no longer holds.
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    manifest["payload"]["bytes"] = serde_json::json!(bytes.len() - 100);
    std::fs::write(&m, serde_json::to_vec(&manifest).unwrap()).unwrap();
    assert!(refused(&z, &m).await.contains("signature"));

    // One flipped byte in the manifest.
    let m = copy_backup(&z, &id, &work.path().join("manifest"));
    let text = std::fs::read_to_string(&m).unwrap().replacen("\"records\": 200", "\"records\": 201", 1);
    std::fs::write(&m, text).unwrap();
    assert!(refused(&z, &m).await.contains("signature"));

    // The payload of another backup under this manifest.
    let other = z.backup(BackupKind::Snapshot).await.manifest.id;
    let m = copy_backup(&z, &id, &work.path().join("swap"));
    let from = z.dir.path().join("backups").join("eu").join(format!("{other}.age"));
    std::fs::copy(from, m.with_file_name(format!("{id}.age"))).unwrap();
    let msg = refused(&z, &m).await;
    assert!(msg.contains("SHA-256") || msg.contains("bytes"), "{msg}");

    // An identity the backup was not encrypted to.
    let m = copy_backup(&z, &id, &work.path().join("identity"));
    let stranger = age::x25519::Identity::generate();
    let new = tempfile::tempdir().unwrap();
    let err = custos_backup::restore::restore(custos_backup::restore::RestoreRequest {
        source: custos_backup::restore::BackupSource::Local(m),
        identities: std::sync::Arc::new(
            custos_backup::identity::Identities::parse(&custos_crypto::Secret::new({
                use age::secrecy::ExposeSecret;
                stranger.to_string().expose_secret().to_owned()
            }))
            .unwrap(),
        ),
        db_path: new.path().join("zone.db"),
        ledger: None,
        trusted_key: None,
        clock: z.clock.clone(),
        zone: None,
        progress: None,
    })
    .await
    .expect_err("a stranger's identity must not open the backup");
    assert!(err.to_string().contains("identity"), "{err}");
    assert!(files_under(new.path()).is_empty());

    // The untouched backup still restores.
    let new = tempfile::tempdir().unwrap();
    z.restore_from(&z.manifest_path(&id), &new.path().join("zone.db")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_age_tool_opens_a_backup_with_the_identity_file() {
    let z = zone().await;
    for i in 0..50 {
        z.record(None, &format!("Student {i}"), i).await;
    }
    let out = z.backup(BackupKind::Full).await;
    let payload = z.dir.path().join("backups").join("eu").join(&out.manifest.payload.file);
    let run = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&z.identity_file)
        .arg(&payload)
        .output()
        .expect("the age tool is installed by the test command");
    assert!(run.status.success(), "age -d failed: {}", String::from_utf8_lossy(&run.stderr));
    let body = String::from_utf8(run.stdout).unwrap();
    let mut lines = body.lines();
    let head: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(head["format"], "custos-backup/1");
    assert_eq!(head["zone"], "eu");
    assert_eq!(body.lines().last().unwrap(), r#"{"end_of_backup":true}"#);
    // The records table as the tool shows it: a header, one line per row, an end line.
    let at = body.lines().position(|l| l.starts_with(r#"{"columns":"#) && l.contains(r#""table":"records""#)).unwrap();
    let rows = body.lines().skip(at + 1).take_while(|l| l.starts_with('[')).count();
    assert_eq!(rows as u64, out.manifest.counts["records"]);
    assert_eq!(rows, 50);
    // And nothing personal is in the clear: names are sealed inside the body too.
    assert!(!body.contains("Student 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_copy_unseals_only_under_the_key_that_signed_its_backup() {
    let z = zone().await;
    z.record(None, "Student", 1).await;
    let id = z.backup(BackupKind::Full).await.manifest.id;
    let new = tempfile::tempdir().unwrap();
    let db = new.path().join("zone.db");
    drop(z.restore_from(&z.manifest_path(&id), &db).await.unwrap());
    // As if the backup had been re-signed with another key: the copy names that signer.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("UPDATE meta SET value = ?1 WHERE key = 'restored_signer'", [vec![7u8; 32]]).unwrap();
    drop(c);
    let store = custos_store::SqlStore::open_sqlite(&db, custos_store::SqliteOptions::default()).unwrap();
    let copy = custos_core::Vault::new(
        std::sync::Arc::new(store),
        z.clock.clone(),
        custos_core::ids::ZoneName::parse("eu").unwrap(),
    );
    let err = copy.unseal(z.share.expose(), &meta()).await.unwrap_err();
    assert!(err.to_string().contains("signed by another"), "{err}");
    assert!(copy.is_sealed());
}
