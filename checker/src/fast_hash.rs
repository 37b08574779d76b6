//! A fast, fixed hash for the checker's lookup tables.
//!
//! The standard hasher (SipHash with a random key) guards against crafted keys, which
//! histories are not, and costs more than the lookups themselves on the revision pass's long
//! histories. This is the multiply-rotate hash of rustc's `FxHasher`. It has no random key, so
//! it behaves the same on every run; even so, no result may depend on a table's iteration
//! order.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub(crate) type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher {
    hash: u64,
}

const MULTIPLIER: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The length first, so that zero padding of the last word cannot make two inputs equal.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("chunks of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A 128-bit digest of whatever is fed to it (XXH3-128, with no seed): for a memo that keeps
/// digests instead of the states themselves, where two states sharing a digest (a chance of
/// about 2^-128 per pair) would pass for one another.
pub(crate) struct Digest128(xxhash_rust::xxh3::Xxh3);

impl Digest128 {
    pub(crate) fn new() -> Self {
        Digest128(xxhash_rust::xxh3::Xxh3::new())
    }

    pub(crate) fn digest(&self) -> u128 {
        self.0.digest128()
    }
}

impl Hasher for Digest128 {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        self.0.digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash_of(value: impl Hash) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(value)
    }

    // Equal values hash alike on every run, and strings that differ only past a word boundary
    // or in length hash apart.
    #[test]
    fn fixed_and_spread() {
        assert_eq!(hash_of(("key", 7i64)), hash_of(("key", 7i64)));
        assert_ne!(hash_of("abcdefgh1"), hash_of("abcdefgh2"));
        assert_ne!(hash_of("a"), hash_of("a\0"));
        let mut set = FastSet::default();
        set.extend(["a", "b", "a"]);
        assert_eq!(set.len(), 2);
    }

    // The digest is fixed for equal input and tells apart inputs that differ in one word.
    #[test]
    fn digest_fixed_and_spread() {
        let digest_of = |value: (&str, i64)| {
            let mut digest = Digest128::new();
            value.hash(&mut digest);
            digest.digest()
        };
        assert_eq!(digest_of(("key", 7)), digest_of(("key", 7)));
        assert_ne!(digest_of(("key", 7)), digest_of(("key", 8)));
        assert_ne!(digest_of(("key", 7)), digest_of(("kez", 7)));
    }
}
