//! Test helpers: hand-built plans with the catalogue's defaults filled in, plan
//! expressions, temporary directories, and a harness that runs one transform through
//! the real runtime between a given source and capturing sinks.

use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Sink, SinkContext, Source,
    SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::Event;
use pipectl_core::metrics::CounterSnapshot;
use pipectl_core::secrets::SecretStore;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{start, Registry, RunOptions};
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::ComponentSpec;
use pipectl_dsl::plan::{
    CmpOp, ComponentKind, ComponentPlan, Expr, FieldPath, Literal, OutputRef, PathSegment,
    PipelinePlan, Plan, PlanValue,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "pipectl-connectors-{label}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A component plan of `spec` with `attrs` and every other default filled in.
pub fn plan(spec: &ComponentSpec, name: &str, attrs: Vec<(&str, PlanValue)>) -> ComponentPlan {
    let mut map: BTreeMap<String, PlanValue> =
        attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for attr in spec.attrs {
        if let (false, Some(default)) = (map.contains_key(attr.name), attr.default) {
            let value = pipectl_dsl::default_value(default, &attr.ty, attr.name)
                .unwrap_or_else(|e| panic!("default of {} does not check: {e}", attr.name));
            map.insert(attr.name.to_string(), value);
        }
    }
    let mut outputs: Vec<String> = spec.fixed_outputs.iter().map(|s| s.to_string()).collect();
    if let Some(from) = spec.outputs_from {
        if let Some(PlanValue::Map(routes)) = map.get(from) {
            outputs.extend(routes.keys().cloned());
        }
    }
    outputs.sort();
    ComponentPlan {
        name: name.to_string(),
        kind: spec.kind,
        type_name: spec.type_name.to_string(),
        inputs: Vec::new(),
        outputs,
        attrs: map,
        origin: "test.pipe:1".to_string(),
    }
}

/// Builds a component from a plan, with a scratch data directory.
pub fn build(
    factory: &Factory,
    plan: &ComponentPlan,
    data_dir: &Path,
) -> Result<Built, BuildError> {
    let secrets = SecretStore::default();
    let ctx = BuildContext {
        pipeline: "test",
        data_dir: data_dir.to_path_buf(),
        secrets: &secrets,
    };
    (factory.build)(plan, &ctx)
}

/// The build error's message, for asserting on refused configurations.
pub fn build_error(factory: &Factory, plan: &ComponentPlan) -> String {
    let dir = TempDir::new("build");
    match build(factory, plan, dir.path()) {
        Ok(_) => panic!("expected a build error"),
        Err(e) => e.message,
    }
}

pub fn string(s: &str) -> PlanValue {
    PlanValue::String(s.to_string())
}

pub fn field(path: &str) -> FieldPath {
    FieldPath(
        path.split('.')
            .map(|k| PathSegment::Key(k.to_string()))
            .collect(),
    )
}

/// `path == "text"`.
pub fn eq(path: &str, text: &str) -> Expr {
    Expr::Cmp {
        op: CmpOp::Eq,
        lhs: Box::new(Expr::Field(field(path))),
        rhs: Box::new(Expr::Literal(Literal::String(text.to_string()))),
    }
}

/// `path > n`.
pub fn gt(path: &str, n: i64) -> Expr {
    Expr::Cmp {
        op: CmpOp::Gt,
        lhs: Box::new(Expr::Field(field(path))),
        rhs: Box::new(Expr::Literal(Literal::Int(n))),
    }
}

/// Parses a JSON document for tests.
pub fn value(json: &str) -> Value {
    pipectl_core::json::from_str(json).unwrap()
}

pub fn event(json: &str) -> Event {
    Event::new(value(json), Arc::from("test"))
}

/// What a transform emitted, per port (`""` is the default output), as JSON lines,
/// and the transform's counters.
pub struct Outcome {
    pub ports: BTreeMap<String, Vec<String>>,
    pub counters: CounterSnapshot,
}

impl Outcome {
    pub fn port(&self, port: &str) -> Vec<String> {
        self.ports.get(port).cloned().unwrap_or_default()
    }
}

type Store<T> = Mutex<HashMap<String, T>>;

fn given_store() -> &'static Store<Vec<String>> {
    static GIVEN: std::sync::OnceLock<Store<Vec<String>>> = std::sync::OnceLock::new();
    GIVEN.get_or_init(Default::default)
}

fn captured_store() -> &'static Store<Vec<String>> {
    static CAPTURED: std::sync::OnceLock<Store<Vec<String>>> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(Default::default)
}

static GIVEN_SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "given",
    summary: "test source",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

static CAPTURE_SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "capture",
    summary: "test sink",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

struct Given(Vec<String>);

impl Source for Given {
    fn run(
        self: Box<Self>,
        mut ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let batch = self
                .0
                .iter()
                .map(|json| Event::new(value(json), Arc::clone(&ctx.name)))
                .collect();
            let _ = ctx.out.send(batch).await;
            Ok(())
        })
    }
}

struct Capture(String);

impl Sink for Capture {
    fn run(
        self: Box<Self>,
        mut ctx: SinkContext,
    ) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            while let Some(batch) = ctx.input.recv().await {
                let mut store = captured_store().lock().unwrap();
                let lines = store.entry(self.0.clone()).or_default();
                lines.extend(
                    batch
                        .iter()
                        .map(|e| pipectl_core::json::to_string(&e.value)),
                );
            }
            Ok(())
        })
    }
}

fn key_of(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<String, BuildError> {
    Attrs::new(plan, ctx).string("key")
}

const GIVEN: Factory = Factory {
    spec: &GIVEN_SPEC,
    build: |plan, ctx| {
        let key = key_of(plan, ctx)?;
        let events = given_store()
            .lock()
            .unwrap()
            .remove(&key)
            .unwrap_or_default();
        Ok(Built::Source(Box::new(Given(events))))
    },
};

const CAPTURE: Factory = Factory {
    spec: &CAPTURE_SPEC,
    build: |plan, ctx| Ok(Built::Sink(Box::new(Capture(key_of(plan, ctx)?)))),
};

/// Runs `input` events (JSON) through the transform built from `transform` (its name
/// must be `t`), capturing every output port.
pub async fn run_transform(factory: Factory, transform: ComponentPlan, input: &[&str]) -> Outcome {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let run = format!("run{}", RUN.fetch_add(1, Ordering::Relaxed));
    given_store()
        .lock()
        .unwrap()
        .insert(run.clone(), input.iter().map(|s| s.to_string()).collect());
    let keyed = |name: &str, type_name: &str, kind, key: String, inputs| ComponentPlan {
        name: name.to_string(),
        kind,
        type_name: type_name.to_string(),
        inputs,
        outputs: Vec::new(),
        attrs: BTreeMap::from([("key".to_string(), PlanValue::String(key))]),
        origin: "test.pipe:1".to_string(),
    };
    let mut ports: Vec<Option<String>> = vec![None];
    ports.extend(transform.outputs.iter().cloned().map(Some));
    let mut components = vec![keyed(
        "given",
        "given",
        ComponentKind::Source,
        run.clone(),
        vec![],
    )];
    let mut transform = transform;
    transform.inputs = vec![OutputRef {
        component: "given".into(),
        port: None,
    }];
    components.push(transform);
    for port in &ports {
        let label = port.clone().unwrap_or_default();
        components.push(keyed(
            &format!("capture_{label}"),
            "capture",
            ComponentKind::Sink,
            format!("{run}/{label}"),
            vec![OutputRef {
                component: "t".into(),
                port: port.clone(),
            }],
        ));
    }
    let plan = Plan {
        pipelines: vec![PipelinePlan {
            name: "test".into(),
            components,
            tests: Vec::new(),
        }],
    };
    let registry = Registry::new(vec![GIVEN, CAPTURE, factory]);
    let dir = TempDir::new("run");
    let (_trigger, signal) = shutdown_pair();
    let graph = match start(&plan, &registry, RunOptions::new(dir.path()), signal).await {
        Ok(graph) => graph,
        Err(errors) => panic!("build failed: {errors:?}"),
    };
    let summary = graph.wait().await.expect("the run failed");
    let counters = summary
        .components
        .iter()
        .find(|c| c.name == "test.t")
        .map(|c| c.counters)
        .unwrap_or_default();
    let mut store = captured_store().lock().unwrap();
    let ports = ports
        .into_iter()
        .map(|p| {
            let label = p.unwrap_or_default();
            let lines = store.remove(&format!("{run}/{label}")).unwrap_or_default();
            (label, lines)
        })
        .collect();
    Outcome { ports, counters }
}
