//! Raw archives: files of the records a source reads (vendor-native lines: CloudTrail
//! records, Okta events, flow log lines...), each standing in for one source with
//! `--source NAME=PATH`.
//!
//! Vendor records keep their time in their own fields, so the order is found by
//! passing every record through the `normalise` transform that reads the source, as
//! configured in the pipeline; the raw records are then fed in that order and the
//! pipeline's own stages normalise them again, exactly as they would live. A record
//! with no time of its own (a flow log header, a record the normaliser refuses) keeps
//! its place in its file: it takes the time of the next record that has one (of the
//! previous one at the end of the file), so headers still come before their lines and
//! refused records still reach the `errors` output.

use super::archive::{self, Archived, Selection, Window};
use pipectl_core::component::{BuildContext, Built, Transform, TransformOutput};
use pipectl_core::detect::sigma::time::millis_of;
use pipectl_core::event::Event;
use pipectl_core::path::FieldPath;
use pipectl_core::secrets::SecretStore;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PipelinePlan};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `NAME=PATH` of `--source`.
pub fn parse_source(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "--source {text}: give NAME=PATH, the source's name in the pipeline and a file of its records"
        )),
    }
}

/// How a source's records find their time: through the normaliser that reads them, or
/// from the time field of records that already carry it.
enum Clock {
    Normaliser(Box<dyn Transform>, TransformOutput),
    Field,
}

impl Clock {
    fn for_source(
        pipeline: &PipelinePlan,
        source: &str,
        scratch: &Path,
        secrets: &SecretStore,
    ) -> Result<Clock, String> {
        let reader = pipeline.components.iter().find(|c| {
            c.kind == ComponentKind::Transform
                && c.type_name == "normalise"
                && c.inputs
                    .iter()
                    .any(|i| i.component == source && i.port.is_none())
        });
        let Some(plan) = reader else {
            return Ok(Clock::Field);
        };
        let transform = build(plan, pipeline, scratch, secrets)?;
        Ok(Clock::Normaliser(
            transform,
            TransformOutput::new(&plan.outputs),
        ))
    }

    /// The record's own time, when it has one.
    fn time_of(&mut self, line: &str, source: &Arc<str>, field: &FieldPath) -> Option<i64> {
        match self {
            Clock::Normaliser(transform, out) => {
                transform.transform(vec![Event::from_message(line, source.clone())], out);
                let (events, _) = out.take();
                events
                    .first()
                    .and_then(|e| e.value.get_path(field))
                    .and_then(millis_of)
                    .filter(|_| !from_ingest(&events[0]))
            }
            Clock::Field => pipectl_core::json::from_str(line)
                .ok()
                .and_then(|v| v.get_path(field).and_then(millis_of)),
        }
    }
}

/// Whether a normalised event took the time it was received (it had none of its own).
fn from_ingest(event: &Event) -> bool {
    event
        .value
        .as_object()
        .and_then(|m| m.get("tags"))
        .and_then(|t| t.as_array())
        .is_some_and(|tags| {
            tags.iter()
                .any(|t| t.as_str() == Some(pipectl_connectors::normalise::TIME_FROM_INGEST))
        })
}

fn build(
    plan: &ComponentPlan,
    pipeline: &PipelinePlan,
    scratch: &Path,
    secrets: &SecretStore,
) -> Result<Box<dyn Transform>, String> {
    let registry = crate::registry::registry();
    let factory = registry
        .factory(plan.kind, &plan.type_name)
        .ok_or_else(|| format!("no component type `{}`", plan.type_name))?;
    let ctx = BuildContext {
        pipeline: &pipeline.name,
        data_dir: scratch.join(&plan.name),
        secrets,
    };
    match (factory.build)(plan, &ctx) {
        Ok(Built::Transform(t)) => Ok(t),
        Ok(_) => Err(format!("`{}` is not a transform", plan.name)),
        Err(e) => Err(e.to_string()),
    }
}

/// Reads each source's file, finds each record's time and puts them in one order:
/// event time, then the source's place in `sources`, then the line.
pub fn read_sources(
    pipeline: &PipelinePlan,
    sources: &[(String, PathBuf)],
    time_field: &FieldPath,
    window: Window,
    scratch: &Path,
    secrets: &SecretStore,
) -> Result<Selection, String> {
    let mut selection = Selection::default();
    for (root, (name, path)) in sources.iter().enumerate() {
        let mut clock = Clock::for_source(pipeline, name, scratch, secrets)?;
        let source: Arc<str> = Arc::from(name.as_str());
        let mut reader = archive::open(path)?;
        let mut line = Vec::new();
        let mut number = 0u64;
        // Records waiting for the next record's time, and the last time seen.
        let mut waiting: Vec<(u64, String)> = Vec::new();
        let mut last: Option<i64> = None;
        let place = |selection: &mut Selection, at: i64, seq: u64, text: String| {
            selection.read += 1;
            if at >= window.from && at < window.to {
                selection.events.push(Archived {
                    at,
                    tiebreak: format!("{root:04}/{seq:012}"),
                    root,
                    value: Event::from_message(&text, source.clone()).value,
                });
            } else {
                selection.outside += 1;
            }
        };
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{}: read error after line {number}: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            number += 1;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            match clock.time_of(text, &source, time_field) {
                Some(at) => {
                    for (seq, held) in waiting.drain(..) {
                        place(&mut selection, at, seq, held);
                    }
                    last = Some(at);
                    place(&mut selection, at, number, text.to_string());
                }
                None => {
                    selection.untimed += 1;
                    waiting.push((number, text.to_string()));
                }
            }
        }
        match last {
            Some(at) => {
                for (seq, held) in waiting.drain(..) {
                    place(&mut selection, at, seq, held);
                }
            }
            None if !waiting.is_empty() => selection.unreadable(format!(
                "{}: no record has a time of its own; nothing from it can be placed",
                path.display()
            )),
            None => {}
        }
    }
    selection.sort();
    Ok(selection)
}
