//! Checks of a plan's graph the runtime makes before wiring it.

use super::build::Node;
use crate::component::{BuildError, Built};
use pipectl_dsl::plan::PipelinePlan;
use std::collections::HashMap;

/// Inputs name existing components and ports and form no cycle. The checker ensures
/// this for plans it compiles; a hand-built plan gets errors instead of a hang.
pub(super) fn check_inputs(pipeline: &PipelinePlan, errors: &mut Vec<BuildError>) {
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
/// inputs, and nothing reads a sink. `nodes` may be some of `pipeline`'s components
/// (those a reload builds); their readers are looked up in the whole pipeline.
pub(super) fn check_roles(
    pipeline: &PipelinePlan,
    nodes: &[Node<'_>],
    errors: &mut Vec<BuildError>,
) {
    for node in nodes {
        let is_source = matches!(node.built, Some(Built::Source(_)));
        let read = pipeline
            .components
            .iter()
            .any(|n| n.inputs.iter().any(|r| r.component == node.plan.name));
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
        let port_read = pipeline.components.iter().any(|n| {
            n.inputs
                .iter()
                .any(|r| r.component == node.plan.name && r.port.is_some())
        });
        if is_source && port_read {
            errors.push(BuildError::new(
                node.plan,
                "a source offers only its default output, yet a named output of it is read",
            ));
        }
        if matches!(node.built, Some(Built::Stage(_))) && port_read {
            errors.push(BuildError::new(
                node.plan,
                "this stage offers only its default output, yet a named output of it is read",
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
