//! The domain error: what went wrong, in terms a caller can act on. The server maps each
//! variant to an HTTP status and a stable problem type; messages never hold personal data.

use crate::store::StoreError;
use custos_crypto::CryptoError;

/// Errors from the vault service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The vault is sealed: no keys in memory.
    #[error("the vault is sealed")]
    Sealed,
    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Authenticated but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The resource does not exist, or is not visible to the caller.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input failed validation; `field` names the offending input (never its value).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which input.
        field: String,
        /// Why, without echoing the value.
        reason: String,
    },
    /// A read of personal data without a `Custos-Purpose`.
    #[error("a purpose is required to read personal data")]
    PurposeRequired,
    /// The stated purpose is not allowed for this collection.
    #[error("purpose not allowed for this collection")]
    PurposeNotAllowed,
    /// Conflicts with existing state (duplicate code, stale version, incompatible schema).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Unsealing failed (bad share, other init, too few distinct shares).
    #[error("unseal failed: {0}")]
    Unseal(String),
    /// The vault is already initialised, or not initialised.
    #[error("{0}")]
    State(&'static str),
    /// Stored ciphertext did not authenticate: tampering or a misplaced row.
    #[error("stored data failed integrity check")]
    Integrity,
    /// The audit trail could not be written, so the operation was not carried out.
    #[error("the audit trail is unavailable; the operation was not carried out")]
    AuditUnavailable,
    /// A privileged staff user must enrol in MFA before doing anything else.
    #[error("multi-factor authentication must be set up first")]
    MfaRequired,
    /// A login failed. One error for every cause, so accounts cannot be enumerated;
    /// the cause goes to the audit trail only.
    #[error("login failed")]
    LoginFailed(&'static str),
    /// Too many failed attempts: try again after `retry_after` seconds.
    #[error("too many attempts")]
    Throttled {
        /// Seconds to wait.
        retry_after: i64,
    },
    /// A body or file over its size limit (in bytes).
    #[error("larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// A content type that is not accepted.
    #[error("content type not accepted")]
    UnsupportedType,
    /// Storage failure.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Crypto failure other than integrity (RNG).
    #[error("crypto: {0}")]
    Crypto(CryptoError),
}

impl From<CryptoError> for CoreError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Decrypt | CryptoError::Malformed => CoreError::Integrity,
            other => CoreError::Crypto(other),
        }
    }
}

impl CoreError {
    /// A stable code for the kind of error: the problem type slug at the API, the
    /// reason code in the audit trail.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Sealed => "sealed",
            CoreError::Unauthenticated => "unauthenticated",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::NotFound(_) | CoreError::Store(StoreError::NotFound(_)) => "not-found",
            CoreError::Invalid { .. } => "invalid-input",
            CoreError::PurposeRequired => "purpose-required",
            CoreError::PurposeNotAllowed => "purpose-not-allowed",
            CoreError::Conflict(_) | CoreError::Store(StoreError::Conflict(_) | StoreError::Stale) => "conflict",
            CoreError::Unseal(_) => "unseal-failed",
            CoreError::State(_) => "invalid-state",
            CoreError::Integrity => "integrity-failure",
            CoreError::AuditUnavailable => "audit-unavailable",
            CoreError::MfaRequired => "mfa-required",
            CoreError::LoginFailed(_) => "login-failed",
            CoreError::Throttled { .. } | CoreError::Store(StoreError::Locked { .. }) => "throttled",
            CoreError::TooLarge(_) => "body-too-large",
            CoreError::UnsupportedType => "unsupported-media-type",
            _ => "internal",
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::Invalid { field: field.into(), reason: reason.into() }
    }
}
