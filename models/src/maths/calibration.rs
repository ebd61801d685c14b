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
//! rarer than the organisation's own history shows such tails to be.
//!
//! Beyond what it has seen, the model's word is not taken as it stands either. A model
//! that calls one-in-ten-thousand what the organisation sees one day in a thousand is
//! over-confident by ten at that level, and nothing suggests it is better calibrated
//! further out: tails beyond the levels a kind has seen [`EXTRAPOLATE_SUPPORT`] times
//! carry the largest over-confidence measured at them. And the organisation vouches
//! for no tail rarer than one in the entity-days it has ever seen: nothing is rare on
//! its first day, and a one-in-a-thousand score needs a thousand entity-days behind it
//! (a few days of a 500-person estate; a small one takes longer, while several
//! unusual features at once still combine past it).
//!
//! Entity kinds differ: people visit new SharePoint sites every week, a data-pipeline
//! role touches the same two buckets for months. Judging the role's first new bucket
//! by how often *people* meet new directories would wash out the one signal that
//! matters for it. So the experience is also kept per entity kind, and a kind's share
//! is smoothed towards the organisation's like every other level of the model
//! (`(count + m · share_org) / (days + m)` with `m` = [`KIND_PRIOR_DAYS`]): a kind with
//! little history is judged by the organisation's experience, one with much by its own.

use crate::maths::novelty::HeapTop;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Histogram resolution: buckets per factor of ten.
const PER_DECADE: f64 = 4.0;
/// Buckets: tails down to 10⁻⁴⁰.
const BUCKETS: usize = 160;
/// The weight, in entity-days, of the organisation's experience in a kind's share.
pub const KIND_PRIOR_DAYS: f64 = 200.0;
/// Judged observations of a kind with tails at least as extreme as a level (decayed;
/// recorded per observation, so one entity's burst counts more than once) before the
/// model's tails beyond that level are judged by the kind's experience at it.
pub const EXTRAPOLATE_SUPPORT: f64 = 10.0;
/// Values whose first uses are counted, per feature (the most adopted are kept).
pub const ADOPTION_TOP: usize = 256;

/// Daily tails handed out, and the entity-days they were handed out over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Experience {
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

impl Experience {
    fn new(features: usize) -> Experience {
        Experience {
            entity_days: 0.0,
            tails: vec![vec![0.0; BUCKETS]; features],
        }
    }

    fn record(&mut self, i: usize, tail: f64, scale: f64) {
        if let Some(b) = self.tails.get_mut(i).and_then(|h| h.get_mut(bucket(tail))) {
            *b = (f64::from(*b) + scale) as f32;
        }
    }

    /// Decayed entity-days with a tail of feature `i` at least as extreme as `tail`.
    fn at_least(&self, i: usize, tail: f64) -> Option<f64> {
        let h = self.tails.get(i)?;
        Some(h.iter().skip(bucket(tail)).map(|c| f64::from(*c)).sum())
    }

    fn rescale(&mut self, factor: f64) {
        self.entity_days /= factor;
        for h in &mut self.tails {
            for c in h.iter_mut() {
                *c = (f64::from(*c) / factor) as f32;
            }
        }
    }

    fn is_valid(&self, features: usize) -> bool {
        (self.tails.is_empty() || self.tails.len() == features)
            && self.tails.iter().all(|h| h.len() == BUCKETS)
    }
}

/// The organisation's experience of tails, overall and per entity kind, on its
/// forward-decay scale.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Every entity kind's.
    pub all: Experience,
    /// Each entity kind's own.
    pub kinds: BTreeMap<String, Experience>,
    /// Per feature, first uses of a value by an entity (stored scale): how often
    /// entities start using it.
    pub adoptions: Vec<HeapTop>,
    /// Entity-days seen since the model started, never decayed: the organisation cannot
    /// vouch for a tail rarer than one in these.
    pub lifetime_days: u64,
}

impl Calibration {
    /// Calibration for `features` features.
    pub fn new(features: usize) -> Calibration {
        Calibration {
            all: Experience::new(features),
            kinds: BTreeMap::new(),
            adoptions: (0..features)
                .map(|_| HeapTop::new(ADOPTION_TOP, false))
                .collect(),
            lifetime_days: 0,
        }
    }

    /// The kind's experience, created on its first entity-day (the name is copied
    /// only then: this runs for every entity-day and judged observation).
    fn kind_mut(&mut self, kind: &str) -> Option<&mut Experience> {
        if !self.kinds.contains_key(kind) {
            let features = self.all.tails.len();
            self.kinds
                .insert(kind.to_string(), Experience::new(features));
        }
        self.kinds.get_mut(kind)
    }

    /// An entity of `kind` began a day of activity (`scale`: the organisation's
    /// current factor).
    pub fn day(&mut self, kind: &str, scale: f64) {
        self.lifetime_days = self.lifetime_days.saturating_add(1);
        self.all.entity_days += scale;
        if let Some(k) = self.kind_mut(kind) {
            k.entity_days += scale;
        }
    }

    /// Records a daily tail of feature `i` handed to an entity of `kind`.
    pub fn record(&mut self, kind: &str, i: usize, tail: f64, scale: f64) {
        self.all.record(i, tail, scale);
        if let Some(k) = self.kind_mut(kind) {
            k.record(i, tail, scale);
        }
    }

    /// The share of entity-days that had a tail of feature `i` at least as extreme as
    /// `tail` (its bucket included): the kind's own share smoothed towards the
    /// organisation's; 0 before any entity-day. `scale`: the organisation's current
    /// forward-decay factor.
    pub fn rate(&self, kind: &str, i: usize, tail: f64, scale: f64) -> f64 {
        let Some(all) = self.all.at_least(i, tail) else {
            return 1.0;
        };
        let count = self
            .kinds
            .get(kind)
            .and_then(|k| k.at_least(i, tail))
            .unwrap_or(0.0);
        self.share(kind, all, count, scale)
    }

    /// The kind's share of entity-days from the organisation's decayed count `all` and
    /// the kind's `count` of them.
    fn share(&self, kind: &str, all: f64, count: f64, scale: f64) -> f64 {
        if self.all.entity_days <= 0.0 {
            return 0.0;
        }
        // Both are on the same stored scale, so their ratio needs no unscaling.
        let org = (all / self.all.entity_days).min(1.0);
        let days = self.kinds.get(kind).map_or(0.0, |k| k.entity_days);
        // The prior is in entity-days now, the counts on the stored scale: scale it alike.
        let prior = KIND_PRIOR_DAYS * scale;
        ((count + prior * org) / (days + prior)).min(1.0)
    }

    /// The calibrated tail: the model's, unless the organisation's experience says such
    /// tails are commoner. Three readings of that experience, the largest kept:
    /// - the share of entity-days with a tail at least this extreme ([`Calibration::rate`]);
    /// - beyond the levels the kind has seen often enough ([`EXTRAPOLATE_SUPPORT`]
    ///   judged observations of its own), the model's tail times the largest
    ///   over-confidence (share over level) measured at any of them: a model that
    ///   calls one-in-ten-thousand what happens one day in a thousand is no better
    ///   calibrated further out, where nothing has been seen yet to correct it;
    /// - one in the entity-days the organisation has ever seen: it cannot vouch for
    ///   rarer than it has seen (nothing is rare on its first day, and a
    ///   one-in-a-thousand score needs a thousand entity-days behind it).
    pub fn calibrated(&self, kind: &str, i: usize, tail: f64, scale: f64) -> f64 {
        let (Some(all), Some(mut all_at)) = (self.all.tails.get(i), self.all.at_least(i, tail))
        else {
            return 1.0;
        };
        if tail.is_nan() {
            return 1.0;
        }
        let own_kind = self.kinds.get(kind);
        let own = own_kind.and_then(|k| k.tails.get(i));
        let mut own_at = own_kind.and_then(|k| k.at_least(i, tail)).unwrap_or(0.0);
        let at = |h: &Vec<f32>, b: usize| h.get(b).map_or(0.0, |c| f64::from(*c));
        let mut calibrated = tail.max(self.share(kind, all_at, own_at, scale));
        let support = EXTRAPOLATE_SUPPORT * scale;
        for b in (0..bucket(tail)).rev() {
            all_at += at(all, b);
            own_at += own.map_or(0.0, |h| at(h, b));
            if own_at >= support {
                let level = 10f64.powf(-(b as f64) / PER_DECADE);
                let over_confidence = self.share(kind, all_at, own_at, scale) / level;
                calibrated = calibrated.max(tail * over_confidence);
            }
        }
        calibrated
            .max(1.0 / (self.lifetime_days as f64 + 1.0))
            .min(1.0)
    }

    /// An entity used value `hash` of feature `i` for the first time.
    pub fn adopted(&mut self, i: usize, hash: u64, scale: f64) {
        if let Some(top) = self.adoptions.get_mut(i) {
            top.observe(hash, scale, || Box::from(""));
        }
    }

    /// The share of entity-days on which some entity began using value `hash` of
    /// feature `i`: the chance that an entity's first use of it falls on a given day.
    /// When people take up a new app or travel to the same conference together, one
    /// more of them doing so is no rarer than that, however new it is to them.
    pub fn adoption_rate(&self, i: usize, hash: u64) -> f64 {
        match self.adoptions.get(i) {
            Some(top) if self.all.entity_days > 0.0 => {
                (top.count(hash) / self.all.entity_days).min(1.0)
            }
            _ => 0.0,
        }
    }

    /// Divides every stored weight (the organisation's landmark moved).
    pub fn rescale(&mut self, factor: f64) {
        self.all.rescale(factor);
        for k in self.kinds.values_mut() {
            k.rescale(factor);
        }
        for top in &mut self.adoptions {
            top.rescale(factor);
        }
    }

    /// Rebuilds indexes after decoding; false when the data does not fit `features`
    /// features (empty for peer groups).
    pub fn restore(&mut self, features: usize) -> bool {
        self.all.is_valid(features)
            && self.kinds.values().all(|k| k.is_valid(features))
            && (self.adoptions.is_empty() || self.adoptions.len() == features)
            && self.adoptions.iter_mut().all(HeapTop::rebuild_index)
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
            c.day("user", 1.0);
            if d % 100 == 0 {
                c.record("user", 0, 1e-4, 1.0);
            }
        }
        // The model says 1e-4; the organisation has seen it on 10 of 1,000 days.
        assert!((c.calibrated("user", 0, 1e-4, 1.0) - 0.01).abs() < 1e-12);
        // A model tail above the organisation's rate stays as it is.
        assert_eq!(c.calibrated("user", 0, 0.5, 1.0), 0.5);
        assert_eq!(
            c.rate("user", 5, 1e-3, 1.0),
            1.0,
            "an unknown feature calibrates to 1"
        );
        assert_eq!(c.calibrated("user", 5, 1e-9, 1.0), 1.0);
        assert_eq!(
            Calibration::new(1).rate("user", 0, 1e-3, 1.0),
            0.0,
            "no history, no correction"
        );
    }

    #[test]
    fn beyond_its_experience_the_models_over_confidence_carries_on() {
        let mut c = Calibration::new(1);
        // 100,000 entity-days; 10,000 of them had a tail of 1e-3: the model is a
        // hundred times too sure at that level. Five had one of 1e-6, too few to say.
        for d in 0..100_000 {
            c.day("user", 1.0);
            if d % 10 == 0 {
                c.record("user", 0, 1e-3, 1.0);
            }
            if d % 20_000 == 0 {
                c.record("user", 0, 1e-6, 1.0);
            }
        }
        // Deeper than anything seen ten times, the over-confidence at 1e-3 (counted
        // with the 1e-6s, which are as extreme) carries on: 1e-6 is judged 1e-4, not
        // by its own five days (5e-5).
        let deep = c.calibrated("user", 0, 1e-6, 1.0);
        assert!(
            (deep - 10_005.0 / 100_000.0 * 1e-6 / 1e-3).abs() < 1e-15,
            "{deep}"
        );
        assert!(c.rate("user", 0, 1e-6, 1.0) < deep / 2.0);
        // A well-calibrated feature is left alone: tails of 1e-3 on 1 in 1,000 days.
        let mut fair = Calibration::new(1);
        for d in 0..100_000 {
            fair.day("user", 1.0);
            if d % 1000 == 0 {
                fair.record("user", 0, 1e-3, 1.0);
            }
        }
        let beyond = fair.calibrated("user", 0, 1e-8, 1.0);
        assert!(
            (beyond - 1.0 / 100_001.0).abs() < 1e-15,
            "only the vouching bound binds: {beyond}"
        );
        // A kind with no experience of its own is not extrapolated from others'.
        let mut kinds = Calibration::new(1);
        for d in 0..100_000 {
            kinds.day("user", 1.0);
            if d % 100 == 0 {
                kinds.record("user", 0, 1e-4, 1.0);
            }
        }
        for _ in 0..100_000 {
            kinds.day("aws_user", 1.0);
        }
        let role = kinds.calibrated("aws_user", 0, 1e-7, 1.0);
        assert!((role - 1.0 / 200_001.0).abs() < 1e-15, "{role}");
    }

    #[test]
    fn the_organisation_vouches_for_no_more_than_it_has_seen() {
        let mut c = Calibration::new(1);
        // Its first entity-day: nothing is rare yet.
        assert_eq!(c.calibrated("user", 0, 1e-12, 1.0), 1.0);
        c.day("user", 1.0);
        assert_eq!(c.calibrated("user", 0, 1e-12, 1.0), 0.5);
        // A thousand entity-days on, one in 1,001 at most; decay does not shorten
        // the count (the days were seen), nor does rescaling.
        for _ in 0..999 {
            c.day("user", 8.0);
        }
        c.rescale(8.0);
        assert!((c.calibrated("user", 0, 1e-12, 1.0) - 1.0 / 1001.0).abs() < 1e-15);
    }

    #[test]
    fn a_kind_is_judged_by_its_own_experience_smoothed_towards_the_organisations() {
        let mut c = Calibration::new(1);
        // 10,000 people-days, one in a hundred with a tail of 1e-4; 800 days of cloud
        // identities, none with one.
        for d in 0..10_000 {
            c.day("user", 1.0);
            if d % 100 == 0 {
                c.record("user", 0, 1e-4, 1.0);
            }
        }
        for _ in 0..800 {
            c.day("aws_user", 1.0);
        }
        let org = 100.0 / 10_800.0;
        let people = c.rate("user", 0, 1e-4, 1.0);
        assert!(
            (people - (100.0 + KIND_PRIOR_DAYS * org) / (10_000.0 + KIND_PRIOR_DAYS)).abs() < 1e-12
        );
        // The identities have never produced one: their share is the prior's alone,
        // the organisation's diluted by their own 800 quiet days.
        let identities = c.rate("aws_user", 0, 1e-4, 1.0);
        assert!((identities - KIND_PRIOR_DAYS * org / (800.0 + KIND_PRIOR_DAYS)).abs() < 1e-12);
        assert!(identities < org / 4.0 && people > org);
        // A kind never seen is judged by the organisation's experience.
        assert!((c.rate("ip", 0, 1e-4, 1.0) - org).abs() < 1e-12);
    }

    #[test]
    fn decay_and_rescaling_keep_rates() {
        let mut c = Calibration::new(1);
        for _ in 0..100 {
            c.day("user", 4.0);
        }
        c.day("ip", 4.0);
        c.record("user", 0, 1e-6, 4.0);
        let before = c.rate("user", 0, 1e-6, 4.0);
        let ip_before = c.rate("ip", 0, 1e-6, 4.0);
        assert!((ip_before - 1.0 / 101.0 * KIND_PRIOR_DAYS / (1.0 + KIND_PRIOR_DAYS)).abs() < 1e-9);
        c.rescale(4.0);
        assert!((c.rate("user", 0, 1e-6, 1.0) - before).abs() < 1e-9);
        assert!((c.rate("ip", 0, 1e-6, 1.0) - ip_before).abs() < 1e-9);
        assert!(c.restore(1) && !c.restore(2));
        assert!(Calibration::default().restore(3));
    }

    #[test]
    fn buckets_cover_every_tail() {
        assert_eq!(bucket(1.0), 0);
        assert_eq!(bucket(0.1), 4);
        assert_eq!(bucket(0.0), BUCKETS - 1);
        assert_eq!(bucket(f64::NAN), 0);
    }
}
