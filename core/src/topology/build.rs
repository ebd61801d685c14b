//! Building a plan's components and wiring them into running tasks.

use super::checks::{check_inputs, check_roles};
use super::registry::Registry;
use super::summary::RunningGraph;
use super::wire::wire;
use crate::component::{BuildContext, BuildError, Built};
use crate::metrics::ComponentCounters;
use crate::secrets::SecretStore;
use crate::shutdown::{shutdown_pair, ShutdownSignal};
use pipectl_dsl::plan::{ComponentPlan, PipelinePlan, Plan};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

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
    /// Defaults: no secrets configured, 4 batches per channel (measured: small batches
    /// and short queues keep the events in flight within the CPU caches).
    pub fn new(data_dir: impl Into<PathBuf>) -> RunOptions {
        RunOptions {
            data_dir: data_dir.into(),
            secrets: SecretStore::default(),
            channel_capacity: 4,
        }
    }
}

/// A built component before wiring.
pub(super) struct Node<'p> {
    pub plan: &'p ComponentPlan,
    /// `pipeline.component`.
    pub name: String,
    pub built: Option<Built>,
    pub counters: Arc<ComponentCounters>,
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
        for (pipeline, nodes) in plan.pipelines.iter().zip(&pipelines) {
            check_roles(pipeline, nodes, &mut errors);
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
pub(super) async fn build_component(
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
