//! Timing: a categorical over the 48 slots of the week (hour of day × weekday or
//! weekend), per entity, peer group and organisation, scored as a tail like novelty.
//!
//! Counts are smoothed with the neighbouring hours of the same kind of day (¼, ½, ¼),
//! so activity at 09:00 makes 08:00 and 10:00 a little usual too, and a tenth of each
//! slot comes from the same hours of the other kind of day, so the first Saturday
//! morning at work is not as strange as a first night. Level L's
//! probability of slot s is `(c̃_L(s) + α·P_parent(s)) / (n_L + α)` (α = 4 hours'
//! worth of prior, the organisation's parent uniform). As for novelty, the tail of s
//! is the level's own mass of the slots at most as likely plus the share it leaves to
//! its parent times the parent's tail:
//!
//! `T_L(s) = Σ_{u: P_L(u) ≤ P_L(s)} c̃_L(u)/(n_L + α) + α/(n_L + α) · T_parent(s)`,
//!
//! with a tail of 1 above the organisation. An hour nobody at any level works at thus
//! gets a tail near the product of the levels' prior shares.

use super::baseline::SLOTS;
use serde::{Deserialize, Serialize};

/// Prior weight of the parent level.
const PRIOR: f64 = 4.0;
/// Share of a slot's smoothed count taken from the same hours of the other kind of
/// day (weekday or weekend).
const OTHER_DAYS: f64 = 0.1;

/// Decayed (stored-scale) activity per slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekHours {
    pub counts: Vec<f32>,
    pub total: f32,
}

impl Default for WeekHours {
    fn default() -> WeekHours {
        WeekHours {
            counts: vec![0.0; SLOTS],
            total: 0.0,
        }
    }
}

impl WeekHours {
    pub fn observe(&mut self, slot: usize, inc: f64) {
        if let Some(c) = self.counts.get_mut(slot) {
            *c = (f64::from(*c) + inc) as f32;
            self.total = (f64::from(self.total) + inc) as f32;
        }
    }

    pub fn rescale(&mut self, factor: f64) {
        for c in &mut self.counts {
            *c = (f64::from(*c) / factor) as f32;
        }
        self.total = (f64::from(self.total) / factor) as f32;
    }

    /// Whether decoded data has the right shape.
    pub fn is_valid(&self) -> bool {
        self.counts.len() == SLOTS
    }

    /// Decayed observations.
    pub fn observations(&self, scale: f64) -> f64 {
        f64::from(self.total) / scale
    }

    /// The smoothed count of `slot` in decayed units: the neighbouring hours of the
    /// same kind of day, and a little of the same hours of the other kind (someone
    /// who works 09:00–17:00 on weekdays is not alarming at 10:00 on a Saturday, only
    /// at 03:00). Mass is preserved, so the distribution still sums to one.
    fn smoothed(&self, slot: usize, scale: f64) -> f64 {
        let day = slot / 24 * 24;
        let other = (day + 24) % SLOTS;
        let hour = slot % 24;
        let around = |base: usize| {
            let at = |h: usize| f64::from(self.counts.get(base + h % 24).copied().unwrap_or(0.0));
            0.25 * at(hour + 23) + 0.5 * at(hour) + 0.25 * at(hour + 1)
        };
        ((1.0 - OTHER_DAYS) * around(day) + OTHER_DAYS * around(other)) / scale
    }

    /// The distribution over slots given the parent's.
    pub fn distribution(&self, scale: f64, parent: &[f64; SLOTS]) -> [f64; SLOTS] {
        let n = self.observations(scale);
        let mut out = [0.0; SLOTS];
        for (s, o) in out.iter_mut().enumerate() {
            *o = (self.smoothed(s, scale) + PRIOR * parent[s]) / (n + PRIOR);
        }
        out
    }

    /// The tail of `slot` at this level, ranking slots by `dist` (this level's
    /// [`WeekHours::distribution`]) and with the parent's tail `parent_tail`.
    pub fn tail(&self, scale: f64, dist: &[f64; SLOTS], slot: usize, parent_tail: f64) -> f64 {
        let p = dist.get(slot).copied().unwrap_or(0.0);
        let norm = self.observations(scale) + PRIOR;
        let own: f64 = (0..SLOTS)
            .filter(|u| dist[*u] <= p)
            .map(|u| self.smoothed(u, scale))
            .sum::<f64>()
            / norm;
        (own + self.parent_share(scale) * parent_tail).min(1.0)
    }

    /// Mass this level leaves to its parent: `α/(n + α)`.
    pub fn parent_share(&self, scale: f64) -> f64 {
        PRIOR / (self.observations(scale) + PRIOR)
    }
}

/// The uniform distribution over slots (above the organisation).
pub fn uniform() -> [f64; SLOTS] {
    [1.0 / SLOTS as f64; SLOTS]
}

/// The most likely slots, most likely first.
pub fn usual(dist: &[f64; SLOTS], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..SLOTS).collect();
    idx.sort_by(|a, b| dist[*b].total_cmp(&dist[*a]).then(a.cmp(b)));
    idx.truncate(n);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_hours_make_the_night_unusual_and_neighbours_a_little_usual() {
        let mut org = WeekHours::default();
        for _ in 0..1250 {
            for h in 9..17 {
                org.observe(h, 1.0);
            }
        }
        let mut w = WeekHours::default();
        for _ in 0..20 {
            for h in 9..17 {
                w.observe(h, 1.0);
            }
        }
        let od = org.distribution(1.0, &uniform());
        let d = w.distribution(1.0, &od);
        let total: f64 = d.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let night = w.tail(1.0, &d, 3, org.tail(1.0, &od, 3, 1.0));
        let morning = w.tail(1.0, &d, 10, org.tail(1.0, &od, 10, 1.0));
        // share_e · share_org = 4/164 · 4/10,004.
        assert!(
            (night - 4.0 / 164.0 * 4.0 / 10_004.0).abs() < 1e-9,
            "{night}"
        );
        assert!(morning > 0.5, "{morning}");
        assert!(d[8] > d[3] * 10.0, "the hour before work is smoothed in");
        assert_eq!(usual(&d, 2), [10, 11]);
    }

    #[test]
    fn with_no_history_the_parent_decides() {
        let w = WeekHours::default();
        let mut parent = [0.0; SLOTS];
        parent[5] = 1.0;
        let d = w.distribution(1.0, &parent);
        assert!((d[5] - 1.0).abs() < 1e-12);
        assert!((w.parent_share(1.0) - 1.0).abs() < 1e-12);
    }
}
