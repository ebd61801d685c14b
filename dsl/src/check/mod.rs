//! The checker: every parsed file against the catalogue, reporting all problems.
//!
//! Pipelines of the same name merge across files. Each block is checked on its own
//! (keyword, type, name, attributes and values), then each pipeline as a graph
//! (references, sinks, cycles, unused outputs) and its tests. A file that did not parse
//! is skipped, and the pipelines it may hold are marked incomplete so that names
//! defined in it are not reported missing elsewhere.

mod component;
mod embedded;
mod expr;
mod graph;
mod tests;
#[cfg(test)]
mod unit_tests;
mod value;

pub use component::{catalogue_errors, default_value, INPUTS};
pub(crate) use embedded::{regex_check, script_check};

use crate::ast::{File, Member, Pipeline};
use crate::catalogue::{Catalogue, ComponentSpec};
use crate::codes;
use crate::diag::{Diagnostic, Span};
use crate::plan::{ComponentKind, OutputRef, PlanValue, TestPlan};
use crate::source::{LineIndex, SourceFile};
use crate::suggest;
use component::{check_component, component_name_like, is_component_name, RESERVED};
use graph::{check_graph, Names, Node};
use std::collections::{BTreeMap, BTreeSet};

/// A checked pipeline, ready to become a plan when no error was found.
#[derive(Debug)]
pub struct CheckedPipeline {
    pub name: String,
    pub components: Vec<CheckedComponent>,
    pub tests: Vec<TestPlan>,
}

/// A component whose kind and type are known and whose attributes were lowered.
#[derive(Debug)]
pub struct CheckedComponent {
    pub name: String,
    pub kind: ComponentKind,
    pub spec: &'static ComponentSpec,
    pub inputs: Vec<OutputRef>,
    pub route_ports: Vec<String>,
    pub attrs: BTreeMap<String, PlanValue>,
    pub origin: String,
}

/// The keyword of test blocks.
const TEST: &str = "test";
/// The keyword of pipeline blocks.
const PIPELINE: &str = "pipeline";

/// Checks every parsed file (`None` for files that did not parse).
pub fn check(
    files: &[SourceFile],
    parsed: &[Option<&File>],
    catalogue: &Catalogue,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<CheckedPipeline> {
    let (incomplete, all_incomplete) = incomplete_pipelines(files, parsed);
    let mut groups: BTreeMap<&str, Vec<(usize, &Pipeline)>> = BTreeMap::new();
    for (index, file) in parsed.iter().enumerate() {
        let Some(file) = file else { continue };
        for pipeline in &file.pipelines {
            if pipeline.keyword.name != PIPELINE {
                diagnostics.push(
                    Diagnostic::error(
                        codes::UNKNOWN_BLOCK,
                        pipeline.keyword.span,
                        format!("unknown block `{}`", pipeline.keyword.name),
                    )
                    .with_label("expected `pipeline`")
                    .with_help(
                        suggest::did_you_mean(&pipeline.keyword.name, [PIPELINE]).unwrap_or_else(
                            || "files hold `pipeline \"name\" { ... }` blocks".into(),
                        ),
                    ),
                );
            }
            if pipeline.label.value.trim().is_empty() {
                diagnostics.push(
                    Diagnostic::error(
                        codes::BAD_NAME,
                        pipeline.label.span,
                        "a pipeline needs a name",
                    )
                    .with_label("empty name")
                    .with_help("write `pipeline \"my-pipeline\" { ... }`"),
                );
            }
            groups
                .entry(pipeline.label.value.as_str())
                .or_default()
                .push((index, pipeline));
        }
    }
    let origins = Origins::new(files);
    let mut out = Vec::new();
    for (name, blocks) in groups {
        let incomplete = all_incomplete || incomplete.contains(name);
        out.push(check_pipeline(
            name,
            &blocks,
            &origins,
            catalogue,
            incomplete,
            diagnostics,
        ));
    }
    out
}

/// The pipelines that files which failed to parse may define (by a rough look at their
/// block headers); `true` when a broken file shows none, so any pipeline may be affected.
fn incomplete_pipelines(
    files: &[SourceFile],
    parsed: &[Option<&File>],
) -> (BTreeSet<String>, bool) {
    let mut names = BTreeSet::new();
    let mut all = false;
    for (file, parsed) in files.iter().zip(parsed) {
        if parsed.is_some() {
            continue;
        }
        let found = header_names(&file.text);
        all |= found.is_empty();
        names.extend(found);
    }
    (names, all)
}

/// Names in lines that start a top-level block: `word "name"` at the start of a line.
fn header_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let first = line.chars().next()?;
            if !(first.is_ascii_alphabetic() || first == '_') {
                return None;
            }
            let word_end = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(line.len());
            let rest = line[word_end..].trim_start();
            let inner = rest.strip_prefix('"')?;
            let close = inner.find('"')?;
            Some(inner[..close].to_string())
        })
        .collect()
}

/// What a member block turned out to be.
enum Role {
    /// A component; `spec` is `None` when the kind or type is unknown (it is still a
    /// name others may reference).
    Component {
        kind: Option<ComponentKind>,
        spec: Option<&'static ComponentSpec>,
    },
    Test,
    Invalid,
}

fn check_pipeline(
    name: &str,
    blocks: &[(usize, &Pipeline)],
    origins: &Origins,
    catalogue: &Catalogue,
    incomplete: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> CheckedPipeline {
    let mut nodes: Vec<Node> = Vec::new();
    let mut checked: Vec<Option<CheckedComponent>> = Vec::new();
    let mut tests: Vec<(usize, &Member)> = Vec::new();
    let mut first_seen: BTreeMap<String, Span> = BTreeMap::new();
    // Unused outputs are only worth a warning when every consumer is known: not when a
    // component is of an unknown type, badly named, or has broken `inputs`.
    let mut quiet_unused = false;

    for &(file, pipeline) in blocks {
        let src = origins.files.get(file).map_or("", |f| f.text.as_str());
        for member in &pipeline.members {
            match role(member, catalogue, diagnostics) {
                Role::Invalid => {}
                Role::Test => tests.push((file, member)),
                Role::Component { kind, spec } => {
                    let label = &member.label;
                    quiet_unused |= !check_component_name(member, diagnostics);
                    if let Some(first) = first_seen.get(&label.value) {
                        diagnostics.push(
                            Diagnostic::error(
                                codes::DUPLICATE_COMPONENT,
                                label.span,
                                format!("a component named `{}` is already defined", label.value),
                            )
                            .with_label("defined again here")
                            .with_secondary(*first, "first defined here")
                            .with_help("component names must be unique within a pipeline"),
                        );
                    } else {
                        first_seen.insert(label.value.clone(), label.span);
                    }
                    let (Some(kind), Some(spec)) = (kind, spec) else {
                        quiet_unused = true;
                        nodes.push(Node {
                            name: label.value.clone(),
                            kind,
                            ports: None,
                            route_ports: Vec::new(),
                            default_output_matters: false,
                            label: label.span,
                            inputs: Vec::new(),
                            refs: Vec::new(),
                        });
                        checked.push(None);
                        continue;
                    };
                    let attrs = check_component(member, kind, spec, src, diagnostics);
                    quiet_unused |= !attrs.inputs_ok;
                    let route_ports = attrs.route_ports.clone().unwrap_or_default();
                    let ports = attrs.route_ports.as_ref().map(|routes| {
                        let mut ports: Vec<String> =
                            spec.fixed_outputs.iter().map(|p| p.to_string()).collect();
                        ports.extend(routes.iter().cloned());
                        ports.sort();
                        ports
                    });
                    nodes.push(Node {
                        name: label.value.clone(),
                        kind: Some(kind),
                        ports,
                        route_ports: route_ports.clone(),
                        default_output_matters: spec.outputs_from.is_none(),
                        label: label.span,
                        inputs: attrs.inputs.clone(),
                        refs: attrs.refs,
                    });
                    checked.push(Some(CheckedComponent {
                        name: label.value.clone(),
                        kind,
                        spec,
                        inputs: attrs.inputs.into_iter().map(|(r, _)| r).collect(),
                        route_ports,
                        attrs: attrs.attrs,
                        origin: origins.of(member.span),
                    }));
                }
            }
        }
    }

    if nodes.is_empty() && !incomplete {
        if let Some((_, first)) = blocks.first() {
            diagnostics.push(
                Diagnostic::error(codes::EMPTY_PIPELINE, first.label.span, format!("pipeline `{name}` has no components"))
                    .with_label("empty")
                    .with_help("add a source and a sink, e.g. `source stdin \"in\" {}` and `sink console \"out\" { inputs = [in] }`"),
            );
        }
    }

    let names = Names::new(&nodes, incomplete);
    check_graph(&names, quiet_unused, diagnostics);

    let mut test_plans = Vec::new();
    // Without components (already reported), every name in a test would be unknown.
    let tests = if nodes.is_empty() { Vec::new() } else { tests };
    for (file, member) in tests {
        let src = origins.files.get(file).map_or("", |f| f.text.as_str());
        if let Some(plan) =
            tests::check_test(member, &names, src, origins.of(member.span), diagnostics)
        {
            test_plans.push(plan);
        }
    }

    CheckedPipeline {
        name: name.to_string(),
        components: checked.into_iter().flatten().collect(),
        tests: test_plans,
    }
}

/// Sorts out what a member block is, reporting unknown keywords and types.
fn role(member: &Member, catalogue: &Catalogue, diagnostics: &mut Vec<Diagnostic>) -> Role {
    let keyword = member.keyword.name.as_str();
    let kind = ComponentKind::from_keyword(keyword);
    let kinds = ComponentKind::ALL.map(|k| k.keyword());
    match (&member.type_name, kind) {
        (Some(type_name), Some(kind)) => {
            let spec = catalogue.get(kind, &type_name.name);
            if spec.is_none() {
                let types: Vec<&str> = catalogue.type_names(kind).collect();
                diagnostics.push(
                    Diagnostic::error(
                        codes::UNKNOWN_TYPE,
                        type_name.span,
                        format!("unknown {kind} type `{}`", type_name.name),
                    )
                    .with_label(format!("not a {kind} type"))
                    .with_help_opt(suggest::help(&type_name.name, types)),
                );
            }
            Role::Component {
                kind: Some(kind),
                spec,
            }
        }
        (Some(type_name), None) if keyword == TEST => {
            diagnostics.push(
                Diagnostic::error(codes::BAD_BLOCK, type_name.span, "a test block has no type")
                    .with_label("unexpected")
                    .with_help("write `test \"description\" { ... }`"),
            );
            Role::Invalid
        }
        (Some(_), None) => {
            diagnostics.push(
                Diagnostic::error(
                    codes::UNKNOWN_BLOCK,
                    member.keyword.span,
                    format!("unknown block kind `{keyword}`"),
                )
                .with_label("not a kind of component")
                .with_help_opt(suggest::help(keyword, kinds)),
            );
            Role::Component {
                kind: None,
                spec: None,
            }
        }
        (None, _) if keyword == TEST => Role::Test,
        (None, Some(kind)) => {
            let types: Vec<&str> = catalogue.type_names(kind).collect();
            let example = types.first().copied().unwrap_or("<type>");
            diagnostics.push(
                Diagnostic::error(
                    codes::BAD_BLOCK,
                    member.keyword.span,
                    format!("this {kind} has no type"),
                )
                .with_label(format!("expected `{kind} <type> \"name\"`"))
                .with_help(format!(
                    "write the type before the name, e.g. `{kind} {example} {}`; {kind} types: {}",
                    source_text_of_label(member),
                    types.join(", ")
                )),
            );
            Role::Component {
                kind: Some(kind),
                spec: None,
            }
        }
        (None, None) => {
            let mut candidates = vec![TEST];
            candidates.extend(kinds);
            diagnostics.push(
                Diagnostic::error(
                    codes::UNKNOWN_BLOCK,
                    member.keyword.span,
                    format!("unknown block kind `{keyword}`"),
                )
                .with_label("not a block kind")
                .with_help_opt(suggest::help(keyword, candidates)),
            );
            Role::Invalid
        }
    }
}

fn source_text_of_label(member: &Member) -> String {
    format!("\"{}\"", member.label.value)
}

/// Component names are referenced bare, so they must be identifiers; false when not.
fn check_component_name(member: &Member, diagnostics: &mut Vec<Diagnostic>) -> bool {
    let label = &member.label;
    let errors_before = diagnostics.len();
    if label.value.is_empty() {
        diagnostics.push(
            Diagnostic::error(codes::BAD_NAME, label.span, "a component needs a name")
                .with_label("empty name")
                .with_help("name it with an identifier, e.g. `\"parse_logs\"`"),
        );
    } else if RESERVED.contains(&label.value.as_str()) {
        diagnostics.push(
            Diagnostic::error(
                codes::BAD_NAME,
                label.span,
                format!(
                    "`{}` is a reserved word and cannot name a component",
                    label.value
                ),
            )
            .with_label("reserved")
            .with_help(format!("try `\"{}_\"`", label.value)),
        );
    } else if !is_component_name(&label.value) {
        diagnostics.push(
            Diagnostic::error(
                codes::BAD_NAME,
                label.span,
                format!("`{}` is not a valid component name", label.value),
            )
            .with_label("names are lower-case identifiers: a-z, 0-9 and `_`")
            .with_help(format!("try `\"{}\"`", component_name_like(&label.value))),
        );
    }
    diagnostics.len() == errors_before
}

/// Where blocks start, as `path:line` for runtime messages.
struct Origins<'a> {
    files: &'a [SourceFile],
    lines: Vec<LineIndex>,
}

impl<'a> Origins<'a> {
    fn new(files: &'a [SourceFile]) -> Origins<'a> {
        Origins {
            files,
            lines: files.iter().map(|f| LineIndex::new(&f.text)).collect(),
        }
    }

    fn of(&self, span: Span) -> String {
        match (self.files.get(span.file), self.lines.get(span.file)) {
            (Some(f), Some(lines)) => format!("{}:{}", f.path, lines.line(span.start)),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod header_tests {
    #[test]
    fn headers_of_broken_files_are_found() {
        let names =
            super::header_names("# x\npipeline \"a\" {\n  source x \"b\" {\npipline \"c\" {\n");
        assert_eq!(names, ["a", "c"]);
    }
}
