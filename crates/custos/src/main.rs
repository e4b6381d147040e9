//! The `custos` command: initialise a data directory, unseal, serve, run the demo, back up,
//! restore and drill, check the configuration, print the OpenAPI document, and benchmark.
#![forbid(unsafe_code)]
// A binary: every item is crate-internal, so `pub` here means "used by other modules".
#![allow(unreachable_pub)]

mod client;
mod cmd;
mod config;
mod config_auth;
mod config_backup;
mod config_privacy;
mod config_zones;
mod datadir;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "custos", version, about = "Custos: a self-hosted privacy vault for education platforms")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: root key split into shares, first operator token, TLS.
    Init {
        /// Data directory to create.
        #[arg(long)]
        data_dir: PathBuf,
        /// Number of unseal shares.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=255))]
        shares: u8,
        /// Shares needed to unseal.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=255))]
        threshold: u8,
        /// Address written to the configuration.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Print the shares and token as JSON.
        #[arg(long)]
        json: bool,
        /// Residency zone this data directory serves.
        #[arg(long, default_value = "default")]
        zone: String,
        /// Region label of the zone (shown in health and to other zones).
        #[arg(long)]
        region: Option<String>,
        /// The zone's store: `sqlite:PATH` (default: zone.db in the data directory) or a
        /// `postgres://user@host:port/db` URL (an empty database; its password is read
        /// from `CUSTOS_STORE_PASSWORD` and kept in a file beside the configuration).
        #[arg(long)]
        store: Option<String>,
    },
    /// Serve the API. Starts sealed.
    Serve {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Listen address (overrides the configuration).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Serve plain HTTP; loopback addresses only.
        #[arg(long)]
        insecure_http: bool,
    },
    /// Offer unseal shares (read from standard input, one per line) to a running server.
    Unseal {
        /// Data directory of the server (for its address and CA certificate).
        #[arg(long)]
        data_dir: PathBuf,
        /// Server URL (default: from the configuration).
        #[arg(long)]
        url: Option<String>,
    },
    /// Development demo: auto-unsealing data directory, demo tenant and synthetic people.
    Demo {
        /// Data directory (created on first run, reused after).
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        /// Listen address.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Ask the running server for an encrypted backup of its zone now (operator token in
    /// CUSTOS_TOKEN); prints the backup's id and location.
    Backup {
        /// Data directory of the server (for its address and CA certificate).
        #[arg(long)]
        data_dir: PathBuf,
        /// Zone (default: the served zone).
        #[arg(long)]
        zone: Option<String>,
        /// Target instead of the configured one: a directory or s3://bucket[/prefix].
        #[arg(long)]
        to: Option<String>,
        /// An age recipient (age1…) in addition to the configured ones; repeatable.
        #[arg(long = "recipient")]
        recipients: Vec<String>,
        /// Take a snapshot (shorter retention) instead of a full backup.
        #[arg(long)]
        snapshot: bool,
    },
    /// Restore a backup into a new data directory: verify, decrypt, load, re-apply the
    /// erasure ledger, verify the audit trail. Exit code 0 only when all of it held.
    Restore {
        /// The backup: <id>.manifest.json or <id>.age (its sibling beside it), or
        /// s3://bucket[/prefix]/<zone>/<id>.
        #[arg(long)]
        from: String,
        /// An age identity file whose key the backup is encrypted to.
        #[arg(long)]
        identity: PathBuf,
        /// The new data directory (absent or empty, or prepared with only a custos.toml).
        #[arg(long)]
        data_dir: PathBuf,
        /// The zone's erasure ledger (default: the one a prepared custos.toml names).
        #[arg(long)]
        ledger: Option<PathBuf>,
        /// The server's signing key (hex, /v1/sys/audit/public-key) the manifest must carry.
        #[arg(long)]
        public_key: Option<String>,
        /// Listen address written to a new configuration.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
    },
    /// Ask the running server to restore its newest backup into scratch space, verify it,
    /// decrypt a sample and record the result (operator token in CUSTOS_TOKEN).
    RestoreDrill {
        /// Data directory of the server.
        #[arg(long)]
        data_dir: PathBuf,
        /// An age identity file that opens the backups (default: backup.drill_identity).
        #[arg(long)]
        identity: Option<PathBuf>,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Check a data directory's configuration and print the effective values.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Benchmark record create and read over HTTPS, against the plaintext floor.
    Bench(cmd::bench::BenchArgs),
    /// Benchmark password logins and the per-request cost of checking a session.
    BenchAuth(cmd::bench_auth::BenchAuthArgs),
    /// Benchmark backup and restore throughput and write latency during a backup.
    BenchBackup(cmd::bench_backup::BenchBackupArgs),
    /// Benchmark one SQLite node against one and two PostgreSQL nodes of one zone.
    BenchNodes(cmd::bench_nodes::BenchNodesArgs),
    /// Benchmark purging a subject with few and with many records, step by step.
    BenchPurge(cmd::bench_purge::BenchPurgeArgs),
    /// Serve the plaintext floor for `custos bench` (benchmarks only).
    #[command(hide = true)]
    BenchFloor {
        /// Data directory for the floor's database.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Recompute the hash chain and check the signed checkpoints (offline).
    Verify {
        /// Data directory (or a restored backup).
        #[arg(long)]
        data_dir: PathBuf,
        /// Checkpoint public key (hex, from /v1/sys/audit/public-key); default: the one
        /// recorded in the data directory.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate `custos.toml` and environment overrides.
    Check {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One crypto provider for every TLS client and server in the process: AWS-LC.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("custos: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Init { data_dir, shares, threshold, listen, json, zone, region, store } => {
                let zone = cmd::init::ZoneArgs { zone, region, store };
                cmd::init::run(&data_dir, shares, threshold, listen, json, zone).await
            }
            Command::Serve { data_dir, listen, insecure_http } => {
                cmd::serve::run(&data_dir, listen, insecure_http).await
            }
            Command::Unseal { data_dir, url } => cmd::unseal::run(&data_dir, url).await,
            Command::Demo { data_dir, listen } => cmd::demo::run(&data_dir, listen).await,
            Command::Config { action: ConfigAction::Check { data_dir } } => cmd::config_check(&data_dir),
            Command::Audit { action: AuditAction::Verify { data_dir, public_key, json } } => {
                cmd::audit::verify(&data_dir, public_key, json).await
            }
            Command::Backup { data_dir, zone, to, recipients, snapshot } => {
                cmd::backup::backup(&data_dir, zone, to, recipients, snapshot).await
            }
            Command::Restore { from, identity, data_dir, ledger, public_key, listen } => {
                cmd::backup::restore_cmd(cmd::backup::RestoreArgs {
                    from,
                    identity,
                    data_dir,
                    ledger,
                    public_key,
                    listen,
                })
                .await
            }
            Command::RestoreDrill { data_dir, identity } => cmd::backup::drill(&data_dir, identity).await,
            Command::Openapi => cmd::print_openapi(),
            Command::Bench(args) => cmd::bench::run(args).await,
            Command::BenchAuth(args) => cmd::bench_auth::run(args).await,
            Command::BenchPurge(args) => cmd::bench_purge::run(args).await,
            Command::BenchBackup(args) => cmd::bench_backup::run(args).await,
            Command::BenchNodes(args) => cmd::bench_nodes::run(args).await,
            Command::BenchFloor { data_dir } => cmd::bench::serve_floor(&data_dir).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custos: {e:#}");
            ExitCode::FAILURE
        }
    }
}
