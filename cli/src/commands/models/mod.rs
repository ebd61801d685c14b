//! `pipectl models evaluate`: runs a pipeline's stages below its normalisers (the model
//! stage, and any enrichment, rules and correlation around it) over a generated scenario
//! (vendor-native records plus `labels.json`) in event-time order and reports, per
//! labelled attack, whether and how fast it was detected, and overall the precision,
//! recall and false breaches per 1,000 entity-days; when the pipeline correlates, the
//! same for incidents.
//!
//! The records go through the same normalisers the sources use and every stage is built
//! from the pipeline file by the same factories `pipectl run` uses, so what is measured
//! is what ships.

mod replay;
pub mod score;

use crate::exit::Exit;
use crate::stages::{Stages, StateDir};
use pipectl_core::detect::sigma::time::millis_of;
use pipectl_core::event::Event;
use pipectl_core::secrets::SecretStore;
use pipectl_core::value::Value;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PlanValue};
use score::{Attack, Breach, IncidentVersion, Label};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Evaluate the model stages of a pipeline (their breaches together), and the
    /// incidents of a `correlate threat` stage when the pipeline has one, on a generated
    /// scenario (examples/scenario/generate.py): exits 1 when a labelled attack draws no
    /// breach.
    Evaluate(EvaluateArgs),
}

#[derive(clap::Args)]
struct EvaluateArgs {
    /// The scenario directory: vendor-native files and labels.json.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,

    /// Pipeline files holding the model stage.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "examples/scenario/behaviour.pipe"
    )]
    pipeline: Vec<PathBuf>,

    /// Score only this model component's breaches (by default every model stage of
    /// the pipeline counts: people, mail, ...).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,

    /// Also write every breach, and every anomaly (`event.dataset: pipectl.anomaly`), as NDJSON to this file.
    #[arg(long, value_name = "FILE")]
    breaches: Option<PathBuf>,

    /// Also write every incident version as NDJSON to this file.
    #[arg(long, value_name = "FILE")]
    incidents: Option<PathBuf>,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<(), Exit> {
    match args.command {
        Command::Evaluate(args) => evaluate(args),
    }
}

/// Events handed to the model at a time.
const BATCH: usize = 1024;

fn evaluate(args: EvaluateArgs) -> Result<(), Exit> {
    let checked = super::check(&super::PathArgs {
        paths: args.pipeline.clone(),
        diagnostics: super::DiagnosticStyle::Human,
    })?;
    let (pipeline, models) = find_models(&checked.plan, args.model.as_deref())?;
    let attacks = read_labels(&args.data.join("labels.json"))?;
    let kinds = modelled_kinds(&models);
    let components = checked
        .plan
        .pipelines
        .iter()
        .find(|p| p.name == pipeline)
        .map(|p| p.components.as_slice())
        .unwrap_or_default();

    let normalisers = normalisers(components)?;
    let roots: Vec<String> = normalisers.iter().map(|(name, _)| name.clone()).collect();
    let state = StateDir::new("evaluate")?;
    let secrets = SecretStore::new(None);
    let mut graph = Stages::build(components, &roots, None, &pipeline, state.path(), &secrets)?;
    if let Some(unreached) = models.iter().find(|m| graph.get(&m.name).is_none()) {
        return Err(Exit::usage(format!(
            "`{}` must read from `normalise` transforms, directly or through other stages: the evaluation replays normalised records",
            unreached.name
        )));
    }
    let correlates = graph
        .components()
        .any(|c| c.kind == ComponentKind::Correlate && c.type_name == "threat");

    let mut records = replay::Replay::open(&args.data).map_err(Exit::runtime)?;
    let mut breach_file = create(args.breaches.as_deref())?;
    let mut incident_file = create(args.incidents.as_deref())?;
    let source: Arc<str> = Arc::from("scenario");
    let mut breaches = Vec::new();
    let mut incidents = Vec::new();
    // Observations unusual for their feature but not for an entity-day: reported for
    // what they are, evidence the correlator weighs, not breaches.
    let mut anomalies = Vec::new();
    let mut rule_hits: std::collections::BTreeMap<String, u64> = Default::default();
    let mut write_error = None;
    let mut days = EntityDays::default();
    let started = std::time::Instant::now();
    let mut events = 0u64;
    let mut finished = false;
    while !finished {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match records.next_event().map_err(Exit::runtime)? {
                Some((at_ms, format, value)) => {
                    days.observe(&value, at_ms, &kinds);
                    let event = Event::new(value, source.clone());
                    let mut targets = normalisers
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, f))| f == format)
                        .map(|(root, _)| root)
                        .peekable();
                    while let Some(root) = targets.next() {
                        match targets.peek() {
                            Some(_) => batch.push((root, event.clone())),
                            None => {
                                batch.push((root, event));
                                break;
                            }
                        }
                    }
                }
                None => {
                    finished = true;
                    break;
                }
            }
        }
        events += batch.len() as u64;
        graph.run(batch, finished, |component, port, emitted| {
            let model = models.iter().any(|m| m.name == component.name);
            if model && port == Some(pipectl_models::behaviour::ANOMALIES) {
                if let Err(e) = write_all(breach_file.as_mut(), emitted) {
                    write_error.get_or_insert(e);
                }
                anomalies.extend(emitted.iter().filter_map(|e| breach_of(&e.value)));
                return;
            }
            if port.is_some() {
                return;
            }
            if model {
                if let Err(e) = write_all(breach_file.as_mut(), emitted) {
                    write_error.get_or_insert(e);
                }
                breaches.extend(emitted.iter().filter_map(|e| breach_of(&e.value)));
            } else if component.kind == ComponentKind::Correlate {
                if let Err(e) = write_all(incident_file.as_mut(), emitted) {
                    write_error.get_or_insert(e);
                }
                incidents.extend(emitted.iter().filter_map(|e| incident_of(&e.value)));
            } else if component.kind == ComponentKind::Detect {
                for event in emitted {
                    if get(&event.value, "event.dataset").and_then(Value::as_str)
                        == Some("pipectl.hit")
                    {
                        let rule = get(&event.value, "rule.name")
                            .and_then(Value::as_str)
                            .unwrap_or("(unnamed)");
                        *rule_hits.entry(rule.to_string()).or_default() += 1;
                    }
                }
            }
        });
        if let Some(e) = write_error.take() {
            return Err(Exit::runtime(e));
        }
    }
    for file in [breach_file, incident_file].into_iter().flatten() {
        file.into_inner()
            .map_err(|e| Exit::runtime(e.into_error()))?
            .sync_all()
            .map_err(Exit::runtime)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut report = score::evaluate(&attacks, &breaches, days.count);
    report.count_anomalies(&attacks, &anomalies);
    if correlates {
        report.incidents = Some(score::evaluate_incidents(
            &attacks, &incidents, days.count, rule_hits,
        ));
    }
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(Exit::runtime)?;
        println!("{text}");
    } else {
        println!("{report}");
    }
    eprintln!(
        "{events} events ({} not normalised) through `{}` in {elapsed:.1}s ({:.0} events/s)",
        records.rejected(),
        graph
            .components()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" → "),
        events as f64 / elapsed.max(1e-9)
    );
    if report.detected < report.scenarios.len() {
        return Err(Exit::silent(crate::exit::RUNTIME));
    }
    Ok(())
}

/// The pipeline's `normalise` transforms with their formats: the replay stands for
/// them, handing each the records of its format.
fn normalisers(components: &[ComponentPlan]) -> Result<Vec<(String, String)>, Exit> {
    components
        .iter()
        .filter(|c| c.kind == ComponentKind::Transform && c.type_name == "normalise")
        .map(|c| match c.attrs.get("format") {
            Some(PlanValue::String(format)) => Ok((c.name.clone(), format.clone())),
            _ => Err(Exit::usage(format!(
                "`{}` has no literal `format`: the evaluation routes replayed records by it",
                c.name
            ))),
        })
        .collect()
}

/// The model components to evaluate (one pipeline's, or the one named) and their
/// pipeline's name.
fn find_models(
    plan: &pipectl_dsl::plan::Plan,
    wanted: Option<&str>,
) -> Result<(String, Vec<ComponentPlan>), Exit> {
    let mut found: Vec<(String, ComponentPlan)> = Vec::new();
    for pipeline in &plan.pipelines {
        for component in &pipeline.components {
            if component.kind == ComponentKind::Model
                && wanted.is_none_or(|name| name == component.name)
            {
                found.push((pipeline.name.clone(), component.clone()));
            }
        }
    }
    let Some((pipeline, _)) = found.first().cloned() else {
        return Err(Exit::usage(match wanted {
            Some(name) => format!("no model component named `{name}` in the pipeline files"),
            None => "the pipeline files hold no model component".to_string(),
        }));
    };
    if let Some((other, _)) = found.iter().find(|(p, _)| *p != pipeline) {
        return Err(Exit::usage(format!(
            "model components in two pipelines (`{pipeline}`, `{other}`); choose one with --model ({})",
            found
                .iter()
                .map(|(_, c)| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((pipeline, found.into_iter().map(|(_, c)| c).collect()))
}

/// The entity kinds the model stages model (their `entities` attributes); empty when
/// one of them models every kind.
fn modelled_kinds(models: &[ComponentPlan]) -> Vec<String> {
    let mut kinds: Vec<String> = Vec::new();
    for model in models {
        match model.attrs.get("entities") {
            Some(PlanValue::List(items)) => {
                for kind in items.iter().filter_map(PlanValue::as_str) {
                    if !kinds.iter().any(|k| k == kind) {
                        kinds.push(kind.to_string());
                    }
                }
            }
            _ => return Vec::new(),
        }
    }
    kinds
}

pub(crate) fn read_labels(path: &Path) -> Result<Vec<Attack>, Exit> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Exit::usage(format!("cannot read the labels {}: {e}", path.display())))?;
    let labels: Vec<Label> = serde_json::from_str(&text)
        .map_err(|e| Exit::usage(format!("{}: not a list of labels: {e}", path.display())))?;
    labels
        .into_iter()
        .map(|label| {
            let time = |t: &str| {
                pipectl_core::detect::sigma::time::parse_rfc3339(t).ok_or_else(|| {
                    Exit::usage(format!(
                        "{}: scenario `{}`: `{t}` is not an RFC 3339 time",
                        path.display(),
                        label.scenario
                    ))
                })
            };
            Ok(Attack {
                start_ms: time(&label.start)?,
                end_ms: time(&label.end)?,
                label,
            })
        })
        .collect()
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(v, |cur, k| cur.as_object()?.get(k))
}

/// An NDJSON output file, when asked for.
fn create(path: Option<&Path>) -> Result<Option<std::io::BufWriter<std::fs::File>>, Exit> {
    path.map(|path| {
        std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .map_err(|e| Exit::runtime(format!("cannot create {}: {e}", path.display())))
    })
    .transpose()
}

fn write_all(
    file: Option<&mut std::io::BufWriter<std::fs::File>>,
    events: &[Event],
) -> std::io::Result<()> {
    if let Some(file) = file {
        for event in events {
            writeln!(file, "{}", pipectl_core::json::to_string(&event.value))?;
        }
    }
    Ok(())
}

pub(crate) fn incident_of(doc: &Value) -> Option<IncidentVersion> {
    if get(doc, "event.dataset").and_then(Value::as_str) != Some("pipectl.incident") {
        return None;
    }
    let text = |p: &str| get(doc, p).and_then(Value::as_str).map(str::to_string);
    let time = |p: &str| get(doc, p).and_then(millis_of);
    Some(IncidentVersion {
        id: text("incident.id")?,
        entity_key: text("entity.key")?,
        at_ms: time("@timestamp")?,
        first_seen_ms: time("incident.first_seen")?,
        last_seen_ms: time("incident.last_seen")?,
        score: get(doc, "incident.score").and_then(Value::as_f64)?,
        severity: text("incident.severity").unwrap_or_default(),
        title: text("incident.title").unwrap_or_default(),
        related: match get(doc, "related.entities") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        },
    })
}

fn breach_of(doc: &Value) -> Option<Breach> {
    let text = |p: &str| get(doc, p).and_then(Value::as_str).map(str::to_string);
    Some(Breach {
        entity_key: text("entity.key")?,
        at_ms: get(doc, "@timestamp").and_then(millis_of)?,
        score: get(doc, "pipectl.breach.score").and_then(Value::as_f64)?,
        feature: text("pipectl.breach.feature").unwrap_or_default(),
        explanation: text("pipectl.breach.explanation").unwrap_or_default(),
    })
}

/// Counts the (entity, UTC day) pairs with activity, for entities of the modelled
/// kinds. Events arrive in time order, so an entity's last active day is enough.
#[derive(Default)]
struct EntityDays {
    last_day: HashMap<String, i64>,
    count: u64,
}

impl EntityDays {
    fn observe(&mut self, event: &Value, at_ms: i64, kinds: &[String]) {
        let day = at_ms.div_euclid(86_400_000);
        let keys = match get(event, "entity.key") {
            Some(Value::Array(keys)) => keys.as_slice(),
            Some(one @ Value::String(_)) => std::slice::from_ref(one),
            _ => return,
        };
        for key in keys.iter().filter_map(Value::as_str) {
            let kind = key.split(':').next().unwrap_or_default();
            if !kinds.is_empty() && !kinds.iter().any(|k| k == kind) {
                continue;
            }
            match self.last_day.get_mut(key) {
                Some(last) if *last == day => {}
                Some(last) => {
                    *last = day;
                    self.count += 1;
                }
                None => {
                    self.last_day.insert(key.to_string(), day);
                    self.count += 1;
                }
            }
        }
    }
}
