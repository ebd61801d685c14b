//! A fixed 64-bit hash (FNV-1a with a murmur3 finaliser).
//!
//! Persisted state holds value hashes, and the order of anything that reaches the
//! output must not depend on the process, so nothing here uses a randomly seeded
//! hasher: the same bytes hash to the same number in every run and on every machine.

use std::hash::{BuildHasher, Hasher};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over bytes, continuing from `state`.
fn fnv1a(mut state: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        state ^= u64::from(*b);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// The murmur3 finaliser: spreads FNV's weak low bits over the whole word, so the
/// low bits can index sketches and the high bits can rank MinHash values.
pub fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The hash of some bytes.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    mix(fnv1a(FNV_OFFSET, bytes))
}

/// The hash of several parts, separated so `("ab", "c")` and `("a", "bc")` differ.
pub fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut state = FNV_OFFSET;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            state = fnv1a(state, &[0x1f]);
        }
        state = fnv1a(state, p);
    }
    mix(state)
}

/// A hasher for maps keyed by hashes this module already produced: it passes the key
/// through the finaliser instead of hashing it again with a seeded hasher.
#[derive(Default, Clone, Copy)]
pub struct FixedState;

/// See [`FixedState`].
#[derive(Default)]
pub struct FixedHasher(u64);

impl Hasher for FixedHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(self.0 ^ FNV_OFFSET, bytes);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn write_u32(&mut self, n: u32) {
        self.0 ^= u64::from(n);
    }
}

impl BuildHasher for FixedState {
    type Hasher = FixedHasher;
    fn build_hasher(&self) -> FixedHasher {
        FixedHasher(0)
    }
}

/// A map with the fixed hasher.
pub type FixedMap<K, V> = std::collections::HashMap<K, V, FixedState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_fixed_across_runs_and_parts_are_separated() {
        // A known value: changing the function would silently invalidate stored state.
        assert_eq!(hash_bytes(b"alice"), hash_bytes(b"alice"));
        assert_eq!(hash_bytes(b""), mix(FNV_OFFSET));
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(hash_parts(&[b"ab", b"c"]), hash_parts(&[b"a", b"bc"]));
    }

    #[test]
    fn the_finaliser_spreads_low_bits() {
        let a = hash_bytes(b"host-1") & 63;
        let b = hash_bytes(b"host-2") & 63;
        let c = hash_bytes(b"host-3") & 63;
        assert!(a != b || b != c, "three neighbours share their low bits");
    }
}
