//! Model breach records (docs/schema.md §5) and their document form.

use crate::model::Options;
use pipectl_core::detect::sigma::hit::document_id;
use pipectl_core::detect::sigma::time::format_rfc3339;
use pipectl_core::value::{Map, Value};

/// The most event ids a breach lists (schema bound).
pub const MAX_EVENT_IDS: usize = 100;

/// Which baseline weighed most in a judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Entity,
    Peers,
    Org,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Entity => "entity",
            Comparison::Peers => "peers",
            Comparison::Org => "org",
        }
    }

    /// The level with the largest weight (entity, peers, org); ties go to the nearer.
    pub fn heaviest(entity: f64, peers: f64, org: f64) -> Comparison {
        if entity >= peers && entity >= org {
            Comparison::Entity
        } else if peers >= org {
            Comparison::Peers
        } else {
            Comparison::Org
        }
    }
}

/// One observation judged unusual.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    /// The observation's event time (window end for windowed features).
    pub at_ms: i64,
    pub entity_kind: String,
    pub entity_id: String,
    pub peer_group: Option<String>,
    /// Index of the feature in the stage's list.
    pub feature: usize,
    /// The triggering `event.id`, or the window start (RFC 3339) for windows.
    pub trigger: String,
    pub score: f64,
    /// Unusual for its feature but not for an entity-day: sent to the stage's
    /// `anomalies` port (`pipectl.anomaly`), evidence the correlator weighs, not a
    /// breach.
    pub anomaly: bool,
    pub tail: f64,
    /// Rarity for the entity, its peers and the organisation, where known.
    pub rarity: [Option<f64>; 3],
    pub confidence: f64,
    pub history: u64,
    pub comparison: Comparison,
    pub observed_value: String,
    pub observed_number: Option<f64>,
    pub expected_value: String,
    pub expected_number: Option<f64>,
    pub expected_low: Option<f64>,
    pub expected_high: Option<f64>,
    pub explanation: String,
    pub event_ids: Vec<String>,
    /// Event context copied from the triggering event (path, value).
    pub context: Vec<(&'static [&'static str], Value)>,
}

/// Fields of the triggering event copied onto its breach, so a breach is readable
/// without the event.
pub const CONTEXT: &[&[&str]] = &[
    &["event", "action"],
    &["user", "name"],
    &["source", "ip"],
    &["source", "geo", "country_iso_code"],
    &["source", "geo", "country_name"],
    &["destination", "ip"],
    &["cloud", "provider"],
    &["cloud", "account", "id"],
    &["cloud", "region"],
    &["host", "name"],
];

impl Breach {
    /// `kind:id`.
    pub fn entity_key(&self) -> String {
        format!("{}:{}", self.entity_kind, self.entity_id)
    }

    /// The order breaches leave in: time, then entity, then feature.
    pub fn order(&self, other: &Breach) -> std::cmp::Ordering {
        self.at_ms
            .cmp(&other.at_ms)
            .then_with(|| self.entity_kind.cmp(&other.entity_kind))
            .then_with(|| self.entity_id.cmp(&other.entity_id))
            .then_with(|| self.feature.cmp(&other.feature))
            .then_with(|| self.trigger.cmp(&other.trigger))
    }

    /// The breach document; `created_ms` is the wall-clock `event.created`.
    pub fn document(&self, opts: &Options, created_ms: i64) -> Value {
        let feature = opts.features.get(self.feature);
        let feature_text = feature.map_or("", |f| f.text.as_str());
        let key = self.entity_key();
        let id = document_id(&["breach", &opts.model, &key, feature_text, &self.trigger]);
        let round = |x: f64| (x * 1e6).round() / 1e6;
        let mut breach = Map::with_capacity(20);
        breach.push("id", Value::from(id.as_str()));
        breach.push("model", Value::from(opts.model.as_str()));
        breach.push("feature", Value::from(feature_text));
        if let Some(f) = feature {
            breach.push(
                "feature_kind",
                Value::from(feature_kind(f, &self.entity_kind)),
            );
            if !f.field_text.is_empty() {
                breach.push("field", Value::from(f.field_text.as_str()));
            }
            if !f.window_text.is_empty() {
                breach.push("window", Value::from(f.window_text.as_str()));
            }
        }
        breach.push("comparison", Value::from(self.comparison.as_str()));
        let mut observed = Map::with_capacity(2);
        observed.push("value", Value::from(self.observed_value.as_str()));
        if let Some(n) = self.observed_number {
            observed.push("number", Value::Float(n));
        }
        breach.push("observed", Value::Object(observed));
        let mut expected = Map::with_capacity(4);
        expected.push("value", Value::from(self.expected_value.as_str()));
        for (name, v) in [
            ("number", self.expected_number),
            ("low", self.expected_low),
            ("high", self.expected_high),
        ] {
            if let Some(v) = v {
                expected.push(name, Value::Float(round(v)));
            }
        }
        breach.push("expected", Value::Object(expected));
        breach.push("score", Value::Float(round(self.score)));
        breach.push("tail_probability", Value::Float(self.tail));
        let mut rarity = Map::with_capacity(3);
        for (name, r) in ["entity", "peers", "org"].iter().zip(self.rarity) {
            if let Some(r) = r {
                rarity.push(*name, Value::Float(round(r)));
            }
        }
        breach.push("rarity", Value::Object(rarity));
        breach.push("confidence", Value::Float(round(self.confidence)));
        breach.push(
            "history",
            Value::Int(i64::try_from(self.history).unwrap_or(i64::MAX)),
        );
        breach.push("explanation", Value::from(self.explanation.as_str()));
        breach.push(
            "event_ids",
            Value::Array(
                self.event_ids
                    .iter()
                    .take(MAX_EVENT_IDS)
                    .map(|s| Value::from(s.as_str()))
                    .collect(),
            ),
        );
        let mut event = Map::with_capacity(4);
        event.push("id", Value::from(id.as_str()));
        event.push("kind", Value::from("signal"));
        event.push(
            "dataset",
            Value::from(if self.anomaly {
                "pipectl.anomaly"
            } else {
                "pipectl.breach"
            }),
        );
        event.push("created", Value::from(format_rfc3339(created_ms)));
        let mut entity = Map::with_capacity(5);
        entity.push("key", Value::from(key.as_str()));
        entity.push("kind", Value::from(self.entity_kind.as_str()));
        entity.push("id", Value::from(self.entity_id.as_str()));
        entity.push("name", Value::from(self.entity_id.as_str()));
        if let Some(g) = &self.peer_group {
            entity.push("peer_group", Value::from(g.as_str()));
        }
        let mut pipectl = Map::with_capacity(3);
        pipectl.push("pipeline", Value::from(opts.pipeline.as_str()));
        pipectl.push("component", Value::from(opts.model.as_str()));
        pipectl.push("breach", Value::Object(breach));
        let mut doc = Value::Object(Map::with_capacity(8));
        if let Some(m) = doc.as_object_mut() {
            m.push("@timestamp", Value::from(format_rfc3339(self.at_ms)));
            m.push("event", Value::Object(event));
            m.push("entity", Value::Object(entity));
        }
        for (path, value) in &self.context {
            insert(&mut doc, path, value.clone());
        }
        if let Some(m) = doc.as_object_mut() {
            m.push("pipectl", Value::Object(pipectl));
        }
        doc
    }
}

/// The schema's `feature_kind`: `distinct` over a `source.*` field is inbound fan-in.
fn feature_kind(f: &crate::features::Feature, _entity_kind: &str) -> &'static str {
    use crate::features::Kind;
    match f.kind {
        Kind::Novelty => "novelty",
        Kind::Volume => "volume",
        Kind::Count => "rate",
        Kind::Distinct if f.field_text.starts_with("source.") => "fan_in",
        Kind::Distinct => "distinct",
        Kind::TimeOfWeek => "timing",
        Kind::PeerRarity => "peer_rarity",
    }
}

/// Sets `path` in `doc`, creating objects on the way (`event.action` goes into the
/// existing `event` object).
fn insert(doc: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = doc;
    for p in parents {
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if map.get(p).is_none() {
            map.push(*p, Value::Object(Map::new()));
        }
        match map.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(map) = cur.as_object_mut() {
        map.insert(*last, value);
    }
}
