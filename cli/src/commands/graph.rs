//! `pipectl graph`: the compiled graph in Graphviz DOT, for reviews and docs.

use super::{check, PathArgs};
use crate::exit::Exit;
use pipectl_dsl::plan::{ComponentKind, Plan};
use std::fmt::Write;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    paths: PathArgs,
}

pub fn run(args: Args) -> Result<(), Exit> {
    let checked = check(&args.paths)?;
    print!("{}", to_dot(&checked.plan));
    Ok(())
}

fn shape(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Source => "invhouse",
        ComponentKind::Sink | ComponentKind::Respond => "house",
        ComponentKind::Model | ComponentKind::Detect | ComponentKind::Correlate => "hexagon",
        ComponentKind::Transform => "box",
    }
}

/// Quotes a DOT identifier.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Renders the plan: one cluster per pipeline, one node per component, one edge per
/// input (labelled with the port when it is not the default output).
pub fn to_dot(plan: &Plan) -> String {
    let mut out =
        String::from("digraph pipectl {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for pipeline in &plan.pipelines {
        let _ = writeln!(
            out,
            "  subgraph {} {{",
            quoted(&format!("cluster_{}", pipeline.name))
        );
        let _ = writeln!(out, "    label={};", quoted(&pipeline.name));
        for c in &pipeline.components {
            let id = quoted(&format!("{}.{}", pipeline.name, c.name));
            let label = quoted(&format!("{}\\n{} {}", c.name, c.kind, c.type_name));
            let _ = writeln!(out, "    {id} [label={label}, shape={}];", shape(c.kind));
        }
        for c in &pipeline.components {
            for input in &c.inputs {
                let from = quoted(&format!("{}.{}", pipeline.name, input.component));
                let to = quoted(&format!("{}.{}", pipeline.name, c.name));
                match &input.port {
                    Some(port) => {
                        let _ = writeln!(out, "    {from} -> {to} [label={}];", quoted(port));
                    }
                    None => {
                        let _ = writeln!(out, "    {from} -> {to};");
                    }
                }
            }
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}
