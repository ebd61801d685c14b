//! The behaviour model: per-event and per-window judgements of every entity against
//! its own past, its peer group and the organisation, in event time.
//!
//! Determinism: nothing here iterates a hash map into the output. Windows that close
//! together are closed in (end, entity hash, feature) order, groups are searched in id
//! order, evictions break ties by key, and the stage sorts what it emits.
//!
//! Entities are keyed by the fixed 64-bit hash of their kind and id (probing on to
//! the next number in the vanishingly rare case of a collision), so the hot path
//! hashes two short strings and compares integers, and windows refer to entities
//! without holding a copy of their key.

use crate::breach::{Breach, Comparison, CONTEXT};
use crate::explain;
use crate::features::{Feature, Kind};
use crate::maths::baseline::{laplace_upper, slot_of, Estimate, SCALE_FLOOR};
use crate::maths::calibration::Calibration;
use crate::maths::distinct::Distinct;
use crate::maths::hash::{hash_bytes, hash_parts, FixedState};
use crate::maths::minhash::Rotating;
use crate::maths::novelty::{entity_tail, HeapTop, SmallTop, BASE_PROBABILITY};
use crate::maths::peer::{self, PeerTable, DAY_VALUES, REPEAT_FACTOR, TRACK_BELOW};
use crate::maths::week::{self, WeekHours};
use crate::queue::{Slot, WindowQueue};
use crate::state::{
    combined_tail, daily_tail, EntityFeature, EntityState, EventId, OpenWindow, Pace,
    SharedFeature, SharedState, WindowIds, REGROUP_EVERY,
};
use pipectl_core::detect::sigma::time::{format_rfc3339, millis_of};
use pipectl_core::path::FieldPath;
use pipectl_core::value::Value;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};

/// Peer groups kept at most (declared or learned); the least recently active is
/// recycled beyond it.
pub const MAX_GROUPS: usize = 1024;
/// Learned peer groups at most.
pub const MAX_LEARNED_GROUPS: usize = 64;
/// Estimated Jaccard similarity an entity needs to join a learned group.
pub const JOIN_SIMILARITY: f64 = 0.3;
/// Confidence is `n/(n + k)`: k events for novelty, k windows or active hours for
/// numeric and timing features.
const EVENTS_FOR_CONFIDENCE: f64 = 50.0;
const WINDOWS_FOR_CONFIDENCE: f64 = 12.0;
const DAY_MS: i64 = 86_400_000;
/// How far ahead of the clock an event may be dated before it is refused.
const MAX_FUTURE_SKEW_MS: i64 = 86_400_000;

/// The model's settings (the stage's attributes).
#[derive(Debug, Clone)]
pub struct Options {
    /// The component name (`pipectl.breach.model`).
    pub model: String,
    pub pipeline: String,
    pub features: Vec<Feature>,
    /// Entity kinds modelled.
    pub kinds: Vec<String>,
    /// The field naming an entity's peer group; learned groups when absent.
    pub peers: Option<FieldPath>,
    /// The novelty features (by index) whose values define similarity for learned
    /// peer groups; all novelty features when absent.
    pub peer_features: Option<Vec<usize>>,
    pub half_life_ms: i64,
    pub threshold: f64,
    pub max_entities: usize,
    pub idle_after_ms: i64,
    /// Event time during which a feature that breached for an entity does not breach
    /// again for it.
    pub cooldown_ms: i64,
    /// How close in event time unusual observations of different features must be to
    /// count as one combined piece of evidence.
    pub combine_within_ms: i64,
}

/// One feature's reading of one event.
#[derive(Debug, Clone, Copy, Default)]
struct Obs {
    present: bool,
    hash: u64,
    number: f64,
}

/// The model over all entities.
pub struct Model {
    pub(crate) opts: Options,
    pub(crate) entities: HashMap<Slot, EntityState, FixedState>,
    pub(crate) groups: BTreeMap<String, SharedState>,
    pub(crate) org: SharedState,
    /// Newest event time seen.
    pub(crate) watermark: i64,
    pub(crate) next_sweep: i64,
    pub(crate) next_group: u64,
    /// Open windows by end time.
    windows: WindowQueue,
    /// Row keys removed since the last snapshot.
    pub(crate) deleted: Vec<String>,
    obs_buf: Vec<Obs>,
    timestamp: FieldPath,
    entity_kind: FieldPath,
    entity_id: FieldPath,
}

fn path(parts: &[&str]) -> FieldPath {
    FieldPath::new(
        parts
            .iter()
            .map(|p| pipectl_core::path::PathSegment::Key((*p).into()))
            .collect(),
    )
}

/// The text of a scalar value (strings as-is, numbers and booleans written out).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn scalar_hash(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) if !s.is_empty() => Some(hash_bytes(s.as_bytes())),
        Value::Int(i) => Some(hash_parts(&[b"i", &i.to_le_bytes()])),
        Value::Float(f) => Some(hash_parts(&[b"f", &f.to_bits().to_le_bytes()])),
        Value::Bool(b) => Some(hash_parts(&[b"b", &[u8::from(*b)]])),
        _ => None,
    }
}

impl Model {
    pub fn new(opts: Options) -> Model {
        let org = SharedState::new(&opts.features, 0, true);
        Model {
            opts,
            entities: HashMap::default(),
            groups: BTreeMap::new(),
            org,
            watermark: i64::MIN,
            next_sweep: i64::MIN,
            next_group: 1,
            windows: WindowQueue::default(),
            deleted: Vec::new(),
            obs_buf: Vec::new(),
            timestamp: path(&["@timestamp"]),
            entity_kind: path(&["entity", "kind"]),
            entity_id: path(&["entity", "id"]),
        }
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Entities currently modelled.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }

    /// Whether the entity (`kind:id`) is modelled.
    pub fn knows(&self, key: &str) -> bool {
        self.find_key(key).is_some()
    }

    fn find_key(&self, key: &str) -> Option<Slot> {
        let (kind, id) = key.split_once(':')?;
        self.find(kind, id)
    }

    /// The slot of an entity already modelled.
    fn find(&self, kind: &str, id: &str) -> Option<Slot> {
        let mut slot = hash_parts(&[kind.as_bytes(), id.as_bytes()]);
        loop {
            let e = self.entities.get(&slot)?;
            if e.kind == kind && e.id == id {
                return Some(slot);
            }
            slot = slot.wrapping_add(1);
        }
    }

    /// The slot for a new entity: its hash, or the next free number after it.
    fn free_slot(&self, kind: &str, id: &str) -> Slot {
        let mut slot = hash_parts(&[kind.as_bytes(), id.as_bytes()]);
        while self.entities.contains_key(&slot) {
            slot = slot.wrapping_add(1);
        }
        slot
    }

    /// Adds a restored entity.
    pub(crate) fn insert_entity(&mut self, e: EntityState) {
        let slot = self.free_slot(&e.kind, &e.id);
        self.entities.insert(slot, e);
    }

    /// The peer group an entity is compared with, if any.
    pub fn group_of(&self, key: &str) -> Option<&str> {
        self.find_key(key)
            .and_then(|s| self.entities.get(&s))
            .and_then(|e| e.group.as_deref())
    }

    /// Rebuilds the queue of open windows from restored entities.
    pub(crate) fn rebuild_windows(&mut self) {
        self.windows.clear();
        for (key, e) in &self.entities {
            for (i, f) in e.features.iter().enumerate() {
                if let (EntityFeature::Window { open: Some(w), .. }, Some(feature)) =
                    (f, self.opts.features.get(i))
                {
                    self.windows
                        .push(w.start + feature.window_ms, *key, i as u16, w.start);
                }
            }
        }
    }

    /// Observes one event; breaches it causes (and windows it closes) go to `out`.
    /// Returns false when the event has no usable `@timestamp`, or one more than a day
    /// ahead of the clock (it is then ignored).
    pub fn observe(&mut self, event: &Value, out: &mut Vec<Breach>) -> bool {
        let Some(t) = event.get_path(&self.timestamp).and_then(millis_of) else {
            return false;
        };
        // An event from the future cannot be real: taking it would move event time
        // there and stall every window and decay for the rest of the run.
        if t > pipectl_core::event::now_ns() / 1_000_000 + MAX_FUTURE_SKEW_MS {
            return false;
        }
        self.advance(t, out);
        let mut obs = std::mem::take(&mut self.obs_buf);
        obs.clear();
        for f in &self.opts.features {
            obs.push(read(f, event));
        }
        let peer = self
            .opts
            .peers
            .as_ref()
            .and_then(|p| event.get_path(p))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let kinds = event.get_path(&self.entity_kind);
        let ids = event.get_path(&self.entity_id);
        match (kinds, ids) {
            (Some(Value::Array(kinds)), Some(Value::Array(ids))) if !kinds.is_empty() => {
                for (k, i) in kinds.iter().zip(ids.iter()) {
                    if let (Some(k), Some(i)) = (k.as_str(), i.as_str()) {
                        self.entity(k, i, t, event, &obs, peer, out);
                    }
                }
            }
            (Some(Value::String(k)), Some(Value::String(i))) => {
                self.entity(k, i, t, event, &obs, peer, out);
            }
            _ => {
                for e in pipectl_core::entity::derive(event) {
                    self.entity(e.kind, &e.id, t, event, &obs, peer, out);
                }
            }
        }
        self.obs_buf = obs;
        true
    }

    /// Closes every open window (end of input), in order.
    pub fn finish(&mut self, out: &mut Vec<Breach>) {
        self.close_due(i64::MAX, out);
    }

    /// Moves event time forward: closes due windows, evicts idle entities.
    fn advance(&mut self, t: i64, out: &mut Vec<Breach>) {
        if t <= self.watermark {
            return;
        }
        self.watermark = t;
        self.close_due(t, out);
        if t >= self.next_sweep {
            if self.next_sweep != i64::MIN {
                self.evict_idle(t);
            }
            self.next_sweep = t.saturating_add((self.opts.idle_after_ms / 8).max(1));
        }
    }

    fn close_due(&mut self, horizon: i64, out: &mut Vec<Breach>) {
        while let Some((end, due)) = self.windows.pop_due(horizon) {
            for &(key, feature, start) in &due {
                self.close_window(key, usize::from(feature), start, end, out);
            }
            self.windows.recycle_bucket(due);
        }
    }

    fn evict_idle(&mut self, now: i64) {
        let horizon = now.saturating_sub(self.opts.idle_after_ms);
        let mut idle: Vec<Slot> = self
            .entities
            .iter()
            .filter(|(_, e)| e.last_seen < horizon)
            .map(|(k, _)| *k)
            .collect();
        idle.sort_unstable();
        for k in idle {
            self.remove_entity(k);
        }
    }

    /// Evicts the least recently seen twentieth of the entities (at least one), so a
    /// full model pays for a sort once per many new entities, not per event.
    fn evict_least_recent(&mut self) {
        let mut all: Vec<(i64, Slot)> = self
            .entities
            .iter()
            .map(|(k, e)| (e.last_seen, *k))
            .collect();
        let n = (self.opts.max_entities / 20).clamp(1, all.len().max(1));
        if all.len() > n {
            all.select_nth_unstable(n - 1);
        }
        let mut victims: Vec<Slot> = all.iter().take(n).map(|(_, k)| *k).collect();
        victims.sort_unstable();
        for k in victims {
            self.remove_entity(k);
        }
    }

    fn remove_entity(&mut self, key: Slot) {
        if let Some(e) = self.entities.remove(&key) {
            if let Some(g) = e.group.as_deref().and_then(|g| self.groups.get_mut(g)) {
                g.members = g.members.saturating_sub(1);
                g.dirty = true;
            }
            self.deleted.push(format!("e:{}", e.key()));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn entity(
        &mut self,
        kind: &str,
        id: &str,
        t: i64,
        event: &Value,
        obs: &[Obs],
        peer: Option<&str>,
        out: &mut Vec<Breach>,
    ) {
        if !self.opts.kinds.iter().any(|k| k == kind) || id.is_empty() {
            return;
        }
        let key = match self.find(kind, id) {
            Some(slot) => slot,
            None => {
                if self.entities.len() >= self.opts.max_entities {
                    self.evict_least_recent();
                }
                let slot = self.free_slot(kind, id);
                let state = EntityState::new(kind, id, t, self.opts.features.len());
                self.entities.insert(slot, state);
                slot
            }
        };
        if let (Some(_), Some(p)) = (&self.opts.peers, peer) {
            self.join_declared(key, p, t);
        }
        let regroup = self.observe_features(key, t, event, obs, out);
        if regroup {
            self.regroup(key, t);
        }
    }

    /// Puts the entity in the declared group `name`, creating the group if needed.
    fn join_declared(&mut self, key: Slot, name: &str, t: i64) {
        let Some(entity) = self.entities.get(&key) else {
            return;
        };
        if entity.group.as_deref() == Some(name) && self.groups.contains_key(name) {
            return;
        }
        let old = entity.group.clone();
        self.ensure_group(name, t);
        self.move_entity(key, old.as_deref(), name);
        if let Some(entity) = self.entities.get_mut(&key) {
            entity.declared = true;
        }
    }

    fn ensure_group(&mut self, name: &str, t: i64) {
        if self.groups.contains_key(name) {
            return;
        }
        if self.groups.len() >= MAX_GROUPS {
            if let Some(victim) = self
                .groups
                .iter()
                .min_by(|a, b| a.1.last_seen.cmp(&b.1.last_seen).then(a.0.cmp(b.0)))
                .map(|(k, _)| k.clone())
            {
                self.groups.remove(&victim);
                self.deleted.push(format!("g:{victim}"));
            }
        }
        self.groups.insert(
            name.to_string(),
            SharedState::new(&self.opts.features, t, false),
        );
    }

    fn move_entity(&mut self, key: Slot, old: Option<&str>, new: &str) {
        if old == Some(new) {
            return;
        }
        if let Some(g) = old.and_then(|o| self.groups.get_mut(o)) {
            g.members = g.members.saturating_sub(1);
            g.dirty = true;
        }
        if let Some(g) = self.groups.get_mut(new) {
            g.members += 1;
            g.dirty = true;
        }
        if let Some(e) = self.entities.get_mut(&key) {
            e.group = Some(new.to_string());
            e.dirty = true;
        }
    }

    /// Learned peers: the entity joins the group whose prototype is most similar
    /// (≥ [`JOIN_SIMILARITY`]), else founds one; when no more can be founded, the
    /// smallest idle group is recycled, or it joins the most similar anyway.
    fn regroup(&mut self, key: Slot, t: i64) {
        let Some(entity) = self.entities.get_mut(&key) else {
            return;
        };
        entity.next_regroup = entity.novelty_seen.saturating_add(REGROUP_EVERY);
        let Some(sig) = entity.signature.as_ref().map(Rotating::signature) else {
            return;
        };
        if sig.is_empty() {
            return;
        }
        let old = entity.group.clone();
        let period = t.div_euclid(self.opts.half_life_ms.max(1));
        let mut best: Option<(f64, &String)> = None;
        for (id, g) in &self.groups {
            let Some(proto) = &g.prototype else { continue };
            let s = sig.similarity(&proto.signature());
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, id));
            }
        }
        let target = match best {
            Some((s, id)) if s >= JOIN_SIMILARITY => id.clone(),
            _ if self.groups.len() < MAX_LEARNED_GROUPS => self.found_group(t),
            fallback => {
                let idle_before = t.saturating_sub(self.opts.idle_after_ms);
                let victim = self
                    .groups
                    .iter()
                    .filter(|(_, g)| g.members == 0 || g.last_seen < idle_before)
                    .min_by(|a, b| {
                        (a.1.members, a.1.last_seen, a.0).cmp(&(b.1.members, b.1.last_seen, b.0))
                    })
                    .map(|(k, _)| k.clone());
                match (victim, fallback) {
                    (Some(v), _) => {
                        self.groups.remove(&v);
                        self.deleted.push(format!("g:{v}"));
                        self.found_group(t)
                    }
                    (None, Some((_, id))) => id.clone(),
                    (None, None) => return,
                }
            }
        };
        if let Some(g) = self.groups.get_mut(&target) {
            let proto = g.prototype.get_or_insert_with(Rotating::default);
            proto.advance(period);
            proto.current = proto.current.union(&sig);
            g.last_seen = g.last_seen.max(t);
            g.dirty = true;
        }
        self.move_entity(key, old.as_deref(), &target);
    }

    fn found_group(&mut self, t: i64) -> String {
        let id = format!("peers-{}", self.next_group);
        self.next_group += 1;
        self.groups
            .insert(id.clone(), SharedState::new(&self.opts.features, t, false));
        id
    }

    /// Judges and learns every feature the event carries for one entity; returns
    /// whether the entity is due to look for a better learned peer group.
    fn observe_features(
        &mut self,
        key: Slot,
        t: i64,
        event: &Value,
        obs: &[Obs],
        out: &mut Vec<Breach>,
    ) -> bool {
        let Model {
            opts,
            entities,
            groups,
            org,
            windows,
            ..
        } = self;
        let Some(entity) = entities.get_mut(&key) else {
            return false;
        };
        let hl = opts.half_life_ms;
        entity.dirty = true;
        entity.history += 1;
        let new_day = entity.pace.active(t);
        entity.last_seen = entity.last_seen.max(t);
        let (se, moved) = entity
            .landmark
            .renormalise_from(entity.landmark.scale(t, hl), t, hl);
        if let Some(f) = moved {
            entity.rescale(f);
        }
        let mut group = match &entity.group {
            Some(g) => groups.get_mut(g.as_str()),
            None => None,
        };
        let so = touch_shared(org, t, hl);
        let sg = group.as_deref_mut().map_or(1.0, |g| touch_shared(g, t, hl));
        let scales = Scales {
            org: so,
            group: sg,
            entity: se,
        };
        if new_day {
            org.calibration.day(&entity.kind, so);
        }
        // Entities that carry the declared peer field are in that group; the others
        // (machines, cloud identities without a directory entry) learn theirs.
        let learned = !entity.declared;
        let period = t.div_euclid(hl.max(1));
        let mut regroup = false;
        // A value that is the entity itself (the destination address of a flow to this
        // address) says nothing about what it does.
        let itself = hash_bytes(entity.id.as_bytes());
        // The event's id, read once for all the windows it goes into.
        let event_id = OnceCell::new();
        for (i, (feature, o)) in opts.features.iter().zip(obs).enumerate() {
            if !o.present
                || (matches!(
                    feature.kind,
                    Kind::Novelty | Kind::Distinct | Kind::PeerRarity
                ) && o.hash == itself)
            {
                continue;
            }
            match feature.kind {
                Kind::Novelty => {
                    entity.pace.observed(i);
                    if let Some(b) = novelty(
                        opts,
                        entity,
                        group.as_deref_mut(),
                        org,
                        i,
                        *o,
                        t,
                        event,
                        scales,
                    ) {
                        out.push(b);
                    }
                    if learned
                        && opts
                            .peer_features
                            .as_ref()
                            .is_none_or(|chosen| chosen.contains(&i))
                    {
                        let sig = entity.signature.get_or_insert_with(Rotating::default);
                        regroup |= sig.add(o.hash ^ (i as u64).wrapping_mul(0x9e37_79b9), period);
                        entity.novelty_seen = entity.novelty_seen.saturating_add(1);
                        regroup |= entity.novelty_seen >= entity.next_regroup;
                    }
                }
                Kind::TimeOfWeek => {
                    if let Some(b) = timing(opts, entity, group.as_deref_mut(), org, i, t, event) {
                        out.push(b);
                    }
                }
                Kind::PeerRarity => {
                    if let Some(b) = peer_rarity(
                        opts,
                        entity,
                        group.as_deref_mut(),
                        org,
                        i,
                        *o,
                        t,
                        event,
                        scales,
                    ) {
                        out.push(b);
                    }
                }
                Kind::Volume | Kind::Count | Kind::Distinct => {
                    accumulate(feature, entity, i, *o, t, event, key, windows, &event_id);
                }
            }
        }
        regroup
    }

    fn close_window(&mut self, key: Slot, i: usize, start: i64, end: i64, out: &mut Vec<Breach>) {
        let Model {
            opts,
            entities,
            groups,
            org,
            windows,
            ..
        } = self;
        let Some(feature) = opts.features.get(i) else {
            return;
        };
        let Some(entity) = entities.get_mut(&key) else {
            return;
        };
        let Some(EntityFeature::Window { baseline, open }) = entity.features.get_mut(i) else {
            return;
        };
        if open.as_ref().map(|w| w.start) != Some(start) {
            return;
        }
        let Some(window) = open.take() else {
            return;
        };
        entity.pace.observed(i);
        let raw = match (&window.distinct, feature.kind) {
            (Some(d), Kind::Distinct) => d.estimate(),
            _ => window.sum.max(0.0),
        };
        let event_ids = window.event_ids;
        if let Some(Distinct::Exact(set)) = window.distinct {
            windows.recycle_set(set);
        }
        let x = raw.ln_1p();
        let slot = slot_of(start);
        let hl = opts.half_life_ms;
        let at = end;
        let se = entity.landmark.scale(at, hl);
        let own = baseline.estimate(slot, se);
        let own_windows = baseline.all.windows(se);
        let group = match &entity.group {
            Some(g) => groups.get_mut(g.as_str()),
            None => None,
        };
        let so = org.landmark.scale(at, hl);
        let sg = group.as_deref().map_or(1.0, |g| g.landmark.scale(at, hl));
        let shared_estimate = |s: &SharedState, sc: f64| -> Option<(Estimate, f64)> {
            match s.features.get(i) {
                Some(SharedFeature::Window(b)) => {
                    b.estimate(slot, sc).map(|e| (e, b.all.windows(sc)))
                }
                _ => None,
            }
        };
        let org_est = shared_estimate(org, so);
        let peer_est = group.as_deref().and_then(|g| shared_estimate(g, sg));
        let peers = match (peer_est, org_est) {
            (Some((p, w)), Some((o, _))) => {
                let trust = w / (w + WINDOWS_FOR_CONFIDENCE);
                Some((p.blend(o, trust), trust))
            }
            (Some((p, _)), None) => Some((p, 1.0)),
            (None, Some((o, _))) => Some((o, 0.0)),
            (None, None) => None,
        };
        let confidence = own_windows / (own_windows + WINDOWS_FOR_CONFIDENCE);
        let judged = match (own, peers) {
            (Some(e), Some((p, _))) => Some(e.blend(p, confidence)),
            (Some(e), None) => Some(e),
            (None, Some((p, _))) => Some(p),
            (None, None) => None,
        };
        if let Some(est) = judged {
            let tail = est.tail(x);
            let admitted = if 1.0 - tail >= candidate(opts) {
                let evidence = Evidence {
                    scale: org.landmark.scale(end, hl),
                    calibration: &mut org.calibration,
                    kind: &entity.kind,
                    floor: 0.0,
                    judged: judged_features(&entity.features),
                };
                admit(opts, &mut entity.pace, evidence, i, tail, end)
            } else {
                None
            };
            if let Some(Admitted {
                score,
                with,
                anomaly,
            }) = admitted
            {
                let peer_trust = peers.map_or(0.0, |(_, t)| t);
                let comparison = Comparison::heaviest(
                    if own.is_some() { confidence } else { 0.0 },
                    (1.0 - confidence) * peer_trust,
                    (1.0 - confidence) * (1.0 - peer_trust),
                );
                let band = |e: &Estimate| {
                    let b = e.scale.max(SCALE_FLOOR);
                    (
                        (e.mean - b * 10f64.ln()).exp_m1().max(0.0),
                        laplace_upper(e.mean, b, 0.05).exp_m1(),
                    )
                };
                let (low, high) = band(&est);
                let who = entity.id.as_str();
                let when = explain::window_phrase(start, feature.window_ms);
                let mut explanation = format!(
                    "{who} {} ({}) {when}",
                    explain::window_phrase_of(feature, raw),
                    if feature.field_text.is_empty() {
                        feature.text.as_str()
                    } else {
                        feature.field_text.as_str()
                    }
                );
                match &own {
                    Some(e) => explanation.push_str(&format!(
                        "; its usual for that hour is under {}",
                        explain::amount(feature, band(e).1)
                    )),
                    None => explanation.push_str(&format!(
                        "; it has no history for this yet ({})",
                        explain::kind_noun(&entity.kind)
                    )),
                }
                match (peer_est, org_est) {
                    (Some((p, _)), _) => explanation.push_str(&format!(
                        ", its peer group's under {}",
                        explain::amount(feature, band(&p).1)
                    )),
                    (None, Some((o, _))) => explanation.push_str(&format!(
                        ", the organisation's under {}",
                        explain::amount(feature, band(&o).1)
                    )),
                    (None, None) => {}
                }
                explanation.push('.');
                mention_others(&mut explanation, opts, &with);
                let rarity = [
                    own.map(|e| 1.0 - e.tail(x)),
                    peer_est.map(|(p, _)| 1.0 - p.tail(x)),
                    org_est.map(|(o, _)| 1.0 - o.tail(x)),
                ];
                out.push(Breach {
                    at_ms: end,
                    entity_kind: entity.kind.clone(),
                    entity_id: entity.id.clone(),
                    peer_group: entity.group.clone(),
                    feature: i,
                    trigger: format_rfc3339(start),
                    score,
                    anomaly,
                    tail,
                    rarity,
                    confidence,
                    history: entity.history,
                    comparison,
                    observed_value: explain::amount(feature, raw),
                    observed_number: Some(raw),
                    expected_value: format!(
                        "about {}",
                        explain::amount(feature, est.mean.exp_m1())
                    ),
                    expected_number: Some(est.mean.exp_m1()),
                    expected_low: Some(low),
                    expected_high: Some(high),
                    explanation,
                    event_ids: event_ids.iter().map(EventId::text).collect(),
                    context: Vec::new(),
                });
            }
        }
        // The scales computed above still hold: judging moved no landmark.
        let (se, moved) = entity.landmark.renormalise_from(se, at, hl);
        if let Some(f) = moved {
            entity.rescale(f);
        }
        if let Some(EntityFeature::Window { baseline, .. }) = entity.features.get_mut(i) {
            baseline.update(slot, x, se);
        }
        entity.dirty = true;
        for (shared, sc) in [(Some(&mut *org), so), (group, sg)] {
            let Some(shared) = shared else { continue };
            let (sc, moved) = shared.landmark.renormalise_from(sc, at, hl);
            if let Some(f) = moved {
                shared.rescale(f);
            }
            if let Some(SharedFeature::Window(b)) = shared.features.get_mut(i) {
                b.update(slot, x, sc);
            }
            shared.dirty = true;
        }
    }
}

/// Reads one feature from an event.
fn read(feature: &Feature, event: &Value) -> Obs {
    let value = feature.field.as_ref().map(|p| event.get_path(p));
    match (feature.kind, value) {
        (Kind::Count | Kind::TimeOfWeek, _) => Obs {
            present: true,
            hash: 0,
            number: 1.0,
        },
        (Kind::Volume, Some(Some(v))) => match v.as_f64() {
            Some(n) if n.is_finite() => Obs {
                present: true,
                hash: 0,
                number: n.max(0.0),
            },
            _ => Obs::default(),
        },
        (Kind::Novelty | Kind::Distinct | Kind::PeerRarity, Some(Some(v))) => {
            match scalar_hash(v) {
                Some(hash) => Obs {
                    present: true,
                    hash,
                    number: 0.0,
                },
                None => Obs::default(),
            }
        }
        _ => Obs::default(),
    }
}

/// The event's id (or its time when it has none): what a per-event breach is keyed by.
fn trigger_of(event: &Value, t: i64) -> (String, Vec<String>) {
    match event
        .as_object()
        .and_then(|m| m.get("event"))
        .and_then(|e| e.as_object())
        .and_then(|e| e.get("id"))
        .and_then(Value::as_str)
    {
        Some(id) => (id.to_string(), vec![id.to_string()]),
        None => (format_rfc3339(t), Vec::new()),
    }
}

fn context_of(event: &Value) -> Vec<(&'static [&'static str], Value)> {
    let mut context: Vec<(&'static [&'static str], Value)> = CONTEXT
        .iter()
        .filter_map(|path| {
            let mut cur = event;
            for p in *path {
                cur = cur.as_object()?.get(p)?;
            }
            matches!(cur, Value::String(_) | Value::Int(_) | Value::Float(_))
                .then(|| (*path, cur.clone()))
        })
        .collect();
    // Every entity of the triggering event, so the correlator can tell whom a breach
    // of another entity touched (the person who clicked a sending domain's link).
    let keys = event
        .as_object()
        .and_then(|o| o.get("entity"))
        .and_then(Value::as_object)
        .and_then(|e| e.get("key"));
    if let Some(Value::Array(keys)) = keys {
        if keys.len() > 1 && keys.iter().all(|k| matches!(k, Value::String(_))) {
            context.push((RELATED_ENTITIES, Value::Array(keys.clone())));
        }
    }
    context
}

/// Where a breach lists the entities of its triggering event.
const RELATED_ENTITIES: &[&str] = &["related", "entities"];

/// Whether `value` names the entity `id`: one of its path segments, with only its
/// letters and digits kept, is the id's (`…/personal/maria_jones_acme_example/` names
/// `maria.jones@acme.example`). A whole segment, not a substring: a lookalike domain
/// built from a supplier's (`northwindtraders.com-invoice.net`) must still be judged.
/// Ids of fewer than 8 such characters name nothing this way.
pub(crate) fn names_entity(value: &str, id: &str) -> bool {
    let squeeze = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let id = squeeze(id);
    value.contains('/')
        && id.len() >= 8
        && value
            .split(['/', '\\'])
            .any(|segment| squeeze(segment) == id)
}

fn field_text(feature: &Feature, event: &Value) -> String {
    feature
        .field
        .as_ref()
        .and_then(|p| event.get_path(p))
        .and_then(scalar_text)
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn accumulate(
    feature: &Feature,
    entity: &mut EntityState,
    i: usize,
    o: Obs,
    t: i64,
    event: &Value,
    key: Slot,
    windows: &mut WindowQueue,
    event_id: &OnceCell<Option<EventId>>,
) {
    let Some(slot) = entity.features.get_mut(i) else {
        return;
    };
    if matches!(slot, EntityFeature::Empty) {
        *slot = EntityFeature::Window {
            baseline: Default::default(),
            open: None,
        };
    }
    let EntityFeature::Window { open, .. } = slot else {
        return;
    };
    let window = open.get_or_insert_with(|| {
        let start = t - t.rem_euclid(feature.window_ms);
        windows.push(start + feature.window_ms, key, i as u16, start);
        OpenWindow {
            start,
            sum: 0.0,
            distinct: (feature.kind == Kind::Distinct).then(|| Distinct::Exact(windows.take_set())),
            event_ids: WindowIds::default(),
        }
    });
    match feature.kind {
        Kind::Distinct => {
            if let Some(d) = &mut window.distinct {
                d.add(o.hash);
            }
        }
        _ => window.sum += o.number,
    }
    if !window.event_ids.is_full() {
        if let Some(id) = event_id.get_or_init(|| {
            event
                .as_object()
                .and_then(|m| m.get("event"))
                .and_then(Value::as_object)
                .and_then(|e| e.get("id"))
                .and_then(Value::as_str)
                .map(EventId::new)
        }) {
            window.event_ids.push(id.clone());
        }
    }
}

/// Observations are judged in detail (their tail computed) from this score on; the
/// breach threshold applies to the combined, per-day score.
const CANDIDATE_SCORE: f64 = 0.99;
/// Daily tails above this are too ordinary to add evidence to a combination.
const EVIDENCE_TAIL: f64 = 0.1;

/// The score from which an observation is judged in detail.
fn candidate(opts: &Options) -> f64 {
    opts.threshold.min(CANDIDATE_SCORE)
}

/// The organisation's experience of tails, against which a daily tail is calibrated.
struct Evidence<'a> {
    calibration: &'a mut Calibration,
    /// The organisation's forward-decay factor now.
    scale: f64,
    /// The judged entity's kind (its kind's experience counts first).
    kind: &'a str,
    /// The least daily tail the observation can have whatever the model says: how
    /// often entities take up the value it is the entity's first use of (0 when not).
    floor: f64,
    /// Features the entity has been observed on: any of them could have been this
    /// unusual on a given day.
    judged: usize,
}

/// A judged observation admitted as a breach or an anomaly: its entity-day score, and
/// the other features that were unusual for the entity at the same time.
struct Admitted {
    score: f64,
    with: Vec<usize>,
    /// Unusual for the feature, but not for an entity-day: the `anomalies` port.
    anomaly: bool,
}

/// Whether a judged observation becomes a breach, an anomaly or nothing.
///
/// - Its tail is restated per active day of the entity (the chance that any of a day's
///   observations of this feature is this extreme), so a busy entity's thousandth
///   observation of the day is not as alarming as a quiet one's first.
/// - It is checked against the organisation's experience: no rarer than the share of
///   entity-days that produced one as extreme ([`Calibration`]).
/// - It is combined (Fisher's method) with the most unusual recent observation of each
///   other feature of the entity within `combine_within`: attacks move several things
///   at once (a new region, new API calls and an unusual hour), benign oddities mostly
///   one.
/// - The combined tail must reach the threshold for the feature. Taken over the
///   features the entity is judged on (Šidák), it is the entity-day's score: a breach
///   when that reaches the threshold too — 0.999 means one entity-day in 1,000 — and
///   an anomaly otherwise (rare for the feature, not for an entity-day). A feature
///   breaches at most once per cool-down; its anomaly does not repeat within it either
///   but may turn into a breach.
fn admit(
    opts: &Options,
    pace: &mut Pace,
    evidence: Evidence<'_>,
    i: usize,
    tail: f64,
    t: i64,
) -> Option<Admitted> {
    let feature = opts.features.get(i)?;
    let most_per_day = match feature.kind {
        Kind::Novelty | Kind::PeerRarity => f64::INFINITY,
        Kind::TimeOfWeek => 24.0,
        Kind::Volume | Kind::Count | Kind::Distinct => {
            86_400_000.0 / feature.window_ms.max(1) as f64
        }
    };
    let daily = daily_tail(tail, pace.per_day(i, most_per_day)).max(evidence.floor);
    if daily.is_nan() || daily > EVIDENCE_TAIL {
        return None;
    }
    let Evidence {
        calibration,
        scale,
        kind,
        judged,
        ..
    } = evidence;
    let calibrated = calibration.calibrated(kind, i, daily, scale);
    calibration.record(kind, i, daily, scale);
    let daily = calibrated;
    let ln = daily.max(f64::MIN_POSITIVE).ln() as f32;
    let fresh = |at: i64| at != i64::MIN && t.saturating_sub(at) < opts.combine_within_ms;
    if let Some(slot) = pace.recent.get_mut(i) {
        if !fresh(slot.0) || ln < slot.1 {
            *slot = (t, ln);
        }
    }
    let mut surprise = 0.0;
    let mut with = Vec::new();
    for (j, (at, ln_j)) in pace.recent.iter().enumerate() {
        if fresh(*at) || j == i {
            surprise -= f64::from(*ln_j);
            if j != i {
                with.push(j);
            }
        }
    }
    let tail = combined_tail(surprise, with.len() + 1);
    if tail.is_nan() || 1.0 - tail < opts.threshold {
        return None;
    }
    // The chance that an entity-day has evidence this strong on any of the features
    // the entity is judged on (Šidák): 0.999 is then one entity-day in a thousand.
    let per_entity_day = -(judged as f64 * (-tail).ln_1p()).exp_m1();
    let score = 1.0 - per_entity_day.clamp(0.0, 1.0);
    let anomaly = score < opts.threshold;
    let recent = |at: i64| at != i64::MIN && t.saturating_sub(at) < opts.cooldown_ms;
    // A breach may follow the feature's anomaly at once (the evidence grew); neither
    // repeats within the cool-down.
    let last_breach = *pace.last_breach.get(i)?;
    let last_anomaly = *pace.last_anomaly.get(i)?;
    if recent(last_breach) || (anomaly && recent(last_anomaly)) {
        return None;
    }
    let last = if anomaly {
        pace.last_anomaly.get_mut(i)?
    } else {
        pace.last_breach.get_mut(i)?
    };
    *last = t;
    Some(Admitted {
        score,
        with,
        anomaly,
    })
}

/// How many features an entity has been observed on (at least 1).
fn judged_features(features: &[EntityFeature]) -> usize {
    features
        .iter()
        .filter(|f| !matches!(f, EntityFeature::Empty))
        .count()
        .max(1)
}

/// [`admit`] for the crate's tests: the score, the other features combined and
/// whether it is an anomaly, for an entity judged on `judged` features.
#[cfg(test)]
pub(crate) fn admit_for_test(
    opts: &Options,
    pace: &mut Pace,
    calibration: &mut Calibration,
    (i, judged): (usize, usize),
    tail: f64,
    t: i64,
) -> Option<(f64, Vec<usize>, bool)> {
    let evidence = Evidence {
        calibration,
        scale: 1.0,
        kind: "user",
        floor: 0.0,
        judged,
    };
    admit(opts, pace, evidence, i, tail, t).map(|a| (a.score, a.with, a.anomaly))
}

/// Adds to an explanation what else was unusual for the entity at the time.
fn mention_others(explanation: &mut String, opts: &Options, with: &[usize]) {
    if with.is_empty() {
        return;
    }
    let names: Vec<&str> = with
        .iter()
        .filter_map(|j| opts.features.get(*j))
        .map(|f| f.text.as_str())
        .collect();
    explanation.push_str(&format!(
        " At the same time also unusual: {}.",
        names.join(", ")
    ));
}

fn shared_top(shared: &mut SharedState, i: usize) -> Option<&mut HeapTop> {
    match shared.features.get_mut(i) {
        Some(SharedFeature::Novelty(top)) => Some(top),
        _ => None,
    }
}

/// The forward-decay scales of the organisation, the entity's peer group (1 without
/// one) and the entity at the event's time, computed once per event.
#[derive(Debug, Clone, Copy)]
struct Scales {
    org: f64,
    group: f64,
    entity: f64,
}

/// Marks a peer group or the organisation active at `t`, renormalising its weights
/// when due; returns its scale at `t`.
fn touch_shared(shared: &mut SharedState, t: i64, hl: i64) -> f64 {
    shared.dirty = true;
    shared.last_seen = shared.last_seen.max(t);
    let (scale, moved) = shared
        .landmark
        .renormalise_from(shared.landmark.scale(t, hl), t, hl);
    if let Some(f) = moved {
        shared.rescale(f);
    }
    scale
}

/// Judges a categorical value, then learns it at every level.
#[allow(clippy::too_many_arguments)]
fn novelty(
    opts: &Options,
    entity: &mut EntityState,
    group: Option<&mut SharedState>,
    org: &mut SharedState,
    i: usize,
    o: Obs,
    t: i64,
    event: &Value,
    scales: Scales,
) -> Option<Breach> {
    let Scales {
        org: so,
        group: sg,
        entity: se,
    } = scales;
    let slot = entity.features.get_mut(i)?;
    if matches!(slot, EntityFeature::Empty) {
        *slot = EntityFeature::Novelty(SmallTop::default());
    }
    let EntityFeature::Novelty(top) = slot else {
        return None;
    };
    let breach = {
        let org_top = match org.features.get(i) {
            Some(SharedFeature::Novelty(t)) => t,
            _ => return None,
        };
        let group_top = group.as_deref().and_then(|g| match g.features.get(i) {
            Some(SharedFeature::Novelty(t)) => Some(t),
            _ => None,
        });
        judge_novelty(opts, top, se, group_top, sg, org_top, so, o.hash)
    };
    let first_use = top.count(o.hash) == 0.0;
    // A value that names the person (her own OneDrive, her own home directory) is
    // hers by construction: a new joiner's first visit to it says nothing. People
    // only (a sending domain's name in a link is how lookalikes are made), and only
    // for the few observations judged in detail.
    let breach = breach.filter(|_| {
        !(first_use
            && entity.kind == "user"
            && opts
                .features
                .get(i)
                .is_some_and(|f| names_entity(&field_text(f, event), &entity.id)))
    });
    // Only what is admitted gets its explanation written.
    let admitted = breach.and_then(|j| {
        let floor = if first_use {
            org.calibration.adoption_rate(i, o.hash)
        } else {
            0.0
        };
        let evidence = Evidence {
            calibration: &mut org.calibration,
            scale: so,
            kind: &entity.kind,
            floor,
            judged: judged_features(&entity.features),
        };
        admit(opts, &mut entity.pace, evidence, i, j.tail, t).map(|a| (j, a))
    });
    let breach = admitted.map(|(j, a)| {
        let mut b = novelty_breach(
            opts,
            entity,
            i,
            o,
            t,
            event,
            j,
            org,
            group.as_deref(),
            so,
            sg,
            se,
        );
        b.score = a.score;
        b.anomaly = a.anomaly;
        mention_others(&mut b.explanation, opts, &a.with);
        b
    });
    // Learn. The peer group and the organisation weigh an observation by
    // 1/√(1 + c), c the entity's own decayed count of the value so far: an adoption
    // weighs 1, and an entity that keeps using a value adds about 2√c rather than c.
    // The levels thus count mostly who uses a value (what matters for a user's first
    // SharingSet is how many users share, not how many sharing events the busiest of
    // them made), while a value used heavily by everyone — a region every identity
    // works in all day — still outweighs one nobody has ever used.
    let mut weight = 1.0;
    if let Some(EntityFeature::Novelty(top)) = entity.features.get_mut(i) {
        weight = 1.0 / (1.0 + f64::from(top.count(o.hash)) / se).sqrt();
        top.observe(o.hash, se as f32);
    }
    if first_use {
        org.calibration.adopted(i, o.hash, so);
    }
    let (inc_o, inc_g) = (so * weight, sg * weight);
    let feature = opts.features.get(i)?;
    let org_top = shared_top(org, i)?;
    if org_top.observe(o.hash, inc_o, || {
        field_text(feature, event).into_boxed_str()
    }) {
        org_top.refresh(so, |_| BASE_PROBABILITY);
    }
    if let Some(g) = group {
        let org_top = match org.features.get(i) {
            Some(SharedFeature::Novelty(t)) => t,
            _ => return breach,
        };
        let ol = org_top.level(so);
        if let Some(gt) = shared_top(g, i) {
            if gt.observe(o.hash, inc_g, || Box::from("")) {
                gt.refresh(sg, |h| ol.prob(org_top.count(h), BASE_PROBABILITY));
            }
        }
    }
    breach
}

/// What a novelty judgement found.
struct NoveltyJudgement {
    tail: f64,
    rarity: [Option<f64>; 3],
    novel: [f64; 3],
    has_peers: bool,
}

#[allow(clippy::too_many_arguments)]
fn judge_novelty(
    opts: &Options,
    top: &SmallTop,
    se: f64,
    group: Option<&HeapTop>,
    sg: f64,
    org: &HeapTop,
    so: f64,
    hash: u64,
) -> Option<NoveltyJudgement> {
    let ol = org.level(so);
    let p_org = |h: u64| ol.prob(org.count(h), BASE_PROBABILITY);
    let gl = group.map(|g| g.level(sg));
    let p_peer = |h: u64| match (group, gl) {
        (Some(g), Some(l)) => l.prob(g.count(h), p_org(h)),
        _ => p_org(h),
    };
    let el = top.level(se);
    // T_entity(v) ≥ P_entity(v): most observations are dismissed here, cheaply.
    let quick = el.prob(f64::from(top.count(hash)), p_peer(hash));
    if 1.0 - quick < candidate(opts) {
        return None;
    }
    let t_org = org.tail(p_org(hash), org.count(hash), so, 1.0);
    let (t_peer, alone_peer) = match group {
        Some(g) => (
            g.tail(p_peer(hash), g.count(hash), sg, t_org),
            Some(g.tail(p_peer(hash), g.count(hash), sg, 1.0)),
        ),
        None => (t_org, None),
    };
    let et = entity_tail(top, se, hash, p_peer, t_peer);
    if 1.0 - et.tail < candidate(opts) {
        return None;
    }
    Some(NoveltyJudgement {
        tail: et.tail,
        rarity: [
            Some(1.0 - et.alone),
            alone_peer.map(|a| 1.0 - a),
            Some(1.0 - org.tail(p_org(hash), org.count(hash), so, 1.0)),
        ],
        novel: [el.novel(), gl.map_or(1.0, |l| l.novel()), ol.novel()],
        has_peers: group.is_some(),
    })
}

#[allow(clippy::too_many_arguments)]
fn novelty_breach(
    opts: &Options,
    entity: &EntityState,
    i: usize,
    o: Obs,
    t: i64,
    event: &Value,
    j: NoveltyJudgement,
    org: &SharedState,
    group: Option<&SharedState>,
    so: f64,
    sg: f64,
    se: f64,
) -> Breach {
    let feature = &opts.features[i.min(opts.features.len().saturating_sub(1))];
    let value = field_text(feature, event);
    let org_top = match org.features.get(i) {
        Some(SharedFeature::Novelty(t)) => Some(t),
        _ => None,
    };
    let group_top = group.and_then(|g| match g.features.get(i) {
        Some(SharedFeature::Novelty(t)) => Some(t),
        _ => None,
    });
    let (own_count, own_total, usual) = match entity.features.get(i) {
        Some(EntityFeature::Novelty(top)) => (
            f64::from(top.count(o.hash)) / se,
            f64::from(top.total) / se,
            top.top(3)
                .iter()
                .filter_map(|(h, _)| org_top.and_then(|ot| ot.name(*h)).map(str::to_string))
                .collect::<Vec<_>>(),
        ),
        _ => (0.0, 0.0, Vec::new()),
    };
    let share =
        |top: Option<&HeapTop>, scale: f64| top.map(|t| (t.count(o.hash) / scale, t.total / scale));
    let level_phrase = |name: &str, s: Option<(f64, f64)>| match s {
        Some((c, n)) if c >= 0.5 && n > 0.0 => format!("{} ({})", name, explain::percent(c / n)),
        Some(_) => format!("{name} (never seen)"),
        None => String::new(),
    };
    let who = entity.id.as_str();
    let noun = explain::kind_noun(&entity.kind);
    let seen = own_count >= 0.5;
    let what = explain::novelty_phrase(&feature.field_text, &value);
    let history = explain::number(own_total.round());
    let mut explanation = if seen {
        format!(
            "{who} {what} ({}), rare for this {noun} ({} of {history} observations)",
            feature.field_text,
            explain::percent(own_count / own_total.max(1.0))
        )
    } else {
        format!(
            "{who} {what} ({}) for the first time: never seen in {history} observations of this {noun}",
            feature.field_text
        )
    };
    let peers = j
        .has_peers
        .then(|| level_phrase("the peer group", share(group_top, sg)));
    let org_phrase = level_phrase("the organisation", share(org_top, so));
    match peers {
        Some(p) => explanation.push_str(&format!(", rare for {p} and {org_phrase}")),
        None => explanation.push_str(&format!(", rare for {org_phrase}")),
    }
    if !usual.is_empty() {
        explanation.push_str(&format!("; usually {}", usual.join(", ")));
    }
    explanation.push('.');
    let [ne, np, _] = j.novel;
    let np = if j.has_peers { np } else { 1.0 };
    let comparison = Comparison::heaviest(1.0 - ne, ne * (1.0 - np), ne * np);
    let (trigger, event_ids) = trigger_of(event, t);
    Breach {
        at_ms: t,
        entity_kind: entity.kind.clone(),
        entity_id: entity.id.clone(),
        peer_group: entity.group.clone(),
        feature: i,
        trigger,
        score: 1.0 - j.tail,
        anomaly: false,
        tail: j.tail,
        rarity: j.rarity,
        confidence: own_total / (own_total + EVENTS_FOR_CONFIDENCE),
        history: entity.history,
        comparison,
        observed_value: value,
        observed_number: None,
        expected_value: usual.join(", "),
        expected_number: None,
        expected_low: None,
        expected_high: None,
        explanation,
        event_ids,
        context: context_of(event),
    }
}

/// Judges the hour of activity (once per entity per hour), then learns it.
fn timing(
    opts: &Options,
    entity: &mut EntityState,
    group: Option<&mut SharedState>,
    org: &mut SharedState,
    i: usize,
    t: i64,
    event: &Value,
) -> Option<Breach> {
    let hl = opts.half_life_ms;
    let hour = t.div_euclid(3_600_000);
    // An entity is observed at most once per hour: most calls end here.
    if let Some(EntityFeature::Week { last_hour, .. }) = entity.features.get(i) {
        if *last_hour == hour {
            return None;
        }
    }
    let judged = judged_features(&entity.features);
    let slot_state = entity.features.get_mut(i)?;
    if matches!(slot_state, EntityFeature::Empty) {
        *slot_state = EntityFeature::Week {
            hours: WeekHours::default(),
            last_hour: i64::MIN,
        };
    }
    let EntityFeature::Week { hours, last_hour } = slot_state else {
        return None;
    };
    *last_hour = hour;
    entity.pace.observed(i);
    let slot = slot_of(t);
    let week_of = |s: &SharedState| match s.features.get(i) {
        Some(SharedFeature::Week(w)) => Some(w.clone()),
        _ => None,
    };
    let (so, se) = (org.landmark.scale(t, hl), entity.landmark.scale(t, hl));
    let ow = week_of(org)?;
    let od = ow.distribution(so, &week::uniform());
    let t_org = ow.tail(so, &od, slot, 1.0);
    let gw = group
        .as_deref()
        .and_then(|g| week_of(g).map(|w| (w, g.landmark.scale(t, hl))));
    let (pd, t_peer, alone_peer) = match &gw {
        Some((w, sg)) => {
            let d = w.distribution(*sg, &od);
            (
                d,
                w.tail(*sg, &d, slot, t_org),
                Some(w.tail(*sg, &d, slot, 1.0)),
            )
        }
        None => (od, t_org, None),
    };
    let ed = hours.distribution(se, &pd);
    let tail = hours.tail(se, &ed, slot, t_peer);
    let mut breach = None;
    let admitted = if 1.0 - tail >= candidate(opts) {
        let evidence = Evidence {
            scale: so,
            calibration: &mut org.calibration,
            kind: &entity.kind,
            floor: 0.0,
            judged,
        };
        admit(opts, &mut entity.pace, evidence, i, tail, t)
    } else {
        None
    };
    if let Some(Admitted {
        score,
        with,
        anomaly,
    }) = admitted
    {
        let n = hours.observations(se);
        let share_e = hours.parent_share(se);
        let share_p = gw.as_ref().map_or(1.0, |(w, sg)| w.parent_share(*sg));
        let usual: Vec<String> = week::usual(&ed, 2)
            .into_iter()
            .map(explain::slot_phrase)
            .collect();
        let who = entity.id.as_str();
        let explanation = format!(
            "{who} was active at {}, an unusual time: {} of this {}'s {} active hours fall there (peer group {}, organisation {}); usually {}.",
            explain::slot_phrase(slot),
            explain::percent(ed.get(slot).copied().unwrap_or(0.0)),
            explain::kind_noun(&entity.kind),
            explain::number(n.round()),
            explain::percent(pd.get(slot).copied().unwrap_or(0.0)),
            explain::percent(od.get(slot).copied().unwrap_or(0.0)),
            usual.join(" or ")
        );
        let mut explanation = explanation;
        mention_others(&mut explanation, opts, &with);
        let (trigger, event_ids) = trigger_of(event, t);
        breach = Some(Breach {
            at_ms: t,
            entity_kind: entity.kind.clone(),
            entity_id: entity.id.clone(),
            peer_group: entity.group.clone(),
            feature: i,
            trigger,
            score,
            anomaly,
            tail,
            rarity: [
                Some(1.0 - hours.tail(se, &ed, slot, 1.0)),
                alone_peer.map(|a| 1.0 - a),
                Some(1.0 - t_org),
            ],
            confidence: n / (n + WINDOWS_FOR_CONFIDENCE),
            history: entity.history,
            comparison: Comparison::heaviest(
                1.0 - share_e,
                share_e * (1.0 - share_p),
                share_e * share_p,
            ),
            observed_value: explain::slot_phrase(slot),
            observed_number: Some(slot as f64),
            expected_value: usual.join(", "),
            expected_number: None,
            expected_low: None,
            expected_high: None,
            explanation,
            event_ids,
            context: context_of(event),
        });
    }
    hours.observe(slot, se);
    if let Some(SharedFeature::Week(w)) = org.features.get_mut(i) {
        w.observe(slot, so);
    }
    if let Some(g) = group {
        let sg = g.landmark.scale(t, hl);
        if let Some(SharedFeature::Week(w)) = g.features.get_mut(i) {
            w.observe(slot, sg);
        }
    }
    breach
}

/// Judges a value the entity uses on a new day against its peer group's use of it
/// (`peer_rarity`), then counts the day at every level. Each value is counted and
/// judged at most once per entity and day; without a peer group nothing is judged
/// (the organisation still counts the day).
#[allow(clippy::too_many_arguments)]
fn peer_rarity(
    opts: &Options,
    entity: &mut EntityState,
    group: Option<&mut SharedState>,
    org: &mut SharedState,
    i: usize,
    o: Obs,
    t: i64,
    event: &Value,
    scales: Scales,
) -> Option<Breach> {
    let Scales {
        org: so,
        group: sg,
        entity: se,
    } = scales;
    let feature = opts.features.get(i)?;
    let day = t.div_euclid(DAY_MS);
    // Most observations repeat a value already counted today: nothing to do.
    if let Some(EntityFeature::Peer(table)) = entity.features.get(i) {
        if table.day == day && table.today.contains(&o.hash) {
            return None;
        }
    }
    let group_id = match (&entity.group, &group) {
        (Some(name), Some(_)) => hash_bytes(name.as_bytes()) | 1,
        _ => 0,
    };
    let judged = judged_features(&entity.features);
    let slot = entity.features.get_mut(i)?;
    if matches!(slot, EntityFeature::Empty) {
        *slot = EntityFeature::Peer(PeerTable::default());
    }
    let EntityFeature::Peer(table) = slot else {
        return None;
    };
    if table.group != group_id {
        table.reset(group_id);
    }
    let new_day = table.day != day;
    if new_day {
        table.day = day;
        table.today.clear();
    }
    if table.today.contains(&o.hash) || table.today.len() >= DAY_VALUES {
        return None;
    }
    table.today.push(o.hash);
    // Count the entity-day at every level, the entity's own days alongside its
    // contribution to the group so that it can be taken out again.
    let shared = |s: &mut SharedState, scale: f64, name: bool| {
        if let Some(SharedFeature::Peers(p)) = s.features.get_mut(i) {
            if new_day {
                p.days += scale;
            }
            p.values.observe(o.hash, scale, || {
                if name {
                    field_text(feature, event).into_boxed_str()
                } else {
                    Box::from("")
                }
            });
        }
    };
    shared(org, so, true);
    let group = group?;
    shared(group, sg, false);
    if new_day {
        table.days += se as f32;
        table.active = table.active.saturating_add(1);
    }
    let tracked = match table.entry_mut(o.hash) {
        Some(e) => {
            e.days += se as f32;
            e.used = e.used.saturating_add(1);
            true
        }
        None => false,
    };
    entity.pace.observed(i);
    let (SharedFeature::Peers(gp), SharedFeature::Peers(op)) =
        (group.features.get(i)?, org.features.get(i)?)
    else {
        return None;
    };
    let n = f64::from(table.days) / se;
    // The entity's own days with the value: tracked, or just today's.
    let k = table.entry(o.hash).map_or(1.0, |e| f64::from(e.days) / se);
    let (group_with, group_days) = gp.counts(o.hash, sg);
    let peer_days = (group_days - n).max(0.0);
    let peer_with = (group_with - k).clamp(0.0, peer_days);
    let (org_with, org_days) = op.counts(o.hash, so);
    let org_rate = peer::org_rate(org_with, org_days);
    let q = peer::peer_rate(peer_with, peer_days, org_rate);
    if !tracked && (q >= TRACK_BELOW || !table.track(o.hash, se as f32, day)) {
        return None;
    }
    let entry = table.entry(o.hash)?.clone();
    // Judged on the days after the first (see `taken_up_tail`); most values are as
    // common for the entity as for its peers, and have no tail to compute.
    let after_days = (f64::from(table.days) - f64::from(entry.days_then)).max(0.0) / se;
    let after_used = entry.after(se).min(after_days);
    if after_used <= 0.0 || after_used / after_days.max(1.0) <= q {
        return None;
    }
    let tail = peer::taken_up_tail(after_days, after_used, f64::from(entry.since_active), q);
    if 1.0 - tail < candidate(opts)
        || (entry.reported < 0.0 && tail.ln() > f64::from(entry.reported) - REPEAT_FACTOR.ln())
    {
        return None;
    }
    let active_since = table.active.saturating_sub(entry.since_active);
    let evidence = Evidence {
        calibration: &mut org.calibration,
        scale: so,
        kind: &entity.kind,
        floor: 0.0,
        judged,
    };
    let Admitted {
        score,
        with,
        anomaly,
    } = admit(opts, &mut entity.pace, evidence, i, tail, t)?;
    if let Some(e) = table.entry_mut(o.hash) {
        e.reported = tail.max(f64::MIN_POSITIVE).ln() as f32;
    }
    let value = field_text(feature, event);
    let who = entity.id.as_str();
    let noun = explain::kind_noun(&entity.kind);
    let group_name = entity.group.as_deref().unwrap_or("");
    let others = group.members.saturating_sub(1);
    let since = format_rfc3339(entry.first_day.saturating_mul(DAY_MS));
    let mut explanation = format!(
        "{who} used {value} ({}) on {} of the {} days this {noun} was active since {}, after {} active day{} without it; ",
        feature.field_text,
        entry.used,
        active_since.max(entry.used),
        since.get(0..10).unwrap_or(""),
        entry.since_active,
        if entry.since_active == 1 { "" } else { "s" },
    );
    let peer_share = if peer_days > 0.0 {
        peer_with / peer_days
    } else {
        0.0
    };
    let org_share = if org_days > 0.0 {
        (org_with / org_days).min(1.0)
    } else {
        0.0
    };
    let peers_phrase = format!(
        "its peer group ({group_name}, {} other{})",
        explain::number(f64::from(others)),
        if others == 1 { "" } else { "s" }
    );
    if peer_with < 0.5 {
        explanation.push_str(&format!("nobody in {peers_phrase} did in the last weeks"));
    } else {
        explanation.push_str(&format!(
            "{peers_phrase} on {} of their active days",
            explain::percent(peer_share)
        ));
    }
    if org_share >= 0.005 {
        explanation.push_str(&format!(
            ", while {} of the organisation uses it on a given day.",
            explain::percent(org_share)
        ));
    } else {
        explanation.push_str(&format!(
            ", and the organisation hardly ever does ({} of its active days).",
            explain::percent(org_share)
        ));
    }
    mention_others(&mut explanation, opts, &with);
    let (trigger, event_ids) = trigger_of(event, t);
    Some(Breach {
        at_ms: t,
        entity_kind: entity.kind.clone(),
        entity_id: entity.id.clone(),
        peer_group: entity.group.clone(),
        feature: i,
        trigger,
        score,
        anomaly,
        tail,
        rarity: [
            Some(1.0 - (k / n.max(1.0)).min(1.0)),
            Some(1.0 - peer_share),
            Some(1.0 - org_share),
        ],
        confidence: peer::confidence(peer_days, n),
        history: entity.history,
        comparison: Comparison::Peers,
        observed_value: value,
        observed_number: Some(f64::from(entry.used)),
        expected_value: format!("peers on {} of their days", explain::percent(q)),
        expected_number: Some(q),
        expected_low: None,
        expected_high: None,
        explanation,
        event_ids,
        context: context_of(event),
    })
}
