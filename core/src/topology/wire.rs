//! Wiring one pipeline: channels, fan-outs, fused chains and the spawned tasks.

use super::build::{Node, RunOptions};
use super::fanout::Fanout;
use super::run::{supervise, Chain, Stage};
use super::summary::Task;
use crate::component::{
    Built, SinkContext, SinkInput, SourceContext, SourceOutput, StageContext, TransformOutput,
};
use crate::event::Batch;
use crate::metrics::ComponentCounters;
use crate::shutdown::{ShutdownSignal, ShutdownTrigger};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Who reads each output of one producer: the default output and each named port
/// (indexed like the plan's `outputs`).
struct Readers {
    default: Vec<usize>,
    named: Vec<Vec<usize>>,
}

/// Connects one pipeline's components with channels and spawns their tasks.
pub(super) fn wire(
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
            Some(Built::Stage(stage)) => {
                let Some(rx) = receivers[i].take() else {
                    continue;
                };
                let ctx = StageContext {
                    name: Arc::from(name.as_str()),
                    input: SinkInput {
                        rx,
                        counters: Arc::clone(&node.counters),
                    },
                    out: SourceOutput {
                        fanout: default_out[i]
                            .take()
                            .unwrap_or_else(|| Fanout::new(Vec::new(), Arc::clone(&node.counters))),
                        counters: Arc::clone(&node.counters),
                    },
                    counters: Arc::clone(&node.counters),
                };
                tokio::spawn(supervise(name.clone(), Arc::clone(stop), stage.run(ctx)))
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
