//! `model behaviour`: the pattern of life of every entity (docs/models.md).
//!
//! Each event is attributed to its entities (`entity.kind`/`entity.id`, else derived
//! from its ECS fields), each of its features judged against the entity's past, its
//! peer group and the organisation, then learned. An observation that makes its
//! entity-day rare leaves on the default output as a model breach document
//! (docs/schema.md §5); one that is rare for its feature but, among all the entity's
//! features, not for an entity-day, leaves on the `anomalies` port (`pipectl.anomaly`,
//! the same fields): not a breach, but evidence the correlator weighs like one (a
//! confident anomaly can open an incident by itself, as a breach can). Both in order
//! of time, entity and feature. The events themselves are consumed, not passed on: a
//! pipeline sends its events to their sinks from the component upstream, beside the
//! model.
//!
//! State lives in the state store (table `model/<pipeline>/<component>`), snapshotted
//! every `checkpoint_interval` of wall time and at the end, and restored at build.

use crate::breach::Breach;
use crate::features::{self, Kind};
use crate::model::{Model, Options};
use crate::persist;
use pipectl_core::component::{
    BuildContext, BuildError, Built, Factory, Transform, TransformOutput,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::{now_ns, Batch, Event, EventMeta};
use pipectl_core::store::Store;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PlanValue};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The port of observations unusual for their feature but not for an entity-day.
pub const ANOMALIES: &str = "anomalies";

/// The entity kinds of docs/schema.md §2.
pub const ENTITY_KINDS: &[&str] = pipectl_core::entity::KINDS;

/// The catalogue entry of `model behaviour`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Model,
    type_name: "behaviour",
    summary: "Learns each entity's pattern of life and writes model breaches for what is unusual for it, its peers and the organisation.",
    attrs: &[
        AttrSpec::required(
            "features",
            AttrType::List(&AttrType::Call(features::FUNCTIONS)),
            "What to model: `novelty(field)`, `volume(field, per = 1h)`, `count(per = 1h)`, `distinct(field, per = 1h)`, `time_of_week()`, `peer_rarity(field)` (days on which the entity uses a value its peer group does not). Windows must divide a day.",
        ),
        AttrSpec::with_default(
            "entities",
            AttrType::List(&AttrType::String),
            "[\"user\", \"aws_user\", \"host\", \"container\", \"service_principal\", \"ip\", \"email_domain\"]",
            "Entity kinds modelled (docs/schema.md §2).",
        ),
        AttrSpec::optional(
            "peers",
            AttrType::Field,
            "Field naming an entity's peer group (e.g. `user.group.name`, filled by `transform enrich` from a directory); entities whose events never carry it — and every entity when it is not set — get groups learned from behavioural similarity.",
        ),
        AttrSpec::optional(
            "peer_features",
            AttrType::List(&AttrType::Field),
            "Fields of novelty features whose values define behavioural similarity for learned peer groups — the resources an entity touches, such as `service.name` or `file.directory` (default: every novelty feature's field). Values everyone shares say nothing about who is alike.",
        ),
        AttrSpec::with_default(
            "half_life",
            AttrType::Duration,
            "14d",
            "Event time after which what was learned weighs half, so baselines follow the estate.",
        ),
        AttrSpec::with_default(
            "threshold",
            AttrType::Float,
            "0.999",
            "Score at or above which an observation is a breach. The score is the observation's tail probability restated per active day of the entity, combined with what else was unusual for it within `combine_within`, checked against the organisation's experience and taken over all the features the entity is judged on: 0.999 means one entity-day in 1,000 has evidence this strong. An observation at the threshold for its own feature but not for the entity-day goes to the `anomalies` port instead.",
        ),
        AttrSpec::with_default(
            "combine_within",
            AttrType::Duration,
            "6h",
            "Event time within which unusual observations of an entity's different features are combined into one piece of evidence (Fisher's method): attacks change several things at once.",
        ),
        AttrSpec::with_default(
            "cooldown",
            AttrType::Duration,
            "6h",
            "Event time after a feature breached for an entity during which it does not breach again for that entity: one breach per burst, not one per event. An anomaly does not repeat within it either, but stronger evidence turns it into a breach at once.",
        ),
        AttrSpec::with_default(
            "max_entities",
            AttrType::Int,
            "1000000",
            "Entities modelled at most; beyond it the least recently seen are evicted.",
        ),
        AttrSpec::with_default(
            "idle_after",
            AttrType::Duration,
            "30d",
            "Event time without activity after which an entity is forgotten.",
        ),
        AttrSpec::with_default(
            "checkpoint_interval",
            AttrType::Duration,
            "60s",
            "Wall time between snapshots of the model's state in the state store.",
        ),
    ],
    fixed_outputs: &[ANOMALIES],
    outputs_from: None,
};

/// Builds `model behaviour`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The model's settings from the stage's checked attributes.
pub fn options(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Options, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let list = match attrs.raw("features") {
        Some(PlanValue::List(items)) => items.as_slice(),
        _ => return Err(attrs.error("attribute `features` is required: a list of feature calls")),
    };
    let features = features::parse(list).map_err(|e| attrs.error(e))?;
    let kinds = attrs.strings("entities")?;
    if kinds.is_empty() {
        return Err(attrs.error("`entities` is empty: list the entity kinds to model"));
    }
    if let Some(bad) = kinds.iter().find(|k| !ENTITY_KINDS.contains(&k.as_str())) {
        return Err(attrs.error(format!(
            "`entities`: unknown entity kind \"{bad}\"; use {}",
            ENTITY_KINDS.join(", ")
        )));
    }
    let threshold = match attrs.raw("threshold") {
        Some(PlanValue::Float(f)) => *f,
        Some(PlanValue::Int(i)) => *i as f64,
        _ => 0.999,
    };
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(attrs.error("`threshold` must be above 0 and at most 1 (e.g. 0.999)"));
    }
    let half_life = millis(attrs.duration("half_life")?);
    if half_life <= 0 {
        return Err(attrs.error("`half_life` must be longer than zero"));
    }
    let max_entities = attrs.usize("max_entities")?;
    if max_entities == 0 {
        return Err(attrs.error("`max_entities` must be at least 1"));
    }
    let peer_features = match attrs.raw("peer_features") {
        None => None,
        Some(PlanValue::List(items)) => {
            let mut chosen = Vec::new();
            for item in items {
                let PlanValue::Field(f) = item else {
                    return Err(attrs.error("`peer_features` lists field paths"));
                };
                let text = f.to_string();
                let index = features
                    .iter()
                    .position(|x| x.kind == Kind::Novelty && x.field_text == text)
                    .ok_or_else(|| {
                        attrs.error(format!(
                            "`peer_features`: `{text}` is not the field of a novelty feature; add `novelty({text})` to `features` or remove it here"
                        ))
                    })?;
                chosen.push(index);
            }
            Some(chosen)
        }
        Some(_) => return Err(attrs.error("`peer_features` lists field paths")),
    };
    let opts = Options {
        model: plan.name.clone(),
        pipeline: ctx.pipeline.to_string(),
        features,
        kinds,
        peers: attrs.opt_field("peers")?,
        peer_features,
        half_life_ms: half_life,
        threshold,
        max_entities,
        idle_after_ms: millis(attrs.duration("idle_after")?).max(1),
        cooldown_ms: millis(attrs.duration("cooldown")?),
        combine_within_ms: millis(attrs.duration("combine_within")?),
    };
    Ok(opts)
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let opts = options(plan, ctx)?;
    let attrs = Attrs::new(plan, ctx);
    let store = Store::shared(&ctx.data_dir).map_err(|e| attrs.error(e.to_string()))?;
    let table = persist::table(ctx.pipeline, &plan.name);
    let mut model = Model::new(opts);
    let restored = model
        .restore(&store, &table)
        .map_err(|e| attrs.error(e.to_string()))?;
    tracing::debug!(component = %plan.name, restored, "model state restored");
    Ok(Built::Transform(Box::new(Behaviour {
        model,
        store,
        table,
        name: Arc::from(plan.name.as_str()),
        checkpoint: attrs.duration("checkpoint_interval")?,
        last_checkpoint: Instant::now(),
        scratch: Vec::new(),
        pending: Vec::new(),
    })))
}

/// A built `model behaviour`.
pub struct Behaviour {
    model: Model,
    store: Arc<Store>,
    table: String,
    name: Arc<str>,
    checkpoint: Duration,
    last_checkpoint: Instant,
    scratch: Vec<Breach>,
    pending: Vec<(Breach, Option<EventMeta>)>,
}

impl Behaviour {
    /// The model, for tests and benchmarks that look inside.
    pub fn model(&self) -> &Model {
        &self.model
    }

    fn emit(&mut self, out: &mut TransformOutput) {
        let created = now_ns() / 1_000_000;
        self.pending.sort_by(|a, b| a.0.order(&b.0));
        for (breach, meta) in self.pending.drain(..) {
            let meta = meta.unwrap_or_else(|| EventMeta {
                ingest_time_ns: now_ns(),
                source: self.name.clone(),
                ack: None,
            });
            let event = Event {
                value: breach.document(self.model.options(), created),
                meta,
            };
            if breach.anomaly {
                out.push_to(ANOMALIES, event);
            } else {
                out.push(event);
            }
        }
    }

    fn snapshot(&mut self) {
        self.last_checkpoint = Instant::now();
        if let Err(e) = self.model.snapshot(&self.store, &self.table) {
            tracing::warn!(component = %self.name, error = %e, "cannot save model state; will retry");
        }
    }
}

impl Transform for Behaviour {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for event in batch {
            self.scratch.clear();
            self.model.observe(&event.value, &mut self.scratch);
            for b in self.scratch.drain(..) {
                // Per-event breaches keep their event's acknowledgement; window
                // breaches belong to no single event.
                let windowed = self
                    .model
                    .options()
                    .features
                    .get(b.feature)
                    .is_some_and(|f| f.kind.windowed());
                let meta = (!windowed).then(|| event.meta.clone());
                self.pending.push((b, meta));
            }
            out.drop_event(event);
        }
        self.emit(out);
        if self.last_checkpoint.elapsed() >= self.checkpoint {
            self.snapshot();
        }
    }

    fn finish(&mut self, out: &mut TransformOutput) {
        self.scratch.clear();
        self.model.finish(&mut self.scratch);
        self.pending
            .extend(self.scratch.drain(..).map(|b| (b, None)));
        self.emit(out);
        self.snapshot();
    }
}
