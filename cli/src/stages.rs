//! A pipeline's stages run in process, one batch at a time, in topological order: what
//! `pipectl models evaluate` replays a scenario through and `pipectl test` runs its
//! `test` blocks on.
//!
//! Some components are **roots**: their output is supplied from outside (the replay's
//! normalised records stand for the `normalise` transforms; a test's `given` events
//! stand for the components it names) and they are not built. Every transform, model,
//! detection and correlation stage that is not a root is built by the same factories
//! `pipectl run` uses and reads its inputs; an input from a component that is neither
//! a root nor built (a source nobody supplies) brings nothing. Sources and sinks are
//! never built (nothing is read from or written to the outside), nor are responders:
//! an evaluation or a test never acts.

use crate::exit::Exit;
use pipectl_core::component::{BuildContext, Built, Transform, TransformOutput};
use pipectl_core::event::Event;
use pipectl_core::secrets::SecretStore;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Where a component's input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Input {
    /// A root's supplied events.
    Root(usize),
    /// A built component's output port (`None`: its default output).
    Node(usize, Option<String>),
}

struct Node {
    plan: ComponentPlan,
    transform: Box<dyn Transform>,
    out: TransformOutput,
    inputs: Vec<Input>,
}

/// The built stages.
pub struct Stages {
    /// In topological order: every node comes after the nodes it reads.
    nodes: Vec<Node>,
    /// How many nodes read each output, and which node reads each root last (it takes
    /// the supplied events; earlier readers copy them). Fixed at build.
    consumers: HashMap<Input, usize>,
    last_reader: HashMap<usize, usize>,
}

/// Whether a component kind is one events pass through (and so can be built here).
fn passes_events(kind: ComponentKind) -> bool {
    matches!(
        kind,
        ComponentKind::Transform
            | ComponentKind::Model
            | ComponentKind::Detect
            | ComponentKind::Correlate
    )
}

impl Stages {
    /// Builds the stages of `components` below `roots`; with `wanted`, only those whose
    /// output can reach one of the wanted components (a test builds what its
    /// expectations look at, not the whole pipeline). Each gets its own state directory
    /// under `state_dir`.
    pub fn build(
        components: &[ComponentPlan],
        roots: &[String],
        wanted: Option<&[String]>,
        pipeline: &str,
        state_dir: &Path,
        secrets: &SecretStore,
    ) -> Result<Stages, Exit> {
        let root_index = |name: &str| roots.iter().position(|r| r == name);
        let needed = wanted.map(|w| upstream_of(components, w));
        // Kahn's algorithm over the stages that are not roots.
        let mut order: Vec<&ComponentPlan> = Vec::new();
        let mut placed: HashMap<&str, usize> = HashMap::new();
        let mut remaining: Vec<&ComponentPlan> = components
            .iter()
            .filter(|c| passes_events(c.kind) && root_index(&c.name).is_none())
            .filter(|c| needed.as_ref().is_none_or(|n| n.contains(c.name.as_str())))
            .collect();
        let building: BTreeSet<&str> = remaining.iter().map(|c| c.name.as_str()).collect();
        while !remaining.is_empty() {
            let before = remaining.len();
            remaining.retain(|c| {
                let ready = c.inputs.iter().all(|r| {
                    placed.contains_key(r.component.as_str())
                        || !building.contains(r.component.as_str())
                });
                if ready {
                    placed.insert(c.name.as_str(), order.len());
                    order.push(c);
                }
                !ready
            });
            if remaining.len() == before {
                // The checker refuses cycles; this only guards against a checker bug.
                return Err(Exit::usage("the pipeline's components form a cycle"));
            }
        }
        let registry = crate::registry::registry();
        let mut nodes = Vec::with_capacity(order.len());
        for plan in order {
            let inputs = plan
                .inputs
                .iter()
                .filter_map(|r| {
                    match (placed.get(r.component.as_str()), root_index(&r.component)) {
                        (Some(&index), _) => Some(Input::Node(index, r.port.clone())),
                        (None, Some(root)) if r.port.is_none() => Some(Input::Root(root)),
                        _ => None,
                    }
                })
                .collect();
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
        let mut consumers: HashMap<Input, usize> = HashMap::new();
        let mut last_reader: HashMap<usize, usize> = HashMap::new();
        for (index, node) in nodes.iter().enumerate() {
            for input in &node.inputs {
                *consumers.entry(input.clone()).or_default() += 1;
                if let Input::Root(root) = input {
                    last_reader.insert(*root, index);
                }
            }
        }
        Ok(Stages {
            nodes,
            consumers,
            last_reader,
        })
    }

    /// The built component named `name`, when there is one.
    pub fn get(&self, name: &str) -> Option<&ComponentPlan> {
        self.nodes.iter().map(|n| &n.plan).find(|p| p.name == name)
    }

    /// The built components, in the order they run.
    pub fn components(&self) -> impl Iterator<Item = &ComponentPlan> {
        self.nodes.iter().map(|n| &n.plan)
    }

    /// Runs one batch of supplied events, each with the root it stands for (an index
    /// into the roots given at build), through every stage; events keep their order
    /// across roots. At the end of input (`finished`) each stage is finished after its
    /// last batch and what it held back flows on. `seen` is shown every output of every
    /// stage (component, port or `None` for the default output, events) as it passes.
    pub fn run(
        &mut self,
        batch: Vec<(usize, Event)>,
        finished: bool,
        mut seen: impl FnMut(&ComponentPlan, Option<&str>, &[Event]),
    ) {
        // Each output with the number of consumers still to read it: the last one
        // takes the events, the others get copies.
        let mut pending: HashMap<Input, (Vec<Event>, usize)> = HashMap::new();
        let mut supplied: Vec<Option<(usize, Event)>> = batch.into_iter().map(Some).collect();
        for index in 0..self.nodes.len() {
            let node = &self.nodes[index];
            let roots: Vec<usize> = node
                .inputs
                .iter()
                .filter_map(|i| match i {
                    Input::Root(r) => Some(*r),
                    Input::Node(..) => None,
                })
                .collect();
            let mut input = Vec::new();
            if !roots.is_empty() {
                for slot in supplied.iter_mut() {
                    let Some((root, event)) = slot else { continue };
                    if !roots.contains(root) {
                        continue;
                    }
                    if self.last_reader.get(root) == Some(&index) {
                        if let Some((_, event)) = slot.take() {
                            input.push(event);
                        }
                    } else {
                        input.push(event.clone());
                    }
                }
            }
            for source in &node.inputs {
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
            for (port, events) in named {
                seen(&node.plan, Some(&port), &events);
                offer(
                    &mut pending,
                    &self.consumers,
                    Input::Node(index, Some(port)),
                    events,
                );
            }
            seen(&node.plan, None, &default);
            offer(
                &mut pending,
                &self.consumers,
                Input::Node(index, None),
                default,
            );
        }
    }
}

/// The components whose output can reach one of `wanted`, and those themselves.
fn upstream_of<'a>(components: &'a [ComponentPlan], wanted: &[String]) -> BTreeSet<&'a str> {
    let by_name: HashMap<&str, &ComponentPlan> =
        components.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = wanted
        .iter()
        .filter_map(|w| by_name.get(w.as_str()).map(|c| c.name.as_str()))
        .collect();
    while let Some(name) = stack.pop() {
        if seen.insert(name) {
            if let Some(c) = by_name.get(name) {
                stack.extend(c.inputs.iter().map(|r| r.component.as_str()));
            }
        }
    }
    seen
}

/// Holds an output's events for its consumers, if it has any.
fn offer(
    pending: &mut HashMap<Input, (Vec<Event>, usize)>,
    consumers: &HashMap<Input, usize>,
    key: Input,
    events: Vec<Event>,
) {
    if let Some(&wanted) = consumers.get(&key) {
        let (held, _) = pending.entry(key).or_insert_with(|| (Vec::new(), wanted));
        held.extend(events);
    }
}

/// A state directory for one evaluation or test, removed afterwards, so no state from an
/// earlier run leaks into the results.
pub struct StateDir(std::path::PathBuf);

impl StateDir {
    pub fn new(purpose: &str) -> Result<StateDir, Exit> {
        let dir = std::env::temp_dir().join(format!(
            "pipectl-{purpose}-{}-{}",
            std::process::id(),
            pipectl_core::event::now_ns()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Exit::runtime(format!("cannot create {}: {e}", dir.display())))?;
        Ok(StateDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
