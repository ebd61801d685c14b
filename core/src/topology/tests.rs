//! Graph behaviour with small test-only components: a numbers source, a configurable
//! transform, a router with named ports and a collecting sink. Components find the
//! test's shared [`Probe`] through their `id` attribute.

use super::*;
use crate::ack::{AckReceiver, AckToken, BatchStatus};
use crate::component::{
    AsyncStage, BuildContext, BuildError, Built, ComponentError, Factory, Sink, SinkContext,
    Source, SourceContext, StageContext, Transform, TransformOutput,
};
use crate::config::Attrs;
use crate::event::{Batch, Event};
use crate::metrics::CounterSnapshot;
use crate::shutdown::{shutdown_pair, ShutdownTrigger};
use crate::value::Value;
use futures::future::BoxFuture;
use pipectl_dsl::catalogue::ComponentSpec;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, OutputRef, PipelinePlan, Plan, PlanValue};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a test observes of its components.
#[derive(Default)]
struct Probe {
    produced_batches: AtomicU64,
    consumed_batches: AtomicU64,
    received: AtomicU64,
    max_in_flight: AtomicU64,
    kept: Mutex<Vec<Event>>,
    acks: Mutex<Vec<AckReceiver>>,
    /// What a `memo` transform persisted when it finished (its "store").
    stored: AtomicU64,
}

impl Probe {
    fn in_flight(&self) -> u64 {
        self.produced_batches
            .load(Ordering::SeqCst)
            .saturating_sub(self.consumed_batches.load(Ordering::SeqCst))
    }

    fn kept_numbers(&self) -> Vec<i64> {
        lock(&self.kept)
            .iter()
            .filter_map(|e| e.value.as_object()?.get("n")?.as_i64())
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

static PROBES: Mutex<BTreeMap<String, Arc<Probe>>> = Mutex::new(BTreeMap::new());

fn probe(id: &str) -> Arc<Probe> {
    Arc::clone(lock(&PROBES).entry(id.to_string()).or_default())
}

fn probe_of(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Arc<Probe>, BuildError> {
    Ok(probe(&Attrs::new(plan, ctx).string("id")?))
}

// ---- numbers source: `{"n": i}` for i in 0..count (count < 0: until shutdown) ----

static NUMBERS: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "numbers",
    summary: "test source",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

struct Numbers {
    probe: Arc<Probe>,
    count: i64,
    batch: i64,
    acks: bool,
}

fn build_numbers(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    Ok(Built::Source(Box::new(Numbers {
        probe: probe_of(plan, ctx)?,
        count: attrs.int("count")?,
        batch: attrs.opt_int("batch")?.unwrap_or(10).max(1),
        acks: attrs.opt_bool("acks")?.unwrap_or(false),
    })))
}

impl Source for Numbers {
    fn run(
        self: Box<Self>,
        mut ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let mut n = 0i64;
            while (self.count < 0 || n < self.count) && !ctx.shutdown.is_triggered() {
                let token = if self.acks {
                    let (token, rx) = AckToken::new();
                    lock(&self.probe.acks).push(rx);
                    Some(token)
                } else {
                    None
                };
                let mut batch = Batch::new();
                while (batch.len() as i64) < self.batch && (self.count < 0 || n < self.count) {
                    let mut map = crate::value::Map::new();
                    map.push("n", Value::Int(n));
                    let mut event = Event::new(Value::Object(map), Arc::clone(&ctx.name));
                    event.meta.ack = token.clone();
                    batch.push(event);
                    n += 1;
                }
                drop(token);
                if ctx.out.send(batch).await.is_err() {
                    return Ok(());
                }
                self.probe.produced_batches.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
            Ok(())
        })
    }
}

// ---- step transform: appends `tag` to `path`; may drop odd numbers, hold everything
// until finish, or panic at a given number ----

static STEP: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "step",
    summary: "test transform",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

struct Step {
    tag: String,
    drop_odd: bool,
    hold: bool,
    panic_at: Option<i64>,
    held: Vec<Event>,
}

fn build_step(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    Ok(Built::Transform(Box::new(Step {
        tag: attrs.opt_string("tag")?.unwrap_or_default(),
        drop_odd: attrs.opt_bool("drop_odd")?.unwrap_or(false),
        hold: attrs.opt_bool("hold")?.unwrap_or(false),
        panic_at: attrs.opt_int("panic_at")?,
        held: Vec::new(),
    })))
}

fn number(event: &Event) -> i64 {
    event
        .value
        .as_object()
        .and_then(|m| m.get("n"))
        .and_then(Value::as_i64)
        .unwrap_or(-1)
}

impl Transform for Step {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for mut event in batch {
            let n = number(&event);
            if self.panic_at == Some(n) {
                panic!("step reached {n}");
            }
            if self.drop_odd && n % 2 == 1 {
                out.drop_event(event);
                continue;
            }
            if let Some(map) = event.value.as_object_mut() {
                let path = format!(
                    "{}{}",
                    map.get("path").and_then(Value::as_str).unwrap_or(""),
                    self.tag
                );
                map.insert("path", Value::from(path));
            }
            if self.hold {
                self.held.push(event);
            } else {
                out.push(event);
            }
        }
    }

    fn finish(&mut self, out: &mut TransformOutput) {
        for event in self.held.drain(..) {
            out.push(event);
        }
    }
}

// ---- split transform: even numbers to port `even`, odd to `odd` ----

static SPLIT: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "split",
    summary: "test router",
    attrs: &[],
    fixed_outputs: &["even", "odd"],
    outputs_from: None,
};

struct Split;

fn build_split(_: &ComponentPlan, _: &BuildContext<'_>) -> Result<Built, BuildError> {
    Ok(Built::Transform(Box::new(Split)))
}

impl Transform for Split {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for event in batch {
            let port = if number(&event) % 2 == 0 {
                "even"
            } else {
                "odd"
            };
            out.push_to(port, event);
        }
    }
}

// ---- collect sink: counts; may keep events (holding their acks), fail them, sleep
// per batch, or panic after some events ----

static COLLECT: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "collect",
    summary: "test sink",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

struct Collect {
    probe: Arc<Probe>,
    keep: bool,
    fail: bool,
    delay: Duration,
    panic_after: Option<u64>,
    stop_after: Option<u64>,
}

fn build_collect(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    Ok(Built::Sink(Box::new(Collect {
        probe: probe_of(plan, ctx)?,
        keep: attrs.opt_bool("keep")?.unwrap_or(false),
        fail: attrs.opt_bool("fail")?.unwrap_or(false),
        delay: Duration::from_millis(attrs.opt_int("delay_ms")?.unwrap_or(0) as u64),
        panic_after: attrs.opt_int("panic_after")?.map(|n| n as u64),
        stop_after: attrs.opt_int("stop_after")?.map(|n| n as u64),
    })))
}

impl Sink for Collect {
    fn run(
        self: Box<Self>,
        mut ctx: SinkContext,
    ) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            while let Some(batch) = ctx.input.recv().await {
                let in_flight = self.probe.in_flight();
                self.probe
                    .max_in_flight
                    .fetch_max(in_flight, Ordering::SeqCst);
                self.probe.consumed_batches.fetch_add(1, Ordering::SeqCst);
                let total = self
                    .probe
                    .received
                    .fetch_add(batch.len() as u64, Ordering::SeqCst)
                    + batch.len() as u64;
                if self.panic_after.is_some_and(|limit| total >= limit) {
                    panic!("collect saw {total} events");
                }
                if !self.delay.is_zero() {
                    tokio::time::sleep(self.delay).await;
                }
                if self.fail {
                    batch.iter().for_each(Event::fail_delivery);
                }
                if self.keep {
                    lock(&self.probe.kept).extend(batch);
                }
                if self.stop_after.is_some_and(|limit| total >= limit) {
                    return Ok(());
                }
            }
            Ok(())
        })
    }
}

// ---- echo stage: an async stage that forwards each batch after a sleep, plus one
// event of its own (`{"n": -1}`) once its input has ended ----

static ECHO: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "echo",
    summary: "test async stage",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

// ---- memo transform: counts the events it saw, restoring the count its probe holds
// at build time and storing it when it finishes (a model stage's state in miniature) ----

static MEMO: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "memo",
    summary: "test stateful transform",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

struct Echo;

fn build_echo(_: &ComponentPlan, _: &BuildContext<'_>) -> Result<Built, BuildError> {
    Ok(Built::Stage(Box::new(Echo)))
}

impl AsyncStage for Echo {
    fn run(
        self: Box<Self>,
        mut ctx: StageContext,
    ) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            while let Some(batch) = ctx.input.recv().await {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if ctx.out.send(batch).await.is_err() {
                    return Ok(());
                }
            }
            let mut map = crate::value::Map::new();
            map.push("n", Value::Int(-1));
            let _ = ctx
                .out
                .send(vec![Event::new(Value::Object(map), Arc::clone(&ctx.name))])
                .await;
            Ok(())
        })
    }
}

struct Memo {
    probe: Arc<Probe>,
    seen: u64,
}

fn build_memo(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let probe = probe_of(plan, ctx)?;
    let seen = probe.stored.load(Ordering::SeqCst);
    Ok(Built::Transform(Box::new(Memo { probe, seen })))
}

impl Transform for Memo {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        self.seen += batch.len() as u64;
        batch.into_iter().for_each(|e| out.push(e));
    }

    fn finish(&mut self, _out: &mut TransformOutput) {
        self.probe.stored.store(self.seen, Ordering::SeqCst);
    }
}

fn registry() -> Registry {
    Registry::new(vec![
        Factory {
            spec: &ECHO,
            build: build_echo,
        },
        Factory {
            spec: &MEMO,
            build: build_memo,
        },
        Factory {
            spec: &NUMBERS,
            build: build_numbers,
        },
        Factory {
            spec: &STEP,
            build: build_step,
        },
        Factory {
            spec: &SPLIT,
            build: build_split,
        },
        Factory {
            spec: &COLLECT,
            build: build_collect,
        },
    ])
}

// ---- plans ----

/// A component: `inputs` are `name` or `name.port`; `attrs` are `key=value` where a
/// value is an integer, `true`/`false`, or else a string.
fn comp(
    kind: ComponentKind,
    type_name: &str,
    name: &str,
    inputs: &[&str],
    attrs: &[&str],
) -> ComponentPlan {
    let outputs = if type_name == "split" {
        vec!["even".to_string(), "odd".to_string()]
    } else {
        Vec::new()
    };
    ComponentPlan {
        name: name.to_string(),
        kind,
        type_name: type_name.to_string(),
        inputs: inputs
            .iter()
            .map(|i| match i.split_once('.') {
                Some((c, p)) => OutputRef {
                    component: c.to_string(),
                    port: Some(p.to_string()),
                },
                None => OutputRef {
                    component: i.to_string(),
                    port: None,
                },
            })
            .collect(),
        outputs,
        attrs: attrs
            .iter()
            .filter_map(|a| a.split_once('='))
            .map(|(k, v)| {
                let value = match (v.parse::<i64>(), v) {
                    (Ok(n), _) => PlanValue::Int(n),
                    (_, "true") => PlanValue::Bool(true),
                    (_, "false") => PlanValue::Bool(false),
                    _ => PlanValue::String(v.to_string()),
                };
                (k.to_string(), value)
            })
            .collect(),
        origin: format!("test.pipe:{name}"),
    }
}

fn source(name: &str, attrs: &[&str]) -> ComponentPlan {
    comp(ComponentKind::Source, "numbers", name, &[], attrs)
}

fn transform(type_name: &str, name: &str, inputs: &[&str], attrs: &[&str]) -> ComponentPlan {
    comp(ComponentKind::Transform, type_name, name, inputs, attrs)
}

fn sink(name: &str, inputs: &[&str], attrs: &[&str]) -> ComponentPlan {
    comp(ComponentKind::Sink, "collect", name, inputs, attrs)
}

fn plan(components: Vec<ComponentPlan>) -> Plan {
    Plan {
        pipelines: vec![PipelinePlan {
            name: "p".to_string(),
            components,
            tests: Vec::new(),
        }],
    }
}

/// A scratch data directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        TempDir(std::env::temp_dir().join(format!(
            "pipectl-core-topology-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a plan; the returned trigger must be kept alive (dropping it shuts down).
async fn launch(plan: &Plan, capacity: usize) -> (RunningGraph, ShutdownTrigger, TempDir) {
    let dir = TempDir::new();
    let (trigger, signal) = shutdown_pair();
    let mut options = RunOptions::new(&dir.0);
    options.channel_capacity = capacity;
    match start(plan, &registry(), options, signal).await {
        Ok(graph) => (graph, trigger, dir),
        Err(errors) => panic!("plan should build: {errors:?}"),
    }
}

/// Waits for the graph, failing the test instead of hanging.
async fn finish(graph: RunningGraph) -> Result<RunSummary, Vec<ComponentError>> {
    match tokio::time::timeout(Duration::from_secs(30), graph.wait()).await {
        Ok(result) => result,
        Err(_) => panic!("the graph did not finish"),
    }
}

async fn run_to_end(plan: &Plan) -> RunSummary {
    run_counting_tasks(plan).await.0
}

/// Runs a plan to its end; also returns how many tasks it ran (fusion shows there).
async fn run_counting_tasks(plan: &Plan) -> (RunSummary, usize) {
    let (graph, _trigger, _dir) = launch(plan, 4).await;
    let tasks = graph.tasks.len();
    let summary = match finish(graph).await {
        Ok(summary) => summary,
        Err(errors) => panic!("run failed: {errors:?}"),
    };
    (summary, tasks)
}

fn counters(summary: &RunSummary, name: &str) -> CounterSnapshot {
    match summary.components.iter().find(|c| c.name == name) {
        Some(c) => c.counters,
        None => panic!("no component {name} in {summary}"),
    }
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_delivers_a_copy_to_each_consumer() {
    let summary = run_to_end(&plan(vec![
        source("src", &["id=fanout", "count=100", "batch=7"]),
        sink("a", &["src"], &["id=fanout-a"]),
        sink("b", &["src"], &["id=fanout-b", "keep=true"]),
    ]))
    .await;
    assert_eq!(probe("fanout-a").received.load(Ordering::SeqCst), 100);
    assert_eq!(
        probe("fanout-b").kept_numbers(),
        (0..100).collect::<Vec<_>>()
    );
    assert_eq!(counters(&summary, "p.src").events_out, 100);
    assert_eq!(counters(&summary, "p.a").events_in, 100);
    assert_eq!(counters(&summary, "p.b").events_in, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_in_merges_every_upstream() {
    let summary = run_to_end(&plan(vec![
        source("one", &["id=fanin", "count=50"]),
        source("two", &["id=fanin", "count=70"]),
        transform("step", "both", &["one", "two"], &["tag=x"]),
        sink("out", &["both"], &["id=fanin-out"]),
    ]))
    .await;
    assert_eq!(probe("fanin-out").received.load(Ordering::SeqCst), 120);
    assert_eq!(counters(&summary, "p.both").events_in, 120);
    assert_eq!(counters(&summary, "p.both").events_out, 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_ports_route_and_unread_outputs_count_as_dropped() {
    let summary = run_to_end(&plan(vec![
        source("src", &["id=ports", "count=100"]),
        transform("split", "split", &["src"], &[]),
        sink("evens", &["split.even"], &["id=ports-even", "keep=true"]),
    ]))
    .await;
    let evens = probe("ports-even").kept_numbers();
    assert_eq!(evens, (0..100).step_by(2).collect::<Vec<_>>());
    let split = counters(&summary, "p.split");
    assert_eq!(split.events_in, 100);
    assert_eq!(split.events_out, 100);
    // Nobody reads `split.odd`: its 50 events are dropped and counted.
    assert_eq!(split.events_dropped, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fused_chains_keep_order_counters_and_finish() {
    let (summary, tasks) = run_counting_tasks(&plan(vec![
        source("src", &["id=chain", "count=100", "batch=9"]),
        transform("step", "a", &["src"], &["tag=a"]),
        transform("step", "b", &["a"], &["tag=b", "hold=true"]),
        transform("step", "c", &["b"], &["tag=c", "drop_odd=true"]),
        sink("out", &["c"], &["id=chain-out", "keep=true"]),
    ]))
    .await;
    // The source, one task for the three transforms, the sink.
    assert_eq!(tasks, 3);
    let probe = probe("chain-out");
    let kept = lock(&probe.kept);
    assert_eq!(kept.len(), 50);
    assert!(kept.iter().all(|e| e
        .value
        .as_object()
        .and_then(|m| m.get("path"))
        .and_then(Value::as_str)
        == Some("abc")));
    for name in ["p.a", "p.b"] {
        let c = counters(&summary, name);
        assert_eq!((c.events_in, c.events_out), (100, 100), "{name}");
    }
    let c = counters(&summary, "p.c");
    assert_eq!((c.events_in, c.events_out, c.events_dropped), (100, 50, 50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transform_read_by_several_consumers_is_not_fused_away() {
    let (summary, tasks) = run_counting_tasks(&plan(vec![
        source("src", &["id=nofuse", "count=40"]),
        transform("step", "a", &["src"], &["tag=a"]),
        transform("step", "b", &["a"], &["tag=b"]),
        sink("after_a", &["a"], &["id=nofuse-a"]),
        sink("after_b", &["b"], &["id=nofuse-b", "keep=true"]),
    ]))
    .await;
    assert_eq!(tasks, 5);
    assert_eq!(probe("nofuse-a").received.load(Ordering::SeqCst), 40);
    assert_eq!(probe("nofuse-b").kept_numbers().len(), 40);
    assert_eq!(counters(&summary, "p.b").events_out, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_resolve_only_after_every_sink_released_its_copy() {
    run_to_end(&plan(vec![
        source("src", &["id=acks", "count=100", "acks=true"]),
        transform("step", "even", &["src"], &["drop_odd=true"]),
        sink("quick", &["src"], &["id=acks-quick"]),
        sink("holder", &["even"], &["id=acks-holder", "keep=true"]),
    ]))
    .await;
    let source = probe("acks");
    let mut acks = std::mem::take(&mut *lock(&source.acks));
    assert_eq!(acks.len(), 10);
    // `holder` still holds its copies, so no batch is done yet.
    assert!(acks.iter_mut().all(|rx| rx.try_status().is_none()));
    lock(&probe("acks-holder").kept).clear();
    for rx in acks {
        // Odd events dropped by the filter count as delivered.
        assert_eq!(rx.wait().await, BatchStatus::Delivered);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_failure_fails_the_batch() {
    run_to_end(&plan(vec![
        source("src", &["id=nack", "count=30", "acks=true"]),
        sink("ok", &["src"], &["id=nack-ok"]),
        sink("bad", &["src"], &["id=nack-bad", "fail=true"]),
    ]))
    .await;
    let acks = std::mem::take(&mut *lock(&probe("nack").acks));
    assert_eq!(acks.len(), 3);
    for rx in acks {
        assert_eq!(rx.wait().await, BatchStatus::Failed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_an_infinite_source_and_drains() {
    let (graph, trigger, _dir) = launch(
        &plan(vec![
            source("src", &["id=stop", "count=-1"]),
            transform("step", "t", &["src"], &["tag=t"]),
            sink("out", &["t"], &["id=stop-out"]),
        ]),
        4,
    )
    .await;
    let out = probe("stop-out");
    while out.received.load(Ordering::SeqCst) < 1000 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    trigger.trigger();
    let summary = match finish(graph).await {
        Ok(s) => s,
        Err(e) => panic!("{e:?}"),
    };
    let produced = counters(&summary, "p.src").events_out;
    assert!(produced >= 1000);
    // Everything the source produced reached the sink.
    assert_eq!(counters(&summary, "p.out").events_in, produced);
    assert_eq!(out.received.load(Ordering::SeqCst), produced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_bounds_the_batches_in_flight() {
    let capacity = 2;
    let (graph, trigger, _dir) = launch(
        &plan(vec![
            source("src", &["id=slow", "count=-1", "batch=1"]),
            sink("out", &["src"], &["id=slow", "delay_ms=1"]),
        ]),
        capacity,
    )
    .await;
    let slow = probe("slow");
    while slow.consumed_batches.load(Ordering::SeqCst) < 200 {
        // The channel holds `capacity` batches; counters are bumped just after the
        // channel operations, so one more may be counted in passing.
        assert!(
            slow.in_flight() <= capacity as u64 + 1,
            "{}",
            slow.in_flight()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    trigger.trigger();
    assert!(finish(graph).await.is_ok());
    let max = slow.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= capacity as u64 + 1, "max in flight {max}");
    // The source was faster than the sink: the channel did fill up.
    assert!(max >= capacity as u64, "max in flight {max}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_transform_is_reported_and_stops_the_graph() {
    let (graph, _trigger, _dir) = launch(
        &plan(vec![
            source("src", &["id=boom", "count=-1", "acks=true"]),
            transform("step", "boom", &["src"], &["panic_at=500"]),
            sink("out", &["boom"], &["id=boom-out"]),
        ]),
        4,
    )
    .await;
    let errors = match finish(graph).await {
        Ok(summary) => panic!("the panic went unreported: {summary}"),
        Err(errors) => errors,
    };
    assert!(
        errors
            .iter()
            .any(|e| e.component == "p.boom" && e.message.contains("step reached 500")),
        "{errors:?}"
    );
    // The batch being transformed when it panicked is failed, not acknowledged.
    let acks = std::mem::take(&mut *lock(&probe("boom").acks));
    let mut failed = 0;
    for rx in acks {
        if rx.wait().await == BatchStatus::Failed {
            failed += 1;
        }
    }
    assert!(failed >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_sink_is_reported() {
    let (graph, _trigger, _dir) = launch(
        &plan(vec![
            source("src", &["id=sinkboom", "count=-1"]),
            sink("out", &["src"], &["id=sinkboom-out", "panic_after=100"]),
        ]),
        4,
    )
    .await;
    let errors = finish(graph).await.err().unwrap_or_default();
    assert!(
        errors
            .iter()
            .any(|e| e.component == "p.out" && e.message.contains("panicked")),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_stops_early_stops_its_upstreams() {
    let (graph, _trigger, _dir) = launch(
        &plan(vec![
            source("src", &["id=early", "count=-1", "acks=true"]),
            transform("step", "t", &["src"], &["tag=t"]),
            sink("out", &["t"], &["id=early-out", "stop_after=100"]),
        ]),
        4,
    )
    .await;
    let summary = match finish(graph).await {
        Ok(s) => s,
        Err(e) => panic!("{e:?}"),
    };
    assert!(counters(&summary, "p.out").events_in >= 100);
    // What the sink never took is failed, not acknowledged.
    let acks = std::mem::take(&mut *lock(&probe("early").acks));
    let mut statuses = Vec::new();
    for rx in acks {
        statuses.push(rx.wait().await);
    }
    assert!(statuses.contains(&BatchStatus::Delivered));
    assert!(statuses.contains(&BatchStatus::Failed));
}

#[tokio::test]
async fn every_build_error_is_reported() {
    let mut bad_input = sink("orphan", &["ghost"], &["id=errors"]);
    bad_input.origin = "test.pipe:9".to_string();
    let plan = plan(vec![
        comp(ComponentKind::Source, "nope", "a", &[], &[]),
        comp(ComponentKind::Sink, "missing", "b", &["a"], &[]),
        source("c", &["id=errors"]),
        bad_input,
    ]);
    let dir = TempDir::new();
    let (_trigger, signal) = shutdown_pair();
    let errors = match start(&plan, &registry(), RunOptions::new(&dir.0), signal).await {
        Ok(_) => panic!("the plan should not build"),
        Err(errors) => errors,
    };
    let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 4, "{messages:?}");
    assert!(messages
        .iter()
        .any(|m| m.contains("unknown source type `nope`")));
    assert!(messages
        .iter()
        .any(|m| m.contains("unknown sink type `missing`")));
    assert!(messages
        .iter()
        .any(|m| m.contains("attribute `count` is required")));
    assert!(messages
        .iter()
        .any(|m| m.contains("orphan (test.pipe:9): input `ghost`")));
}

#[tokio::test]
async fn a_named_port_of_a_source_cannot_be_read() {
    let mut src = source("src", &["id=srcport", "count=1"]);
    src.outputs = vec!["extra".to_string()];
    let plan = plan(vec![src, sink("out", &["src.extra"], &["id=srcport"])]);
    let dir = TempDir::new();
    let (_trigger, signal) = shutdown_pair();
    let errors = start(&plan, &registry(), RunOptions::new(&dir.0), signal)
        .await
        .err()
        .unwrap_or_default();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]
        .message
        .contains("a source offers only its default output"));
}

#[tokio::test]
async fn cycles_are_refused() {
    let plan = plan(vec![
        source("src", &["id=cycle", "count=1"]),
        transform("step", "a", &["src", "b"], &[]),
        transform("step", "b", &["a"], &[]),
    ]);
    let dir = TempDir::new();
    let (_trigger, signal) = shutdown_pair();
    let errors = start(&plan, &registry(), RunOptions::new(&dir.0), signal)
        .await
        .err()
        .unwrap_or_default();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e.message.contains("cycle")));
}

#[tokio::test]
async fn components_get_their_own_data_directory_and_a_summary() {
    let plan = plan(vec![
        source("src", &["id=dirs", "count=3"]),
        sink("out", &["src"], &["id=dirs-out"]),
    ]);
    let (graph, _trigger, dir) = launch(&plan, 4).await;
    assert!(dir.0.join("p").join("src").is_dir());
    assert!(dir.0.join("p").join("out").is_dir());
    let names: Vec<String> = graph.counters().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, ["p.src", "p.out"]);
    let summary = match finish(graph).await {
        Ok(s) => s,
        Err(e) => panic!("{e:?}"),
    };
    let table = summary.to_string();
    assert!(table.starts_with("component"), "{table}");
    assert!(table.contains("p.src"), "{table}");
    assert!(table
        .lines()
        .any(|l| l.starts_with("p.out") && l.contains(" sink ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stages_read_and_write_and_add_at_the_end() {
    let summary = run_to_end(&plan(vec![
        source("src", &["id=echo", "count=30", "batch=4"]),
        comp(ComponentKind::Respond, "echo", "echo", &["src"], &[]),
        sink("out", &["echo"], &["id=echo-out", "keep=true"]),
    ]))
    .await;
    let mut expected: Vec<i64> = (0..30).collect();
    expected.push(-1);
    assert_eq!(probe("echo-out").kept_numbers(), expected);
    assert_eq!(counters(&summary, "p.echo").events_in, 30);
    assert_eq!(counters(&summary, "p.echo").events_out, 31);
}

/// Hot reload of a running [`Topology`].
mod reload;
