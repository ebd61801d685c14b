//! `transform script`: custom logic in Rhai, run once per event.
//!
//! The event is the variable `event`, an object map the script may read and change:
//!
//! ```text
//! if event.source.ip.starts_with("10.") { event.network.zone = "internal"; }
//! if event.event.action == "heartbeat" { event = (); }   // drops the event
//! ```
//!
//! * Setting `event = ()` drops the event (counted as dropped, acknowledged as
//!   delivered).
//! * Leaving `event` anything but an object map or `()`, a runtime error, or exceeding
//!   `max_operations` sends the event, unchanged, to the `errors` output with the
//!   reason under `pipectl.error`.
//! * Keys keep their original order; keys the script adds follow, sorted.
//! * Numbers: JSON integers are Rhai `INT`s (i64), other numbers `FLOAT`s; `null` is
//!   `()`; characters and blobs come back as text and arrays of bytes.
//!
//! The script is compiled once, when the pipeline starts (a syntax error is reported
//! with its line and position). The engine is locked down so a hostile or buggy script
//! cannot hang the pipeline or exhaust memory: operations per event are capped by
//! `max_operations`, and expression depth, call depth, string length (16 MiB), array
//! and map sizes (100 000) are limited; `eval` is disabled; `print` and `debug` go to
//! the log.

use pipectl_core::component::{
    BuildContext, BuildError, Built, Factory, Transform, TransformOutput,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::Batch;
use pipectl_core::value::{Map, Str, Value};
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use rhai::{Dynamic, Engine, EvalAltResult, Scope, AST};

use crate::settings::positive;

/// The catalogue entry of `transform script`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "script",
    summary: "Runs a Rhai script on every event (the variable `event`); `event = ()` drops it, failures go to `errors`.",
    attrs: &[
        AttrSpec::required(
            "rhai",
            AttrType::Script,
            "The script. It reads and changes the object map `event`; setting `event = ()` drops the event.",
        ),
        AttrSpec::with_default(
            "max_operations",
            AttrType::Int,
            "1000000",
            "Operations one run may take; a run that exceeds it sends the event to `errors`.",
        ),
    ],
    fixed_outputs: &["errors"],
    outputs_from: None,
};

/// Builds `transform script`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

const MAX_STRING: usize = 16 << 20;
const MAX_COLLECTION: usize = 100_000;

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let source = attrs.string("rhai")?;
    let max_operations = positive(&attrs, "max_operations")?;
    let name = format!("{}.{}", ctx.pipeline, plan.name);
    let script = Script::compile(&source, max_operations as u64, name)
        .map_err(|message| attrs.error(message))?;
    Ok(Built::Transform(Box::new(script)))
}

/// A compiled `transform script`.
pub struct Script {
    engine: Engine,
    ast: AST,
    max_operations: u64,
    /// `pipeline.component`, for `pipectl.error.component`.
    name: String,
    scope: Scope<'static>,
}

/// What one run of the script decided.
#[derive(Debug)]
pub enum Outcome {
    Keep(Value),
    Drop,
    /// The reason; the event goes to `errors` unchanged.
    Error(String),
}

impl Script {
    /// Compiles `source` with a locked-down engine; the error says where the syntax is
    /// wrong.
    pub fn compile(source: &str, max_operations: u64, name: String) -> Result<Script, String> {
        let mut engine = Engine::new();
        engine
            .set_max_operations(max_operations)
            .set_max_expr_depths(64, 32)
            .set_max_call_levels(32)
            .set_max_string_size(MAX_STRING)
            .set_max_array_size(MAX_COLLECTION)
            .set_max_map_size(MAX_COLLECTION)
            .disable_symbol("eval");
        let print_name = name.clone();
        engine.on_print(move |text| tracing::info!(component = %print_name, "script: {text}"));
        let debug_name = name.clone();
        engine.on_debug(move |text, _source, pos| {
            tracing::debug!(component = %debug_name, position = %pos, "script: {text}")
        });
        let ast = engine
            .compile(source)
            .map_err(|e| format!("the rhai script does not compile: {e}"))?;
        Ok(Script {
            engine,
            ast,
            max_operations,
            name,
            scope: Scope::new(),
        })
    }

    /// Runs the script on one event's document.
    pub fn run(&mut self, document: &Value) -> Outcome {
        self.scope.clear();
        self.scope.push_dynamic("event", to_dynamic(document));
        if let Err(e) = self.engine.run_ast_with_scope(&mut self.scope, &self.ast) {
            return Outcome::Error(self.describe(&e));
        }
        let Some(result) = self.scope.remove::<Dynamic>("event") else {
            return Outcome::Error("the script removed the variable `event`".into());
        };
        let result = result.flatten();
        if result.is_unit() {
            return Outcome::Drop;
        }
        if !result.is_map() {
            return Outcome::Error(format!(
                "the script left `event` a {}; it must stay an object map (or `()` to drop the event)",
                result.type_name()
            ));
        }
        Outcome::Keep(from_dynamic(result, Some(document)))
    }

    fn describe(&self, e: &EvalAltResult) -> String {
        match e {
            EvalAltResult::ErrorTooManyOperations(pos) => format!(
                "the script exceeded max_operations ({}) at {pos}",
                self.max_operations
            ),
            other => format!("script error: {other}"),
        }
    }
}

impl Transform for Script {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for mut event in batch {
            match self.run(&event.value) {
                Outcome::Keep(document) => {
                    event.value = document;
                    out.push(event);
                }
                Outcome::Drop => out.drop_event(event),
                Outcome::Error(reason) => out.push_error(&self.name, event, &reason),
            }
        }
    }
}

/// An event document as a Rhai value.
fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Int(i) => Dynamic::from_int(*i),
        Value::Float(f) => Dynamic::from_float(*f),
        Value::String(s) => Dynamic::from(s.as_str().to_string()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(map) => {
            let mut out = rhai::Map::new();
            for (k, v) in map.iter() {
                out.insert(k.as_str().into(), to_dynamic(v));
            }
            Dynamic::from_map(out)
        }
    }
}

/// A Rhai value back as a document; `like` (the value before the script ran) gives
/// object keys their original order.
fn from_dynamic(value: Dynamic, like: Option<&Value>) -> Value {
    let value = value.flatten();
    if value.is_unit() {
        return Value::Null;
    }
    if let Ok(b) = value.as_bool() {
        return Value::Bool(b);
    }
    if let Ok(i) = value.as_int() {
        return Value::Int(i);
    }
    if let Ok(f) = value.as_float() {
        return Value::Float(f);
    }
    if let Ok(c) = value.as_char() {
        return Value::String(Str::from(c.to_string()));
    }
    if value.is_string() {
        return match value.into_immutable_string() {
            Ok(s) => Value::String(Str::from(s.as_str())),
            Err(_) => Value::Null,
        };
    }
    if value.is_blob() {
        return match value.into_blob() {
            Ok(bytes) => Value::Array(
                bytes
                    .into_iter()
                    .map(|b| Value::Int(i64::from(b)))
                    .collect(),
            ),
            Err(_) => Value::Null,
        };
    }
    if value.is_array() {
        let old = like.and_then(Value::as_array);
        return match value.into_array() {
            Ok(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| from_dynamic(item, old.and_then(|o| o.get(i))))
                    .collect(),
            ),
            Err(_) => Value::Null,
        };
    }
    if value.is_map() {
        let Some(mut map) = value.try_cast::<rhai::Map>() else {
            return Value::Null;
        };
        let mut out = Map::with_capacity(map.len());
        if let Some(old) = like.and_then(Value::as_object) {
            for (key, old_value) in old.iter() {
                if let Some(v) = map.remove(key.as_str()) {
                    out.push(key.clone(), from_dynamic(v, Some(old_value)));
                }
            }
        }
        for (key, v) in map {
            out.push(key.as_str(), from_dynamic(v, None));
        }
        return Value::Object(out);
    }
    // Timestamps, function pointers and other script-only values: their text.
    Value::String(Str::from(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{build_error, plan, run_transform, string, value};
    use pipectl_core::json;
    use pipectl_dsl::plan::PlanValue;

    fn script(source: &str) -> Script {
        Script::compile(source, 10_000, "test.t".into()).unwrap()
    }

    fn run(source: &str, input: &str) -> String {
        match script(source).run(&value(input)) {
            Outcome::Keep(v) => json::to_string(&v),
            Outcome::Drop => "dropped".into(),
            Outcome::Error(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn changes_keep_key_order_and_add_keys_after() {
        let out = run(
            r#"if event.source.ip.starts_with("10.") { event.network = #{ zone: "internal" }; }
               event.b = 2;"#,
            r#"{"z":1,"source":{"ip":"10.1.2.3"},"a":[1,2.5,null,true]}"#,
        );
        assert_eq!(
            out,
            r#"{"z":1,"source":{"ip":"10.1.2.3"},"a":[1,2.5,null,true],"b":2,"network":{"zone":"internal"}}"#
        );
    }

    #[test]
    fn unit_drops_the_event() {
        assert_eq!(
            run("if event.n > 1 { event = (); }", r#"{"n":2}"#),
            "dropped"
        );
        assert_eq!(
            run("if event.n > 1 { event = (); }", r#"{"n":1}"#),
            r#"{"n":1}"#
        );
    }

    #[test]
    fn runtime_errors_and_wrong_results_are_errors() {
        let out = run("event.missing.deeper = 1;", r#"{"n":1}"#);
        assert!(out.starts_with("error: script error:"), "{out}");
        let out = run("event = 42;", r#"{"n":1}"#);
        assert!(out.contains("must stay an object map"), "{out}");
        let out = run(r#"throw "no";"#, r#"{}"#);
        assert!(out.contains("no"), "{out}");
    }

    #[test]
    fn runaway_scripts_are_stopped() {
        let out = run("loop { }", "{}");
        assert!(out.contains("exceeded max_operations (10000)"), "{out}");
        let out = run(r#"let s = "x"; loop { s += s; }"#, "{}");
        assert!(out.starts_with("error:"), "{out}");
        let out = run("fn f(n) { f(n + 1) } f(0);", "{}");
        assert!(out.starts_with("error:"), "{out}");
    }

    #[test]
    fn eval_is_refused_at_compile_time() {
        let err = Script::compile(r#"eval("1")"#, 100, "t".into())
            .err()
            .unwrap();
        assert!(err.contains("'eval' is disabled"), "{err}");
    }

    #[test]
    fn compile_errors_are_build_errors_with_a_position() {
        let p = plan(&SPEC, "t", vec![("rhai", string("let x = ;"))]);
        let message = build_error(&FACTORY, &p);
        assert!(message.contains("does not compile"), "{message}");
        assert!(message.contains("line 1"), "{message}");
        let p = plan(
            &SPEC,
            "t",
            vec![("rhai", string("1")), ("max_operations", PlanValue::Int(0))],
        );
        assert!(build_error(&FACTORY, &p).contains("at least 1"));
    }

    #[tokio::test]
    async fn runs_in_a_pipeline_with_an_errors_output() {
        let p = plan(
            &SPEC,
            "t",
            vec![(
                "rhai",
                string(
                    r#"if event.kind == "drop" { event = (); } else if event.kind == "bad" { throw "bad kind"; } else { event.seen = true; }"#,
                ),
            )],
        );
        let outcome = run_transform(
            FACTORY,
            p,
            &[
                r#"{"kind":"ok"}"#,
                r#"{"kind":"drop"}"#,
                r#"{"kind":"bad"}"#,
            ],
        )
        .await;
        assert_eq!(outcome.port(""), [r#"{"kind":"ok","seen":true}"#]);
        let errors = outcome.port("errors");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(r#"{"kind":"bad","pipectl":{"error":{"component":"test.t","message":"script error: Runtime error: bad kind"#),
            "{}",
            errors[0]
        );
        assert_eq!(outcome.counters.events_dropped, 1);
        assert_eq!(outcome.counters.events_errored, 1);
    }
}
