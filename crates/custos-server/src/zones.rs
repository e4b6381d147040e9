//! What a node knows of the deployment's zones: its own, and the others' region labels
//! and public URLs (never their stores). A request for another zone is refused with a
//! pointer to where that zone is served.

use std::sync::Arc;

/// One zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneEntry {
    /// Name.
    pub name: String,
    /// Region label.
    pub region: Option<String>,
    /// Public base URL of its nodes.
    pub url: Option<String>,
}

/// The zones this node knows.
#[derive(Debug, Clone, Default)]
pub struct Zones(pub Arc<Vec<ZoneEntry>>);

impl Zones {
    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&ZoneEntry> {
        self.0.iter().find(|z| z.name == name)
    }
}
