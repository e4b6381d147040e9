//! The S3 target against a real S3-compatible server on loopback (moto's server,
//! installed by the test command): a backup goes up in parts with its manifest, is
//! listed, restored from the bucket, drilled and pruned there.

use crate::support::*;
use custos_backup::identity::Identities;
use custos_backup::restore::{BackupSource, RestoreRequest, restore};
use custos_backup::retention::{RetentionPolicy, prune};
use custos_backup::take::take_backup;
use custos_backup::{BackupKind, Target};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> (Moto, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server is installed by the test command");
    let moto = Moto(child);
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (moto, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("moto_server did not start");
}

/// Create a bucket with a plain S3 `PUT /bucket`.
fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_go_to_and_come_back_from_an_s3_bucket() {
    let (_moto, port) = start_moto();
    create_bucket(port, "custos-backups");
    let endpoint = format!("http://127.0.0.1:{port}");
    let s3 = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_region", "eu-north-1"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
        ("aws_allow_http", "true"),
    ];
    let target = Target::open_with("s3://custos-backups/zones", "eu", &s3).unwrap();
    let z = zone().await;
    for i in 0..300 {
        z.record(None, &format!("Student {i}"), i).await;
    }
    let first = take_backup(&z.vault, &target, &z.plan(BackupKind::Full), None).await.unwrap();
    assert_eq!(first.location, format!("s3://custos-backups/zones/eu/{}.manifest.json", first.manifest.id));
    z.clock.set(custos_core::clock::Timestamp(T0 + 8 * DAY));
    let second = take_backup(&z.vault, &target, &z.plan(BackupKind::Full), None).await.unwrap();
    let listed: Vec<String> = target.manifests().await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(listed, vec![first.manifest.id.clone(), second.manifest.id.clone()]);

    let new = tempfile::tempdir().unwrap();
    let report = restore(RestoreRequest {
        source: BackupSource::Target(target.clone(), second.manifest.id.clone()),
        identities: Arc::new(Identities::parse(&z.identity).unwrap()),
        db_path: new.path().join("zone.db"),
        ledger: Some(z.ledger.clone()),
        trusted_key: None,
        clock: z.clock.clone(),
        zone: None,
        progress: None,
    })
    .await
    .unwrap();
    let admin = open_restored(&z, &report.vault).await;
    assert_eq!(all_records(&report.vault, &admin, &z.t).await.len(), 300);

    let drilled = custos_backup::drill::drill(
        &z.vault,
        &target,
        Arc::new(Identities::parse(&z.identity).unwrap()),
        &z.dir.path().join("scratch"),
    )
    .await
    .unwrap();
    assert_eq!(drilled.event.backup, second.manifest.id);

    let pruned = prune(&z.vault, &target, RetentionPolicy::default()).await.unwrap();
    assert_eq!(pruned.deleted, vec![first.manifest.id.clone()]);
    let left: Vec<String> = target.manifests().await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(left, vec![second.manifest.id]);
    assert!(target.size(&format!("{}.age", first.manifest.id)).await.is_err(), "the payload went with it");
}
