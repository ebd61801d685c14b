//! Forward decay in event time.
//!
//! A weight observed at time `t` is stored multiplied by `2^((t − landmark)/half_life)`,
//! so an update is a single addition and nothing older needs touching. The decayed
//! value at time `now` is the stored value divided by the same factor at `now`: every
//! observation then counts `2^(−age/half_life)`, so a count halves after one half-life.
//! When the factor grows past [`RENORMALISE_ABOVE`], the owner divides everything it
//! stores by it and moves its landmark to `now`, which keeps f32 counters precise.

use serde::{Deserialize, Serialize};

/// The factor past which stored values are renormalised (2^40).
pub const RENORMALISE_ABOVE: f64 = 1_099_511_627_776.0;

/// The largest exponent (in half-lives) a scale factor may have: 2^±1000 stays a
/// normal finite f64.
const SCALE_EXPONENT_LIMIT: f64 = 1000.0;

/// Time origin of one owner's stored weights (an entity, a group, the organisation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Landmark {
    /// Event time in milliseconds.
    pub at_ms: i64,
}

impl Landmark {
    pub fn new(at_ms: i64) -> Landmark {
        Landmark { at_ms }
    }

    /// The factor weights observed at `t_ms` are stored with.
    pub fn scale(&self, t_ms: i64, half_life_ms: i64) -> f64 {
        let half = half_life_ms.max(1) as f64;
        // Clamped so that an event far from the landmark (a hostile or mistaken
        // timestamp) gives a tiny or huge but finite factor, never 0 or infinity,
        // which would turn learned counts into NaN.
        (t_ms.saturating_sub(self.at_ms) as f64 / half)
            .clamp(-SCALE_EXPONENT_LIMIT, SCALE_EXPONENT_LIMIT)
            .exp2()
    }

    /// Whether the owner should renormalise before storing a weight at `t_ms`;
    /// returns the factor to divide stored values by, having moved the landmark.
    pub fn renormalise(&mut self, t_ms: i64, half_life_ms: i64) -> Option<f64> {
        self.renormalise_from(self.scale(t_ms, half_life_ms), t_ms, half_life_ms)
            .1
    }

    /// [`renormalise`](Self::renormalise) given the scale at `t_ms` as
    /// [`scale`](Self::scale) returned it: returns the scale to store with afterwards
    /// and, when the landmark moved, the factor to divide stored values by. The hot
    /// path computes each owner's scale once per event rather than once per use.
    pub fn renormalise_from(
        &mut self,
        scale: f64,
        t_ms: i64,
        half_life_ms: i64,
    ) -> (f64, Option<f64>) {
        if scale > RENORMALISE_ABOVE {
            self.at_ms = t_ms;
            (self.scale(t_ms, half_life_ms), Some(scale))
        } else {
            (scale, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_count_halves_after_one_half_life() {
        let lm = Landmark::new(0);
        let hl = 14 * DAY;
        let stored = lm.scale(DAY, hl) * 10.0; // ten observations on day 1
        let now = DAY + hl;
        let decayed = stored / lm.scale(now, hl);
        assert!((decayed - 5.0).abs() < 1e-9, "{decayed}");
        let two = stored / lm.scale(DAY + 2 * hl, hl);
        assert!((two - 2.5).abs() < 1e-9, "{two}");
    }

    #[test]
    fn renormalising_moves_the_landmark_and_keeps_decayed_values() {
        let hl = DAY;
        let mut lm = Landmark::new(0);
        let stored = lm.scale(50 * DAY, hl) * 3.0;
        assert!(lm.renormalise(10 * DAY, hl).is_none());
        let factor = lm.renormalise(50 * DAY, hl).expect("past 2^40");
        assert_eq!(lm.at_ms, 50 * DAY);
        let after = stored / factor;
        assert!((after / lm.scale(51 * DAY, hl) - 1.5).abs() < 1e-9);
    }
}
