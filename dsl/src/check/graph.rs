//! The pipeline as a graph: references resolve to existing components and ports, no
//! component reads from a sink, nothing loops, and every output someone cares about is
//! consumed.

use crate::codes;
use crate::diag::{Diagnostic, Span};
use crate::plan::{ComponentKind, OutputRef};
use crate::suggest;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

/// What the graph checks know about one component.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    /// `None` when the block keyword was not a component kind.
    pub kind: Option<ComponentKind>,
    /// The named outputs; `None` when the component type is unknown (any port goes).
    pub ports: Option<Vec<String>>,
    /// The ports that come from the `outputs_from` map, which warn when unused.
    pub route_ports: Vec<String>,
    /// Whether the default output warns when unused (no `outputs_from` map).
    pub default_output_matters: bool,
    pub label: Span,
    pub inputs: Vec<(OutputRef, Span)>,
    pub refs: Vec<(OutputRef, Span)>,
}

/// The component names of a pipeline, for references from anywhere (inputs, tests).
pub struct Names<'a> {
    pub by_name: BTreeMap<&'a str, usize>,
    pub nodes: &'a [Node],
    /// Part of the pipeline may be missing (a file did not parse): a name that is not
    /// found may exist there, so it is not reported.
    pub incomplete: bool,
}

impl<'a> Names<'a> {
    pub fn new(nodes: &'a [Node], incomplete: bool) -> Names<'a> {
        let mut by_name = BTreeMap::new();
        for (i, n) in nodes.iter().enumerate() {
            by_name.entry(n.name.as_str()).or_insert(i);
        }
        Names {
            by_name,
            nodes,
            incomplete,
        }
    }

    /// Resolves a reference to an output; reports what is wrong with it.
    pub fn resolve(
        &self,
        r: &OutputRef,
        span: Span,
        what: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<usize> {
        let Some(&index) = self.by_name.get(r.component.as_str()) else {
            if !self.incomplete {
                diagnostics.push(
                    Diagnostic::error(
                        codes::UNKNOWN_COMPONENT,
                        span,
                        format!("unknown component `{}`", r.component),
                    )
                    .with_label(format!("{what} a component that does not exist"))
                    .with_help_opt(suggest::did_you_mean(
                        &r.component,
                        self.by_name.keys().copied(),
                    )),
                );
            }
            return None;
        };
        let node = self.nodes.get(index)?;
        if node.kind == Some(ComponentKind::Sink) {
            diagnostics.push(
                Diagnostic::error(
                    codes::REFERENCE_TO_SINK,
                    span,
                    format!("`{}` is a sink; sinks have no outputs to read", r.component),
                )
                .with_label("a sink")
                .with_secondary(node.label, "defined here")
                .with_help("read from the components that feed the sink instead"),
            );
            return None;
        }
        if let (Some(port), Some(ports)) = (&r.port, &node.ports) {
            if !ports.contains(port) {
                let help = match suggest::did_you_mean(port, ports.iter().map(String::as_str)) {
                    Some(h) => h,
                    None if ports.is_empty() => format!(
                        "`{}` has only its default output: `{}`",
                        r.component, r.component
                    ),
                    None => format!("its outputs are {}", quoted(ports)),
                };
                diagnostics.push(
                    Diagnostic::error(
                        codes::UNKNOWN_PORT,
                        span,
                        format!("`{}` has no output `{port}`", r.component),
                    )
                    .with_label("no such output")
                    .with_help(help),
                );
                return None;
            }
        }
        Some(index)
    }
}

fn quoted(words: &[String]) -> String {
    let q: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    q.join(", ")
}

/// Resolves every reference, then looks for cycles and, unless `quiet_unused`, for
/// outputs nobody reads.
pub fn check_graph(names: &Names, quiet_unused: bool, diagnostics: &mut Vec<Diagnostic>) {
    let nodes = names.nodes;
    let errors_before = diagnostics.len();
    let mut edges: Vec<Vec<(usize, Span)>> = vec![Vec::new(); nodes.len()];
    let mut consumed: HashSet<(&str, Option<&str>)> = HashSet::new();
    for (i, node) in nodes.iter().enumerate() {
        for (r, span) in &node.inputs {
            if let Some(j) = names.resolve(r, *span, "reads from", diagnostics) {
                if let Some(list) = edges.get_mut(i) {
                    list.push((j, *span));
                }
                consumed.insert((r.component.as_str(), r.port.as_deref()));
            }
        }
        for (r, span) in &node.refs {
            let _ = names.resolve(r, *span, "refers to", diagnostics);
        }
    }
    cycles(nodes, &edges, diagnostics);
    // A reference that did not resolve was meant to consume something.
    if quiet_unused || names.incomplete || diagnostics.len() != errors_before {
        return;
    }
    for node in nodes {
        if !node.kind.is_some_and(|k| k.has_outputs()) {
            continue;
        }
        if node.default_output_matters && !consumed.contains(&(node.name.as_str(), None)) {
            diagnostics.push(
                Diagnostic::warning(
                    codes::UNUSED_OUTPUT,
                    node.label,
                    format!("the output of `{}` is not used", node.name),
                )
                .with_label("no component reads from this")
                .with_help(format!(
                    "add `{}` to the `inputs` of a sink, or remove it",
                    node.name
                )),
            );
        }
        for port in &node.route_ports {
            if !consumed.contains(&(node.name.as_str(), Some(port.as_str()))) {
                diagnostics.push(
                    Diagnostic::warning(
                        codes::UNUSED_OUTPUT,
                        node.label,
                        format!("the output `{}.{port}` is not used", node.name),
                    )
                    .with_label("no component reads from this output")
                    .with_help(format!(
                        "add `{}.{port}` to the `inputs` of a component, or remove the route",
                        node.name
                    )),
                );
            }
        }
    }
}

/// Reports each loop once, from its alphabetically first component, in the direction
/// events flow: `a -> b -> a` means b reads a and a reads b.
fn cycles(nodes: &[Node], edges: &[Vec<(usize, Span)>], diagnostics: &mut Vec<Diagnostic>) {
    for scc in strongly_connected(edges) {
        let members: BTreeSet<usize> = scc.iter().copied().collect();
        let self_loop = scc.len() == 1
            && scc
                .first()
                .and_then(|&n| edges.get(n))
                .is_some_and(|es| es.iter().any(|(to, _)| scc.contains(to)));
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let Some(&start) = members
            .iter()
            .min_by_key(|&&n| nodes.get(n).map(|node| node.name.as_str()))
        else {
            continue;
        };
        let Some((hops, span)) = shortest_loop(start, edges, &members) else {
            continue;
        };
        // start reads hops[0], which reads hops[1]...; events flow the other way.
        let name = |n: usize| nodes.get(n).map_or("?", |node| node.name.as_str());
        let mut flow = vec![name(start)];
        flow.extend(hops.iter().rev().map(|&n| name(n)));
        flow.push(name(start));
        diagnostics.push(
            Diagnostic::error(
                codes::CYCLE,
                span,
                format!(
                    "components feed each other in a loop: {}",
                    flow.join(" -> ")
                ),
            )
            .with_label("this input closes the loop")
            .with_help("events must flow one way; remove one of these inputs"),
        );
    }
}

/// The shortest loop through `start` inside `members`: the components after `start`
/// along "reads from" edges, and the span of `start`'s input that begins the loop.
fn shortest_loop(
    start: usize,
    edges: &[Vec<(usize, Span)>],
    members: &BTreeSet<usize>,
) -> Option<(Vec<usize>, Span)> {
    // Breadth first; `came` records the step that first reached each component.
    let mut came: BTreeMap<usize, (usize, Span)> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for &(to, span) in edges.get(n)? {
            if to == start {
                let mut hops = Vec::new();
                let mut cur = n;
                let mut first_span = span;
                while cur != start {
                    hops.push(cur);
                    let &(prev, s) = came.get(&cur)?;
                    first_span = s;
                    cur = prev;
                }
                hops.reverse();
                return Some((hops, first_span));
            }
            if members.contains(&to) && !came.contains_key(&to) {
                came.insert(to, (n, span));
                queue.push_back(to);
            }
        }
    }
    None
}

/// Tarjan's algorithm without recursion (a long chain of components must not
/// exhaust the stack).
fn strongly_connected(edges: &[Vec<(usize, Span)>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&(w, _)) = edges[v].get(*edge) {
                *edge += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut scc = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        scc.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(scc);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(list: &[&[usize]]) -> Vec<Vec<(usize, Span)>> {
        list.iter()
            .map(|tos| tos.iter().map(|&t| (t, Span::default())).collect())
            .collect()
    }

    #[test]
    fn components_of_a_graph() {
        let mut sccs = strongly_connected(&edges(&[&[1], &[2], &[0], &[3], &[]]));
        for s in &mut sccs {
            s.sort();
        }
        sccs.sort();
        assert_eq!(sccs, vec![vec![0, 1, 2], vec![3], vec![4]]);
    }

    #[test]
    fn a_long_chain_does_not_recurse() {
        let n = 200_000;
        let e: Vec<Vec<(usize, Span)>> = (0..n)
            .map(|i| {
                if i + 1 < n {
                    vec![(i + 1, Span::default())]
                } else {
                    vec![]
                }
            })
            .collect();
        assert_eq!(strongly_connected(&e).len(), n);
    }
}
