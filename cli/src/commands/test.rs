//! `pipectl test`: runs the `test` blocks of pipeline files, for the users' own CI.
//!
//! Each test builds its pipeline's stages afresh (fresh model and correlation state in a
//! temporary directory), hands the `given` events to the components they stand for, runs
//! everything once to the end of input and checks each `expect` against what reached
//! that output. A failure prints the expectation, what was expected against what came,
//! and the events seen there; the command exits 1 when any test fails.

use super::{check, plural, PathArgs};
use crate::exit::Exit;
use crate::stages::{Stages, StateDir};
use pipectl_core::event::Event;
use pipectl_core::expr::CompiledExpr;
use pipectl_core::secrets::SecretStore;
use pipectl_core::value::Value;
use pipectl_dsl::plan::{PipelinePlan, TestCheck, TestEvents, TestExpectation, TestPlan};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    paths: PathArgs,

    /// Run only the tests whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
}

/// Events shown under a failed expectation, at most.
const SHOWN: usize = 5;
/// Characters of one shown event, at most.
const SHOWN_CHARS: usize = 400;

pub fn run(args: Args) -> Result<(), Exit> {
    let checked = check(&args.paths)?;
    let mut ran = 0;
    let mut failed = Vec::new();
    for pipeline in &checked.plan.pipelines {
        for test in &pipeline.tests {
            if args
                .filter
                .as_deref()
                .is_some_and(|f| !test.name.contains(f))
            {
                continue;
            }
            ran += 1;
            match run_test(pipeline, test) {
                Ok(failures) if failures.is_empty() => {
                    println!("test {:?} ({}) ... ok", test.name, test.origin);
                }
                Ok(failures) => {
                    println!("test {:?} ({}) ... FAILED", test.name, test.origin);
                    for failure in &failures {
                        println!("{failure}");
                    }
                    failed.push(test.name.clone());
                }
                Err(reason) => {
                    println!(
                        "test {:?} ({}) ... ERROR\n  {reason}",
                        test.name, test.origin
                    );
                    failed.push(test.name.clone());
                }
            }
        }
    }
    if ran == 0 {
        eprintln!("no tests to run");
        return Ok(());
    }
    println!(
        "\n{} test{}: {} passed, {} failed",
        ran,
        plural(ran),
        ran - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Exit::silent(crate::exit::RUNTIME))
    }
}

/// Runs one test; the failed expectations, described.
fn run_test(pipeline: &PipelinePlan, test: &TestPlan) -> Result<Vec<String>, String> {
    let base = test_dir(&test.origin);
    let roots: Vec<String> = test.given.iter().map(|g| g.component.clone()).collect();
    let mut supplied = Vec::new();
    let source: Arc<str> = Arc::from("test");
    for (root, given) in test.given.iter().enumerate() {
        for value in given_events(&given.events, &base)? {
            supplied.push((root, Event::new(value, source.clone())));
        }
    }
    let state = StateDir::new("test").map_err(|e| e.to_string())?;
    let secrets = SecretStore::new(None);
    let wanted: Vec<String> = test
        .expect
        .iter()
        .map(|e| e.output.component.clone())
        .collect();
    let mut stages = Stages::build(
        &pipeline.components,
        &roots,
        Some(&wanted),
        &pipeline.name,
        state.path(),
        &secrets,
    )
    .map_err(|e| format!("cannot build the pipeline: {e}"))?;
    let mut outputs: HashMap<(String, Option<String>), Vec<Value>> = HashMap::new();
    for (root, event) in &supplied {
        outputs
            .entry((roots[*root].clone(), None))
            .or_default()
            .push(event.value.clone());
    }
    stages.run(supplied, true, |component, port, events| {
        outputs
            .entry((component.name.clone(), port.map(str::to_string)))
            .or_default()
            .extend(events.iter().map(|e| e.value.clone()));
    });
    let mut failures = Vec::new();
    for expectation in &test.expect {
        let key = (
            expectation.output.component.clone(),
            expectation.output.port.clone(),
        );
        let seen = outputs.get(&key).map(Vec::as_slice).unwrap_or_default();
        if let Some(failure) = judge(expectation, seen)? {
            failures.push(failure);
        }
    }
    Ok(failures)
}

/// Checks one expectation; a description of the failure, if it failed.
fn judge(expectation: &TestExpectation, seen: &[Value]) -> Result<Option<String>, String> {
    let compile =
        |e| CompiledExpr::compile(e).map_err(|err| format!("{}: {err}", expectation.check));
    let header = format!("  expect {} = {}", expectation.output, expectation.check);
    let verdict = match &expectation.check {
        TestCheck::Contains(e) => {
            let cond = compile(e)?;
            (!seen.iter().any(|v| cond.matches(v))).then(|| {
                format!(
                    "    no event matched; {} event{} reached {}{}",
                    seen.len(),
                    plural(seen.len()),
                    expectation.output,
                    shown(seen.iter())
                )
            })
        }
        TestCheck::NotContains(e) => {
            let cond = compile(e)?;
            let matching: Vec<&Value> = seen.iter().filter(|v| cond.matches(v)).collect();
            (!matching.is_empty()).then(|| {
                format!(
                    "    {} event{} matched{}",
                    matching.len(),
                    plural(matching.len()),
                    shown(matching.into_iter())
                )
            })
        }
        TestCheck::Count { condition, equals } => {
            let cond = condition.as_ref().map(compile).transpose()?;
            let counted: Vec<&Value> = seen
                .iter()
                .filter(|v| cond.as_ref().is_none_or(|c| c.matches(v)))
                .collect();
            (counted.len() as u64 != *equals).then(|| {
                format!(
                    "    expected {equals}, got {}{}",
                    counted.len(),
                    shown(counted.into_iter())
                )
            })
        }
    };
    Ok(verdict.map(|v| format!("{header}\n{v}")))
}

/// Up to [`SHOWN`] events, one compact JSON line each.
fn shown<'a>(events: impl ExactSizeIterator<Item = &'a Value>) -> String {
    let total = events.len();
    let mut out = String::new();
    for value in events.take(SHOWN) {
        let text = pipectl_core::json::to_string(value);
        let mut line: String = text.chars().take(SHOWN_CHARS).collect();
        if text.chars().count() > SHOWN_CHARS {
            line.push('…');
        }
        out.push_str("\n      ");
        out.push_str(&line);
    }
    if total > SHOWN {
        out.push_str(&format!("\n      ... and {} more", total - SHOWN));
    }
    out
}

/// The directory of the file a test block is in (its origin is `path:line`).
fn test_dir(origin: &str) -> PathBuf {
    let file = origin.rsplit_once(':').map_or(origin, |(path, _)| path);
    Path::new(file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A `given`'s events: inline maps, or an NDJSON file next to the pipeline file.
fn given_events(events: &TestEvents, base: &Path) -> Result<Vec<Value>, String> {
    let (label, lines): (String, Vec<String>) = match events {
        TestEvents::Inline(items) => ("inline events".into(), items.clone()),
        TestEvents::File(path) => {
            let path = base.join(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (
                path.display().to_string(),
                text.lines().map(str::to_string).collect(),
            )
        }
    };
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| match pipectl_core::json::from_str(line) {
            Ok(value @ Value::Object(_)) => Ok(value),
            Ok(_) => Err(format!("{label}, line {}: not a JSON object", i + 1)),
            Err(e) => Err(format!("{label}, line {}: {e}", i + 1)),
        })
        .collect()
}
