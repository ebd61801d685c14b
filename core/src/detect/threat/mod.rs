//! The threat correlator: weak, independent indicators (model breaches and rule hits)
//! per entity combined into a threat probability over a window, raising an incident
//! (docs/schema.md §7) when it crosses a threshold.
//!
//! - An indicator is a rule (hits, by `rule.id`) or a model feature (breaches, by model
//!   and feature). The same indicator seen again never counts twice: its strongest
//!   current contribution is kept.
//! - Each contribution decays with event time (half-life), and drops out after the
//!   window. The probability is `1 - Π(1 - s_i)` over the entity's indicators, so it
//!   rises with independent evidence and stays below 1.
//! - Above `raise_above` an incident opens; later evidence for the entity updates the
//!   same incident (same id, `pipectl.version` + 1). After `close_after` of event time
//!   without new evidence it closes (status `resolved`) and the next evidence may open a
//!   new one.
//! - Evidence about an entity of a *linked* kind (`link`, by default `email_domain`)
//!   that names the other entities of its event (`related.entities`: the person who
//!   clicked a sending domain's link) counts for those entities instead, as its own
//!   indicator: a supplier's unusual mail is judged on the people it reached, and
//!   what then happens to them (a forwarding rule) joins the same incident.
//! - Event time drives everything, so a replay gives the same incidents. Each entity is
//!   judged at the time of its newest evidence; incidents close once the newest event
//!   time seen overall is `close_after` past their last evidence.

pub mod persist;
pub mod stage;

use super::sigma::hit::document_id;
use super::sigma::time::{format_rfc3339, millis_of};
use crate::value::{Map, Value};
use std::collections::HashMap;

/// Tuning of the correlator.
#[derive(Debug, Clone)]
pub struct ThreatOptions {
    pub correlator: String,
    pub pipeline: String,
    pub window_ms: i64,
    pub window_text: String,
    pub half_life_ms: i64,
    pub raise_above: f64,
    pub close_after_ms: i64,
    /// Entities tracked at most (the least recently updated is forgotten).
    pub max_entities: usize,
    /// Entity kinds whose evidence counts for the other entities of its event.
    pub link_kinds: Vec<String>,
}

/// Where a piece of evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    /// A rule hit (`pipectl.hit`).
    Hit,
    /// A model breach (`pipectl.breach`).
    Breach,
}

impl IndicatorKind {
    /// The word the incident's timeline uses.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Hit => "hit",
            IndicatorKind::Breach => "breach",
        }
    }
}

/// One piece of evidence, read from a breach or hit document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Indicator {
    pub entity_key: String,
    pub entity_kind: String,
    pub entity_id: String,
    /// What makes two pieces of evidence the same indicator.
    pub key: String,
    pub kind: IndicatorKind,
    pub id: String,
    pub score: f64,
    pub at_ms: i64,
    pub summary: String,
    /// A few words for the incident's title (`new cloud.region us-west-2`, a rule's
    /// title).
    pub label: String,
    pub event_ids: Vec<String>,
    pub rule: Option<(String, String)>,
    pub model_feature: Option<(String, String)>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    /// The other entities of the evidence's event (`related.entities`).
    #[serde(default)]
    pub related: Vec<String>,
    /// For evidence attributed through a link: the entity it was about.
    #[serde(default)]
    pub about: Option<String>,
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(v, |cur, k| cur.as_object()?.get(k))
}

fn text(v: &Value, path: &str) -> Option<String> {
    get(v, path).and_then(Value::as_str).map(str::to_string)
}

fn texts(v: &Value, path: &str) -> Vec<String> {
    match get(v, path) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.to_string()],
        _ => Vec::new(),
    }
}

impl Indicator {
    /// Reads a breach (`pipectl.breach`), a model's anomaly (`pipectl.anomaly`, a
    /// breach's fields below the entity-day threshold) or a hit (`pipectl.hit`);
    /// anything else, or one without an entity, score or time, is not evidence.
    pub fn from_document(doc: &Value) -> Option<Indicator> {
        let dataset = text(doc, "event.dataset")?;
        let entity_key = text(doc, "entity.key")?;
        let at_ms = get(doc, "@timestamp").and_then(millis_of)?;
        let (kind, prefix) = match dataset.as_str() {
            "pipectl.hit" => (IndicatorKind::Hit, "pipectl.hit"),
            "pipectl.breach" | "pipectl.anomaly" => (IndicatorKind::Breach, "pipectl.breach"),
            _ => return None,
        };
        let score = get(doc, &format!("{prefix}.score"))
            .and_then(Value::as_f64)?
            .clamp(0.0, 1.0);
        let id = text(doc, &format!("{prefix}.id")).or_else(|| text(doc, "event.id"))?;
        let mut ind = Indicator {
            entity_kind: text(doc, "entity.kind").unwrap_or_default(),
            entity_id: text(doc, "entity.id").unwrap_or_default(),
            entity_key,
            key: String::new(),
            kind,
            id,
            score,
            at_ms,
            summary: String::new(),
            label: String::new(),
            event_ids: Vec::new(),
            rule: None,
            model_feature: None,
            tactics: texts(doc, "threat.tactic.name"),
            techniques: [
                texts(doc, "threat.technique.subtechnique.id"),
                texts(doc, "threat.technique.id"),
            ]
            .concat(),
            related: Vec::new(),
            about: None,
        };
        ind.related = texts(doc, "related.entities")
            .into_iter()
            .filter(|k| *k != ind.entity_key && k.contains(':'))
            .collect();
        if kind == IndicatorKind::Hit {
            let rule_id = text(doc, "rule.id")?;
            let name = text(doc, "rule.name").unwrap_or_else(|| rule_id.clone());
            ind.key = format!("rule:{rule_id}");
            ind.summary = name.clone();
            ind.label = name.clone();
            ind.rule = Some((rule_id, name));
            ind.event_ids = texts(doc, "pipectl.hit.event_ids");
        } else {
            let model = text(doc, "pipectl.breach.model").unwrap_or_default();
            let feature = text(doc, "pipectl.breach.feature").unwrap_or_default();
            ind.key = format!("breach:{model}:{feature}");
            ind.summary =
                text(doc, "pipectl.breach.explanation").unwrap_or_else(|| feature.clone());
            ind.label = breach_label(doc, &feature);
            // A judgement made on little history (a new entity, a sparse baseline)
            // counts for less: the model's confidence scales the breach's weight, so
            // one early-days oddity does not open an incident on its own.
            let confidence = get(doc, "pipectl.breach.confidence")
                .and_then(Value::as_f64)
                .map_or(1.0, |c| c.clamp(0.0, 1.0));
            ind.score *= confidence;
            ind.model_feature = Some((model, feature));
            ind.event_ids = texts(doc, "pipectl.breach.event_ids");
        }
        Some(ind)
    }
}

/// A breach in a few words, from its feature kind, field and observed value.
fn breach_label(doc: &Value, feature: &str) -> String {
    let field = text(doc, "pipectl.breach.field").unwrap_or_default();
    let observed = text(doc, "pipectl.breach.observed.value").unwrap_or_default();
    let short = |s: &str| -> String {
        let mut out: String = s.chars().take(60).collect();
        if s.chars().count() > 60 {
            out.push('…');
        }
        out
    };
    match text(doc, "pipectl.breach.feature_kind").as_deref() {
        Some("novelty") if !observed.is_empty() => format!("new {field} {}", short(&observed)),
        Some("volume") => format!("unusual {field} volume ({})", short(&observed)),
        Some("rate") => format!("unusual activity rate ({} events)", short(&observed)),
        Some("distinct") => format!("many distinct {field} ({})", short(&observed)),
        Some("fan_in") => format!("many distinct {field} reaching it ({})", short(&observed)),
        Some("timing") => "activity at an unusual hour".to_string(),
        Some("peer_rarity") if !observed.is_empty() => {
            format!("keeps using {field} {} unlike its peers", short(&observed))
        }
        _ => format!("unusual {feature}"),
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Incident {
    first_seen: i64,
    last_seen: i64,
    version: i64,
    evidence: Vec<Indicator>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct EntityState {
    /// The strongest evidence per indicator key, within the window.
    indicators: HashMap<String, Indicator>,
    incident: Option<Incident>,
    last_update: u64,
}

/// The correlator's state over all entities.
#[derive(Debug)]
pub struct ThreatCorrelator {
    opts: ThreatOptions,
    entities: HashMap<String, EntityState>,
    watermark: i64,
    clock: u64,
    /// Entities changed, and entities forgotten, since the last snapshot.
    changed: std::collections::HashSet<String>,
    forgotten: std::collections::HashSet<String>,
}

/// The most ids an incident lists per kind (schema bounds).
const MAX_IDS: usize = 500;
const MAX_EVENT_IDS: usize = 1000;

impl ThreatCorrelator {
    pub fn new(opts: ThreatOptions) -> ThreatCorrelator {
        ThreatCorrelator {
            opts,
            entities: HashMap::new(),
            watermark: i64::MIN,
            clock: 0,
            changed: Default::default(),
            forgotten: Default::default(),
        }
    }

    /// The indicators a piece of evidence becomes: itself, or — evidence about an
    /// entity of a linked kind that names other entities of its event — one per such
    /// entity (not of a linked kind itself), each a separate indicator of that entity
    /// that remembers what it was about.
    pub fn attribute(&self, ind: Indicator) -> Vec<Indicator> {
        if !self.opts.link_kinds.contains(&ind.entity_kind) {
            return vec![ind];
        }
        let targets: Vec<(String, String)> = ind
            .related
            .iter()
            .filter_map(|key| key.split_once(':'))
            .filter(|(kind, id)| !id.is_empty() && !self.opts.link_kinds.iter().any(|k| k == kind))
            .map(|(kind, id)| (kind.to_string(), id.to_string()))
            .collect();
        if targets.is_empty() {
            return vec![ind];
        }
        let about_key = ind.entity_key.clone();
        let about_name = if ind.entity_id.is_empty() {
            about_key.clone()
        } else {
            ind.entity_id.clone()
        };
        targets
            .into_iter()
            .map(|(kind, id)| {
                let mut copy = ind.clone();
                copy.entity_key = format!("{kind}:{id}");
                copy.entity_kind = kind;
                copy.entity_id = id;
                copy.key = format!("{} via {about_key}", ind.key);
                copy.label = format!("{about_name}: {}", ind.label);
                copy.summary = format!("{about_name}: {}", ind.summary);
                copy.about = Some(about_key.clone());
                copy
            })
            .collect()
    }

    /// The decayed contribution of an indicator at time `now`.
    fn contribution(&self, ind: &Indicator, now: i64) -> f64 {
        let age = (now - ind.at_ms).max(0) as f64;
        let half = self.opts.half_life_ms.max(1) as f64;
        ind.score * (-std::f64::consts::LN_2 * age / half).exp()
    }

    /// The entity's threat probability at `now`.
    fn probability(&self, state: &EntityState, now: i64) -> f64 {
        1.0 - state
            .indicators
            .values()
            .map(|i| 1.0 - self.contribution(i, now).min(0.999_999))
            .product::<f64>()
    }

    /// Takes one piece of evidence; returns incident documents to write (opened,
    /// updated, or closed ones whose quiet period has passed).
    pub fn observe(&mut self, ind: Indicator, now_ms: i64) -> Vec<Value> {
        let mut out = Vec::new();
        if ind.at_ms > self.watermark {
            self.watermark = ind.at_ms;
        }
        self.close_quiet(self.watermark, now_ms, &mut out);
        self.clock += 1;
        let clock = self.clock;
        let window = self.opts.window_ms;
        if !self.entities.contains_key(&ind.entity_key)
            && self.entities.len() >= self.opts.max_entities
        {
            if let Some(k) = self
                .entities
                .iter()
                .min_by_key(|(_, s)| s.last_update)
                .map(|(k, _)| k.clone())
            {
                self.entities.remove(&k);
                self.changed.remove(&k);
                self.forgotten.insert(k);
            }
        }
        let key = ind.entity_key.clone();
        self.forgotten.remove(&key);
        self.changed.insert(key.clone());
        let mut state = self.entities.remove(&key).unwrap_or_default();
        // The entity's own clock: its newest evidence (streams of different sources
        // need not be in step with each other).
        let now = state
            .indicators
            .values()
            .map(|i| i.at_ms)
            .chain([ind.at_ms])
            .max()
            .unwrap_or(ind.at_ms);
        state.last_update = clock;
        state.indicators.retain(|_, i| now - i.at_ms <= window);
        if now - ind.at_ms > window {
            self.entities.insert(key, state);
            return out;
        }
        let stronger = match state.indicators.get(&ind.key) {
            Some(old) => self.contribution(&ind, now) > self.contribution(old, now),
            None => true,
        };
        if stronger {
            state.indicators.insert(ind.key.clone(), ind.clone());
        }
        let p = self.probability(&state, now);
        if let Some(inc) = &mut state.incident {
            inc.last_seen = inc.last_seen.max(ind.at_ms);
            inc.first_seen = inc.first_seen.min(ind.at_ms);
            inc.version += 1;
            if !inc.evidence.iter().any(|e| e.id == ind.id) {
                inc.evidence.push(ind);
            }
            out.push(self.document(&state, p, "open", now_ms));
        } else if p >= self.opts.raise_above {
            let evidence: Vec<Indicator> = state.indicators.values().cloned().collect();
            let first = evidence.iter().map(|e| e.at_ms).min().unwrap_or(ind.at_ms);
            let last = evidence.iter().map(|e| e.at_ms).max().unwrap_or(ind.at_ms);
            state.incident = Some(Incident {
                first_seen: first,
                last_seen: last,
                version: 1,
                evidence,
            });
            out.push(self.document(&state, p, "open", now_ms));
        }
        self.entities.insert(key, state);
        out
    }

    /// Closes incidents whose entity has been quiet for `close_after` before `horizon`.
    pub fn close_quiet(&mut self, horizon: i64, now_ms: i64, out: &mut Vec<Value>) {
        let quiet = self.opts.close_after_ms;
        let keys: Vec<String> = self
            .entities
            .iter()
            .filter(|(_, s)| {
                s.incident
                    .as_ref()
                    .is_some_and(|i| horizon.saturating_sub(i.last_seen) > quiet)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let Some(mut state) = self.entities.remove(&k) else {
                continue;
            };
            self.changed.remove(&k);
            self.forgotten.insert(k.clone());
            if let Some(inc) = &mut state.incident {
                inc.version += 1;
                let at = inc.last_seen;
                let p = self.probability(&state, at);
                out.push(self.document(&state, p, "resolved", now_ms));
            }
            state.incident = None;
            state.indicators.clear();
        }
    }

    fn document(&self, state: &EntityState, score: f64, status: &str, now_ms: i64) -> Value {
        let Some(inc) = &state.incident else {
            return Value::Null;
        };
        let mut evidence = inc.evidence.clone();
        evidence.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.id.cmp(&b.id)));
        let Some(subject) = evidence.first() else {
            return Value::Null;
        };
        let first_seen = format_rfc3339(inc.first_seen);
        let id = document_id(&[
            "incident",
            &self.opts.correlator,
            &subject.entity_key,
            &first_seen,
        ]);
        let (severity, code) = match score {
            s if s >= 0.97 => ("critical", 4),
            s if s >= 0.9 => ("high", 3),
            s if s >= 0.7 => ("medium", 2),
            _ => ("low", 1),
        };
        let distinct = |f: &dyn Fn(&Indicator) -> Vec<String>| {
            let mut v: Vec<String> = Vec::new();
            for e in &evidence {
                for x in f(e) {
                    if !v.contains(&x) {
                        v.push(x);
                    }
                }
            }
            v
        };
        let ids_of = |kind: IndicatorKind, max: usize| -> Vec<String> {
            evidence
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.id.clone())
                .take(max)
                .collect()
        };
        let breach_ids = ids_of(IndicatorKind::Breach, MAX_IDS);
        let hit_ids = ids_of(IndicatorKind::Hit, MAX_IDS);
        let event_ids = distinct(&|e| e.event_ids.clone())
            .into_iter()
            .take(MAX_EVENT_IDS)
            .collect::<Vec<_>>();
        let labels = distinct(&|e| vec![e.label.clone()]);
        let who = if subject.entity_id.is_empty() {
            subject.entity_key.clone()
        } else {
            subject.entity_id.clone()
        };
        let title = format!(
            "{who}: {}{}",
            labels
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            match labels.len().saturating_sub(3) {
                0 => String::new(),
                more => format!(" and {more} more"),
            }
        );
        let span_min = (inc.last_seen - inc.first_seen) / 60_000;
        let parts: Vec<String> = evidence
            .iter()
            .map(|e| {
                format!(
                    "{} at {} ({} {:.2})",
                    e.summary,
                    format_rfc3339(e.at_ms),
                    e.kind.as_str(),
                    e.score
                )
            })
            .collect();
        let explanation = format!(
            "{} independent indicator{} within {span_min} minutes for {who}: {}. Threat probability {score:.2}{}.",
            state.indicators.len().max(1),
            if state.indicators.len() == 1 { "" } else { "s" },
            parts.join("; "),
            if status == "resolved" { "; closed after a quiet period" } else { "" }
        );
        let strings = |v: Vec<String>| Value::Array(v.into_iter().map(Value::from).collect());
        let timeline: Vec<Value> = evidence
            .iter()
            .map(|e| {
                let mut m = Map::with_capacity(5);
                m.push("at", Value::from(format_rfc3339(e.at_ms)));
                m.push("kind", Value::from(e.kind.as_str()));
                m.push("id", Value::from(e.id.as_str()));
                m.push("score", Value::Float(e.score));
                m.push("summary", Value::from(e.summary.as_str()));
                Value::Object(m)
            })
            .collect();
        let mut incident = Map::new();
        incident.push("id", Value::from(id.as_str()));
        incident.push("score", Value::Float((score * 1000.0).round() / 1000.0));
        incident.push("severity", Value::from(severity));
        incident.push("severity_code", Value::Int(code));
        incident.push("status", Value::from(status));
        incident.push("title", Value::from(title));
        incident.push("explanation", Value::from(explanation));
        incident.push("first_seen", Value::from(first_seen));
        incident.push("last_seen", Value::from(format_rfc3339(inc.last_seen)));
        incident.push("correlator", Value::from(self.opts.correlator.as_str()));
        incident.push("window", Value::from(self.opts.window_text.as_str()));
        incident.push("breach_count", Value::Int(breach_ids.len() as i64));
        incident.push("hit_count", Value::Int(hit_ids.len() as i64));
        incident.push("breach_ids", strings(breach_ids));
        incident.push("hit_ids", strings(hit_ids));
        incident.push("event_ids", strings(event_ids));
        incident.push(
            "rule_ids",
            strings(distinct(&|e| e.rule.iter().map(|r| r.0.clone()).collect())),
        );
        incident.push(
            "rule_names",
            strings(distinct(&|e| e.rule.iter().map(|r| r.1.clone()).collect())),
        );
        incident.push(
            "models",
            strings(distinct(&|e| {
                e.model_feature.iter().map(|m| m.0.clone()).collect()
            })),
        );
        incident.push(
            "features",
            strings(distinct(&|e| {
                e.model_feature.iter().map(|m| m.1.clone()).collect()
            })),
        );
        incident.push("tactics", strings(distinct(&|e| e.tactics.clone())));
        incident.push("techniques", strings(distinct(&|e| e.techniques.clone())));
        incident.push("timeline", Value::Array(timeline));
        let mut event = Map::new();
        event.push("id", Value::from(id.as_str()));
        event.push("kind", Value::from("alert"));
        event.push("dataset", Value::from("pipectl.incident"));
        event.push("created", Value::from(format_rfc3339(now_ms)));
        let mut entity = Map::new();
        entity.push("key", Value::from(subject.entity_key.as_str()));
        if !subject.entity_kind.is_empty() {
            entity.push("kind", Value::from(subject.entity_kind.as_str()));
        }
        if !subject.entity_id.is_empty() {
            entity.push("id", Value::from(subject.entity_id.as_str()));
        }
        let mut pipectl = Map::new();
        pipectl.push("pipeline", Value::from(self.opts.pipeline.as_str()));
        pipectl.push("component", Value::from(self.opts.correlator.as_str()));
        pipectl.push("version", Value::Int(inc.version));
        // The subject, then every entity evidence was about through a link.
        let mut entities = vec![subject.entity_key.clone()];
        for about in evidence.iter().filter_map(|e| e.about.clone()) {
            if !entities.contains(&about) {
                entities.push(about);
            }
        }
        let mut doc = Map::new();
        doc.push("@timestamp", Value::from(format_rfc3339(inc.last_seen)));
        doc.push("event", Value::Object(event));
        doc.push("entity", Value::Object(entity));
        if entities.len() > 1 {
            let mut related = Map::new();
            related.push("entities", strings(entities));
            doc.push("related", Value::Object(related));
        }
        doc.push("pipectl", Value::Object(pipectl));
        doc.push("incident", Value::Object(incident));
        Value::Object(doc)
    }
}

#[cfg(test)]
mod tests;
