//! Building a plan's components and wiring them into running tasks.

use super::fanout::Fanout;
use super::registry::Registry;
use super::run::{supervise, Chain, Stage};
use super::summary::{RunningGraph, Task};
use crate::component::{
    BuildContext, BuildError, Built, SinkContext, SinkInput, SourceContext, SourceOutput,
    TransformOutput,
};
use crate::event::Batch;
use crate::metrics::ComponentCounters;
use crate::secrets::SecretStore;
use crate::shutdown::{shutdown_pair, ShutdownSignal, ShutdownTrigger};
use pipectl_dsl::plan::{ComponentPlan, PipelinePlan, Plan};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// How to run a plan.
pub struct RunOptions {
    /// Components keep state under `<data_dir>/<pipeline>/<component>`.
    pub data_dir: PathBuf,
    /// Where `secret()` attributes are resolved while components build.
    pub secrets: SecretStore,
    /// Batches each consumer's input channel holds before its upstreams wait. Memory
    /// in flight is bounded by this times the batch size per consumer.
    pub channel_capacity: usize,
}

impl RunOptions {
    /// Defaults: no secrets configured, 8 batches per channel.
    pub fn new(data_dir: impl Into<PathBuf>) -> RunOptions {
        RunOptions {
            data_dir: data_dir.into(),
            secrets: SecretStore::default(),
            channel_capacity: 8,
        }
    }
}

/// A built component before wiring.
struct Node<'p> {
    plan: &'p ComponentPlan,
    name: String,
    built: Option<Built>,
    counters: Arc<ComponentCounters>,
}

/// Builds every component of every pipeline and starts the graph. Every build error is
/// reported, not just the first; nothing runs unless everything built.
pub async fn start(
    plan: &Plan,
    registry: &Registry,
    options: RunOptions,
    shutdown: ShutdownSignal,
) -> Result<RunningGraph, Vec<BuildError>> {
    let mut errors = Vec::new();
    let mut pipelines = Vec::new();
    for pipeline in &plan.pipelines {
        check_inputs(pipeline, &mut errors);
        let mut nodes = Vec::new();
        for component in &pipeline.components {
            match build_component(pipeline, component, registry, &options).await {
                Ok(built) => nodes.push(Node {
                    plan: component,
                    name: format!("{}.{}", pipeline.name, component.name),
                    built: Some(built),
                    counters: Arc::new(ComponentCounters::default()),
                }),
                Err(e) => errors.push(e),
            }
        }
        pipelines.push(nodes);
    }
    if errors.is_empty() {
        for nodes in &pipelines {
            check_roles(nodes, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let (stop, graph_signal) = shutdown_pair();
    let stop = Arc::new(stop);
    let relay = {
        let stop = Arc::clone(&stop);
        let mut external = shutdown;
        tokio::spawn(async move {
            external.wait().await;
            stop.trigger();
        })
    };
    let mut graph = RunningGraph {
        tasks: Vec::new(),
        counters: Vec::new(),
        started: Instant::now(),
        relay,
    };
    for nodes in pipelines {
        for node in &nodes {
            graph.counters.push((
                node.name.clone(),
                node.plan.kind,
                Arc::clone(&node.counters),
            ));
        }
        wire(nodes, &options, &graph_signal, &stop, &mut graph.tasks);
    }
    tracing::debug!(
        components = graph.counters.len(),
        tasks = graph.tasks.len(),
        "graph started"
    );
    Ok(graph)
}

/// Looks up, prepares the data directory for, and builds one component.
async fn build_component(
    pipeline: &PipelinePlan,
    component: &ComponentPlan,
    registry: &Registry,
    options: &RunOptions,
) -> Result<Built, BuildError> {
    let factory = registry
        .factory(component.kind, &component.type_name)
        .ok_or_else(|| {
            BuildError::new(
                component,
                format!(
                    "unknown {} type `{}`",
                    component.kind.keyword(),
                    component.type_name
                ),
            )
        })?;
    let data_dir = options
        .data_dir
        .join(dir_name(&pipeline.name))
        .join(dir_name(&component.name));
    tokio::fs::create_dir_all(&data_dir).await.map_err(|e| {
        BuildError::new(
            component,
            format!("cannot create data directory {}: {e}", data_dir.display()),
        )
    })?;
    let ctx = BuildContext {
        pipeline: &pipeline.name,
        data_dir,
        secrets: &options.secrets,
    };
    (factory.build)(component, &ctx)
}

/// A name made safe as one path component (pipeline names are free text).
fn dir_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => safe,
    }
}

/// Inputs name existing components and ports and form no cycle. The checker ensures
/// this for plans it compiles; a hand-built plan gets errors instead of a hang.
fn check_inputs(pipeline: &PipelinePlan, errors: &mut Vec<BuildError>) {
    let index: HashMap<&str, usize> = pipeline
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut ok = true;
    for c in &pipeline.components {
        for input in &c.inputs {
            let producer = index
                .get(input.component.as_str())
                .and_then(|&i| pipeline.components.get(i));
            let problem = match (producer, &input.port) {
                (None, _) => Some("no such component"),
                (Some(p), _) if !p.kind.has_outputs() => Some("that component has no outputs"),
                (Some(p), Some(port)) if !p.outputs.contains(port) => Some("no such output"),
                _ => None,
            };
            if let Some(problem) = problem {
                ok = false;
                errors.push(BuildError::new(c, format!("input `{input}`: {problem}")));
            }
        }
    }
    if !ok {
        return;
    }
    // Kahn's algorithm: whatever is never freed of inputs sits on a cycle.
    let mut pending: Vec<usize> = pipeline.components.iter().map(|c| c.inputs.len()).collect();
    let mut ready: Vec<usize> = (0..pending.len()).filter(|&i| pending[i] == 0).collect();
    while let Some(done) = ready.pop() {
        let name = &pipeline.components[done].name;
        for (i, c) in pipeline.components.iter().enumerate() {
            for input in &c.inputs {
                if &input.component == name {
                    pending[i] -= 1;
                    if pending[i] == 0 {
                        ready.push(i);
                    }
                }
            }
        }
    }
    for (c, left) in pipeline.components.iter().zip(&pending) {
        if *left > 0 {
            errors.push(BuildError::new(c, "is part of a cycle of inputs"));
        }
    }
}

/// What a component built into must fit its place in the graph: sources take no
/// inputs, and nothing reads a sink.
fn check_roles(nodes: &[Node<'_>], errors: &mut Vec<BuildError>) {
    for node in nodes {
        let is_source = matches!(node.built, Some(Built::Source(_)));
        let read = nodes
            .iter()
            .any(|n| n.plan.inputs.iter().any(|r| r.component == node.plan.name));
        if is_source != (node.plan.kind == pipectl_dsl::plan::ComponentKind::Source) {
            errors.push(BuildError::new(
                node.plan,
                format!(
                    "a {} must build into a {}",
                    node.plan.kind.keyword(),
                    if is_source { "consumer" } else { "source" }
                ),
            ));
        }
        let port_read = nodes.iter().any(|n| {
            n.plan
                .inputs
                .iter()
                .any(|r| r.component == node.plan.name && r.port.is_some())
        });
        if is_source && port_read {
            errors.push(BuildError::new(
                node.plan,
                "a source offers only its default output, yet a named output of it is read",
            ));
        }
        if read && matches!(node.built, Some(Built::Sink(_))) {
            errors.push(BuildError::new(
                node.plan,
                "other components read this one, but it was built as a sink without outputs",
            ));
        }
    }
}

/// Who reads each output of one producer: the default output and each named port
/// (indexed like the plan's `outputs`).
struct Readers {
    default: Vec<usize>,
    named: Vec<Vec<usize>>,
}

/// Connects one pipeline's components with channels and spawns their tasks.
fn wire(
    mut nodes: Vec<Node<'_>>,
    options: &RunOptions,
    signal: &ShutdownSignal,
    stop: &Arc<ShutdownTrigger>,
    tasks: &mut Vec<Task>,
) {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.plan.name.as_str(), i))
        .collect();
    let mut readers: Vec<Readers> = nodes
        .iter()
        .map(|n| Readers {
            default: Vec::new(),
            named: vec![Vec::new(); n.plan.outputs.len()],
        })
        .collect();
    for (consumer, node) in nodes.iter().enumerate() {
        for input in &node.plan.inputs {
            let Some(&producer) = index.get(input.component.as_str()) else {
                continue;
            };
            let list = match &input.port {
                None => Some(&mut readers[producer].default),
                Some(port) => nodes[producer]
                    .plan
                    .outputs
                    .iter()
                    .position(|p| p == port)
                    .and_then(|i| readers[producer].named.get_mut(i)),
            };
            if let Some(list) = list {
                list.push(consumer);
            }
        }
    }

    // `fused_after[c] = Some(p)`: transform `c` runs in `p`'s task, right after it.
    let is_transform = |n: &Node<'_>| matches!(n.built, Some(Built::Transform(_)));
    let fused_after: Vec<Option<usize>> = nodes
        .iter()
        .enumerate()
        .map(|(c, node)| {
            if !is_transform(node) {
                return None;
            }
            let [input] = node.plan.inputs.as_slice() else {
                return None;
            };
            let producer = *index.get(input.component.as_str())?;
            let fusable = input.port.is_none()
                && is_transform(&nodes[producer])
                && readers[producer].default == [c];
            fusable.then_some(producer)
        })
        .collect();

    // One bounded channel per consumer that runs its own task (fan-in).
    let capacity = options.channel_capacity.max(1);
    let mut senders: Vec<Option<mpsc::Sender<Batch>>> = Vec::with_capacity(nodes.len());
    let mut receivers: Vec<Option<mpsc::Receiver<Batch>>> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        if node.plan.kind.takes_inputs() && fused_after[i].is_none() {
            let (tx, rx) = mpsc::channel(capacity);
            senders.push(Some(tx));
            receivers.push(Some(rx));
        } else {
            senders.push(None);
            receivers.push(None);
        }
    }
    let fanout = |list: &[usize], counters: &Arc<ComponentCounters>| {
        let consumers = list.iter().filter_map(|&c| senders[c].clone()).collect();
        Fanout::new(consumers, Arc::clone(counters))
    };
    let mut default_out: Vec<Option<Fanout>> = nodes
        .iter()
        .zip(&readers)
        .map(|(n, r)| Some(fanout(&r.default, &n.counters)))
        .collect();
    let mut named_out: Vec<Vec<Fanout>> = nodes
        .iter()
        .zip(&readers)
        .map(|(n, r)| r.named.iter().map(|l| fanout(l, &n.counters)).collect())
        .collect();
    // Only fan-outs hold senders now, so channels close when their producers end.
    drop(senders);

    let next_in_chain: Vec<Option<usize>> = (0..nodes.len())
        .map(|p| fused_after.iter().position(|&f| f == Some(p)))
        .collect();
    for i in 0..nodes.len() {
        let node = &mut nodes[i];
        let name = node.name.clone();
        let task = match node.built.take() {
            Some(Built::Source(source)) => {
                let ctx = SourceContext {
                    name: Arc::from(name.as_str()),
                    out: SourceOutput {
                        fanout: default_out[i]
                            .take()
                            .unwrap_or_else(|| Fanout::new(Vec::new(), Arc::clone(&node.counters))),
                        counters: Arc::clone(&node.counters),
                    },
                    shutdown: signal.clone(),
                    counters: Arc::clone(&node.counters),
                };
                tokio::spawn(supervise(name.clone(), Arc::clone(stop), source.run(ctx)))
            }
            Some(Built::Sink(sink)) => {
                let Some(rx) = receivers[i].take() else {
                    continue;
                };
                let ctx = SinkContext {
                    name: Arc::from(name.as_str()),
                    input: SinkInput {
                        rx,
                        counters: Arc::clone(&node.counters),
                    },
                    counters: Arc::clone(&node.counters),
                };
                tokio::spawn(supervise(name.clone(), Arc::clone(stop), sink.run(ctx)))
            }
            Some(Built::Transform(head)) => {
                if fused_after[i].is_some() {
                    // Taken by the chain of its predecessor; put back for it to find.
                    node.built = Some(Built::Transform(head));
                    continue;
                }
                let Some(input) = receivers[i].take() else {
                    continue;
                };
                let mut stages = Vec::new();
                let mut current = Some((i, head));
                let mut last = i;
                while let Some((at, transform)) = current.take() {
                    let n = &nodes[at];
                    stages.push(Stage {
                        name: n.name.clone(),
                        transform,
                        output: TransformOutput::new(&n.plan.outputs),
                        ports: std::mem::take(&mut named_out[at]),
                        counters: Arc::clone(&n.counters),
                    });
                    last = at;
                    if let Some(next) = next_in_chain[at] {
                        if let Some(Built::Transform(t)) = nodes[next].built.take() {
                            current = Some((next, t));
                        }
                    }
                }
                let chain = Chain {
                    stages,
                    input,
                    out: default_out[last].take().unwrap_or_else(|| {
                        Fanout::new(Vec::new(), Arc::clone(&nodes[last].counters))
                    }),
                };
                tokio::spawn(supervise(name.clone(), Arc::clone(stop), chain.run()))
            }
            None => continue,
        };
        tasks.push(Task { name, handle: task });
    }
}
