//! Streaming SHA-256, for checksums of files too large to hold in memory (backups).

use aws_lc_rs::digest::{Context, SHA256};

/// An incremental SHA-256.
pub struct Sha256Stream(Context);

impl std::fmt::Debug for Sha256Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256Stream")
    }
}

impl Default for Sha256Stream {
    fn default() -> Self {
        Self(Context::new(&SHA256))
    }
}

impl Sha256Stream {
    /// Add bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; 32] {
        let d = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_one_shot() {
        let mut s = Sha256Stream::default();
        s.update(b"hello ");
        s.update(b"world");
        assert_eq!(s.finish(), crate::sha256(b"hello world"));
    }
}
