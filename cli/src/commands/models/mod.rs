//! `pipectl models evaluate`: runs a pipeline's model stage over a generated scenario
//! (vendor-native records plus `labels.json`) in event-time order and reports, per
//! labelled attack, whether and how fast it was detected, and overall the precision,
//! recall and false breaches per 1,000 entity-days.
//!
//! The records go through the same normalisers the sources use and the model stage is
//! built from the pipeline file by the same factory `pipectl run` uses, so what is
//! measured is what ships.

mod replay;
pub mod score;

use crate::exit::Exit;
use pipectl_core::component::{BuildContext, Built, TransformOutput};
use pipectl_core::detect::sigma::time::millis_of;
use pipectl_core::event::Event;
use pipectl_core::secrets::SecretStore;
use pipectl_core::value::Value;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PlanValue};
use score::{Attack, Breach, Label};
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
    /// Evaluate a model stage on a generated scenario (examples/scenario/generate.py):
    /// exits 1 when a labelled attack goes undetected.
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

    /// The model component to evaluate, when the files hold several.
    #[arg(long, value_name = "NAME")]
    model: Option<String>,

    /// Also write every breach as NDJSON to this file.
    #[arg(long, value_name = "FILE")]
    breaches: Option<PathBuf>,

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
    let (pipeline, plan) = find_model(&checked.plan, args.model.as_deref())?;
    let chain = upstream_chain(&checked.plan, &pipeline, &plan)?;
    let attacks = read_labels(&args.data.join("labels.json"))?;
    let kinds = modelled_kinds(&plan);

    let state = TempState::new()?;
    let registry = crate::registry::registry();
    let factory = registry
        .factory(plan.kind, &plan.type_name)
        .ok_or_else(|| Exit::usage(format!("no component type `{}`", plan.type_name)))?;
    let secrets = SecretStore::new(None);
    let ctx = BuildContext {
        pipeline: &pipeline,
        data_dir: state.0.clone(),
        secrets: &secrets,
    };
    let mut model = match (factory.build)(&plan, &ctx) {
        Ok(Built::Transform(t)) => t,
        Ok(_) => return Err(Exit::usage(format!("{} is not a model stage", plan.name))),
        Err(e) => return Err(Exit::runtime(e)),
    };
    let mut steps = Vec::with_capacity(chain.len());
    for step in &chain {
        let factory = registry
            .factory(step.kind, &step.type_name)
            .ok_or_else(|| Exit::usage(format!("no component type `{}`", step.type_name)))?;
        match (factory.build)(step, &ctx) {
            Ok(Built::Transform(t)) => steps.push((t, TransformOutput::new(&step.outputs))),
            Ok(_) => return Err(Exit::usage(format!("{} is not a transform", step.name))),
            Err(e) => return Err(Exit::runtime(e)),
        }
    }

    let mut records = replay::Replay::open(&args.data).map_err(Exit::runtime)?;
    let mut breach_file = match &args.breaches {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| Exit::runtime(format!("cannot create {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let source: Arc<str> = Arc::from("scenario");
    let mut out = TransformOutput::new(&plan.outputs);
    let mut breaches = Vec::new();
    let mut days = EntityDays::default();
    let started = std::time::Instant::now();
    let mut events = 0u64;
    let mut finished = false;
    while !finished {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match records.next_event().map_err(Exit::runtime)? {
                Some((at_ms, value)) => {
                    days.observe(&value, at_ms, &kinds);
                    batch.push(Event::new(value, source.clone()));
                }
                None => {
                    finished = true;
                    break;
                }
            }
        }
        events += batch.len() as u64;
        let batch = through(&mut steps, batch, finished);
        model.transform(batch, &mut out);
        if finished {
            model.finish(&mut out);
        }
        let (emitted, _) = out.take();
        for event in emitted {
            if let Some(file) = breach_file.as_mut() {
                let line = pipectl_core::json::to_string(&event.value);
                writeln!(file, "{line}").map_err(Exit::runtime)?;
            }
            if let Some(b) = breach_of(&event.value) {
                breaches.push(b);
            }
        }
    }
    if let Some(mut file) = breach_file {
        file.flush().map_err(Exit::runtime)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let report = score::evaluate(&attacks, &breaches, days.count);
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(Exit::runtime)?;
        println!("{text}");
    } else {
        println!("{report}");
    }
    eprintln!(
        "{events} events ({} not normalised) through `{}` in {elapsed:.1}s ({:.0} events/s)",
        records.rejected(),
        plan.name,
        events as f64 / elapsed.max(1e-9)
    );
    if report.detected < report.scenarios.len() {
        return Err(Exit::silent(crate::exit::RUNTIME));
    }
    Ok(())
}

/// Runs a batch through the transforms between the normalisers and the model, in
/// order; at the end of input each is finished too, and what it holds back follows.
fn through(
    steps: &mut [(Box<dyn pipectl_core::component::Transform>, TransformOutput)],
    mut batch: Vec<Event>,
    finished: bool,
) -> Vec<Event> {
    for (step, out) in steps.iter_mut() {
        step.transform(batch, out);
        if finished {
            step.finish(out);
        }
        batch = out.take().0;
    }
    batch
}

/// The transforms between the model and its normalisers (for example an `enrich` that
/// adds departments for declared peer groups), nearest the normalisers first. The
/// replay feeds normalised records, so the model's inputs must lead back to
/// `normalise` transforms through single-input transforms.
fn upstream_chain(
    plan: &pipectl_dsl::plan::Plan,
    pipeline: &str,
    model: &ComponentPlan,
) -> Result<Vec<ComponentPlan>, Exit> {
    let components = plan
        .pipelines
        .iter()
        .find(|p| p.name == pipeline)
        .map(|p| p.components.as_slice())
        .unwrap_or_default();
    let by_name = |name: &str| components.iter().find(|c| c.name == name);
    let mut chain = Vec::new();
    let mut current = model;
    loop {
        let inputs: Vec<&ComponentPlan> = current
            .inputs
            .iter()
            .filter_map(|r| by_name(&r.component))
            .collect();
        let normalisers = inputs
            .iter()
            .all(|c| c.kind == ComponentKind::Transform && c.type_name == "normalise");
        if !inputs.is_empty() && normalisers {
            break;
        }
        match inputs.as_slice() {
            [one] if one.kind == ComponentKind::Transform && chain.len() < 16 => {
                chain.push((*one).clone());
                current = one;
            }
            _ => {
                return Err(Exit::usage(format!(
                    "`{}` must read from `normalise` transforms, directly or through single-input transforms: the evaluation replays normalised records",
                    current.name
                )))
            }
        }
    }
    chain.reverse();
    Ok(chain)
}

/// The model component (pipeline name and plan) to evaluate.
fn find_model(
    plan: &pipectl_dsl::plan::Plan,
    wanted: Option<&str>,
) -> Result<(String, ComponentPlan), Exit> {
    let mut found = Vec::new();
    for pipeline in &plan.pipelines {
        for component in &pipeline.components {
            if component.kind == ComponentKind::Model
                && wanted.is_none_or(|name| name == component.name)
            {
                found.push((pipeline.name.clone(), component.clone()));
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Exit::usage(match wanted {
            Some(name) => format!("no model component named `{name}` in the pipeline files"),
            None => "the pipeline files hold no model component".to_string(),
        })),
        _ => Err(Exit::usage(format!(
            "the pipeline files hold {} model components ({}); choose one with --model",
            found.len(),
            found
                .iter()
                .map(|(_, c)| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The entity kinds the model stage models (its `entities` attribute); empty = all.
fn modelled_kinds(plan: &ComponentPlan) -> Vec<String> {
    match plan.attrs.get("entities") {
        Some(PlanValue::List(items)) => items
            .iter()
            .filter_map(PlanValue::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn read_labels(path: &Path) -> Result<Vec<Attack>, Exit> {
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

/// A state directory for one evaluation, removed afterwards, so no state from an
/// earlier run leaks into the figures.
struct TempState(PathBuf);

impl TempState {
    fn new() -> Result<TempState, Exit> {
        let dir = std::env::temp_dir().join(format!(
            "pipectl-evaluate-{}-{}",
            std::process::id(),
            pipectl_core::event::now_ns()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Exit::runtime(format!("cannot create {}: {e}", dir.display())))?;
        Ok(TempState(dir))
    }
}

impl Drop for TempState {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
