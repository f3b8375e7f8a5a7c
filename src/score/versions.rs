//! Model version strings by number. A [`crate::core::Decision`] carries its
//! model's version as a `u16` (no string on the hot path); the journal
//! writer and the Redis publisher turn it back into the string with
//! [`name`]. The table is process-wide and append-only: a string is
//! interned once and keeps its number for the life of the process, so a
//! number always names the same version, across model swaps and across
//! engines in one process (tests). At most `u16::MAX` distinct versions.

use parking_lot::RwLock;
use std::sync::Arc;

static TABLE: RwLock<Vec<Arc<str>>> = RwLock::new(Vec::new());

/// The table is full (65 535 distinct versions in one process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many model versions in one process (at most {})", u16::MAX)]
pub struct VersionsFull;

/// The number of `version`, interning it when new.
pub fn intern(version: &str) -> Result<u16, VersionsFull> {
    if let Some(i) = TABLE.read().iter().position(|v| &**v == version) {
        return Ok(i as u16);
    }
    let mut t = TABLE.write();
    if let Some(i) = t.iter().position(|v| &**v == version) {
        return Ok(i as u16);
    }
    if t.len() >= u16::MAX as usize {
        return Err(VersionsFull);
    }
    t.push(Arc::from(version));
    Ok((t.len() - 1) as u16)
}

/// The version string of number `i` (`?` for a number never interned).
pub fn name(i: u16) -> Arc<str> {
    TABLE
        .read()
        .get(i as usize)
        .cloned()
        .unwrap_or_else(|| Arc::from("?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable() {
        let a = intern("versions-test-a").unwrap();
        let b = intern("versions-test-b").unwrap();
        assert_ne!(a, b);
        assert_eq!(intern("versions-test-a").unwrap(), a);
        assert_eq!(&*name(a), "versions-test-a");
        assert_eq!(&*name(b), "versions-test-b");
        assert_eq!(&*name(u16::MAX), "?");
    }
}
