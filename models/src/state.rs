//! What the model remembers: per entity, per peer group and for the organisation.
//! Everything here is plain data encoded with bincode into the state store, one row
//! per entity and group; counters are f32 where their precision suffices, and feature
//! state is allocated on a feature's first observation.

use crate::features::{Feature, Kind};
use crate::maths::baseline::Seasonal;
use crate::maths::calibration::Calibration;
use crate::maths::decay::Landmark;
use crate::maths::distinct::Distinct;
use crate::maths::minhash::Rotating;
use crate::maths::novelty::{HeapTop, SmallTop, GROUP_TOP, ORG_TOP};
use crate::maths::peer::{PeerDays, PeerTable};
use crate::maths::week::WeekHours;
use serde::{Deserialize, Serialize};

/// An entity's state of one feature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum EntityFeature {
    /// Not observed yet.
    #[default]
    Empty,
    Novelty(SmallTop),
    Window {
        baseline: Seasonal,
        /// Held inline (no allocation per window): nearly every event of an entity
        /// active a few times a day opens a window. Encoded as before.
        open: Option<OpenWindow>,
    },
    Week {
        hours: WeekHours,
        /// The hour (since the epoch) last observed: one observation per hour.
        last_hour: i64,
    },
    /// Days with a value its peers do not use (`peer_rarity`).
    Peer(PeerTable),
}

/// A window being accumulated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenWindow {
    pub start: i64,
    /// Sum (volume) or count (count).
    pub sum: f64,
    pub distinct: Option<Distinct>,
    /// The first few events' ids, for the breach record.
    pub event_ids: WindowIds,
}

/// The first [`WINDOW_EVENT_IDS`] event ids of a window, held inline so that opening
/// a window allocates nothing for them; encoded as the sequence (`Vec<EventId>`) it
/// always was, so snapshots keep their format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowIds([Option<EventId>; WINDOW_EVENT_IDS]);

impl WindowIds {
    /// Whether no more ids are kept.
    pub fn is_full(&self) -> bool {
        self.0.iter().all(Option::is_some)
    }

    /// Keeps `id` if there is room.
    pub fn push(&mut self, id: EventId) {
        if let Some(free) = self.0.iter_mut().find(|s| s.is_none()) {
            *free = Some(id);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &EventId> {
        self.0.iter().map_while(Option::as_ref)
    }
}

impl Serialize for WindowIds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        // The exact length up front: bincode needs it.
        let mut seq = s.serialize_seq(Some(self.iter().count()))?;
        for id in self.iter() {
            seq.serialize_element(id)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for WindowIds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<WindowIds, D::Error> {
        let ids = Vec::<EventId>::deserialize(d)?;
        if ids.len() > WINDOW_EVENT_IDS {
            return Err(serde::de::Error::invalid_length(
                ids.len(),
                &"at most 4 event ids",
            ));
        }
        let mut out = WindowIds::default();
        for id in ids {
            out.push(id);
        }
        Ok(out)
    }
}

/// An `event.id`: the schema's 32 lowercase hex digits held as 16 bytes (no
/// allocation per event), anything else as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventId {
    Hex([u8; 16]),
    Text(String),
}

impl EventId {
    pub fn new(id: &str) -> EventId {
        let b = id.as_bytes();
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        if b.len() == 32 {
            let mut out = [0u8; 16];
            let ok = out.iter_mut().enumerate().all(|(i, o)| {
                match (
                    b.get(2 * i).copied().and_then(nibble),
                    b.get(2 * i + 1).copied().and_then(nibble),
                ) {
                    (Some(h), Some(l)) => {
                        *o = h << 4 | l;
                        true
                    }
                    _ => false,
                }
            });
            if ok {
                return EventId::Hex(out);
            }
        }
        EventId::Text(id.to_string())
    }

    pub fn text(&self) -> String {
        match self {
            EventId::Hex(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            EventId::Text(s) => s.clone(),
        }
    }
}

/// Event ids a window keeps for its breach: enough to start an investigation while
/// keeping an open window small.
pub const WINDOW_EVENT_IDS: usize = 4;

/// One entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    pub kind: String,
    pub id: String,
    pub landmark: Landmark,
    /// Newest event time seen for it.
    pub last_seen: i64,
    /// Events observed (never decayed): the record's `history`.
    pub history: u64,
    /// Its peer group: the declared field's value or a learned group's id.
    pub group: Option<String>,
    /// Whether the group was declared (the `peers` field); entities that never carry
    /// that field get learned groups.
    pub declared: bool,
    /// MinHash of its novelty values (learned peer groups only).
    pub signature: Option<Rotating>,
    /// Novelty observations at which it next looks for a better peer group.
    pub next_regroup: u32,
    pub novelty_seen: u32,
    pub features: Vec<EntityFeature>,
    /// How often each feature is observed, and when each last breached.
    pub pace: Pace,
    /// Changed since the last snapshot.
    #[serde(skip)]
    pub dirty: bool,
}

impl EntityState {
    pub fn new(kind: &str, id: &str, at_ms: i64, features: usize) -> EntityState {
        EntityState {
            kind: kind.to_string(),
            id: id.to_string(),
            landmark: Landmark::new(at_ms),
            last_seen: at_ms,
            history: 0,
            group: None,
            declared: false,
            signature: None,
            next_regroup: FIRST_REGROUP,
            novelty_seen: 0,
            features: vec![EntityFeature::Empty; features],
            pace: Pace::new(features),
            dirty: true,
        }
    }

    /// `kind:id`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }

    /// Divides every stored weight (its landmark moved).
    pub fn rescale(&mut self, factor: f64) {
        for f in &mut self.features {
            match f {
                EntityFeature::Empty => {}
                EntityFeature::Novelty(top) => top.rescale(factor),
                EntityFeature::Window { baseline, .. } => baseline.rescale(factor),
                EntityFeature::Week { hours, .. } => hours.rescale(factor),
                EntityFeature::Peer(table) => table.rescale(factor),
            }
        }
    }

    /// Whether decoded state fits the configured features.
    pub fn fits(&self, features: &[Feature]) -> bool {
        self.features.len() == features.len()
            && self.pace.observed.len() == features.len()
            && self.pace.last_breach.len() == features.len()
            && self.pace.last_anomaly.len() == features.len()
            && self.pace.recent.len() == features.len()
            && self.features.iter().zip(features).all(|(s, f)| match s {
                EntityFeature::Empty => true,
                EntityFeature::Novelty(top) => {
                    f.kind == Kind::Novelty
                        && top.entries.len() <= crate::maths::novelty::ENTITY_TOP
                }
                EntityFeature::Window { baseline, .. } => f.kind.windowed() && baseline.is_valid(),
                EntityFeature::Week { hours, .. } => f.kind == Kind::TimeOfWeek && hours.is_valid(),
                EntityFeature::Peer(table) => f.kind == Kind::PeerRarity && table.is_valid(),
            })
    }
}

/// An entity's pace: on how many days it was active and how many observations each
/// feature had, so a score can be stated per active day; and when each feature last
/// breached, so a breach is not repeated while the first is fresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pace {
    /// UTC days with activity.
    pub days: u32,
    /// The last of them (days since the epoch).
    pub last_day: i64,
    /// Observations per feature, never decayed.
    pub observed: Vec<u32>,
    /// Event time of each feature's last breach (`i64::MIN`: never).
    pub last_breach: Vec<i64>,
    /// Event time of each feature's last anomaly (`i64::MIN`: never).
    pub last_anomaly: Vec<i64>,
    /// Each feature's most unusual recent observation: its event time (`i64::MIN`:
    /// none) and the natural log of its daily tail, for combining what is unusual about
    /// the entity at the same time.
    pub recent: Vec<(i64, f32)>,
}

const DAY_MS: i64 = 86_400_000;

impl Pace {
    pub fn new(features: usize) -> Pace {
        Pace {
            days: 0,
            last_day: i64::MIN,
            observed: vec![0; features],
            last_breach: vec![i64::MIN; features],
            last_anomaly: vec![i64::MIN; features],
            recent: vec![(i64::MIN, 0.0); features],
        }
    }

    /// Counts an event at `t`; true when it begins a day of activity.
    pub fn active(&mut self, t: i64) -> bool {
        let day = t.div_euclid(DAY_MS);
        if day == self.last_day {
            return false;
        }
        self.last_day = day;
        self.days = self.days.saturating_add(1);
        true
    }

    /// Counts an observation of feature `i`.
    pub fn observed(&mut self, i: usize) {
        if let Some(n) = self.observed.get_mut(i) {
            *n = n.saturating_add(1);
        }
    }

    /// Observations of feature `i` per active day, at least 1 and at most `cap`.
    pub fn per_day(&self, i: usize, cap: f64) -> f64 {
        let n = f64::from(self.observed.get(i).copied().unwrap_or(0));
        (n / f64::from(self.days.max(1))).clamp(1.0, cap.max(1.0))
    }
}

/// The chance under independence that features with these daily tails (given as
/// `−ln tail`, summing to `surprise`) are all at least this extreme together: Fisher's
/// method, `P(χ²(2k) ≥ 2·surprise) = e^(−surprise) · Σ_{j<k} surprise^j / j!`.
pub fn combined_tail(surprise: f64, k: usize) -> f64 {
    if surprise.is_nan() || surprise <= 0.0 {
        return 1.0;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for j in 1..k.max(1) {
        term *= surprise / j as f64;
        sum += term;
    }
    ((-surprise).exp() * sum).clamp(0.0, 1.0)
}

/// The tail probability per active day of an observation with per-observation tail
/// `tail`, for an entity making `per_day` such observations a day: the chance that at
/// least one of a day's observations is this extreme, `1 − (1 − tail)^per_day`.
pub fn daily_tail(tail: f64, per_day: f64) -> f64 {
    let tail = tail.clamp(0.0, 1.0);
    if tail >= 1.0 {
        return 1.0;
    }
    -(per_day * (-tail).ln_1p()).exp_m1()
}

#[cfg(test)]
mod pace_tests {
    use super::*;

    #[test]
    fn a_busy_entity_needs_a_rarer_observation_for_the_same_daily_score() {
        // One observation a day: the daily tail is the observation's.
        assert!((daily_tail(1e-4, 1.0) - 1e-4).abs() < 1e-12);
        // A hundred a day: about a hundred times likelier to see one that extreme.
        let busy = daily_tail(1e-4, 100.0);
        assert!((busy - (1.0 - (1.0 - 1e-4f64).powi(100))).abs() < 1e-12);
        assert!(busy > 0.0099 && busy < 0.01);
        assert_eq!(daily_tail(1.0, 5.0), 1.0);
        assert_eq!(daily_tail(0.0, 5.0), 0.0);
    }

    #[test]
    fn fisher_combination_has_its_closed_form() {
        // One feature: the combination is the feature's own tail.
        assert!((combined_tail(-(1e-3f64).ln(), 1) - 1e-3).abs() < 1e-12);
        // Two features at 0.01 each: p = x(1 − ln x) with x = 10⁻⁴.
        let x: f64 = 1e-4;
        assert!((combined_tail(-x.ln(), 2) - x * (1.0 - x.ln())).abs() < 1e-12);
        // Several moderately unusual features are rarer together than any alone.
        let three = combined_tail(3.0 * -(0.01f64).ln(), 3);
        assert!(three < 1e-3 && three > 1e-6, "{three}");
        assert_eq!(combined_tail(0.0, 3), 1.0);
    }

    #[test]
    fn pace_counts_active_days_and_observations() {
        let mut p = Pace::new(2);
        for h in 0..30 {
            p.active(h * 3_600_000);
            p.observed(0);
        }
        assert_eq!(p.days, 2);
        assert_eq!(p.per_day(0, f64::INFINITY), 15.0);
        assert_eq!(p.per_day(0, 10.0), 10.0);
        assert_eq!(p.per_day(1, 24.0), 1.0);
        // A feature the state does not have is ignored, not a panic.
        p.observed(7);
        assert_eq!(p.observed, vec![30, 0]);
    }
}

#[cfg(test)]
mod tests {
    use super::{EventId, WindowIds};

    #[test]
    fn schema_event_ids_are_held_as_bytes_and_read_back() {
        let id = "5f0c2a7e9d3b41c8a6e1f2d4b7c9e0a1";
        assert!(matches!(EventId::new(id), EventId::Hex(_)));
        assert_eq!(EventId::new(id).text(), id);
        assert_eq!(EventId::new("d42").text(), "d42");
        assert!(matches!(
            EventId::new("5F0C2A7E9D3B41C8A6E1F2D4B7C9E0A1"),
            EventId::Text(_)
        ));
    }

    #[test]
    fn window_ids_keep_four_and_encode_as_the_vector_they_replaced() {
        let ids: Vec<EventId> = ["a", "5f0c2a7e9d3b41c8a6e1f2d4b7c9e0a1", "c", "d", "e"]
            .into_iter()
            .map(EventId::new)
            .collect();
        let mut kept = WindowIds::default();
        for id in ids.iter().cloned() {
            kept.push(id);
        }
        assert!(kept.is_full());
        let first: Vec<EventId> = ids.iter().take(4).cloned().collect();
        let bytes = bincode::serialize(&kept).unwrap();
        assert_eq!(bytes, bincode::serialize(&first).unwrap());
        assert_eq!(bincode::deserialize::<WindowIds>(&bytes).unwrap(), kept);
        assert!(bincode::deserialize::<WindowIds>(&bincode::serialize(&ids).unwrap()).is_err());
    }
}

/// Novelty observations before an entity first looks for learned peers.
pub const FIRST_REGROUP: u32 = 16;
/// Novelty observations between later looks.
pub const REGROUP_EVERY: u32 = 256;

/// A peer group's or the organisation's state of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SharedFeature {
    Novelty(HeapTop),
    Window(Seasonal),
    Week(WeekHours),
    /// Entity-days per value (`peer_rarity`).
    Peers(PeerDays),
}

/// A peer group, or the organisation (the same shape, bigger top-k and with names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedState {
    pub landmark: Landmark,
    pub last_seen: i64,
    /// Entities currently in the group.
    pub members: u32,
    /// Union of its members' signatures (learned groups only).
    pub prototype: Option<Rotating>,
    pub features: Vec<SharedFeature>,
    /// The organisation's experience of tails (empty for peer groups).
    pub calibration: Calibration,
    #[serde(skip)]
    pub dirty: bool,
}

impl SharedState {
    /// A peer group (`org = false`) or the organisation.
    pub fn new(features: &[Feature], at_ms: i64, org: bool) -> SharedState {
        let features: Vec<SharedFeature> = features
            .iter()
            .map(|f| match f.kind {
                Kind::Novelty => {
                    SharedFeature::Novelty(HeapTop::new(if org { ORG_TOP } else { GROUP_TOP }, org))
                }
                Kind::TimeOfWeek => SharedFeature::Week(WeekHours::default()),
                Kind::PeerRarity => {
                    SharedFeature::Peers(PeerDays::new(if org { ORG_TOP } else { GROUP_TOP }, org))
                }
                Kind::Volume | Kind::Count | Kind::Distinct => {
                    SharedFeature::Window(Seasonal::default())
                }
            })
            .collect();
        SharedState {
            landmark: Landmark::new(at_ms),
            last_seen: at_ms,
            members: 0,
            prototype: None,
            calibration: if org {
                Calibration::new(features.len())
            } else {
                Calibration::default()
            },
            features,
            dirty: true,
        }
    }

    pub fn rescale(&mut self, factor: f64) {
        self.calibration.rescale(factor);
        for f in &mut self.features {
            match f {
                SharedFeature::Novelty(top) => top.rescale(factor),
                SharedFeature::Window(s) => s.rescale(factor),
                SharedFeature::Week(w) => w.rescale(factor),
                SharedFeature::Peers(p) => p.rescale(factor),
            }
        }
    }

    /// Rebuilds indexes after decoding; false when the state does not fit.
    pub fn restore(&mut self, features: &[Feature]) -> bool {
        self.features.len() == features.len()
            && self.calibration.restore(features.len())
            && self
                .features
                .iter_mut()
                .zip(features)
                .all(|(s, f)| match s {
                    SharedFeature::Novelty(top) => f.kind == Kind::Novelty && top.rebuild_index(),
                    SharedFeature::Window(b) => f.kind.windowed() && b.is_valid(),
                    SharedFeature::Week(w) => f.kind == Kind::TimeOfWeek && w.is_valid(),
                    SharedFeature::Peers(p) => f.kind == Kind::PeerRarity && p.restore(),
                })
    }
}
