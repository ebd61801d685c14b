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
        if self.all.entity_days <= 0.0 {
            return 0.0;
        }
        // Both are on the same stored scale, so their ratio needs no unscaling.
        let org = (all / self.all.entity_days).min(1.0);
        let (count, days) = self
            .kinds
            .get(kind)
            .and_then(|k| Some((k.at_least(i, tail)?, k.entity_days)))
            .unwrap_or((0.0, 0.0));
        // The prior is in entity-days now, the counts on the stored scale: scale it alike.
        let prior = KIND_PRIOR_DAYS * scale;
        ((count + prior * org) / (days + prior)).min(1.0)
    }

    /// The calibrated tail: the model's, or the organisation's experience if that says
    /// such tails are commoner.
    pub fn calibrated(&self, kind: &str, i: usize, tail: f64, scale: f64) -> f64 {
        tail.max(self.rate(kind, i, tail, scale))
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
        // Far rarer than anything seen: the model's word stands.
        assert_eq!(c.calibrated("user", 0, 1e-12, 1.0), 1e-12);
        // A model tail above the organisation's rate stays as it is.
        assert_eq!(c.calibrated("user", 0, 0.5, 1.0), 0.5);
        assert_eq!(
            c.rate("user", 5, 1e-3, 1.0),
            1.0,
            "an unknown feature calibrates to 1"
        );
        assert_eq!(
            Calibration::new(1).rate("user", 0, 1e-3, 1.0),
            0.0,
            "no history, no correction"
        );
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
