//! Novelty of categorical values: hierarchical Pitman–Yor smoothing over three levels,
//! organisation → peer group → entity, each keeping a bounded top-k of decayed counts.
//!
//! At level L with decayed counts `c_L(v)`, decayed total `n_L` and `K_L` (the decayed
//! number of observations that brought a value the level was not tracking — the rate
//! at which new values arrive, which is what the novel mass must follow):
//!
//! `P_L(v) = (max(c_L(v) − d, 0) + (θ + d·K_L)·P_parent(v)) / (n_L + θ)`
//!
//! with d = 0.5, θ = 1, and a uniform base measure above the organisation. The tail
//! probability of `v` (the probability of a value at most as likely) is
//!
//! `T_L(v) = Σ_{u tracked at L, P_L(u) ≤ P_L(v)} P_L(u) + novel_L · T_parent(v)`,
//! `novel_L = (θ + d·K_L)/(n_L + θ)`, the tail above the organisation being 1.
//!
//! An entity that keeps seeing new values has a large `K`, so its novel mass stays
//! high and a new value does not surprise it. When a level is full, a new value
//! replaces the least counted one; the forgotten mass stays in `n_L` and counts in the
//! tail of values at least as common as the smallest tracked one.

use super::hash::FixedMap;
use serde::{Deserialize, Serialize};

/// Pitman–Yor discount.
pub const DISCOUNT: f64 = 0.5;
/// Pitman–Yor concentration.
pub const CONCENTRATION: f64 = 1.0;
/// Probability of one value under the base measure above the organisation: tiny, so a
/// value new to the organisation ranks below everything it has seen.
pub const BASE_PROBABILITY: f64 = 1e-12;
/// Values an entity tracks per feature.
pub const ENTITY_TOP: usize = 16;
/// Values a peer group tracks per feature.
pub const GROUP_TOP: usize = 256;
/// Values the organisation tracks per feature.
pub const ORG_TOP: usize = 1024;
/// Updates of a group or the organisation after which its cached tail sums are rebuilt.
const REFRESH_EVERY: u32 = 32;

/// `max(c − d, 0)/(n + θ)`: a value's own mass at a level (decayed units).
pub fn own_mass(count: f64, total: f64) -> f64 {
    (count - DISCOUNT).max(0.0) / (total + CONCENTRATION)
}

/// `(θ + d·K)/(n + θ)`: the mass a level leaves to its parent (decayed units).
pub fn novel_mass(total: f64, new_values: f64) -> f64 {
    ((CONCENTRATION + DISCOUNT * new_values) / (total + CONCENTRATION)).min(1.0)
}

/// An entity's top-k: a short vector scanned linearly (k = 16), f32 counts stored on
/// the entity's forward-decay scale.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SmallTop {
    pub entries: Vec<(u64, f32)>,
    /// Stored total.
    pub total: f32,
    /// Stored count of observations that brought an untracked value.
    pub new_values: f32,
}

impl SmallTop {
    /// The stored count of `hash`, 0 when untracked.
    pub fn count(&self, hash: u64) -> f32 {
        self.entries
            .iter()
            .find(|(h, _)| *h == hash)
            .map_or(0.0, |(_, c)| *c)
    }

    /// Adds one observation of weight `inc` (stored scale); returns whether the value
    /// was already tracked.
    pub fn observe(&mut self, hash: u64, inc: f32) -> bool {
        self.total += inc;
        if let Some(e) = self.entries.iter_mut().find(|(h, _)| *h == hash) {
            e.1 += inc;
            return true;
        }
        self.new_values += inc;
        if self.entries.len() < ENTITY_TOP {
            self.entries.push((hash, inc));
        } else if let Some(min) = self
            .entries
            .iter_mut()
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        {
            *min = (hash, inc);
        }
        false
    }

    /// Divides every stored value (landmark moved).
    pub fn rescale(&mut self, factor: f64) {
        for e in &mut self.entries {
            e.1 = (f64::from(e.1) / factor) as f32;
        }
        self.total = (f64::from(self.total) / factor) as f32;
        self.new_values = (f64::from(self.new_values) / factor) as f32;
    }

    /// The level in decayed units at a time whose scale is `scale`.
    pub fn level(&self, scale: f64) -> LevelView {
        LevelView {
            total: f64::from(self.total) / scale,
            new_values: f64::from(self.new_values) / scale,
            scale,
        }
    }

    /// The `n` most counted values, most counted first (ties by hash, so stable).
    pub fn top(&self, n: usize) -> Vec<(u64, f32)> {
        let mut v = self.entries.clone();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Stored count not held by tracked values (forgotten values).
    fn untracked(&self) -> f64 {
        let tracked: f64 = self.entries.iter().map(|e| f64::from(e.1)).sum();
        (f64::from(self.total) - tracked).max(0.0)
    }

    fn min_tracked(&self) -> f64 {
        self.entries
            .iter()
            .map(|e| f64::from(e.1))
            .fold(f64::INFINITY, f64::min)
    }
}

/// A level's totals in decayed units.
#[derive(Debug, Clone, Copy)]
pub struct LevelView {
    pub total: f64,
    pub new_values: f64,
    scale: f64,
}

impl LevelView {
    pub fn novel(&self) -> f64 {
        novel_mass(self.total, self.new_values)
    }

    /// `P_L(v)` from the value's stored count and its parent probability.
    pub fn prob(&self, stored_count: f64, parent: f64) -> f64 {
        own_mass(stored_count / self.scale, self.total) + self.novel() * parent
    }
}

/// One tracked value of a group or the organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapEntry {
    pub hash: u64,
    pub count: f64,
    /// The value as text (kept by the organisation only, for explanations).
    pub name: Option<Box<str>>,
}

/// A group's or the organisation's top-k: an indexed min-heap on stored counts, so
/// an update and a replacement cost O(log k), with cached sorted probabilities and
/// their running sums for O(log k) tails.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeapTop {
    capacity: u32,
    keep_names: bool,
    heap: Vec<HeapEntry>,
    pub total: f64,
    pub new_values: f64,
    /// Sorted `P_L(u)` of tracked values at the last refresh, with running sums.
    cache_probs: Vec<f64>,
    cache_sums: Vec<f64>,
    updates: u32,
    #[serde(skip)]
    index: FixedMap<u64, u32>,
    /// Stored count of the values no longer tracked (evicted to make room), kept as
    /// they go so a tail needs no pass over the heap; rebuilt after decoding.
    #[serde(skip)]
    forgotten: f64,
}

impl PartialEq for HeapTop {
    fn eq(&self, other: &HeapTop) -> bool {
        self.heap == other.heap
            && self.total == other.total
            && self.new_values == other.new_values
            && self.cache_probs == other.cache_probs
            && self.updates == other.updates
    }
}

impl HeapTop {
    pub fn new(capacity: usize, keep_names: bool) -> HeapTop {
        HeapTop {
            capacity: capacity as u32,
            keep_names,
            heap: Vec::new(),
            total: 0.0,
            new_values: 0.0,
            cache_probs: Vec::new(),
            cache_sums: Vec::new(),
            updates: 0,
            index: FixedMap::default(),
            forgotten: 0.0,
        }
    }

    /// Rebuilds the hash → position index after decoding; false when the decoded
    /// data is inconsistent (duplicate values, over capacity).
    pub fn rebuild_index(&mut self) -> bool {
        self.index.clear();
        for (i, e) in self.heap.iter().enumerate() {
            if self.index.insert(e.hash, i as u32).is_some() {
                return false;
            }
        }
        let tracked: f64 = self.heap.iter().map(|e| e.count).sum();
        self.forgotten = (self.total - tracked).max(0.0);
        self.heap.len() <= self.capacity as usize && self.cache_probs.len() == self.cache_sums.len()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The stored count of `hash`, 0 when untracked.
    pub fn count(&self, hash: u64) -> f64 {
        self.index
            .get(&hash)
            .and_then(|i| self.heap.get(*i as usize))
            .map_or(0.0, |e| e.count)
    }

    /// The text of a tracked value, when this level keeps names.
    pub fn name(&self, hash: u64) -> Option<&str> {
        self.index
            .get(&hash)
            .and_then(|i| self.heap.get(*i as usize))
            .and_then(|e| e.name.as_deref())
    }

    pub fn level(&self, scale: f64) -> LevelView {
        LevelView {
            total: self.total / scale,
            new_values: self.new_values / scale,
            scale,
        }
    }

    /// Adds one observation of weight `inc`; `name` is the value's text, stored when
    /// the level keeps names and the value is new to it. Returns whether the cached
    /// tail sums are due for a refresh.
    pub fn observe(&mut self, hash: u64, inc: f64, name: impl FnOnce() -> Box<str>) -> bool {
        self.total += inc;
        // Saturating: `peer_rarity`'s levels read counts only and never refresh.
        self.updates = self.updates.saturating_add(1);
        if let Some(&i) = self.index.get(&hash) {
            if let Some(e) = self.heap.get_mut(i as usize) {
                e.count += inc;
            }
            self.sift_down(i as usize);
        } else {
            self.new_values += inc;
            let entry = HeapEntry {
                hash,
                count: inc,
                name: self.keep_names.then(name),
            };
            if self.heap.len() < self.capacity as usize {
                self.heap.push(entry);
                let at = self.heap.len() - 1;
                self.index.insert(hash, at as u32);
                self.sift_up(at);
            } else if let Some(root) = self.heap.first_mut() {
                let old = std::mem::replace(root, entry);
                self.forgotten += old.count;
                self.index.remove(&old.hash);
                self.index.insert(hash, 0);
                self.sift_down(0);
            }
        }
        self.updates >= REFRESH_EVERY || self.cache_probs.is_empty()
    }

    /// Recomputes the cached sorted probabilities with the parent's probabilities.
    pub fn refresh(&mut self, scale: f64, parent: impl Fn(u64) -> f64) {
        let level = self.level(scale);
        // Sorted as integer keys (exactly the `total_cmp` order; equal keys are equal
        // bits, so the sequence is the same whatever the sort), into reused buffers:
        // a refresh runs every few updates over up to a thousand values.
        let mut keys: Vec<u64> = self
            .heap
            .iter()
            .map(|e| order_key(level.prob(e.count, parent(e.hash))))
            .collect();
        keys.sort_unstable();
        let probs = &mut self.cache_probs;
        probs.clear();
        probs.extend(keys.iter().map(|k| from_order_key(*k)));
        let mut sum = 0.0;
        self.cache_sums.clear();
        self.cache_sums.extend(probs.iter().map(|p| {
            sum += p;
            sum
        }));
        self.updates = 0;
    }

    /// The tail of a value with probability `p` and stored count `stored` at this
    /// level, with the parent's tail `parent_tail`.
    pub fn tail(&self, p: f64, stored: f64, scale: f64, parent_tail: f64) -> f64 {
        let level = self.level(scale);
        let below = self.cache_probs.partition_point(|q| *q <= p);
        let seen = if below == 0 {
            0.0
        } else {
            self.cache_sums.get(below - 1).copied().unwrap_or(0.0)
        };
        let forgotten = if stored > 0.0 && stored >= self.min_count() {
            self.untracked() / scale / (level.total + CONCENTRATION)
        } else {
            0.0
        };
        (seen + forgotten + level.novel() * parent_tail).clamp(0.0, 1.0)
    }

    fn min_count(&self) -> f64 {
        self.heap.first().map_or(0.0, |e| e.count)
    }

    fn untracked(&self) -> f64 {
        if self.heap.len() < self.capacity as usize {
            return 0.0;
        }
        self.forgotten
    }

    /// The `n` most counted values, most counted first.
    pub fn top(&self, n: usize) -> Vec<&HeapEntry> {
        let mut v: Vec<&HeapEntry> = self.heap.iter().collect();
        v.sort_by(|a, b| b.count.total_cmp(&a.count).then(a.hash.cmp(&b.hash)));
        v.truncate(n);
        v
    }

    pub fn rescale(&mut self, factor: f64) {
        for e in &mut self.heap {
            e.count /= factor;
        }
        self.total /= factor;
        self.new_values /= factor;
        self.forgotten /= factor;
    }

    fn less(&self, a: usize, b: usize) -> bool {
        match (self.heap.get(a), self.heap.get(b)) {
            (Some(x), Some(y)) => x
                .count
                .total_cmp(&y.count)
                .then(x.hash.cmp(&y.hash))
                .is_lt(),
            _ => false,
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        for i in [a, b] {
            if let Some(e) = self.heap.get(i) {
                self.index.insert(e.hash, i as u32);
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.less(i, parent) {
                self.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if l < self.heap.len() && self.less(l, smallest) {
                smallest = l;
            }
            if r < self.heap.len() && self.less(r, smallest) {
                smallest = r;
            }
            if smallest == i {
                break;
            }
            self.swap(i, smallest);
            i = smallest;
        }
    }
}

/// A float as an unsigned key ordered as [`f64::total_cmp`] orders floats: negatives
/// have every bit flipped, the rest their sign bit set. Integer sorts are about twice
/// as fast as sorts comparing with `total_cmp`.
fn order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits & SIGN_BIT != 0 {
        !bits
    } else {
        bits | SIGN_BIT
    }
}

/// The float of an [`order_key`].
fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key & SIGN_BIT != 0 {
        key ^ SIGN_BIT
    } else {
        !key
    })
}

const SIGN_BIT: u64 = 1 << 63;

/// The entity level's tail: exact over its few tracked values.
pub fn entity_tail(
    top: &SmallTop,
    scale: f64,
    hash: u64,
    parent_prob: impl Fn(u64) -> f64,
    parent_tail: f64,
) -> EntityTail {
    let level = top.level(scale);
    let stored = f64::from(top.count(hash));
    let p = level.prob(stored, parent_prob(hash));
    let mut seen = 0.0;
    for (h, c) in &top.entries {
        let q = if *h == hash {
            p
        } else {
            level.prob(f64::from(*c), parent_prob(*h))
        };
        if q <= p {
            seen += q;
        }
    }
    let forgotten =
        if top.entries.len() >= ENTITY_TOP && stored > 0.0 && stored >= top.min_tracked() {
            top.untracked() / scale / (level.total + CONCENTRATION)
        } else {
            0.0
        };
    let novel = level.novel();
    EntityTail {
        tail: (seen + forgotten + novel * parent_tail).clamp(0.0, 1.0),
        alone: (seen + forgotten + novel).clamp(0.0, 1.0),
        prob: p,
    }
}

/// The entity's judgement of one value.
#[derive(Debug, Clone, Copy)]
pub struct EntityTail {
    /// With the peer group and organisation behind it.
    pub tail: f64,
    /// With a uniform parent: how rare the value is for the entity alone.
    pub alone: f64,
    pub prob: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(top: &mut HeapTop, hash: u64, times: usize) {
        for _ in 0..times {
            if top.observe(hash, 1.0, || "v".into()) {
                top.refresh(1.0, |_| BASE_PROBABILITY);
            }
        }
    }

    #[test]
    fn after_many_draws_of_a_uniform_a_new_value_has_the_novel_mass_as_tail() {
        let mut org = HeapTop::new(ORG_TOP, true);
        for i in 0..10_000u64 {
            feed(&mut org, i % 10, 1);
        }
        org.refresh(1.0, |_| BASE_PROBABILITY);
        let level = org.level(1.0);
        let novel = level.novel();
        // n = 10,000, K = 10: novel = (1 + 5)/10,001.
        assert!((novel - 6.0 / 10_001.0).abs() < 1e-12, "{novel}");
        let p_new = level.prob(0.0, BASE_PROBABILITY);
        let t_new = org.tail(p_new, 0.0, 1.0, 1.0);
        assert!((t_new - novel).abs() < 1e-9, "{t_new} vs {novel}");
        // A seen value: every value is equally likely, so its tail is everything.
        let p_seen = level.prob(org.count(3), BASE_PROBABILITY);
        let t_seen = org.tail(p_seen, org.count(3), 1.0, 1.0);
        assert!((t_seen - 1.0).abs() < 1e-3, "{t_seen}");
    }

    #[test]
    fn a_skewed_distribution_ranks_its_rare_value_in_the_tail() {
        let mut org = HeapTop::new(ORG_TOP, false);
        feed(&mut org, 1, 900);
        feed(&mut org, 2, 90);
        feed(&mut org, 3, 10);
        org.refresh(1.0, |_| BASE_PROBABILITY);
        let level = org.level(1.0);
        let p3 = level.prob(org.count(3), BASE_PROBABILITY);
        // P(3) = (10 − 0.5)/1001; the tail holds only value 3 and the novel mass.
        assert!((p3 - 9.5 / 1001.0).abs() < 1e-12);
        let t3 = org.tail(p3, org.count(3), 1.0, 1.0);
        let expected = 9.5 / 1001.0 + 2.5 / 1001.0;
        assert!((t3 - expected).abs() < 1e-9, "{t3} vs {expected}");
    }

    #[test]
    fn an_entity_that_always_sees_new_values_is_not_surprised() {
        let mut web = SmallTop::default();
        for i in 0..5_000u64 {
            web.observe(1_000_000 + i, 1.0);
        }
        let t = entity_tail(&web, 1.0, 42, |_| BASE_PROBABILITY, 1.0);
        assert!(t.alone > 0.49, "{}", t.alone);
        let mut clerk = SmallTop::default();
        for i in 0..5_000u64 {
            clerk.observe(i % 3, 1.0);
        }
        let t = entity_tail(&clerk, 1.0, 42, |_| BASE_PROBABILITY, 1.0);
        assert!(t.alone < 0.001, "{}", t.alone);
        assert!(clerk.entries.len() == 3 && web.entries.len() == ENTITY_TOP);
    }

    #[test]
    fn new_for_the_entity_but_common_for_the_org_is_not_extreme() {
        let mut org = HeapTop::new(ORG_TOP, false);
        feed(&mut org, 1, 500);
        feed(&mut org, 2, 500);
        org.refresh(1.0, |_| BASE_PROBABILITY);
        let mut user = SmallTop::default();
        for _ in 0..200 {
            user.observe(1, 1.0);
        }
        let lo = org.level(1.0);
        let p_org = |h: u64| lo.prob(org.count(h), BASE_PROBABILITY);
        let org_tail_2 = org.tail(p_org(2), org.count(2), 1.0, 1.0);
        let common = entity_tail(&user, 1.0, 2, p_org, org_tail_2);
        let org_tail_9 = org.tail(p_org(9), 0.0, 1.0, 1.0);
        let unseen = entity_tail(&user, 1.0, 9, p_org, org_tail_9);
        assert!(unseen.tail < common.tail / 100.0, "{unseen:?} {common:?}");
        assert!(unseen.tail < 1e-4);
    }

    #[test]
    fn order_keys_sort_floats_exactly_as_total_cmp() {
        let mut floats = vec![
            0.5,
            -0.0,
            0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            -1e-300,
            f64::MIN_POSITIVE,
            -2.5,
            3.0,
            0.5,
        ];
        for i in 0..200u32 {
            floats.push((f64::from(i) * 0.37).sin() * 10.0);
        }
        let mut keys: Vec<u64> = floats.iter().map(|x| order_key(*x)).collect();
        keys.sort_unstable();
        let by_keys: Vec<u64> = keys.iter().map(|k| from_order_key(*k).to_bits()).collect();
        floats.sort_by(f64::total_cmp);
        let by_cmp: Vec<u64> = floats.iter().map(|x| x.to_bits()).collect();
        assert_eq!(by_keys, by_cmp);
    }

    #[test]
    fn the_heap_keeps_the_most_counted_values_when_full() {
        let mut top = HeapTop::new(4, false);
        for (h, n) in [(1, 50), (2, 40), (3, 30), (4, 20)] {
            feed(&mut top, h, n);
        }
        feed(&mut top, 5, 1);
        assert_eq!(top.len(), 4);
        assert_eq!(top.count(4), 0.0, "the least counted value is forgotten");
        assert_eq!(top.count(5), 1.0);
        feed(&mut top, 6, 1);
        assert_eq!(top.count(5), 0.0);
        assert_eq!(top.count(1), 50.0);
        let mut copy = top.clone();
        assert!(copy.rebuild_index());
        assert_eq!(copy.count(2), 40.0);
    }

    #[test]
    fn the_forgotten_mass_is_kept_as_values_are_evicted_and_after_decoding() {
        let mut top = HeapTop::new(8, false);
        let recount = |t: &HeapTop| {
            let tracked: f64 = t.heap.iter().map(|e| e.count).sum();
            (t.total - tracked).max(0.0)
        };
        assert_eq!(top.untracked(), 0.0);
        let mut x: u64 = 7;
        for i in 0..5_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            top.observe(x % 40, 1.0 + (i % 3) as f64, || Box::from(""));
            if i % 997 == 0 {
                top.rescale(1.5);
            }
        }
        assert!(top.untracked() > 0.0, "values were evicted");
        assert!((top.untracked() - recount(&top)).abs() < 1e-9 * top.total);
        let bytes = bincode::serialize(&top).unwrap();
        let mut decoded: HeapTop = bincode::deserialize(&bytes).unwrap();
        assert!(decoded.rebuild_index());
        assert!((decoded.untracked() - recount(&top)).abs() < 1e-9 * top.total);
    }
}
