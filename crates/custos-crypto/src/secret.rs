//! `Secret<T>`: a value that zeroizes on drop, prints `[REDACTED]` and is read only
//! through `expose()`. It has no `Display` and no `Serialize`.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret value. Cloning is explicit and the clone zeroizes too.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wrap a value; the caller should not keep other copies of it.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Read the secret. Every call site is a place where the secret is used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new(String::from("hunter2"));
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(s.expose(), "hunter2");
    }
}
