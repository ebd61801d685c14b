//! `correlate threat`: turns model breaches and rule hits into incidents
//! (docs/schema.md §7) on its default output; other events are consumed. Its state is
//! saved in the state store every `checkpoint_interval` and at the end of its input,
//! and restored at build, so open incidents carry on across restarts.

use super::{persist, Indicator, ThreatCorrelator, ThreatOptions};
use crate::component::{BuildContext, BuildError, Built, Factory, Transform, TransformOutput};
use crate::config::Attrs;
use crate::event::{now_ns, Batch, Event, EventMeta};
use crate::store::Store;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PlanValue};
use std::sync::Arc;
use std::time::Instant;

/// The catalogue entry of `correlate threat`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Correlate,
    type_name: "threat",
    summary: "Combines model breaches and rule hits per entity into a threat probability and raises incidents.",
    attrs: &[
        AttrSpec::with_default("window", AttrType::Duration, "24h", "How long an indicator counts after it happened (event time)."),
        AttrSpec::with_default(
            "half_life",
            AttrType::Duration,
            "6h",
            "An indicator's weight halves every half-life after it happened, so old evidence fades.",
        ),
        AttrSpec::with_default(
            "raise_above",
            AttrType::Float,
            "0.9",
            "Threat probability (0..1) at which an incident opens; it is 1 - Π(1 - score) over the entity's distinct indicators.",
        ),
        AttrSpec::with_default(
            "close_after",
            AttrType::Duration,
            "24h",
            "An incident closes (status `resolved`) after this much event time without new evidence for its entity.",
        ),
        AttrSpec::with_default("max_entities", AttrType::Int, "100000", "Entities tracked at most; the least recently updated is forgotten beyond it."),
        AttrSpec::with_default(
            "link",
            AttrType::List(&AttrType::String),
            "[\"email_domain\"]",
            "Entity kinds whose evidence counts for the other entities of its event (`related.entities`) rather than for itself: a sending domain's unusual link is evidence against the person who clicked it, in that person's incident.",
        ),
        AttrSpec::with_default(
            "checkpoint_interval",
            AttrType::Duration,
            "60s",
            "Wall time between snapshots of the correlator's state (evidence and open incidents) in the state store.",
        ),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `correlate threat`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let raise_above = match attrs.raw("raise_above") {
        Some(PlanValue::Float(f)) => *f,
        Some(PlanValue::Int(i)) => *i as f64,
        _ => 0.9,
    };
    if !(0.0..=1.0).contains(&raise_above) {
        return Err(attrs.error("attribute `raise_above` must be between 0 and 1"));
    }
    let window = attrs.duration("window")?;
    let opts = ThreatOptions {
        correlator: plan.name.clone(),
        pipeline: ctx.pipeline.to_string(),
        window_ms: millis(window),
        window_text: format!("{}s", window.as_secs()),
        half_life_ms: millis(attrs.duration("half_life")?).max(1),
        raise_above,
        close_after_ms: millis(attrs.duration("close_after")?),
        max_entities: attrs.usize("max_entities")?.max(1),
        link_kinds: match attrs.raw("link") {
            None => vec!["email_domain".to_string()],
            Some(_) => attrs.strings("link")?,
        },
    };
    if let Some(unknown) = opts
        .link_kinds
        .iter()
        .find(|k| !crate::entity::KINDS.contains(&k.as_str()))
    {
        return Err(attrs.error(format!(
            "attribute `link`: `{unknown}` is not an entity kind (one of {})",
            crate::entity::KINDS.join(", ")
        )));
    }
    let store = Store::shared(&ctx.data_dir).map_err(|e| attrs.error(e.to_string()))?;
    let table = persist::table(ctx.pipeline, &plan.name);
    let mut correlator = ThreatCorrelator::new(opts);
    let restored = correlator
        .restore(&store, &table)
        .map_err(|e| attrs.error(e.to_string()))?;
    if restored > 0 {
        tracing::info!(component = %plan.name, entities = restored, "correlator state restored");
    }
    Ok(Built::Transform(Box::new(ThreatStage {
        correlator,
        name: Arc::from(plan.name.as_str()),
        store,
        table,
        checkpoint: attrs.duration("checkpoint_interval")?,
        last_checkpoint: Instant::now(),
    })))
}

/// A built `correlate threat`.
pub struct ThreatStage {
    correlator: ThreatCorrelator,
    name: Arc<str>,
    store: Arc<Store>,
    table: String,
    checkpoint: std::time::Duration,
    last_checkpoint: Instant,
}

impl ThreatStage {
    /// Saves what changed; a failure is logged and retried at the next checkpoint (the
    /// state is still in memory, so nothing is lost while the process lives).
    fn save(&mut self) {
        if let Err(e) = self.correlator.snapshot(&self.store, &self.table) {
            tracing::error!(component = %self.name, error = %e, "cannot save the correlator's state");
        }
        self.last_checkpoint = Instant::now();
    }

    fn emit(
        &self,
        docs: Vec<crate::value::Value>,
        meta: Option<&EventMeta>,
        out: &mut TransformOutput,
    ) {
        for value in docs.into_iter().filter(|d| !d.is_null()) {
            let meta = meta.cloned().unwrap_or_else(|| EventMeta {
                ingest_time_ns: now_ns(),
                source: self.name.clone(),
                ack: None,
            });
            out.push(Event { value, meta });
        }
    }
}

impl Transform for ThreatStage {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        let now_ms = now_ns() / 1_000_000;
        for event in batch {
            match Indicator::from_document(&event.value) {
                Some(ind) => {
                    for ind in self.correlator.attribute(ind) {
                        let docs = self.correlator.observe(ind, now_ms);
                        self.emit(docs, Some(&event.meta), out);
                    }
                    out.drop_event(event);
                }
                None => out.drop_event(event),
            }
        }
        if self.last_checkpoint.elapsed() >= self.checkpoint {
            self.save();
        }
    }

    /// The end of the input is not the end of the threat: open incidents stay open
    /// (saved) until event time shows their entity quiet, in this run or the next.
    fn finish(&mut self, _out: &mut TransformOutput) {
        self.save();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretStore;
    use std::collections::BTreeMap;

    /// Builds the stage with `link` set as given (the other attributes at their
    /// defaults, as the checker fills them in).
    fn build_with_link(link: Option<Vec<&str>>) -> Result<Built, BuildError> {
        let dir = std::env::temp_dir().join(format!(
            "pipectl-threat-stage-{}-{}",
            std::process::id(),
            link.as_ref().map_or(0, Vec::len)
        ));
        let mut attrs = BTreeMap::from([
            ("window".to_string(), PlanValue::Duration(86_400_000)),
            ("half_life".to_string(), PlanValue::Duration(21_600_000)),
            ("raise_above".to_string(), PlanValue::Float(0.9)),
            ("close_after".to_string(), PlanValue::Duration(86_400_000)),
            ("max_entities".to_string(), PlanValue::Int(100)),
            (
                "checkpoint_interval".to_string(),
                PlanValue::Duration(60_000),
            ),
        ]);
        if let Some(kinds) = link {
            attrs.insert(
                "link".to_string(),
                PlanValue::List(
                    kinds
                        .iter()
                        .map(|k| PlanValue::String(k.to_string()))
                        .collect(),
                ),
            );
        }
        let plan = ComponentPlan {
            name: "incidents".into(),
            kind: ComponentKind::Correlate,
            type_name: "threat".into(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            attrs,
            origin: "test.pipe:1".into(),
        };
        let secrets = SecretStore::new(None);
        let ctx = BuildContext {
            pipeline: "p",
            data_dir: dir,
            secrets: &secrets,
        };
        build(&plan, &ctx)
    }

    #[test]
    fn link_names_entity_kinds_and_an_unknown_one_is_refused() {
        assert!(build_with_link(None).is_ok());
        assert!(build_with_link(Some(vec![])).is_ok());
        assert!(build_with_link(Some(vec!["email_domain", "host"])).is_ok());
        let Err(e) = build_with_link(Some(vec!["email_domian"])) else {
            panic!("a misspelt kind must be refused");
        };
        let message = e.to_string();
        assert!(
            message.contains("`email_domian` is not an entity kind"),
            "{message}"
        );
        assert!(message.contains("email_domain"), "{message}");
    }
}
