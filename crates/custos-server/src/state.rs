//! Shared application state handed to every handler: the vault service and limits.

use custos_core::Vault;
use std::sync::Arc;

/// State of the HTTP application.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The vault service: the only way to data.
    pub vault: Arc<Vault>,
    /// Whether the server speaks TLS (reported in health).
    pub tls: bool,
    /// Audit exporters' status (health, metrics).
    pub exporters: crate::export::Exporters,
    /// Mail for resets and invitations (`None`: no relay configured; nothing is sent).
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// HTTP client for OpenID Connect providers.
    pub oidc: crate::oidc::OidcClient,
    /// The zone's backup settings.
    pub backups: Arc<crate::backups::BackupSettings>,
    /// The deployment's zones as this node knows them.
    pub zones: crate::zones::Zones,
}
