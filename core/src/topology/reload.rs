//! A running topology that takes new plans: component-level hot reload.
//!
//! [`Topology::apply`] compares the new plan with what runs (by pipeline and component
//! name; see [`super::diff`]) and touches only what differs:
//!
//! 1. Every added or changed component is built first. If any build fails, nothing
//!    changes: the errors are returned and the running plan goes on untouched.
//! 2. Upstreams that stay hold their batches for a consumer being replaced (its entry
//!    in their output is paused) and forget a removed one; changed and removed sources
//!    are told to stop; changed and removed consumers lose their input senders. Each
//!    old instance drains what it holds and ends — a source checkpoints what was
//!    acknowledged, a transform flushes what it holds back, a sink delivers.
//! 3. Added components start at once. A changed component starts as soon as its old
//!    instance has ended (never both at once: they share a data directory and state);
//!    it is built a second time then, so it restores what the old instance persisted
//!    while draining (a model's final checkpoint) rather than what was stored before,
//!    and the paused upstreams resume into its new input. Producers are never stopped
//!    to rewire them; unchanged components keep their tasks, buffers, in-memory state
//!    and counters. A changed component keeps its counters too (they count for the
//!    component, not for one instance) and its restart shows in [`ComponentStatus`].
//!
//! Transforms are not fused here, unlike [`super::start`]: with fusion a change to one
//! member of a chain would restart its unchanged neighbours (and their in-memory state)
//! with it. The price is one channel hop per transform; `pipectl run`, which never
//! reloads, keeps fusing.

use super::build::{build_component, Node, RunOptions};
use super::checks::{check_inputs, check_roles};
use super::diff::{components, diff_plans, ComponentId, PlanDiff};
use super::fanout::{Fanout, OutputSlot};
use super::registry::Registry;
use super::run::{supervise, Chain, Stage};
use crate::component::{
    BuildError, Built, ComponentError, SinkContext, SinkInput, SourceContext, SourceOutput,
    StageContext, TransformOutput,
};
use crate::event::Batch;
use crate::metrics::{ComponentCounters, CounterSnapshot};
use crate::shutdown::{shutdown_pair, ShutdownSignal, ShutdownTrigger};
use futures::stream::{FuturesUnordered, StreamExt};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, Plan};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A running instance of one component.
struct Live {
    plan: ComponentPlan,
    counters: Arc<ComponentCounters>,
    /// A consumer's own input sender: upstreams get clones. Dropped to stop it.
    input: Option<mpsc::Sender<Batch>>,
    /// The default output, then each named port in the plan's order.
    outputs: Vec<Arc<OutputSlot>>,
    /// A source's own stop (the graph-wide stop reaches it through `relay`).
    source_stop: Option<Arc<ShutdownTrigger>>,
    relay: Option<JoinHandle<()>>,
    task: JoinHandle<Result<(), ComponentError>>,
    /// The apply that started this instance.
    generation: u64,
    restarts: u64,
}

/// A component built by an apply, waiting to be started.
struct Pending {
    plan: ComponentPlan,
    built: Built,
    counters: Arc<ComponentCounters>,
    input: Option<(mpsc::Sender<Batch>, mpsc::Receiver<Batch>)>,
    outputs: Vec<Arc<OutputSlot>>,
    restarts: u64,
}

/// What runs for one component, for status displays.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ComponentStatus {
    pub id: ComponentId,
    pub kind: ComponentKind,
    pub type_name: String,
    pub counters: CounterSnapshot,
    /// The apply (counted from 1) that started the running instance.
    pub generation: u64,
    /// How many times a change restarted it.
    pub restarts: u64,
    /// Whether its task still runs (a finite source ends by itself).
    pub running: bool,
    /// Live samples (`tap`) of its output.
    #[serde(default)]
    pub taps: usize,
    /// Batches waiting in its input channel: how far a consumer is behind its
    /// upstreams (at the channel capacity, it is what slows them down).
    #[serde(default)]
    pub queued_batches: usize,
}

/// What an apply did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ApplyReport {
    pub diff: PlanDiff,
    /// The apply's number, counted from 1.
    pub generation: u64,
    /// Old instances that failed while draining or did not drain in time (their
    /// unacknowledged events are read again: sources never advanced past them).
    pub drain_errors: Vec<String>,
}

/// A running topology that can be reloaded with [`Topology::apply`].
pub struct Topology {
    registry: Registry,
    options: RunOptions,
    plan: Plan,
    live: BTreeMap<ComponentId, Live>,
    /// Triggered on shutdown and when a component fails.
    stop: Arc<ShutdownTrigger>,
    signal: ShutdownSignal,
    generation: u64,
    drain_timeout: Duration,
}

impl Topology {
    /// An empty topology; [`Topology::apply`] starts the first plan.
    pub fn new(registry: Registry, options: RunOptions) -> Topology {
        let (stop, signal) = shutdown_pair();
        Topology {
            registry,
            options,
            plan: Plan::default(),
            live: BTreeMap::new(),
            stop: Arc::new(stop),
            signal,
            generation: 0,
            drain_timeout: Duration::from_secs(30),
        }
    }

    /// How long an old instance may take to drain before it is stopped (its
    /// unacknowledged events are then read again by their sources).
    pub fn set_drain_timeout(&mut self, timeout: Duration) {
        self.drain_timeout = timeout;
    }

    /// The plan that runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Resolves when the graph stops: on [`Topology::shutdown`] or when a component
    /// fails (a failure stops the whole graph, as in `pipectl run`).
    pub fn stopped(&self) -> ShutdownSignal {
        self.signal.clone()
    }

    /// Every component that runs, in plan order.
    pub fn status(&self) -> Vec<ComponentStatus> {
        components(&self.plan)
            .into_keys()
            .filter_map(|id| {
                let live = self.live.get(&id)?;
                Some(ComponentStatus {
                    kind: live.plan.kind,
                    type_name: live.plan.type_name.clone(),
                    counters: live.counters.snapshot(),
                    generation: live.generation,
                    restarts: live.restarts,
                    running: !live.task.is_finished(),
                    taps: live
                        .outputs
                        .iter()
                        .map(|s| s.tap_count())
                        .max()
                        .unwrap_or(0),
                    queued_batches: live
                        .input
                        .as_ref()
                        .map_or(0, |tx| tx.max_capacity() - tx.capacity()),
                    id,
                })
            })
            .collect()
    }

    /// A live, lossy sample of the events leaving a component (every output), holding
    /// up to `capacity` batches; dropping the receiver removes the tap. `None` when the
    /// component does not run or has no outputs (a sink).
    pub fn tap(&self, id: &ComponentId, capacity: usize) -> Option<mpsc::Receiver<Batch>> {
        let live = self.live.get(id)?;
        if live.outputs.is_empty() {
            return None;
        }
        let (tx, rx) = mpsc::channel(capacity.max(1));
        for slot in &live.outputs {
            slot.add_tap(tx.clone());
        }
        Some(rx)
    }

    /// Moves to `plan`, restarting only what changed. On a build error nothing
    /// changes and every error is returned.
    pub async fn apply(&mut self, plan: &Plan) -> Result<ApplyReport, Vec<BuildError>> {
        let mut errors = Vec::new();
        for pipeline in &plan.pipelines {
            check_inputs(pipeline, &mut errors);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let diff = diff_plans(&self.plan, plan);
        let wanted = components(plan);
        let to_build: BTreeSet<ComponentId> = diff
            .added
            .iter()
            .chain(&diff.changed)
            .map(|c| c.id.clone())
            .collect();

        // 1. Build everything new before touching what runs.
        let mut built: BTreeMap<ComponentId, Built> = BTreeMap::new();
        for pipeline in &plan.pipelines {
            let mut nodes = Vec::new();
            for component in &pipeline.components {
                let id = id_of(&pipeline.name, &component.name);
                if !to_build.contains(&id) {
                    continue;
                }
                match build_component(pipeline, component, &self.registry, &self.options).await {
                    Ok(b) => nodes.push(Node {
                        plan: component,
                        name: id.to_string(),
                        built: Some(b),
                        counters: Arc::default(),
                    }),
                    Err(e) => errors.push(e),
                }
            }
            check_roles(pipeline, &nodes, &mut errors);
            for node in nodes {
                if let Some(b) = node.built {
                    built.insert(id_of(&pipeline.name, &node.plan.name), b);
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        self.generation += 1;
        let generation = self.generation;

        // 2. Detach what stops from the upstreams that stay, and tell it to stop.
        let stopping: BTreeMap<String, ComponentId> = diff
            .changed
            .iter()
            .chain(&diff.removed)
            .map(|c| (c.id.to_string(), c.id.clone()))
            .collect();
        for (id, live) in &self.live {
            if stopping.values().any(|s| s == id) {
                continue;
            }
            for (index, slot) in live.outputs.iter().enumerate() {
                for key in slot.consumer_keys() {
                    let Some(consumer) = stopping.get(&*key) else {
                        continue;
                    };
                    let still_reads = wanted
                        .get(consumer)
                        .is_some_and(|c| reads(c, consumer, id, &live.plan, index));
                    if still_reads {
                        slot.pause(&key);
                    } else {
                        slot.disconnect(&key);
                    }
                }
            }
        }
        let mut old: Vec<(ComponentId, Live)> = Vec::new();
        for id in stopping.values() {
            if let Some(mut live) = self.live.remove(id) {
                if let Some(stop) = &live.source_stop {
                    stop.trigger();
                }
                live.input = None;
                old.push((id.clone(), live));
            }
        }

        // 3. Prepare the new instances and wire the outputs of new producers.
        let mut pending: BTreeMap<ComponentId, Pending> = BTreeMap::new();
        for (id, b) in built {
            let Some(component) = wanted.get(&id) else {
                continue;
            };
            let previous = old.iter().find(|(o, _)| *o == id).map(|(_, l)| l);
            pending.insert(
                id,
                Pending {
                    plan: (*component).clone(),
                    built: b,
                    counters: previous.map_or_else(Arc::default, |l| Arc::clone(&l.counters)),
                    input: component
                        .kind
                        .takes_inputs()
                        .then(|| mpsc::channel(self.options.channel_capacity.max(1))),
                    outputs: if component.kind.has_outputs() {
                        (0..=component.outputs.len())
                            .map(|_| OutputSlot::new())
                            .collect()
                    } else {
                        Vec::new()
                    },
                    restarts: previous.map_or(0, |l| l.restarts + 1),
                },
            );
        }
        for (consumer_id, consumer) in &wanted {
            let tx = match pending.get(consumer_id) {
                Some(p) => p.input.as_ref().map(|(tx, _)| tx.clone()),
                None => self.live.get(consumer_id).and_then(|l| l.input.clone()),
            };
            let Some(tx) = tx else {
                continue;
            };
            for input in &consumer.inputs {
                let producer = id_of(&consumer_id.pipeline, &input.component);
                if let Some(p) = pending.get(&producer) {
                    if let Some(slot) = slot_for(&p.plan, &p.outputs, input.port.as_deref()) {
                        slot.connect(&consumer_id.to_string(), tx.clone());
                    }
                }
            }
        }

        // 4. Start what is new at once, what changed once its old instance has ended.
        let added: Vec<ComponentId> = diff.added.iter().map(|c| c.id.clone()).collect();
        for id in added {
            if let Some(p) = pending.remove(&id) {
                self.launch(id, p, None, generation);
            }
        }
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        let mut draining: FuturesUnordered<_> = old
            .into_iter()
            .map(|(id, mut live)| async move {
                let outcome = match tokio::time::timeout_at(deadline, &mut live.task).await {
                    Ok(Ok(Ok(()))) => None,
                    Ok(Ok(Err(e))) => Some(e.to_string()),
                    Ok(Err(join)) => Some(format!("{id}: {join}")),
                    Err(_) => {
                        live.task.abort();
                        Some(format!("{id}: did not drain in time; stopped"))
                    }
                };
                (id, live, outcome)
            })
            .collect();
        let mut drain_errors = Vec::new();
        while let Some((id, old_live, outcome)) = draining.next().await {
            if let Some(relay) = &old_live.relay {
                relay.abort();
            }
            if let Some(e) = outcome {
                tracing::warn!(component = %id, error = %e, "old instance ended badly during an apply");
                drain_errors.push(e);
            }
            if let Some(mut p) = pending.remove(&id) {
                // Built again now that the old instance has ended: state it persisted
                // while draining (a model's last checkpoint) is what the new one
                // restores. Should this second build fail, the first one serves.
                let pipeline = plan.pipelines.iter().find(|pl| pl.name == id.pipeline);
                if let Some(pipeline) = pipeline {
                    match build_component(pipeline, &p.plan, &self.registry, &self.options).await {
                        Ok(fresh) if same_role(&fresh, &p.built) => p.built = fresh,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(component = %id, error = %e, "rebuilding after the drain failed; using the first build");
                        }
                    }
                }
                self.launch(id, p, Some(&old_live), generation);
            }
        }
        // Nothing is left paused, whatever happened above.
        for live in self.live.values() {
            for slot in &live.outputs {
                slot.drop_paused();
            }
        }
        self.plan = plan.clone();
        tracing::info!(
            generation,
            added = diff.added.len(),
            changed = diff.changed.len(),
            removed = diff.removed.len(),
            "plan applied"
        );
        Ok(ApplyReport {
            diff,
            generation,
            drain_errors,
        })
    }

    /// Connects a new instance to the upstreams that stay and spawns its task.
    fn launch(&mut self, id: ComponentId, p: Pending, old: Option<&Live>, generation: u64) {
        let key = id.to_string();
        if let Some(old) = old {
            for (new_slot, old_slot) in p.outputs.iter().zip(&old.outputs) {
                new_slot.inherit_taps(old_slot);
            }
        }
        let (tx, rx) = match p.input {
            Some((tx, rx)) => (Some(tx), Some(rx)),
            None => (None, None),
        };
        if let Some(tx) = &tx {
            for input in &p.plan.inputs {
                let producer = id_of(&id.pipeline, &input.component);
                if let Some(live) = self.live.get(&producer) {
                    if let Some(slot) = slot_for(&live.plan, &live.outputs, input.port.as_deref()) {
                        slot.connect(&key, tx.clone());
                    }
                }
            }
        }
        let counters = &p.counters;
        let fanout = |slot: Option<&Arc<OutputSlot>>| match slot {
            Some(slot) => Fanout::attached(Arc::clone(slot), Arc::clone(counters)),
            None => Fanout::new(Vec::new(), Arc::clone(counters)),
        };
        let stop = Arc::clone(&self.stop);
        let (task, source_stop, relay) = match (p.built, rx) {
            (Built::Source(source), _) => {
                let (own, own_signal) = shutdown_pair();
                let own = Arc::new(own);
                let relay = {
                    let own = Arc::clone(&own);
                    let mut graph = self.signal.clone();
                    tokio::spawn(async move {
                        graph.wait().await;
                        own.trigger();
                    })
                };
                let ctx = SourceContext {
                    name: Arc::from(key.as_str()),
                    out: SourceOutput {
                        fanout: fanout(p.outputs.first()),
                        counters: Arc::clone(counters),
                    },
                    shutdown: own_signal,
                    counters: Arc::clone(counters),
                };
                let task = tokio::spawn(supervise(key.clone(), stop, source.run(ctx)));
                (task, Some(own), Some(relay))
            }
            (Built::Sink(sink), Some(rx)) => {
                let ctx = SinkContext {
                    name: Arc::from(key.as_str()),
                    input: SinkInput {
                        rx,
                        counters: Arc::clone(counters),
                    },
                    counters: Arc::clone(counters),
                };
                (
                    tokio::spawn(supervise(key.clone(), stop, sink.run(ctx))),
                    None,
                    None,
                )
            }
            (Built::Stage(stage), Some(rx)) => {
                let ctx = StageContext {
                    name: Arc::from(key.as_str()),
                    input: SinkInput {
                        rx,
                        counters: Arc::clone(counters),
                    },
                    out: SourceOutput {
                        fanout: fanout(p.outputs.first()),
                        counters: Arc::clone(counters),
                    },
                    counters: Arc::clone(counters),
                };
                (
                    tokio::spawn(supervise(key.clone(), stop, stage.run(ctx))),
                    None,
                    None,
                )
            }
            (Built::Transform(transform), Some(rx)) => {
                let chain = Chain {
                    stages: vec![Stage {
                        name: key.clone(),
                        transform,
                        output: TransformOutput::new(&p.plan.outputs),
                        ports: p.outputs.iter().skip(1).map(|s| fanout(Some(s))).collect(),
                        counters: Arc::clone(counters),
                    }],
                    input: rx,
                    out: fanout(p.outputs.first()),
                };
                (
                    tokio::spawn(supervise(key.clone(), stop, chain.run())),
                    None,
                    None,
                )
            }
            // A consumer without an input channel cannot happen (every kind that takes
            // inputs gets one); refuse loudly rather than run something half wired.
            (_, None) => {
                let message = "built as a consumer but has no input".to_string();
                let name = key.clone();
                (
                    tokio::spawn(async move {
                        Err(ComponentError {
                            component: name,
                            message,
                        })
                    }),
                    None,
                    None,
                )
            }
        };
        self.live.insert(
            id,
            Live {
                plan: p.plan,
                counters: p.counters,
                input: tx,
                outputs: p.outputs,
                source_stop,
                relay,
                task,
                generation,
                restarts: p.restarts,
            },
        );
    }

    /// Stops the sources, lets everything drain (each task up to the drain timeout)
    /// and returns what failed. The topology is empty afterwards.
    pub async fn shutdown(&mut self) -> Vec<ComponentError> {
        self.plan = Plan::default();
        self.stop.trigger();
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        let mut lives: Vec<(ComponentId, Live)> =
            std::mem::take(&mut self.live).into_iter().collect();
        for (_, live) in &mut lives {
            live.input = None;
        }
        let mut errors = Vec::new();
        for (id, mut live) in lives {
            match tokio::time::timeout_at(deadline, &mut live.task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => errors.push(e),
                Ok(Err(join)) => errors.push(ComponentError {
                    component: id.to_string(),
                    message: join.to_string(),
                }),
                Err(_) => {
                    live.task.abort();
                    errors.push(ComponentError {
                        component: id.to_string(),
                        message: "did not drain in time; stopped".to_string(),
                    });
                }
            }
            if let Some(relay) = live.relay {
                relay.abort();
            }
        }
        errors
    }
}

/// Whether two builds are the same kind of part.
fn same_role(a: &Built, b: &Built) -> bool {
    matches!(
        (a, b),
        (Built::Source(_), Built::Source(_))
            | (Built::Transform(_), Built::Transform(_))
            | (Built::Sink(_), Built::Sink(_))
            | (Built::Stage(_), Built::Stage(_))
    )
}

fn id_of(pipeline: &str, component: &str) -> ComponentId {
    ComponentId {
        pipeline: pipeline.to_string(),
        component: component.to_string(),
    }
}

/// The output slot a reference names: the default output or a named port.
fn slot_for<'a>(
    producer: &ComponentPlan,
    outputs: &'a [Arc<OutputSlot>],
    port: Option<&str>,
) -> Option<&'a Arc<OutputSlot>> {
    let index = match port {
        None => 0,
        Some(port) => 1 + producer.outputs.iter().position(|p| p == port)?,
    };
    outputs.get(index)
}

/// Whether `consumer` (in the new plan) reads output `index` of `producer`.
fn reads(
    consumer: &ComponentPlan,
    consumer_id: &ComponentId,
    producer_id: &ComponentId,
    producer: &ComponentPlan,
    index: usize,
) -> bool {
    consumer_id.pipeline == producer_id.pipeline
        && consumer.inputs.iter().any(|input| {
            input.component == producer_id.component
                && match &input.port {
                    None => index == 0,
                    Some(port) => {
                        producer.outputs.iter().position(|p| p == port) == index.checked_sub(1)
                    }
                }
        })
}
