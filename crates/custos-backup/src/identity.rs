//! The operators' age keys: recipients (public, `age1…`) that backups are encrypted to,
//! and identities (secret, `AGE-SECRET-KEY-1…`) that open them. Identity text is held in
//! zeroized memory and never printed.

use crate::BackupError;
use custos_crypto::Secret;
use std::str::FromStr;

/// Parsed recipients.
pub struct Recipients(Vec<age::x25519::Recipient>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipients({})", self.0.len())
    }
}

impl Recipients {
    /// Parse `age1…` recipients; at least one, each valid.
    pub fn parse(list: &[String]) -> Result<Self, BackupError> {
        if list.is_empty() {
            return Err(BackupError::Invalid(
                "no backup recipients: set backup.recipients or pass --recipient age1…".into(),
            ));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, r) in list.iter().enumerate() {
            out.push(
                age::x25519::Recipient::from_str(r.trim())
                    .map_err(|_| BackupError::Invalid(format!("recipient {} is not an age X25519 recipient", i + 1)))?,
            );
        }
        Ok(Self(out))
    }

    /// The recipients as age wants them.
    pub fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Recipient> {
        self.0.iter().map(|r| r as &dyn age::Recipient)
    }

    /// Their text form, for the manifest.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// Parsed identities.
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities([REDACTED]; {})", self.0.len())
    }
}

impl Identities {
    /// Parse an age identity file's text (comments allowed).
    pub fn parse(text: &Secret<String>) -> Result<Self, BackupError> {
        let file = age::IdentityFile::from_buffer(text.expose().as_bytes())
            .map_err(|_| BackupError::Invalid("the identity file is not an age identity file".into()))?;
        let ids = file
            .into_identities()
            .map_err(|_| BackupError::Invalid("the identity file holds an identity this build cannot use".into()))?;
        if ids.is_empty() {
            return Err(BackupError::Invalid("the identity file holds no identity".into()));
        }
        Ok(Self(ids))
    }

    /// Read and parse an identity file.
    pub fn read(path: &std::path::Path) -> Result<Self, BackupError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| BackupError::Invalid(format!("cannot read the identity file {}: {e}", path.display())))?;
        if meta.len() > 1 << 20 {
            return Err(BackupError::Invalid("the identity file is too large".into()));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| BackupError::Invalid(format!("cannot read the identity file {}: {e}", path.display())))?;
        Self::parse(&Secret::new(text))
    }

    /// The identities as age wants them.
    pub fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.0.iter().map(|i| i.as_ref() as &dyn age::Identity)
    }
}

/// A new age key pair: the identity (secret) and its recipient (public).
pub fn generate() -> (Secret<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    (Secret::new(id.to_string().expose_secret().to_owned()), id.to_public().to_string())
}
