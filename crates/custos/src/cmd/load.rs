//! A bounded HTTP load generator: a fixed number of concurrent workers, each sending one
//! request at a time for a fixed duration, recording every latency. Stops by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Result of one load phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    /// Successful requests.
    pub ok: usize,
    /// Failed requests (non-2xx or transport errors).
    pub errors: usize,
    /// Successful requests per second.
    pub throughput: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// Sees the body of every successful response.
pub type OnBody = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// What a worker sends: given a sequence number, a request builder.
pub type MakeRequest = Arc<dyn Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

/// Run `concurrency` workers for `duration`; `on_body` sees every successful body.
pub async fn run(
    client: reqwest::Client,
    concurrency: usize,
    duration: Duration,
    make: MakeRequest,
    on_body: Option<OnBody>,
) -> Stats {
    let seq = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, make, seq, errors, on_body) =
            (client.clone(), make.clone(), seq.clone(), errors.clone(), on_body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(16_384);
            while Instant::now() < deadline {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                let resp = make(&client, n).send().await;
                match resp {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(b) => {
                            lat.push(t0.elapsed());
                            if let Some(f) = &on_body {
                                f(&b);
                            }
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all[i.min(all.len() - 1)].as_secs_f64() * 1000.0
    };
    Stats {
        ok: all.len(),
        errors: errors.load(Ordering::Relaxed),
        throughput: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}
