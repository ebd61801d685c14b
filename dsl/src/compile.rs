//! Checked pipelines to the plan, and [`compile`], the whole way from text.
//!
//! The plan is in a stable order — pipelines and components by name, attributes by
//! key, inputs sorted and de-duplicated, outputs sorted — so equal configurations give
//! equal plans however their files are laid out.

use crate::catalogue::Catalogue;
use crate::check::{check, CheckedPipeline};
use crate::diag::{self, Diagnostic};
use crate::parse::parse_file;
use crate::plan::{ComponentPlan, PipelinePlan, Plan};
use crate::source::SourceFile;

/// The outcome of compiling a configuration.
#[derive(Debug, Clone)]
pub struct Compilation {
    /// `None` if any error was found.
    pub plan: Option<Plan>,
    /// Errors and warnings, sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compilation {
    /// Whether any diagnostic is an error (then there is no plan).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses, checks and compiles `files` (one configuration) against `catalogue`.
pub fn compile(files: &[SourceFile], catalogue: &Catalogue) -> Compilation {
    let mut diagnostics = Vec::new();
    let parsed: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(index, file)| {
            let p = parse_file(index, &file.text);
            diagnostics.extend(p.diagnostics);
            p.file
        })
        .collect();
    let refs: Vec<_> = parsed.iter().map(Option::as_ref).collect();
    let checked = check(files, &refs, catalogue, &mut diagnostics);
    diag::sort(&mut diagnostics);
    let plan = (!diagnostics.iter().any(Diagnostic::is_error)).then(|| to_plan(checked));
    Compilation { plan, diagnostics }
}

fn to_plan(checked: Vec<CheckedPipeline>) -> Plan {
    let mut pipelines: Vec<PipelinePlan> = checked
        .into_iter()
        .map(|p| {
            let mut components: Vec<ComponentPlan> = p
                .components
                .into_iter()
                .map(|c| {
                    let mut inputs = c.inputs;
                    inputs.sort();
                    inputs.dedup();
                    let mut outputs: Vec<String> =
                        c.spec.fixed_outputs.iter().map(|s| s.to_string()).collect();
                    outputs.extend(c.route_ports);
                    outputs.sort();
                    outputs.dedup();
                    ComponentPlan {
                        name: c.name,
                        kind: c.kind,
                        type_name: c.spec.type_name.to_string(),
                        inputs,
                        outputs,
                        attrs: c.attrs,
                        origin: c.origin,
                    }
                })
                .collect();
            components.sort_by(|a, b| a.name.cmp(&b.name));
            PipelinePlan {
                name: p.name,
                components,
                tests: p.tests,
            }
        })
        .collect();
    pipelines.sort_by(|a, b| a.name.cmp(&b.name));
    Plan { pipelines }
}
