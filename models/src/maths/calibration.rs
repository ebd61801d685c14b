//! Empirical calibration: a model's tail probability checked against the organisation's
//! own experience.
//!
//! The smoothing of each feature is a model of the estate, and models are wrong in the
//! tails: if people in this organisation click a link to a brand-new domain every day,
//! a new domain is not a one-in-ten-thousand event however the hierarchy multiplies out.
//! So the organisation keeps, per feature, a decayed histogram of the daily tails it
//! has handed out, and the number of entity-days it has seen. An observation's
//! calibrated tail is the larger of its model tail and the share of earlier
//! entity-days that produced one at least as extreme, `count / entity_days`: never
//! rarer than the organisation's own history shows such tails to be. The first
//! extreme tail of its kind passes on the model's word; the hundredth does not.

use serde::{Deserialize, Serialize};

/// Histogram resolution: buckets per factor of ten.
const PER_DECADE: f64 = 4.0;
/// Buckets: tails down to 10⁻⁴⁰.
const BUCKETS: usize = 160;

/// The organisation's experience of tails, on its forward-decay scale.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Entity-days seen (decayed, stored scale).
    pub entity_days: f64,
    /// Per feature, counts of daily tails by `⌊−log₁₀(tail) · 4⌋` (stored scale).
    pub tails: Vec<Vec<f32>>,
}

fn bucket(tail: f64) -> usize {
    if tail.is_nan() {
        return 0;
    }
    let depth = -tail.max(f64::MIN_POSITIVE).log10() * PER_DECADE;
    if depth <= 0.0 {
        0
    } else {
        (depth as usize).min(BUCKETS - 1)
    }
}

impl Calibration {
    /// Calibration for `features` features.
    pub fn new(features: usize) -> Calibration {
        Calibration {
            entity_days: 0.0,
            tails: vec![vec![0.0; BUCKETS]; features],
        }
    }

    /// An entity began a day of activity (`scale`: the organisation's current factor).
    pub fn day(&mut self, scale: f64) {
        self.entity_days += scale;
    }

    /// Records a daily tail of feature `i`.
    pub fn record(&mut self, i: usize, tail: f64, scale: f64) {
        if let Some(b) = self.tails.get_mut(i).and_then(|h| h.get_mut(bucket(tail))) {
            *b = (f64::from(*b) + scale) as f32;
        }
    }

    /// The share of entity-days that had a tail of feature `i` at least as extreme as
    /// `tail` (its bucket included); 0 before any entity-day.
    pub fn rate(&self, i: usize, tail: f64) -> f64 {
        let Some(h) = self.tails.get(i) else {
            return 1.0;
        };
        if self.entity_days <= 0.0 {
            return 0.0;
        }
        let at_least: f64 = h.iter().skip(bucket(tail)).map(|c| f64::from(*c)).sum();
        // Both are on the same stored scale, so their ratio needs no unscaling.
        (at_least / self.entity_days).min(1.0)
    }

    /// The calibrated tail: the model's, or the organisation's experience if that says
    /// such tails are commoner.
    pub fn calibrated(&self, i: usize, tail: f64) -> f64 {
        tail.max(self.rate(i, tail))
    }

    /// Divides every stored weight (the organisation's landmark moved).
    pub fn rescale(&mut self, factor: f64) {
        self.entity_days /= factor;
        for h in &mut self.tails {
            for c in h.iter_mut() {
                *c = (f64::from(*c) / factor) as f32;
            }
        }
    }

    /// Whether decoded data fits `features` features (empty for peer groups).
    pub fn is_valid(&self, features: usize) -> bool {
        (self.tails.is_empty() || self.tails.len() == features)
            && self.tails.iter().all(|h| h.len() == BUCKETS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_the_organisation_sees_daily_is_not_called_rare() {
        let mut c = Calibration::new(1);
        // 1,000 entity-days; one in a hundred produced a tail of 1e-4 for feature 0.
        for d in 0..1000 {
            c.day(1.0);
            if d % 100 == 0 {
                c.record(0, 1e-4, 1.0);
            }
        }
        // The model says 1e-4; the organisation has seen it on 10 of 1,000 days.
        assert!((c.calibrated(0, 1e-4) - 0.01).abs() < 1e-12);
        // Far rarer than anything seen: the model's word stands.
        assert_eq!(c.calibrated(0, 1e-12), 1e-12);
        // A model tail above the organisation's rate stays as it is.
        assert_eq!(c.calibrated(0, 0.5), 0.5);
        assert_eq!(c.rate(5, 1e-3), 1.0, "an unknown feature calibrates to 1");
        assert_eq!(
            Calibration::new(1).rate(0, 1e-3),
            0.0,
            "no history, no correction"
        );
    }

    #[test]
    fn decay_and_rescaling_keep_rates() {
        let mut c = Calibration::new(1);
        for _ in 0..100 {
            c.day(4.0);
        }
        c.record(0, 1e-6, 4.0);
        let before = c.rate(0, 1e-6);
        assert!((before - 0.01).abs() < 1e-9);
        c.rescale(4.0);
        assert!((c.rate(0, 1e-6) - before).abs() < 1e-9);
        assert!(c.is_valid(1) && !c.is_valid(2));
        assert!(Calibration::default().is_valid(3));
    }

    #[test]
    fn buckets_cover_every_tail() {
        assert_eq!(bucket(1.0), 0);
        assert_eq!(bucket(0.1), 4);
        assert_eq!(bucket(0.0), BUCKETS - 1);
        assert_eq!(bucket(f64::NAN), 0);
    }
}
