//! Seasonal baselines of windowed numbers and their Laplace tail.
//!
//! Values are modelled on a log scale (`ln(1 + x)`), where volumes and counts are
//! closer to symmetric and a tenfold burst is a fixed distance. A baseline is a decayed
//! mean μ and mean absolute deviation b (the Laplace scale's natural estimate), per
//! slot of the week (hour of day × weekday/weekend, 48 slots) and over all slots. An
//! update uses the value winsorised at μ + 3b, so a burst does not teach the baseline
//! at once. The tail is one-sided (more is the threat):
//!
//! `T(x) = ½·exp(−(x − μ)/b)` for x ≥ μ, and `1 − ½·exp(−(μ − x)/b)` below μ,
//!
//! the survival function of a Laplace(μ, b), with `b` floored so that a baseline that
//! never varied still has honest, heavy tails.

use serde::{Deserialize, Serialize};

/// Slots of the week: 24 hours × {weekday, weekend}.
pub const SLOTS: usize = 48;
/// The smallest scale, in log units (about ±30%).
pub const SCALE_FLOOR: f64 = 0.3;
/// Winsorising bound, in scales above the mean.
const WINSOR: f64 = 3.0;
/// Windows a slot needs before its own mean outweighs the all-slot mean.
const SLOT_PRIOR: f64 = 2.0;

/// The slot of the week of a time in milliseconds (UTC): hour of day, +24 at weekends.
pub fn slot_of(ms: i64) -> usize {
    let hour = ms.div_euclid(3_600_000).rem_euclid(24) as usize;
    // 1970-01-01 was a Thursday: day 0 → weekday index 3 (Monday = 0).
    let weekday = (ms.div_euclid(86_400_000) + 3).rem_euclid(7);
    hour + if weekday >= 5 { 24 } else { 0 }
}

/// Survival function of Laplace(μ, b): probability of a value at least `x`.
pub fn laplace_tail(x: f64, mean: f64, scale: f64) -> f64 {
    let b = scale.max(f64::MIN_POSITIVE);
    if x >= mean {
        0.5 * (-(x - mean) / b).exp()
    } else {
        1.0 - 0.5 * (-(mean - x) / b).exp()
    }
}

/// The value `q` with `laplace_tail(q) = p` for p ≤ ½ (the upper band edge).
pub fn laplace_upper(mean: f64, scale: f64, p: f64) -> f64 {
    mean + scale * (0.5 / p.clamp(f64::MIN_POSITIVE, 0.5)).ln()
}

/// A decayed mean and mean absolute deviation with its stored weight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub mean: f32,
    pub mad: f32,
    /// Stored (forward-decay scaled) weight; 0 when nothing was seen.
    pub weight: f32,
}

impl Moments {
    /// Adds `x` with stored weight `inc`, winsorised at μ + 3b once there is a baseline.
    pub fn update(&mut self, x: f64, inc: f64) {
        let (mean, mad) = (f64::from(self.mean), f64::from(self.mad));
        let x = if self.weight > 0.0 {
            x.min(mean + WINSOR * mad.max(SCALE_FLOOR))
        } else {
            x
        };
        let w = f64::from(self.weight) + inc;
        let rate = if w > 0.0 { inc / w } else { 1.0 };
        let new_mean = mean + rate * (x - mean);
        let dev = if self.weight > 0.0 {
            (x - mean).abs()
        } else {
            0.0
        };
        self.mad = (mad + rate * (dev - mad)) as f32;
        self.mean = new_mean as f32;
        self.weight = w as f32;
    }

    pub fn rescale(&mut self, factor: f64) {
        self.weight = (f64::from(self.weight) / factor) as f32;
    }

    /// The weight in decayed units (windows).
    pub fn windows(&self, scale: f64) -> f64 {
        f64::from(self.weight) / scale
    }
}

/// A point estimate: mean and scale on the log scale, and the windows behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub scale: f64,
    pub windows: f64,
}

impl Estimate {
    /// `self` shrunk toward `other` by `trust` ∈ [0, 1] (1 keeps `self`).
    pub fn blend(self, other: Estimate, trust: f64) -> Estimate {
        let t = trust.clamp(0.0, 1.0);
        Estimate {
            mean: t * self.mean + (1.0 - t) * other.mean,
            scale: t * self.scale + (1.0 - t) * other.scale,
            windows: self.windows + other.windows,
        }
    }

    /// The tail of `x` under this estimate, with the scale floored.
    pub fn tail(&self, x: f64) -> f64 {
        laplace_tail(x, self.mean, self.scale.max(SCALE_FLOOR))
    }
}

/// A seasonal baseline: all slots together, and each slot once it has been seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Seasonal {
    pub all: Moments,
    /// Per slot, allocated on the first update (48 entries).
    pub slots: Option<Vec<Moments>>,
}

impl Seasonal {
    /// Whether decoded data has the right shape.
    pub fn is_valid(&self) -> bool {
        self.slots.as_ref().is_none_or(|s| s.len() == SLOTS)
    }

    /// Whether anything was learned.
    pub fn is_empty(&self) -> bool {
        self.all.weight <= 0.0
    }

    /// The estimate for `slot`: the slot's moments shrunk toward the all-slot ones
    /// while the slot has few windows. `None` when nothing was learned.
    pub fn estimate(&self, slot: usize, scale: f64) -> Option<Estimate> {
        if self.is_empty() {
            return None;
        }
        let all = Estimate {
            mean: f64::from(self.all.mean),
            scale: f64::from(self.all.mad),
            windows: self.all.windows(scale),
        };
        let Some(s) = self.slots.as_ref().and_then(|s| s.get(slot)) else {
            return Some(all);
        };
        let w = s.windows(scale);
        if w <= 0.0 {
            return Some(all);
        }
        let own = Estimate {
            mean: f64::from(s.mean),
            scale: f64::from(s.mad),
            windows: w,
        };
        let mut e = own.blend(all, w / (w + SLOT_PRIOR));
        e.windows = all.windows;
        Some(e)
    }

    /// Learns `x` (log scale) for `slot` with stored weight `inc`.
    pub fn update(&mut self, slot: usize, x: f64, inc: f64) {
        self.all.update(x, inc);
        let slots = self
            .slots
            .get_or_insert_with(|| vec![Moments::default(); SLOTS]);
        if let Some(s) = slots.get_mut(slot) {
            s.update(x, inc);
        }
    }

    pub fn rescale(&mut self, factor: f64) {
        self.all.rescale(factor);
        if let Some(slots) = &mut self.slots {
            slots.iter_mut().for_each(|s| s.rescale(factor));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_laplace_tail_is_the_closed_form_survival_function() {
        assert!((laplace_tail(0.0, 0.0, 1.0) - 0.5).abs() < 1e-12);
        assert!((laplace_tail(3.0, 1.0, 2.0) - 0.5 * (-1.0f64).exp()).abs() < 1e-12);
        assert!((laplace_tail(-1.0, 1.0, 2.0) - (1.0 - 0.5 * (-1.0f64).exp())).abs() < 1e-12);
        let q = laplace_upper(1.0, 2.0, 0.001);
        assert!((laplace_tail(q, 1.0, 2.0) - 0.001).abs() < 1e-12);
        // Monotone: more is never less unusual.
        let mut last = 1.0;
        for i in -20..40 {
            let t = laplace_tail(f64::from(i) / 4.0, 1.0, 0.7);
            assert!(t <= last);
            last = t;
        }
    }

    #[test]
    fn moments_of_laplace_draws_estimate_mean_and_scale() {
        // Deterministic Laplace(5, 0.5) quantiles, interleaved.
        let mut m = Moments::default();
        for i in 0..2000 {
            let u = (f64::from(i % 997) + 0.5) / 997.0;
            let x = if u < 0.5 {
                5.0 + 0.5 * (2.0 * u).ln()
            } else {
                5.0 - 0.5 * (2.0 - 2.0 * u).ln()
            };
            m.update(x, 1.0);
        }
        assert!((f64::from(m.mean) - 5.0).abs() < 0.1, "{m:?}");
        assert!((f64::from(m.mad) - 0.5).abs() < 0.1, "{m:?}");
    }

    #[test]
    fn a_burst_does_not_teach_the_baseline_at_once() {
        let mut m = Moments::default();
        for i in 0..50 {
            m.update(3.0 + f64::from(i % 3) * 0.1, 1.0);
        }
        let before = m.mean;
        m.update(20.0, 1.0);
        assert!(f64::from(m.mean - before) < 0.1, "{m:?}");
    }

    #[test]
    fn slots_follow_the_week_in_utc() {
        // 2026-10-03 was a Saturday; 22:14 UTC.
        let sat = 1_791_065_645_000;
        assert_eq!(slot_of(sat), 22 + 24);
        // Monday 2026-10-05 09:30 UTC.
        let mon = sat + 2 * 86_400_000 - 22 * 3_600_000 + 9 * 3_600_000;
        assert_eq!(slot_of(mon), 9);
    }

    #[test]
    fn a_slot_with_little_weight_leans_on_the_whole_week() {
        let mut s = Seasonal::default();
        for _ in 0..100 {
            s.update(9, 2.0, 1.0);
        }
        s.update(3, 6.0, 1.0);
        let e = s.estimate(3, 1.0).expect("learned");
        assert!(e.mean > 2.0 && e.mean < 6.0, "{e:?}");
        let nine = s.estimate(9, 1.0).expect("learned");
        assert!((nine.mean - 2.0).abs() < 0.2, "{nine:?}");
        assert!(s.estimate(20, 1.0).is_some());
        assert!(Seasonal::default().estimate(0, 1.0).is_none());
    }
}
