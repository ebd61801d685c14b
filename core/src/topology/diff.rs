//! What changes between two plans, component by component.
//!
//! Components are matched by (pipeline, name). One is *changed* when its kind, type,
//! attributes, inputs or outputs differ; where it is declared (`origin`) does not
//! count, so moving a block between files restarts nothing. Attribute values are
//! rendered as the language writes them; `secret("name")` stays a reference (a plan
//! never holds a secret's value), so a diff can be printed and logged safely.

use pipectl_dsl::plan::{ComponentKind, ComponentPlan, Plan, PlanValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A component's identity across plans.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ComponentId {
    pub pipeline: String,
    pub component: String,
}

impl std::fmt::Display for ComponentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.pipeline, self.component)
    }
}

/// The difference between what runs and a new plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanDiff {
    pub added: Vec<ComponentChange>,
    pub changed: Vec<ComponentChange>,
    pub removed: Vec<ComponentChange>,
    /// How many components stay as they are.
    pub unchanged: usize,
}

/// One added, changed or removed component and its attribute differences (for an
/// added component every attribute is new; for a removed one every attribute goes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentChange {
    pub id: ComponentId,
    pub kind: ComponentKind,
    pub type_name: String,
    pub attrs: Vec<AttrChange>,
}

/// One attribute before and after, rendered; `None` when absent on that side. The
/// pseudo-attributes `type`, `inputs` and `outputs` describe the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl PlanDiff {
    /// Whether applying the new plan would change anything.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Every component of a plan by identity.
pub(super) fn components(plan: &Plan) -> BTreeMap<ComponentId, &ComponentPlan> {
    plan.pipelines
        .iter()
        .flat_map(|p| {
            p.components.iter().map(move |c| {
                (
                    ComponentId {
                        pipeline: p.name.clone(),
                        component: c.name.clone(),
                    },
                    c,
                )
            })
        })
        .collect()
}

/// Whether a component must restart to go from `old` to `new`.
pub(super) fn same_component(old: &ComponentPlan, new: &ComponentPlan) -> bool {
    old.kind == new.kind
        && old.type_name == new.type_name
        && old.attrs == new.attrs
        && old.inputs == new.inputs
        && old.outputs == new.outputs
}

/// The difference between `old` (what runs) and `new`.
pub fn diff_plans(old: &Plan, new: &Plan) -> PlanDiff {
    let before = components(old);
    let after = components(new);
    let mut diff = PlanDiff::default();
    for (id, new_c) in &after {
        match before.get(id) {
            None => diff.added.push(change(id, new_c, None, Some(new_c))),
            Some(old_c) if same_component(old_c, new_c) => diff.unchanged += 1,
            Some(old_c) => diff
                .changed
                .push(change(id, new_c, Some(old_c), Some(new_c))),
        }
    }
    for (id, old_c) in &before {
        if !after.contains_key(id) {
            diff.removed.push(change(id, old_c, Some(old_c), None));
        }
    }
    diff
}

/// `shown` names the kind and type reported: the new side when there is one.
fn change(
    id: &ComponentId,
    shown: &ComponentPlan,
    old: Option<&ComponentPlan>,
    new: Option<&ComponentPlan>,
) -> ComponentChange {
    let mut attrs = Vec::new();
    let mut compare = |name: &str, before: Option<String>, after: Option<String>| {
        if before != after {
            attrs.push(AttrChange {
                name: name.to_string(),
                before,
                after,
            });
        }
    };
    compare(
        "type",
        old.map(|c| format!("{} {}", c.kind.keyword(), c.type_name)),
        new.map(|c| format!("{} {}", c.kind.keyword(), c.type_name)),
    );
    let refs = |c: &ComponentPlan| {
        (!c.inputs.is_empty()).then(|| {
            let names: Vec<String> = c.inputs.iter().map(ToString::to_string).collect();
            format!("[{}]", names.join(", "))
        })
    };
    compare("inputs", old.and_then(refs), new.and_then(refs));
    let outs =
        |c: &ComponentPlan| (!c.outputs.is_empty()).then(|| format!("[{}]", c.outputs.join(", ")));
    compare("outputs", old.and_then(outs), new.and_then(outs));
    let empty = BTreeMap::new();
    let old_attrs = old.map_or(&empty, |c| &c.attrs);
    let new_attrs = new.map_or(&empty, |c| &c.attrs);
    let mut names: Vec<&String> = old_attrs.keys().chain(new_attrs.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        compare(
            name,
            old_attrs.get(name).map(render_value),
            new_attrs.get(name).map(render_value),
        );
    }
    ComponentChange {
        id: id.clone(),
        kind: shown.kind,
        type_name: shown.type_name.clone(),
        attrs,
    }
}

/// A value as the pipeline language writes it. Secrets stay `secret("name")`.
pub fn render_value(value: &PlanValue) -> String {
    let mut out = String::new();
    render_into(value, &mut out);
    out
}

fn render_into(value: &PlanValue, out: &mut String) {
    match value {
        PlanValue::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        PlanValue::Int(n) => {
            let _ = write!(out, "{n}");
        }
        PlanValue::Float(x) => {
            let _ = write!(out, "{x}");
        }
        PlanValue::String(s) => {
            let _ = write!(out, "{s:?}");
        }
        PlanValue::Duration(ms) => {
            let _ = write!(out, "{ms}ms");
        }
        PlanValue::Size(bytes) => {
            let _ = write!(out, "{bytes}B");
        }
        PlanValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_into(item, out);
            }
            out.push(']');
        }
        PlanValue::Map(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{key} = ");
                render_into(item, out);
            }
            out.push('}');
        }
        PlanValue::Env { name, default } => {
            let _ = match default {
                Some(d) => write!(out, "env({name:?}, {d:?})"),
                None => write!(out, "env({name:?})"),
            };
        }
        PlanValue::Secret { name } => {
            let _ = write!(out, "secret({name:?})");
        }
        PlanValue::Field(path) => {
            let _ = write!(out, "{path}");
        }
        PlanValue::Expr(expr) => {
            let _ = write!(out, "{expr}");
        }
        PlanValue::Call { name, args, named } => {
            let _ = write!(out, "{name}(");
            let mut first = true;
            for arg in args {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                render_into(arg, out);
            }
            for (key, arg) in named {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                let _ = write!(out, "{key} = ");
                render_into(arg, out);
            }
            out.push(')');
        }
        PlanValue::Ref(r) => {
            let _ = write!(out, "{r}");
        }
    }
}
