//! The Custos HTTPS server: the `/v1` API over axum and rustls, problem+json errors,
//! authentication extractors, TLS material, background jobs, and the plaintext floor
//! used only by the benchmark.
#![forbid(unsafe_code)]

pub mod alerts;
mod api;
pub mod backups;
mod console;
pub mod export;
mod extract;
pub mod floor;
pub mod jobs;
pub mod mail;
pub mod oidc;
mod problem;
mod state;
pub mod tls;
pub mod zones;

pub use api::{openapi_json, router};
pub use problem::Problem;
pub use state::AppState;

use std::net::SocketAddr;
use std::sync::Arc;

/// How to listen.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Address to bind.
    pub addr: SocketAddr,
    /// TLS configuration; `None` only for plain HTTP on loopback.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Server start-up errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Plain HTTP asked for on a non-loopback address.
    #[error("plain HTTP is allowed only on a loopback address")]
    InsecureNonLoopback,
    /// Binding failed.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish (up to `grace`), then return.
    pub async fn shutdown(self, grace: std::time::Duration) {
        self.handle.graceful_shutdown(Some(grace));
        let _ = self.task.await;
    }

    /// Wait until the server stops by itself (an accept-loop failure).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Bind and start serving `app`.
pub fn start(app: axum::Router, opts: ListenOptions) -> Result<Running, ServeError> {
    if opts.tls.is_none() && !opts.addr.ip().is_loopback() {
        return Err(ServeError::InsecureNonLoopback);
    }
    let listener = std::net::TcpListener::bind(opts.addr).map_err(|e| ServeError::Bind(opts.addr, e))?;
    listener.set_nonblocking(true).map_err(|e| ServeError::Bind(opts.addr, e))?;
    let addr = listener.local_addr().map_err(|e| ServeError::Bind(opts.addr, e))?;
    let handle = axum_server::Handle::new();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let task = match opts.tls {
        Some(cfg) => {
            let server = axum_server::tls_rustls::from_tcp_rustls(
                listener,
                axum_server::tls_rustls::RustlsConfig::from_config(cfg),
            )
            .map_err(|e| ServeError::Bind(addr, e))?
            .handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
        None => {
            let server = axum_server::from_tcp(listener).map_err(|e| ServeError::Bind(addr, e))?.handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
    };
    Ok(Running { addr, handle, task })
}
