//! MinHash signatures of the values an entity's novelty features see, for learning
//! peer groups: the share of equal components of two signatures estimates the Jaccard
//! similarity of the two value sets.
//!
//! A signature is kept for the current period and the previous one (each a half-life
//! long) and used as their union, so old habits fall out after two periods and groups
//! follow the estate.

use super::hash::mix;
use serde::{Deserialize, Serialize};

/// Components per signature.
pub const COMPONENTS: usize = 16;

/// One signature: the minimum of 16 independent hashes over a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature(pub [u32; COMPONENTS]);

impl Default for Signature {
    fn default() -> Signature {
        Signature([u32::MAX; COMPONENTS])
    }
}

impl Signature {
    /// Adds a value (by its hash).
    pub fn add(&mut self, hash: u64) {
        for (i, slot) in self.0.iter_mut().enumerate() {
            let h =
                (mix(hash ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1))) >> 32) as u32;
            *slot = (*slot).min(h);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|c| *c == u32::MAX)
    }

    /// The signature of the union of both sets.
    pub fn union(&self, other: &Signature) -> Signature {
        let mut out = *self;
        for (o, x) in out.0.iter_mut().zip(other.0.iter()) {
            *o = (*o).min(*x);
        }
        out
    }

    /// Estimated Jaccard similarity.
    pub fn similarity(&self, other: &Signature) -> f64 {
        let same = self
            .0
            .iter()
            .zip(other.0.iter())
            .filter(|(a, b)| a == b && **a != u32::MAX)
            .count();
        same as f64 / COMPONENTS as f64
    }
}

/// A signature over two rotating periods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotating {
    pub current: Signature,
    pub previous: Signature,
    /// Index of the current period (event time / period length).
    pub period: i64,
}

impl Rotating {
    /// Adds a value seen at `period`; returns whether the period turned.
    pub fn add(&mut self, hash: u64, period: i64) -> bool {
        let turned = self.advance(period);
        self.current.add(hash);
        turned
    }

    /// Moves to `period`, forgetting what is two periods old.
    pub fn advance(&mut self, period: i64) -> bool {
        if period <= self.period {
            return false;
        }
        self.previous = if period == self.period + 1 {
            self.current
        } else {
            Signature::default()
        };
        self.current = Signature::default();
        self.period = period;
        true
    }

    /// The union of both periods.
    pub fn signature(&self) -> Signature {
        self.current.union(&self.previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maths::hash::hash_bytes;

    fn sig(range: std::ops::Range<u32>) -> Signature {
        let mut s = Signature::default();
        for i in range {
            s.add(hash_bytes(&i.to_le_bytes()));
        }
        s
    }

    #[test]
    fn similarity_estimates_jaccard() {
        let a = sig(0..100);
        assert_eq!(a.similarity(&sig(0..100)), 1.0);
        assert!(a.similarity(&sig(1000..1100)) <= 0.125);
        let half = a.similarity(&sig(50..150)); // Jaccard 1/3
        assert!((0.1..=0.6).contains(&half), "{half}");
    }

    #[test]
    fn rotation_forgets_two_periods_back() {
        let mut r = Rotating::default();
        r.add(hash_bytes(b"old"), 0);
        assert!(r.add(hash_bytes(b"new"), 1));
        let mut both = Signature::default();
        both.add(hash_bytes(b"old"));
        both.add(hash_bytes(b"new"));
        assert_eq!(r.signature(), both);
        r.advance(2);
        r.advance(3);
        assert!(r.signature().is_empty());
    }
}
