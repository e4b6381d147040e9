//! `custos bench-purge`: how long purging one subject takes with 10 and with 10,000
//! records, step by step. The step that makes the data unreadable (ledger entry and key
//! destruction) must not grow with the data; deleting the rows does.

use anyhow::{Result, bail};
use custos_core::service::PurgeTiming;

/// Options of `custos bench-purge`.
#[derive(Debug, clap::Args)]
pub struct BenchPurgeArgs {
    /// Record counts to measure, one subject each.
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 10_000])]
    records: Vec<usize>,
    /// Runs per count (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `custos bench-purge`
pub async fn run(a: BenchPurgeArgs) -> Result<()> {
    if a.records.is_empty() || a.records.iter().any(|n| *n == 0 || *n > 200_000) || !(1..=20).contains(&a.runs) {
        bail!("--records 1-200000 each, --runs 1-20");
    }
    let dir = std::env::temp_dir().join(format!("custos-bench-purge-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = super::bench::Cleanup(dir.clone());
    let z = super::bench_zone::open(&dir).await?;
    let (vault, dpo, t) = (&z.vault, &z.dpo, &z.t);
    println!(
        "{:>8} {:>12} {:>14} {:>14} {:>12} {:>12}",
        "records", "anonymise", "destroy key", "delete data", "compact", "total"
    );
    for &n in &a.records {
        let mut runs: Vec<PurgeTiming> = Vec::new();
        for _ in 0..a.runs {
            let s = vault.create_subject(&z.admin, t).await?;
            z.fill(n, Some(&s)).await?;
            vault.request_erasure(dpo, t, &s, None, true).await?;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let timing = vault.purge_due_erasures_timed().await?;
            runs.extend(timing);
        }
        runs.sort_by_key(|r| r.anonymise + r.destroy_key + r.delete_data + r.compact);
        let m = runs[runs.len() / 2];
        let total = m.anonymise + m.destroy_key + m.delete_data + m.compact;
        println!(
            "{n:>8} {:>9.2} ms {:>11.2} ms {:>11.2} ms {:>9.2} ms {:>9.2} ms",
            ms(m.anonymise),
            ms(m.destroy_key),
            ms(m.delete_data),
            ms(m.compact),
            ms(total)
        );
    }
    Ok(())
}
