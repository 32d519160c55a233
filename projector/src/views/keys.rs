//! View keys: a one-byte tag, then `\0`-separated text segments. Segments are validated domain ids
//! (contract ids, periods, region codes), which never contain `\0`, so a key prefix ending in `\0`
//! selects exactly one parent (one contract, one registry) and key order is segment order.

/// A key under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new(tag: u8) -> Key {
        Key(vec![tag])
    }

    /// Appends `\0` and a segment.
    pub fn push(mut self, segment: &str) -> Key {
        assert!(
            !segment.as_bytes().contains(&0),
            "key segment {segment:?} contains NUL"
        );
        self.0.push(0);
        self.0.extend_from_slice(segment.as_bytes());
        self
    }

    /// Appends `\0` and a big-endian number, so numeric order is key order.
    pub fn push_u64(mut self, number: u64) -> Key {
        self.0.push(0);
        self.0.extend_from_slice(&number.to_be_bytes());
        self
    }

    /// The key as a prefix of its children: ends in `\0`.
    pub fn prefix(mut self) -> Vec<u8> {
        self.0.push(0);
        self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_selects_one_parent_only() {
        let short = Key::new(b'l').push("C-1").prefix();
        let long = Key::new(b'l').push("C-10").push("2026-01").into_bytes();
        let child = Key::new(b'l').push("C-1").push("2026-01").into_bytes();
        assert!(child.starts_with(&short));
        assert!(!long.starts_with(&short));
    }
}
