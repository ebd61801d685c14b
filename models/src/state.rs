//! What the model remembers: per entity, per peer group and for the organisation.
//! Everything here is plain data encoded with bincode into the state store, one row
//! per entity and group; counters are f32 where their precision suffices, and feature
//! state is allocated on a feature's first observation.

use crate::features::{Feature, Kind};
use crate::maths::baseline::Seasonal;
use crate::maths::decay::Landmark;
use crate::maths::distinct::Distinct;
use crate::maths::minhash::Rotating;
use crate::maths::novelty::{HeapTop, SmallTop, GROUP_TOP, ORG_TOP};
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
    /// MinHash of its novelty values (learned peer groups only).
    pub signature: Option<Rotating>,
    /// Novelty observations at which it next looks for a better peer group.
    pub next_regroup: u32,
    pub novelty_seen: u32,
    pub features: Vec<EntityFeature>,
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
            signature: None,
            next_regroup: FIRST_REGROUP,
            novelty_seen: 0,
            features: vec![EntityFeature::Empty; features],
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
            }
        }
    }

    /// Whether decoded state fits the configured features.
    pub fn fits(&self, features: &[Feature]) -> bool {
        self.features.len() == features.len()
            && self.features.iter().zip(features).all(|(s, f)| match s {
                EntityFeature::Empty => true,
                EntityFeature::Novelty(top) => {
                    f.kind == Kind::Novelty
                        && top.entries.len() <= crate::maths::novelty::ENTITY_TOP
                }
                EntityFeature::Window { baseline, .. } => f.kind.windowed() && baseline.is_valid(),
                EntityFeature::Week { hours, .. } => f.kind == Kind::TimeOfWeek && hours.is_valid(),
            })
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
    #[serde(skip)]
    pub dirty: bool,
}

impl SharedState {
    /// A peer group (`org = false`) or the organisation.
    pub fn new(features: &[Feature], at_ms: i64, org: bool) -> SharedState {
        let features = features
            .iter()
            .map(|f| match f.kind {
                Kind::Novelty => {
                    SharedFeature::Novelty(HeapTop::new(if org { ORG_TOP } else { GROUP_TOP }, org))
                }
                Kind::TimeOfWeek => SharedFeature::Week(WeekHours::default()),
                _ => SharedFeature::Window(Seasonal::default()),
            })
            .collect();
        SharedState {
            landmark: Landmark::new(at_ms),
            last_seen: at_ms,
            members: 0,
            prototype: None,
            features,
            dirty: true,
        }
    }

    pub fn rescale(&mut self, factor: f64) {
        for f in &mut self.features {
            match f {
                SharedFeature::Novelty(top) => top.rescale(factor),
                SharedFeature::Window(s) => s.rescale(factor),
                SharedFeature::Week(w) => w.rescale(factor),
            }
        }
    }

    /// Rebuilds indexes after decoding; false when the state does not fit.
    pub fn restore(&mut self, features: &[Feature]) -> bool {
        self.features.len() == features.len()
            && self
                .features
                .iter_mut()
                .zip(features)
                .all(|(s, f)| match s {
                    SharedFeature::Novelty(top) => f.kind == Kind::Novelty && top.rebuild_index(),
                    SharedFeature::Window(b) => f.kind.windowed() && b.is_valid(),
                    SharedFeature::Week(w) => f.kind == Kind::TimeOfWeek && w.is_valid(),
                })
    }
}
