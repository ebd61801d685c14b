//! `detect sigma`: runs Sigma rules (detections and correlations) on events and emits
//! rule hits (docs/schema.md §6) on its default output.
//!
//! Rules load when the component is built; a rule that cannot be used is logged with
//! its reason (or fails the build with `refused = "fail"`). Events that match no rule
//! produce nothing; with `pass_matched = true` every event that matched a rule is also
//! passed on, unchanged, on the `matched` port. A hit carries its event's
//! acknowledgement handle, so the source only advances once the hit is delivered.

use super::correlation::CorrelationOptions;
use super::fieldmap::{key_path, FieldMap};
use super::hit::HitSource;
use super::logsource::{default_entries, parse_selector, Entry, LogsourceMap, Predicate, Unmapped};
use super::modifiers::Placeholders;
use super::rule::Level;
use super::{loader, Detector, Hit, Selection};
use crate::component::{BuildContext, BuildError, Built, Factory, Transform, TransformOutput};
use crate::config::Attrs;
use crate::event::{now_ns, Batch, Event, EventMeta};
use crate::path::FieldPath;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PlanValue};
use std::path::PathBuf;
use std::sync::Arc;

const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];
static STATUS: AttrType = AttrType::Enum(&["stable", "test", "experimental", "deprecated"]);
static TEXTS: AttrType = AttrType::List(&AttrType::String);

/// The catalogue entry of `detect sigma`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Detect,
    type_name: "sigma",
    summary: "Runs Sigma detection and correlation rules on events and emits rule hits.",
    attrs: &[
        AttrSpec::required(
            "paths",
            AttrType::List(&AttrType::Path),
            "Rule files, directories (searched recursively for *.yml and *.yaml) or globs (`rules/cloud/**/*.yml`). Relative paths are looked up next to the pipeline file, then in the working directory.",
        ),
        AttrSpec::with_default(
            "statuses",
            AttrType::List(&STATUS),
            "[\"stable\", \"test\", \"experimental\"]",
            "Rule statuses to run; rules without a status always run. Rules a correlation references run as its building blocks whatever their status.",
        ),
        AttrSpec::with_default(
            "min_level",
            AttrType::Enum(LEVELS),
            "\"informational\"",
            "Rules below this level do not run (a rule without a level counts as medium).",
        ),
        AttrSpec::optional(
            "logsources",
            AttrType::Map(&AttrType::Expr),
            "Extra log sources: selector → condition on the event. A selector is space-separated `product:x`, `category:y`, `service:z` terms; a rule whose logsource has all of an entry's terms applies to the events its condition holds for, e.g. `{ \"product:windows\" = event.module == \"windows\" }`.",
        ),
        AttrSpec::with_default(
            "builtin_logsources",
            AttrType::Bool,
            "true",
            "Use the built-in log sources (AWS CloudTrail, VPC Flow Logs and Route 53 Resolver, Azure and Entra ID, Microsoft 365, Okta, Google Workspace, GCP, GitHub, Salesforce, Box, Dropbox, Zeek), which recognise both normalised events (`event.dataset`) and raw vendor records.",
        ),
        AttrSpec::with_default(
            "unmapped_logsources",
            AttrType::Enum(&["no_events", "all_events"]),
            "\"no_events\"",
            "What rules whose logsource no entry selects apply to: no event (the default: a Windows or Cisco rule has no business judging a CloudTrail record, and keyword or `not` rules would fire on it), or every event (their fields decide). Map such sources with `logsources` instead where possible.",
        ),
        AttrSpec::optional(
            "namespaces",
            AttrType::Map(&TEXTS),
            "Selector → paths under which that source's vendor fields also live (besides the event root), e.g. `{ \"product:aws service:cloudtrail\" = [\"aws.cloudtrail\"] }`. Adds a log source entry (matching every event) when no entry has that selector.",
        ),
        AttrSpec::optional(
            "field_map",
            AttrType::Map(&TEXTS),
            "Sigma field name → event paths to try first, e.g. `{ CommandLine = [\"process.command_line\"] }`. The field name itself (nested and as one dotted key) and the log source's namespaces are always tried too.",
        ),
        AttrSpec::optional(
            "placeholders",
            AttrType::Map(&TEXTS),
            "Values of `%name%` placeholders for the `expand` modifier, e.g. `{ Administrators = [\"admin*\", \"root\"] }`. Rules expanding a placeholder with no values are refused.",
        ),
        AttrSpec::with_default(
            "time_fields",
            AttrType::List(&AttrType::String),
            "[\"@timestamp\", \"eventTime\", \"published\", \"CreationTime\", \"time\", \"timestamp\", \"createdDateTime\", \"activityDateTime\", \"created_at\"]",
            "Where the event time is read (the first that parses: RFC 3339 or epoch seconds/milliseconds); it drives correlation windows. Events without one use their ingest time.",
        ),
        AttrSpec::with_default("ruleset", AttrType::String, "\"sigmahq\"", "The `rule.ruleset` written in hits."),
        AttrSpec::with_default(
            "lateness",
            AttrType::Duration,
            "1m",
            "How far behind the newest event time an event may arrive and still count in correlation windows.",
        ),
        AttrSpec::with_default(
            "max_groups",
            AttrType::Int,
            "10000",
            "Correlation groups kept per correlation rule; beyond this the least recently updated is evicted.",
        ),
        AttrSpec::with_default(
            "refused",
            AttrType::Enum(&["warn", "fail"]),
            "\"warn\"",
            "What a rule that cannot be used does: log a warning with the reason, or fail the component's start.",
        ),
        AttrSpec::with_default(
            "pass_matched",
            AttrType::Bool,
            "false",
            "Also pass every event that matched a rule, unchanged, on the `matched` port.",
        ),
    ],
    fixed_outputs: &["matched"],
    outputs_from: None,
};

/// Builds `detect sigma`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn text_map(attrs: &Attrs<'_>, key: &str) -> Result<Vec<(String, Vec<String>)>, BuildError> {
    let Some(raw) = attrs.raw(key) else {
        return Ok(Vec::new());
    };
    let PlanValue::Map(map) = raw else {
        return Err(attrs.error(format!(
            "attribute `{key}` should be a map of lists of strings"
        )));
    };
    map.iter()
        .map(|(k, v)| match v {
            PlanValue::List(items) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_string).ok_or_else(|| {
                        attrs.error(format!("attribute `{key}.{k}` should be a list of strings"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|list| (k.clone(), list)),
            _ => Err(attrs.error(format!("attribute `{key}.{k}` should be a list of strings"))),
        })
        .collect()
}

/// Where relative rule paths are looked up: the pipeline file's directory, then the
/// working directory.
fn bases(plan: &ComponentPlan) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = plan
        .origin
        .rsplit_once(':')
        .map_or(plan.origin.as_str(), |(f, _)| f);
    if let Some(dir) = std::path::Path::new(file).parent() {
        out.push(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        });
    }
    if let Ok(cwd) = std::env::current_dir() {
        out.push(cwd);
    }
    out
}

fn logsources(attrs: &Attrs<'_>) -> Result<LogsourceMap, BuildError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut user_keys = Vec::new();
    for (selector, expr) in attrs.expr_map("logsources")? {
        let ls = parse_selector(&selector)
            .map_err(|e| attrs.error(format!("attribute `logsources`: {e}")))?;
        entries.push(Entry {
            selector: ls,
            predicate: Predicate::Expr(expr),
            namespaces: Vec::new(),
        });
        user_keys.push(selector);
    }
    if attrs.bool("builtin_logsources")? {
        entries.extend(default_entries());
    }
    for (selector, paths) in text_map(attrs, "namespaces")? {
        let ls = parse_selector(&selector)
            .map_err(|e| attrs.error(format!("attribute `namespaces`: {e}")))?;
        let parsed = paths
            .iter()
            .map(|p| {
                key_path(p)
                    .map_err(|e| attrs.error(format!("attribute `namespaces.{selector}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut attached = false;
        for e in entries.iter_mut().filter(|e| e.selector == ls) {
            e.namespaces.extend(parsed.iter().cloned());
            attached = true;
        }
        if !attached {
            entries.push(Entry {
                selector: ls,
                predicate: Predicate::All(Vec::new()),
                namespaces: parsed,
            });
        }
    }
    let unmapped = match attrs.string("unmapped_logsources")?.as_str() {
        "all_events" => Unmapped::AllEvents,
        _ => Unmapped::NoEvents,
    };
    LogsourceMap::new(entries, unmapped).map_err(|e| attrs.error(e))
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let paths = attrs.strings("paths")?;
    let placeholders: Placeholders = text_map(&attrs, "placeholders")?.into_iter().collect();
    let loaded = loader::load(&paths, &bases(plan), &placeholders)
        .map_err(|e| attrs.error(format!("attribute `paths`: {e}")))?;
    for r in &loaded.refusals {
        tracing::warn!(component = %plan.name, file = %r.file, rule = %r.title, "Sigma rule refused: {}", r.reason);
    }
    if attrs.string("refused")? == "fail" && !loaded.refusals.is_empty() {
        let first = &loaded.refusals[0];
        return Err(attrs.error(format!(
            "{} Sigma rule(s) refused, first {}: {}",
            loaded.refusals.len(),
            first.file,
            first.reason
        )));
    }
    if loaded.loaded() == 0 {
        return Err(attrs.error(format!(
            "attribute `paths`: no Sigma rule loaded from {}",
            paths.join(", ")
        )));
    }
    let selection = Selection {
        statuses: attrs.strings("statuses")?,
        min_level: Level::parse(&attrs.string("min_level")?).unwrap_or(Level::Informational),
    };
    let fieldmap =
        FieldMap::new(&text_map(&attrs, "field_map")?).map_err(|e| attrs.error(e.to_string()))?;
    let time_fields = attrs
        .strings("time_fields")?
        .iter()
        .map(|t| {
            FieldPath::parse(t).map_err(|e| attrs.error(format!("attribute `time_fields`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lateness = attrs.duration("lateness")?;
    let correlation = CorrelationOptions {
        lateness_ms: i64::try_from(lateness.as_millis()).unwrap_or(i64::MAX),
        max_groups: attrs.usize("max_groups")?.max(1),
        ..CorrelationOptions::default()
    };
    let source = HitSource {
        pipeline: ctx.pipeline.to_string(),
        component: plan.name.clone(),
        ruleset: attrs.string("ruleset")?,
    };
    let detector = Detector::new(
        &loaded,
        &selection,
        fieldmap,
        logsources(&attrs)?,
        correlation,
        time_fields,
        source,
    );
    let stats = detector.engine().stats();
    tracing::info!(
        component = %plan.name,
        loaded = loaded.loaded(),
        refused = loaded.refusals.len(),
        running = stats.rules,
        prefiltered = stats.triggered,
        "Sigma rules ready"
    );
    Ok(Built::Transform(Box::new(SigmaStage {
        detector,
        pass_matched: attrs.bool("pass_matched")?,
        name: Arc::from(plan.name.as_str()),
        hits: Vec::new(),
    })))
}

/// A built `detect sigma`.
pub struct SigmaStage {
    detector: Detector,
    pass_matched: bool,
    name: Arc<str>,
    hits: Vec<Hit>,
}

impl SigmaStage {
    fn emit(&mut self, meta: Option<&EventMeta>, out: &mut TransformOutput) {
        for hit in self.hits.drain(..) {
            let meta = match meta {
                Some(m) if !hit.deferred => m.clone(),
                _ => EventMeta {
                    ingest_time_ns: now_ns(),
                    source: self.name.clone(),
                    ack: None,
                },
            };
            out.push(Event {
                value: hit.document,
                meta,
            });
        }
    }
}

impl Transform for SigmaStage {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        let now_ms = now_ns() / 1_000_000;
        for event in batch {
            let ingest_ms = event.meta.ingest_time_ns / 1_000_000;
            let matched = self
                .detector
                .process(&event.value, ingest_ms, now_ms, &mut self.hits);
            self.emit(Some(&event.meta), out);
            if matched && self.pass_matched {
                out.push_to("matched", event);
            } else {
                out.drop_event(event);
            }
        }
    }

    fn finish(&mut self, out: &mut TransformOutput) {
        self.detector.finish(now_ns() / 1_000_000, &mut self.hits);
        self.emit(None, out);
    }
}

#[cfg(test)]
mod tests;
