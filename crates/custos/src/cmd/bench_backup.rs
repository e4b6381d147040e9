//! `custos bench-backup`: backup and restore throughput of a zone of N records, and the
//! write latency writers see before and while a backup runs (the snapshot must not stall
//! them). In process, on real SQLite files, with real age encryption.

use anyhow::{Result, bail};
use custos_backup::identity::{Identities, generate};
use custos_backup::restore::{BackupSource, RestoreRequest, restore};
use custos_backup::take::{BackupPlan, take_backup};
use custos_backup::{BackupKind, Target};
use custos_core::clock::SystemClock;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Options of `custos bench-backup`.
#[derive(Debug, clap::Args)]
pub struct BenchBackupArgs {
    /// Records in the zone before the backup.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Concurrent writers during the latency measurements.
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Seconds of writing without a backup (the baseline).
    #[arg(long, default_value_t = 3)]
    baseline_secs: u64,
}

/// Write with `writers` writers until `stop` (or `limit` writes each); (start, latency) per write.
async fn write_load(
    z: &Arc<super::bench_zone::BenchZone>,
    writers: usize,
    stop: Arc<AtomicBool>,
    limit: usize,
) -> Result<Vec<(Instant, Duration)>> {
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let (z, stop) = (z.clone(), stop.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < limit {
                let t = Instant::now();
                z.vault.create_record(&z.admin, &z.t, &z.coll, None, super::bench_zone::answer(w * limit + i)).await?;
                out.push((t, t.elapsed()));
                i += 1;
            }
            Ok::<_, anyhow::Error>(out)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    Ok(all)
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

fn row(name: &str, lat: Vec<Duration>) {
    let max = lat.iter().max().copied().unwrap_or_default().as_secs_f64() * 1000.0;
    println!(
        "  {name:<16} {:>7} writes  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        lat.len(),
        pct(lat.clone(), 0.50),
        pct(lat, 0.99),
        max
    );
}

/// `custos bench-backup`
pub async fn run(a: BenchBackupArgs) -> Result<()> {
    if !(1..=1_000_000).contains(&a.records) || !(1..=64).contains(&a.writers) || !(1..=60).contains(&a.baseline_secs) {
        bail!("--records 1-1000000, --writers 1-64, --baseline-secs 1-60");
    }
    let dir = std::env::temp_dir().join(format!("custos-bench-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = super::bench::Cleanup(dir.clone());
    let z = Arc::new(super::bench_zone::open(&dir).await?);
    eprintln!("writing {} records…", a.records);
    z.fill(a.records, None).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (z, stop) = (z.clone(), stop.clone());
        async move { write_load(&z, a.writers, stop, 1_000_000).await }
    });
    tokio::time::sleep(Duration::from_secs(a.baseline_secs)).await;
    stop.store(true, Ordering::Relaxed);
    let baseline: Vec<Duration> = load.await??.into_iter().map(|w| w.1).collect();

    let (identity, recipient) = generate();
    let target = Target::open(dir.join("backups").to_str().unwrap_or("backups"), "bench")?;
    let plan = BackupPlan { kind: BackupKind::Full, recipients: vec![recipient], staging: dir.join("staging") };
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (z, stop) = (z.clone(), stop.clone());
        async move { write_load(&z, a.writers, stop, 1_000_000).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let out = take_backup(&z.vault, &target, &plan, None).await?;
    let backup_time = started.elapsed();
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let during: Vec<Duration> =
        load.await??.into_iter().filter(|(t, _)| *t >= started && *t <= ended).map(|w| w.1).collect();

    let begun = Instant::now();
    let report = restore(RestoreRequest {
        source: BackupSource::Local(
            dir.join("backups").join("bench").join(format!("{}.manifest.json", out.manifest.id)),
        ),
        identities: Arc::new(Identities::parse(&identity)?),
        db_path: dir.join("restored.db"),
        ledger: Some(z.ledger.clone()),
        trusted_key: None,
        clock: Arc::new(SystemClock),
        zone: None,
        progress: None,
    })
    .await?;
    let restore_time = begun.elapsed();

    let mb = out.manifest.payload.bytes as f64 / 1e6;
    let rows: u64 = out.manifest.counts.values().sum();
    println!(
        "zone: {} records, {rows} rows in all; payload {mb:.1} MB (age, {} audit entries)",
        out.manifest.counts.get("records").copied().unwrap_or(0),
        report.audit_entries
    );
    println!(
        "  backup   {:>7.2} s  {:>6.1} MB/s   (snapshot, encrypt, hash, write; longest write commit meanwhile {:.1} ms)",
        backup_time.as_secs_f64(),
        mb / backup_time.as_secs_f64(),
        out.manifest.longest_commit_us as f64 / 1000.0
    );
    println!(
        "  restore  {:>7.2} s  {:>6.1} MB/s   (verify, decrypt, load, check counts, verify the audit chain)",
        restore_time.as_secs_f64(),
        mb / restore_time.as_secs_f64()
    );
    println!("write latency, {} writers:", a.writers);
    row("without backup", baseline);
    row("during backup", during);
    Ok(())
}
