//! The evaluated part of a pipeline: every transform, model, detection and correlation
//! stage downstream of its `normalise` transforms, built by the same factories
//! `pipectl run` uses and run in process, in topological order, one batch at a time.
//!
//! The replay normalises the scenario's records itself, so a `normalise` transform is
//! where the graph starts: its consumers receive the replayed events of its `format`.
//! Sources and sinks are left out (the replay reads, the evaluation scores), and so are
//! responders: an evaluation never acts. A component fed by anything else (a source
//! directly) cannot be replayed and is left out with its descendants.

use crate::exit::Exit;
use pipectl_core::component::{BuildContext, Built, Transform, TransformOutput};
use pipectl_core::event::Event;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PlanValue};
use std::collections::HashMap;
use std::path::Path;

/// Where a component's input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Input {
    /// The replayed events of a vendor format (a `normalise` transform's output).
    Normalised(String),
    /// Another component's output port (`None`: its default output).
    Node(usize, Option<String>),
}

struct Node {
    plan: ComponentPlan,
    transform: Box<dyn Transform>,
    out: TransformOutput,
    inputs: Vec<Input>,
}

/// The built sub-graph.
pub struct Graph {
    /// In topological order: every node comes after the nodes it reads.
    nodes: Vec<Node>,
}

fn is_normaliser(c: &ComponentPlan) -> bool {
    c.kind == ComponentKind::Transform && c.type_name == "normalise"
}

fn evaluable(c: &ComponentPlan) -> bool {
    !is_normaliser(c)
        && matches!(
            c.kind,
            ComponentKind::Transform
                | ComponentKind::Model
                | ComponentKind::Detect
                | ComponentKind::Correlate
        )
}

impl Graph {
    /// Builds the components of `components` that the replay can feed. Each gets its
    /// own state directory under `state_dir`.
    pub fn build(
        components: &[ComponentPlan],
        pipeline: &str,
        state_dir: &Path,
        secrets: &pipectl_core::secrets::SecretStore,
    ) -> Result<Graph, Exit> {
        let by_name: HashMap<&str, &ComponentPlan> =
            components.iter().map(|c| (c.name.as_str(), c)).collect();
        // Kahn's algorithm over the evaluable components whose every input resolves.
        let mut order: Vec<&ComponentPlan> = Vec::new();
        let mut placed: HashMap<&str, usize> = HashMap::new();
        let mut remaining: Vec<&ComponentPlan> =
            components.iter().filter(|c| evaluable(c)).collect();
        loop {
            let before = remaining.len();
            remaining.retain(|c| {
                let ready = !c.inputs.is_empty()
                    && c.inputs.iter().all(|r| {
                        placed.contains_key(r.component.as_str())
                            || by_name
                                .get(r.component.as_str())
                                .is_some_and(|u| is_normaliser(u) && r.port.is_none())
                    });
                if ready {
                    placed.insert(c.name.as_str(), order.len());
                    order.push(c);
                }
                !ready
            });
            if remaining.len() == before {
                break;
            }
        }
        let registry = crate::registry::registry();
        let mut nodes = Vec::with_capacity(order.len());
        for plan in order {
            let inputs = plan
                .inputs
                .iter()
                .map(|r| match placed.get(r.component.as_str()) {
                    Some(&index) => Ok(Input::Node(index, r.port.clone())),
                    None => normaliser_format(by_name[r.component.as_str()]).map(Input::Normalised),
                })
                .collect::<Result<Vec<_>, Exit>>()?;
            let factory = registry
                .factory(plan.kind, &plan.type_name)
                .ok_or_else(|| Exit::usage(format!("no component type `{}`", plan.type_name)))?;
            let data_dir = state_dir.join(&plan.name);
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| Exit::runtime(format!("cannot create {}: {e}", data_dir.display())))?;
            let ctx = BuildContext {
                pipeline,
                data_dir,
                secrets,
            };
            let transform = match (factory.build)(plan, &ctx) {
                Ok(Built::Transform(t)) => t,
                Ok(_) => {
                    return Err(Exit::usage(format!(
                        "`{}` did not build as a stage events pass through",
                        plan.name
                    )))
                }
                Err(e) => return Err(Exit::runtime(e)),
            };
            nodes.push(Node {
                out: TransformOutput::new(&plan.outputs),
                plan: plan.clone(),
                transform,
                inputs,
            });
        }
        Ok(Graph { nodes })
    }

    /// Whether the component named `name` is part of the graph.
    pub fn contains(&self, name: &str) -> bool {
        self.nodes.iter().any(|n| n.plan.name == name)
    }

    /// The components in the graph, in the order they run.
    pub fn components(&self) -> impl Iterator<Item = &ComponentPlan> {
        self.nodes.iter().map(|n| &n.plan)
    }

    /// Runs one batch of replayed events, each with its vendor format, through every
    /// component; at the end of input (`finished`) each component is finished after
    /// its last batch and what it held back flows on. `seen` is shown each component's
    /// default output as it passes.
    pub fn run(
        &mut self,
        batch: Vec<(&'static str, Event)>,
        finished: bool,
        mut seen: impl FnMut(&ComponentPlan, &[Event]),
    ) {
        let mut consumers: HashMap<Input, usize> = HashMap::new();
        for node in &self.nodes {
            for input in &node.inputs {
                *consumers.entry(input.clone()).or_default() += 1;
            }
        }
        // Each output with the number of consumers still to read it: the last one takes
        // the events, the others get copies.
        let mut pending: HashMap<Input, (Vec<Event>, usize)> = HashMap::new();
        let offer =
            |pending: &mut HashMap<Input, (Vec<Event>, usize)>, key: Input, events: Vec<Event>| {
                if let Some(&wanted) = consumers.get(&key) {
                    let (held, _) = pending.entry(key).or_insert_with(|| (Vec::new(), wanted));
                    held.extend(events);
                }
            };
        // Replayed events keep their time order across formats: a consumer of several
        // normalisers gets them interleaved as they happened.
        let mut batch: Vec<Option<(&'static str, Event)>> = batch.into_iter().map(Some).collect();
        // The last component reading a format takes its events; earlier ones copy.
        let mut last_reader: HashMap<String, usize> = HashMap::new();
        for (index, node) in self.nodes.iter().enumerate() {
            for input in &node.inputs {
                if let Input::Normalised(format) = input {
                    last_reader.insert(format.clone(), index);
                }
            }
        }
        for index in 0..self.nodes.len() {
            let formats: Vec<&str> = self.nodes[index]
                .inputs
                .iter()
                .filter_map(|i| match i {
                    Input::Normalised(f) => Some(f.as_str()),
                    Input::Node(..) => None,
                })
                .collect();
            let mut input = Vec::new();
            if !formats.is_empty() {
                for slot in batch.iter_mut() {
                    let Some((format, event)) = slot else {
                        continue;
                    };
                    if !formats.contains(format) {
                        continue;
                    }
                    if last_reader.get(*format) == Some(&index) {
                        if let Some((_, event)) = slot.take() {
                            input.push(event);
                        }
                    } else {
                        input.push(event.clone());
                    }
                }
            }
            for source in &self.nodes[index].inputs {
                if let Some((events, left)) = pending.get_mut(source) {
                    *left -= 1;
                    if *left == 0 {
                        input.append(events);
                    } else {
                        input.extend(events.iter().cloned());
                    }
                }
            }
            let node = &mut self.nodes[index];
            node.transform.transform(input, &mut node.out);
            if finished {
                node.transform.finish(&mut node.out);
            }
            let (default, named) = node.out.take();
            seen(&node.plan, &default);
            for (port, events) in named {
                offer(&mut pending, Input::Node(index, Some(port)), events);
            }
            offer(&mut pending, Input::Node(index, None), default);
        }
    }
}

/// The vendor format a `normalise` transform reads.
fn normaliser_format(plan: &ComponentPlan) -> Result<String, Exit> {
    match plan.attrs.get("format") {
        Some(PlanValue::String(format)) => Ok(format.clone()),
        _ => Err(Exit::usage(format!(
            "`{}` has no literal `format`: the evaluation routes replayed records by it",
            plan.name
        ))),
    }
}
