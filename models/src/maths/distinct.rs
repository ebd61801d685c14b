//! Counting distinct values in a window: exact up to 32 values, then a HyperLogLog
//! of 64 registers (about 13% standard error), so a window's memory stays under
//! 300 bytes however many values it sees.

use serde::{Deserialize, Serialize};

/// Values counted exactly before switching to registers.
const EXACT: usize = 32;
/// HyperLogLog registers (2^6).
const REGISTERS: usize = 64;
const INDEX_BITS: u32 = 6;

/// A distinct-count sketch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Distinct {
    Exact(Vec<u64>),
    Registers(Vec<u8>),
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct::Exact(Vec::new())
    }
}

impl Distinct {
    /// Adds a value's hash (from [`super::hash`], so its bits are well mixed).
    pub fn add(&mut self, hash: u64) {
        match self {
            Distinct::Exact(v) => {
                if v.contains(&hash) {
                    return;
                }
                if v.len() < EXACT {
                    v.push(hash);
                    return;
                }
                let mut regs = vec![0u8; REGISTERS];
                for h in v.iter().copied().chain([hash]) {
                    Self::set(&mut regs, h);
                }
                *self = Distinct::Registers(regs);
            }
            Distinct::Registers(regs) => Self::set(regs, hash),
        }
    }

    fn set(regs: &mut [u8], hash: u64) {
        let index = (hash & (REGISTERS as u64 - 1)) as usize;
        let rest = hash >> INDEX_BITS;
        let rank = (rest.trailing_zeros().min(64 - INDEX_BITS) + 1) as u8;
        if let Some(r) = regs.get_mut(index) {
            *r = (*r).max(rank);
        }
    }

    /// The estimated number of distinct values.
    pub fn estimate(&self) -> f64 {
        match self {
            Distinct::Exact(v) => v.len() as f64,
            Distinct::Registers(regs) => {
                let m = regs.len() as f64;
                let alpha = 0.709; // α for m = 64
                let sum: f64 = regs.iter().map(|r| (-f64::from(*r)).exp2()).sum();
                let raw = alpha * m * m / sum;
                let zeros = regs.iter().filter(|r| **r == 0).count();
                if raw <= 2.5 * m && zeros > 0 {
                    m * (m / zeros as f64).ln()
                } else {
                    raw
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maths::hash::hash_bytes;

    #[test]
    fn small_sets_are_exact_and_repeats_do_not_count() {
        let mut d = Distinct::default();
        for i in 0..20u32 {
            d.add(hash_bytes(&(i % 7).to_le_bytes()));
        }
        assert_eq!(d.estimate(), 7.0);
    }

    #[test]
    fn large_sets_are_estimated_within_the_sketch_error() {
        for n in [100u32, 1_000, 20_000] {
            let mut d = Distinct::default();
            for i in 0..n {
                d.add(hash_bytes(&i.to_le_bytes()));
                d.add(hash_bytes(&i.to_le_bytes()));
            }
            let e = d.estimate();
            let err = (e - f64::from(n)).abs() / f64::from(n);
            assert!(err < 0.35, "{n}: {e}");
            assert!(matches!(d, Distinct::Registers(_)));
        }
    }
}
