//! How `pipectl replay` cuts a pipeline: the archive stands in for some components (by
//! default the `normalise` transforms, whose output is what archives hold); the stages
//! below them run in process, in order, so the replay is deterministic; the sinks and
//! responders run for real, fed by what those stages emit.
//!
//! Sources never run in a replay, and neither does anything that only they feed.
//! Responders run with `dry_run` (they record what they would do) unless the replay is
//! told to act: a replay of last month must not disable a key today by accident.

use pipectl_dsl::plan::{ComponentKind, ComponentPlan, OutputRef, PipelinePlan, PlanValue};
use std::collections::{BTreeMap, BTreeSet};

/// The name the archive's stream goes by inside the cut pipeline when one stream
/// stands in for every stand-in (an archive of normalised events). Root names start
/// with `@`, which no component name can.
pub const ARCHIVE: &str = "@archive";

/// The root a stand-in's own stream goes by (a raw archive standing in for one source).
pub fn own_root(stand_in: &str) -> String {
    format!("@{stand_in}")
}

/// A pipeline cut for replay.
pub struct Cut {
    /// The components that run in process below the archive, inputs rewritten (a read
    /// of a stand-in reads [`ARCHIVE`]).
    pub stages: Vec<ComponentPlan>,
    /// The sinks, responders and what reads responders, plus one `replay_feed` source per
    /// output they read from the in-process part; empty when nothing is written.
    pub tail: PipelinePlan,
    /// Each feed: the output it carries (component or root, port) and its name.
    pub feeds: Vec<(OutputRef, String)>,
    /// Components that do not run because nothing the archive feeds reaches them.
    pub left_out: Vec<String>,
}

/// The default stand-ins: the `normalise` transforms, or the sources when there are none.
pub fn default_stand_ins(pipeline: &PipelinePlan) -> Vec<String> {
    let normalisers: Vec<String> = pipeline
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Transform && c.type_name == "normalise")
        .map(|c| c.name.clone())
        .collect();
    if !normalisers.is_empty() {
        return normalisers;
    }
    pipeline
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Source)
        .map(|c| c.name.clone())
        .collect()
}

/// Cuts `pipeline` below its stand-ins, each given with the root whose stream stands
/// in for it ([`ARCHIVE`] for all, or each its [`own_root`]).
pub fn cut(
    pipeline: &PipelinePlan,
    stand_ins: &[(String, String)],
    act: bool,
) -> Result<Cut, String> {
    for (name, _) in stand_ins {
        let Some(component) = pipeline.components.iter().find(|c| &c.name == name) else {
            return Err(format!(
                "--as {name}: pipeline `{}` has no component `{name}`",
                pipeline.name
            ));
        };
        if matches!(component.kind, ComponentKind::Sink | ComponentKind::Respond) {
            return Err(format!(
                "--as {name}: a {:?} emits nothing for the archive to stand in for; name a source or a stage",
                component.kind
            ));
        }
    }
    let root_of = |name: &str| {
        stand_ins
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, root)| root.clone())
    };
    let is_stand_in = |name: &str| root_of(name).is_some();
    // Rewrite inputs: a stand-in's default output is the archive; a stand-in's other
    // ports and every source bring nothing.
    let mut components: Vec<ComponentPlan> = pipeline
        .components
        .iter()
        .filter(|c| c.kind != ComponentKind::Source && !is_stand_in(&c.name))
        .cloned()
        .collect();
    let sources: BTreeSet<&str> = pipeline
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Source)
        .map(|c| c.name.as_str())
        .collect();
    for component in &mut components {
        let mut inputs: Vec<OutputRef> = Vec::new();
        for input in &component.inputs {
            let rewritten = if let Some(root) = root_of(&input.component) {
                input.port.is_none().then_some(OutputRef {
                    component: root,
                    port: None,
                })
            } else if sources.contains(input.component.as_str()) {
                None
            } else {
                Some(input.clone())
            };
            if let Some(r) = rewritten {
                if !inputs.contains(&r) {
                    inputs.push(r);
                }
            }
        }
        component.inputs = inputs;
    }
    // Keep what the archive reaches.
    let mut reached: BTreeSet<String> = stand_ins.iter().map(|(_, root)| root.clone()).collect();
    loop {
        let before = reached.len();
        for c in &components {
            if c.inputs.iter().any(|i| reached.contains(&i.component)) {
                reached.insert(c.name.clone());
            }
        }
        if reached.len() == before {
            break;
        }
    }
    let mut left_out: Vec<String> = pipeline
        .components
        .iter()
        .filter(|c| c.kind != ComponentKind::Source && !is_stand_in(&c.name))
        .filter(|c| !reached.contains(&c.name))
        .map(|c| c.name.clone())
        .collect();
    left_out.sort();
    components.retain(|c| reached.contains(&c.name));
    for c in &mut components {
        c.inputs.retain(|i| reached.contains(&i.component));
    }
    // The tail: sinks, responders and everything downstream of a responder.
    let mut tail_names: BTreeSet<String> = components
        .iter()
        .filter(|c| matches!(c.kind, ComponentKind::Sink | ComponentKind::Respond))
        .map(|c| c.name.clone())
        .collect();
    // Sinks have no outputs, so what reads a tail component reads a responder (or
    // something downstream of one).
    loop {
        let before = tail_names.len();
        for c in &components {
            if c.inputs.iter().any(|i| tail_names.contains(&i.component)) {
                tail_names.insert(c.name.clone());
            }
        }
        if tail_names.len() == before {
            break;
        }
    }
    let (mut tail, stages): (Vec<ComponentPlan>, Vec<ComponentPlan>) = components
        .into_iter()
        .partition(|c| tail_names.contains(&c.name));
    let mut feeds: Vec<(OutputRef, String)> = Vec::new();
    for component in &mut tail {
        if component.kind == ComponentKind::Respond && !act {
            component
                .attrs
                .insert("dry_run".to_string(), PlanValue::Bool(true));
        }
        for input in &mut component.inputs {
            if tail_names.contains(&input.component) {
                continue;
            }
            let name = feed_name(input);
            if !feeds.iter().any(|(_, n)| n == &name) {
                feeds.push((input.clone(), name.clone()));
            }
            *input = OutputRef {
                component: name,
                port: None,
            };
        }
        component.inputs.sort();
        component.inputs.dedup();
    }
    for (_, name) in &feeds {
        tail.push(ComponentPlan {
            name: name.clone(),
            kind: ComponentKind::Source,
            type_name: super::feed::TYPE_NAME.to_string(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            attrs: BTreeMap::new(),
            origin: "pipectl replay".to_string(),
        });
    }
    tail.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Cut {
        stages,
        tail: PipelinePlan {
            name: pipeline.name.clone(),
            components: tail,
            tests: Vec::new(),
        },
        feeds,
        left_out,
    })
}

/// A feed's component name, `replay:<component>[.<port>]` (a root's without its `@`):
/// the colon keeps it apart from every name a pipeline file can give.
fn feed_name(output: &OutputRef) -> String {
    let component = output
        .component
        .strip_prefix('@')
        .unwrap_or(&output.component);
    match &output.port {
        Some(port) => format!("replay:{component}.{port}"),
        None => format!("replay:{component}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(
        name: &str,
        kind: ComponentKind,
        type_name: &str,
        inputs: &[&str],
    ) -> ComponentPlan {
        ComponentPlan {
            name: name.into(),
            kind,
            type_name: type_name.into(),
            inputs: inputs
                .iter()
                .map(|i| match i.split_once('.') {
                    Some((c, p)) => OutputRef {
                        component: c.into(),
                        port: Some(p.into()),
                    },
                    None => OutputRef {
                        component: (*i).into(),
                        port: None,
                    },
                })
                .collect(),
            outputs: Vec::new(),
            attrs: BTreeMap::new(),
            origin: "test.pipe:1".into(),
        }
    }

    fn pipeline() -> PipelinePlan {
        use ComponentKind::*;
        PipelinePlan {
            name: "p".into(),
            components: vec![
                component("raw_a", Source, "file", &[]),
                component("raw_b", Source, "okta", &[]),
                component("parse_a", Transform, "parse", &["raw_a"]),
                component("norm_a", Transform, "normalise", &["parse_a"]),
                component("norm_b", Transform, "normalise", &["raw_b"]),
                component("model", Model, "behaviour", &["norm_a", "norm_b"]),
                component("incidents", Correlate, "threat", &["model"]),
                component("contain", Respond, "aws", &["incidents"]),
                component("actions_log", Sink, "file", &["contain"]),
                component("index", Sink, "opensearch", &["norm_a", "incidents"]),
                component("errors", Sink, "file", &["norm_a.errors", "raw_b"]),
            ],
            tests: Vec::new(),
        }
    }

    #[test]
    fn the_archive_stands_in_for_the_normalisers_and_feeds_the_real_sinks() {
        let pipeline = pipeline();
        let stand_ins = default_stand_ins(&pipeline);
        assert_eq!(stand_ins, ["norm_a", "norm_b"]);
        let shared: Vec<(String, String)> = stand_ins
            .iter()
            .map(|s| (s.clone(), ARCHIVE.to_string()))
            .collect();
        let cut = cut(&pipeline, &shared, false).unwrap();
        let stages: Vec<&str> = cut.stages.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(stages, ["model", "incidents"]);
        // The model reads the archive once, not once per normaliser.
        assert_eq!(
            cut.stages[0].inputs,
            [OutputRef {
                component: ARCHIVE.into(),
                port: None
            }]
        );
        let tail: Vec<&str> = cut
            .tail
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            tail,
            [
                "actions_log",
                "contain",
                "index",
                "replay:archive",
                "replay:incidents"
            ]
        );
        let index = cut
            .tail
            .components
            .iter()
            .find(|c| c.name == "index")
            .unwrap();
        let inputs: Vec<&str> = index.inputs.iter().map(|i| i.component.as_str()).collect();
        assert_eq!(inputs, ["replay:archive", "replay:incidents"]);
        // Nothing feeds the error sink in a replay; parse_a only reads a source.
        assert_eq!(cut.left_out, ["errors", "parse_a"]);
        let contain = cut
            .tail
            .components
            .iter()
            .find(|c| c.name == "contain")
            .unwrap();
        assert_eq!(contain.attr("dry_run"), Some(&PlanValue::Bool(true)));
        let acting = super::cut(&pipeline, &shared, true).unwrap();
        let contain = acting
            .tail
            .components
            .iter()
            .find(|c| c.name == "contain")
            .unwrap();
        assert_eq!(contain.attr("dry_run"), None);
    }

    #[test]
    fn raw_archives_stand_in_for_their_own_sources() {
        let pipeline = pipeline();
        let roots = [
            ("raw_a".to_string(), own_root("raw_a")),
            ("raw_b".to_string(), own_root("raw_b")),
        ];
        let cut = cut(&pipeline, &roots, false).unwrap();
        let stages: Vec<&str> = cut.stages.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            stages,
            ["parse_a", "norm_a", "norm_b", "model", "incidents"]
        );
        let norm_b = cut.stages.iter().find(|c| c.name == "norm_b").unwrap();
        assert_eq!(norm_b.inputs[0].component, "@raw_b");
        // The error sink reads a normaliser's port and a raw stream.
        let errors = cut
            .tail
            .components
            .iter()
            .find(|c| c.name == "errors")
            .unwrap();
        let inputs: Vec<&str> = errors.inputs.iter().map(|i| i.component.as_str()).collect();
        assert_eq!(inputs, ["replay:norm_a.errors", "replay:raw_b"]);
        assert!(cut.left_out.is_empty(), "{:?}", cut.left_out);
    }

    #[test]
    fn stand_ins_must_exist_and_emit() {
        let pipeline = pipeline();
        let one = |name: &str| [(name.to_string(), ARCHIVE.to_string())];
        let unknown = cut(&pipeline, &one("nope"), false).err().unwrap();
        assert!(unknown.contains("no component `nope`"), "{unknown}");
        let sink = cut(&pipeline, &one("index"), false).err().unwrap();
        assert!(sink.contains("emits nothing"), "{sink}");
    }
}
