//! Peer deviation: an entity that keeps using, day after day, a value its peer group
//! does not use.
//!
//! Every level counts **entity-days**: the organisation and each peer group keep, per
//! value, the decayed number of (entity, day) pairs in which the value was used, and
//! the decayed number of entity-days in which the field was observed at all. An
//! entity keeps the same two counts for itself — its active days and, for the few
//! values its peers rarely use, the days it used them — so its own contribution can
//! be taken out of its group's: the question is whether the *others* use the value.
//!
//! With the peers' days `D` and their days with the value `c` (the entity's own taken
//! out), and the organisation's rate `r = (c_org + ½)/(D_org + 1)`, the chance that a
//! peer uses the value on one of its active days is estimated as
//!
//! `q = (c + ½ + A·r)/(D + 1 + A)`, A = [`PRIOR_DAYS`]:
//!
//! the peers' own rate when they have much history, the organisation's when they
//! have little (a group of three people seen for a week proves little), and never 0
//! (a value nobody uses is not infinitely unlikely). The entity used the value on `k`
//! of its `n` active days (both decayed with the half-life, so old days weigh less);
//! if it behaved like its peers, that count would be binomial, and the tail is
//!
//! `P(Binomial(n, q) ≥ k) = I_q(k, n − k + 1)`,
//!
//! the regularised incomplete beta function, which also holds for the non-integer
//! counts decay produces. One day of an app the peers never use is weak evidence
//! (about `n·q`); every further day multiplies it by about `n·q/k`, so a slow
//! insider becomes more certain week after week, while a one-off stays a one-off.

use super::novelty::HeapTop;
use serde::{Deserialize, Serialize};

/// Values an entity tracks per peer-rarity feature: those its peers rarely use.
pub const PEER_TABLE: usize = 8;
/// Distinct values per entity and day whose use that day is remembered (so each is
/// counted once per day); further values of a busier day are not counted.
pub const DAY_VALUES: usize = 64;
/// Pseudo-days of the organisation's rate in the peers' estimated rate.
pub const PRIOR_DAYS: f64 = 10.0;
/// A value the peers use on more than this share of their days is not tracked: it
/// can never be evidence.
pub const TRACK_BELOW: f64 = 0.2;
/// Once a value breached for an entity, it is judged again only when its tail is this
/// many times smaller: the same finding is not repeated day after day.
pub const REPEAT_FACTOR: f64 = 1000.0;

/// The organisation's rate of a value per entity-day: `(c + ½)/(D + 1)`.
pub fn org_rate(days_with: f64, days: f64) -> f64 {
    ((days_with.max(0.0) + 0.5) / (days.max(0.0) + 1.0)).clamp(0.0, 1.0)
}

/// The peers' rate per entity-day, shrunk toward the organisation's:
/// `(c + ½ + A·r)/(D + 1 + A)`.
pub fn peer_rate(days_with: f64, days: f64, org: f64) -> f64 {
    let days = days.max(0.0);
    let with = days_with.clamp(0.0, days);
    ((with + 0.5 + PRIOR_DAYS * org.clamp(0.0, 1.0)) / (days + 1.0 + PRIOR_DAYS)).clamp(0.0, 1.0)
}

/// How much backs a judgement: the share of the peers' rate that is their own
/// history rather than the organisation's prior, `D/(D + A)`, times `n/(n + 1)` for
/// the entity's `n` active days.
pub fn confidence(peer_days: f64, own_days: f64) -> f64 {
    let (d, n) = (peer_days.max(0.0), own_days.max(0.0));
    d / (d + PRIOR_DAYS) * n / (n + 1.0)
}

/// The tail of a value an entity took up: used on `k` of its `n` active days *after*
/// the day it first used it, following `baseline` active days without it, with its
/// peers' rate `q`. Two things must both be unusual, so the larger of their tails
/// (an intersection–union test) is the evidence:
///
/// - *it deviates from its peers*: `P(Binomial(n, q) ≥ k)`. The first day is left
///   out: it is why the value is looked at (and what `novelty` judges), so one day
///   of something new is no evidence here and each further day is;
/// - *it changed*: had the entity always used the value at its rate since,
///   `p = (k + ½)/(n + 1)`, it would not have gone `baseline` days without it:
///   `(1 − p)^baseline`. A value used since the entity's first days is a habit as
///   first seen (a department that differs from what a person does, a directory that
///   is wrong), not something it took up.
pub fn taken_up_tail(n: f64, k: f64, baseline: f64, q: f64) -> f64 {
    let (n, k) = (n.max(0.0), k.max(0.0).min(n.max(0.0)));
    let peers = binomial_upper_tail(n, k, q);
    let p = (k + 0.5) / (n + 1.0);
    let change = (baseline.max(0.0) * (-p).ln_1p()).exp();
    peers.max(change).clamp(0.0, 1.0)
}

/// `P(Binomial(n, q) ≥ k)` for real `n ≥ k > 0`: `I_q(k, n − k + 1)`. 1 for `k ≤ 0`.
pub fn binomial_upper_tail(n: f64, k: f64, q: f64) -> f64 {
    if k.is_nan() || n.is_nan() || q.is_nan() || k <= 0.0 {
        return 1.0;
    }
    let k = k.min(n);
    if q <= 0.0 {
        return 0.0;
    }
    if q >= 1.0 {
        return 1.0;
    }
    regularized_beta(k, n - k + 1.0, q)
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, nine terms; relative error about 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function `I_x(a, b)`, by its continued fraction
/// (modified Lentz), on the side of the mean where it converges quickly.
pub fn regularized_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let front = ln_front.exp();
    let value = if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    };
    value.clamp(0.0, 1.0)
}

/// The continued fraction of the incomplete beta function (modified Lentz: each term
/// updates the running numerator `c` and denominator `d`, kept away from zero).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPSILON: f64 = 1e-15;
    let away_from_zero = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / away_from_zero(1.0 - qab * x / qap);
    let mut h = d;
    // One term of the fraction: the factor it multiplies the value by.
    let term = |aa: f64, c: &mut f64, d: &mut f64| {
        *d = 1.0 / away_from_zero(1.0 + aa * *d);
        *c = away_from_zero(1.0 + aa / *c);
        *d * *c
    };
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        h *= term(m * (b - m) * x / ((qam + m2) * (a + m2)), &mut c, &mut d);
        let step = term(
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
            &mut c,
            &mut d,
        );
        h *= step;
        if (step - 1.0).abs() < EPSILON {
            break;
        }
    }
    h
}

/// One value an entity's peers rarely use, and the entity's days with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerEntry {
    pub hash: u64,
    /// Days with the value (decayed, the entity's stored scale).
    pub days: f32,
    /// Days with the value, counted (for the explanation).
    pub used: u32,
    /// The entity's counted active days before the value was first tracked.
    pub since_active: u32,
    /// The day (since the epoch) it was first tracked.
    pub first_day: i64,
    /// The weight of that first day (stored scale).
    pub first: f32,
    /// The entity's active days then, that first day included (stored scale).
    pub days_then: f32,
    /// `ln` of the tail of its last breach (0: none yet).
    pub reported: f32,
}

impl PeerEntry {
    /// Days with the value after the first (decayed, at the entity's `scale`).
    pub fn after(&self, scale: f64) -> f64 {
        (f64::from(self.days) - f64::from(self.first)).max(0.0) / scale
    }

    /// Active days before the first day with the value (decayed).
    pub fn baseline(&self, scale: f64) -> f64 {
        (f64::from(self.days_then) - f64::from(self.first)).max(0.0) / scale
    }
}

/// An entity's state of one peer-rarity feature: its active days (with the field),
/// the values seen today, and a small table of its peer-rare values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerTable {
    /// Hash of the peer group the counts were made in (0: none). A move to another
    /// group starts them afresh: evidence is relative to one group.
    pub group: u64,
    /// Active days (decayed, stored scale).
    pub days: f32,
    /// Active days, counted since the counts (re)started.
    pub active: u32,
    /// The day (since the epoch) `today` is about.
    pub day: i64,
    /// Values already counted that day.
    pub today: Vec<u64>,
    pub entries: Vec<PeerEntry>,
}

impl Default for PeerTable {
    fn default() -> PeerTable {
        PeerTable {
            group: 0,
            days: 0.0,
            active: 0,
            day: i64::MIN,
            today: Vec::new(),
            entries: Vec::new(),
        }
    }
}

impl PeerTable {
    /// Starts the counts afresh for the group `group`.
    pub fn reset(&mut self, group: u64) {
        *self = PeerTable {
            group,
            ..PeerTable::default()
        };
    }

    /// The tracked entry of `hash`.
    pub fn entry(&self, hash: u64) -> Option<&PeerEntry> {
        self.entries.iter().find(|e| e.hash == hash)
    }

    pub fn entry_mut(&mut self, hash: u64) -> Option<&mut PeerEntry> {
        self.entries.iter_mut().find(|e| e.hash == hash)
    }

    /// Starts tracking `hash` with one day of use at stored weight `weight`: in a free
    /// place, or instead of the entry with the fewest (decayed) days when that has
    /// fewer than `weight`. Returns whether it is tracked.
    pub fn track(&mut self, hash: u64, weight: f32, day: i64) -> bool {
        let entry = PeerEntry {
            hash,
            days: weight,
            used: 1,
            since_active: self.active.saturating_sub(1),
            first_day: day,
            first: weight,
            days_then: self.days,
            reported: 0.0,
        };
        if self.entries.len() < PEER_TABLE {
            self.entries.push(entry);
            return true;
        }
        let weakest = self
            .entries
            .iter_mut()
            .min_by(|a, b| a.days.total_cmp(&b.days).then(a.hash.cmp(&b.hash)));
        match weakest {
            Some(w) if w.days < weight => {
                *w = entry;
                true
            }
            _ => false,
        }
    }

    /// Divides every stored weight (the entity's landmark moved).
    pub fn rescale(&mut self, factor: f64) {
        self.days = (f64::from(self.days) / factor) as f32;
        for e in &mut self.entries {
            for x in [&mut e.days, &mut e.first, &mut e.days_then] {
                *x = (f64::from(*x) / factor) as f32;
            }
        }
    }

    /// Whether decoded state is within its bounds.
    pub fn is_valid(&self) -> bool {
        self.entries.len() <= PEER_TABLE
            && self.today.len() <= DAY_VALUES
            && self.days.is_finite()
            && self
                .entries
                .iter()
                .all(|e| e.days.is_finite() && e.days >= 0.0)
    }
}

/// A peer group's or the organisation's entity-days: per value, the decayed number of
/// entity-days with it (top-k), and the decayed number of entity-days with the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerDays {
    pub values: HeapTop,
    /// Entity-days with the field (stored scale).
    pub days: f64,
}

impl PeerDays {
    pub fn new(capacity: usize, keep_names: bool) -> PeerDays {
        PeerDays {
            values: HeapTop::new(capacity, keep_names),
            days: 0.0,
        }
    }

    /// Decayed entity-days with `hash` and with the field, at the level's `scale`.
    pub fn counts(&self, hash: u64, scale: f64) -> (f64, f64) {
        (self.values.count(hash) / scale, self.days / scale)
    }

    pub fn rescale(&mut self, factor: f64) {
        self.values.rescale(factor);
        self.days /= factor;
    }

    /// Rebuilds the index after decoding; false when the data is inconsistent.
    pub fn restore(&mut self) -> bool {
        self.days.is_finite() && self.values.rebuild_index()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact binomial upper tail for integer counts.
    fn exact(n: u32, k: u32, q: f64) -> f64 {
        let mut sum = 0.0;
        for j in k..=n {
            let ln_choose = ln_gamma(f64::from(n) + 1.0)
                - ln_gamma(f64::from(j) + 1.0)
                - ln_gamma(f64::from(n - j) + 1.0);
            sum += (ln_choose + f64::from(j) * q.ln() + f64::from(n - j) * (1.0 - q).ln()).exp();
        }
        sum
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut factorial = 1.0f64;
        for n in 1..30u32 {
            factorial *= f64::from(n);
            let got = ln_gamma(f64::from(n) + 1.0);
            assert!((got - factorial.ln()).abs() < 1e-10, "{n}: {got}");
        }
        // Γ(½) = √π.
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn the_binomial_tail_has_its_known_values() {
        // One day in twenty: 1 − (1 − q)^n.
        let q = 0.01;
        let one = binomial_upper_tail(20.0, 1.0, q);
        assert!((one - (1.0 - 0.99f64.powi(20))).abs() < 1e-12, "{one}");
        // Every day of n: q^n.
        assert!((binomial_upper_tail(5.0, 5.0, 0.1) - 1e-5).abs() < 1e-15);
        // A hand-checked case: P(Bin(8, 0.01) ≥ 6) = C(8,6)·q⁶·(1−q)² + 8·q⁷(1−q) + q⁸.
        let hand = 28.0 * 1e-12 * 0.99f64.powi(2) + 8.0 * 1e-14 * 0.99 + 1e-16;
        let got = binomial_upper_tail(8.0, 6.0, 0.01);
        assert!(((got - hand) / hand).abs() < 1e-9, "{got} vs {hand}");
        // Against exact sums over a grid, down to very small tails.
        for n in [1u32, 3, 8, 14, 20, 40] {
            for k in 1..=n {
                for q in [1e-4, 0.003, 0.05, 0.3, 0.8] {
                    let want = exact(n, k, q);
                    let got = binomial_upper_tail(f64::from(n), f64::from(k), q);
                    assert!(
                        (got - want).abs() <= 1e-10 * want.max(1e-300) + 1e-14,
                        "n={n} k={k} q={q}: {got} vs {want}"
                    );
                }
            }
        }
        assert_eq!(binomial_upper_tail(10.0, 0.0, 0.5), 1.0);
        assert_eq!(binomial_upper_tail(10.0, 2.0, 0.0), 0.0);
        assert_eq!(binomial_upper_tail(f64::NAN, 2.0, 0.5), 1.0);
    }

    #[test]
    fn decayed_counts_give_tails_between_their_integer_neighbours() {
        let q = 0.01;
        let t = binomial_upper_tail(7.5, 3.5, q);
        let (lo, hi) = (
            binomial_upper_tail(7.0, 4.0, q),
            binomial_upper_tail(8.0, 3.0, q),
        );
        assert!(t > lo && t < hi, "{lo} < {t} < {hi}");
    }

    #[test]
    fn evidence_grows_with_every_further_day_and_a_one_off_stays_weak() {
        // Peers: 160 peer-days, never the value; the organisation uses it on 10% of days.
        let q = peer_rate(0.0, 160.0, org_rate(100.0, 999.0));
        assert!((q - (0.5 + 10.0 * 0.1005) / 171.0).abs() < 1e-12, "{q}");
        let one_off = binomial_upper_tail(20.0, 1.0, q);
        assert!(one_off > 0.1, "a single day is no evidence: {one_off}");
        let mut last = 1.0;
        for k in 1..=8 {
            let t = binomial_upper_tail(20.0, f64::from(k), q);
            assert!(t < last / 5.0, "day {k}: {t} after {last}");
            last = t;
        }
        assert!(last < 1e-10, "{last}");
        // The same days against peers who use the value half the time say nothing.
        let common = peer_rate(80.0, 160.0, 0.1);
        assert!(binomial_upper_tail(20.0, 8.0, common) > 0.5);
    }

    #[test]
    fn a_value_taken_up_is_judged_on_the_days_after_and_against_the_baseline() {
        let q = 0.01;
        // The day it was first used only: nothing to judge.
        assert_eq!(taken_up_tail(0.0, 0.0, 10.0, q), 1.0);
        // Every one of the 5 days after, after 10 days without it: q⁵.
        let t = taken_up_tail(5.0, 5.0, 10.0, q);
        assert!((t - 1e-10).abs() < 1e-15, "{t}");
        // The same days from an entity's very first day: a habit, no evidence.
        assert_eq!(taken_up_tail(5.0, 5.0, 0.0, q), 1.0);
        // Three days of baseline against a rate of (3 + ½)/(4 + 1): 0.3³.
        let short = taken_up_tail(4.0, 3.0, 3.0, q);
        assert!((short - 0.3f64.powi(3)).abs() < 1e-12, "{short}");
        // More days after, more evidence.
        assert!(taken_up_tail(6.0, 6.0, 10.0, q) < taken_up_tail(5.0, 5.0, 10.0, q));
    }

    #[test]
    fn evidence_fades_with_the_half_life_once_the_use_stops() {
        use crate::maths::decay::Landmark;
        const DAY: i64 = 86_400_000;
        let (hl, lm) = (14 * DAY, Landmark::new(0));
        let mut t = PeerTable::default();
        // Active every day; the value on days 10 to 15.
        let tail_on = |t: &PeerTable, day: i64| {
            let s = lm.scale(day * DAY, hl);
            let e = t.entry(1).cloned().unwrap();
            let n = (f64::from(t.days) - f64::from(e.days_then)) / s;
            taken_up_tail(n, e.after(s), f64::from(e.since_active), 0.01)
        };
        let mut at_15 = 1.0;
        for day in 0..60 {
            let w = lm.scale(day * DAY, hl) as f32;
            t.days += w;
            t.active += 1;
            if day == 10 {
                assert!(t.track(1, w, day));
            } else if (11..=15).contains(&day) {
                if let Some(e) = t.entry_mut(1) {
                    e.days += w;
                }
            }
            if day == 15 {
                at_15 = tail_on(&t, day);
            }
        }
        assert!(at_15 < 1e-9, "{at_15}");
        // Six weeks later the same five days are old news among many without.
        let at_59 = tail_on(&t, 59);
        assert!(at_59 > 0.1, "{at_59}");
    }

    #[test]
    fn a_small_or_new_peer_group_leans_on_the_organisation() {
        // No peer history: the rate is mostly the organisation's.
        let org = 0.1;
        let q = peer_rate(0.0, 0.0, org);
        assert!((q - 1.5 / 11.0).abs() < 1e-12);
        assert!(binomial_upper_tail(10.0, 5.0, q) > 1e-3);
        // A value nobody uses is still not impossible for the peers.
        assert!(peer_rate(0.0, 1e6, org_rate(0.0, 1e6)) > 0.0);
        assert!(confidence(0.0, 10.0) == 0.0 && confidence(10.0, 0.0) == 0.0);
        assert!(confidence(200.0, 14.0) > confidence(20.0, 14.0));
        assert!((confidence(10.0, 1.0) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn the_table_keeps_the_values_with_most_days_and_rescales() {
        let mut t = PeerTable {
            active: 3,
            ..PeerTable::default()
        };
        for h in 0..PEER_TABLE as u64 {
            assert!(t.track(h, 1.0 + h as f32, 5));
        }
        // Full: a value with one day does not displace values with more.
        assert!(!t.track(100, 1.0, 6));
        assert!(t.track(101, 1.5, 6));
        assert!(t.entry(0).is_none() && t.entry(101).is_some());
        assert_eq!(
            t.entry(101).map(|e| (e.since_active, e.first_day)),
            Some((2, 6))
        );
        t.days = 8.0;
        t.rescale(2.0);
        assert_eq!(t.days, 4.0);
        assert_eq!(t.entry(7).map(|e| (e.days, e.first)), Some((4.0, 4.0)));
        // Tracked at 3 active days (stored 0 here), two more days of use after.
        let mut u = PeerTable {
            days: 10.0,
            active: 10,
            ..PeerTable::default()
        };
        assert!(u.track(9, 2.0, 20));
        if let Some(e) = u.entry_mut(9) {
            e.days += 2.0 + 2.0;
        }
        let e = u.entry(9).cloned().unwrap();
        assert_eq!(
            (e.after(2.0), e.baseline(2.0), e.since_active),
            (2.0, 4.0, 9)
        );
        assert!(t.is_valid());
        t.reset(42);
        assert_eq!((t.group, t.entries.len(), t.day), (42, 0, i64::MIN));
    }
}
