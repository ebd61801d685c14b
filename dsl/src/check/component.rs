//! One component block against its catalogue entry: unknown, duplicate and missing
//! attributes, `inputs`, values against their types, catalogue defaults, and the
//! output ports the component offers.

use super::value::{AttrInfo, Lowerer};
use crate::ast::{Member, ValueKind};
use crate::catalogue::{AttrType, Catalogue, ComponentSpec};
use crate::codes;
use crate::diag::{Diagnostic, Span};
use crate::parse::parse_value;
use crate::plan::{ComponentKind, OutputRef, PlanValue};
use crate::suggest;
use std::collections::BTreeMap;

/// The attribute every non-source takes besides those in its spec.
pub const INPUTS: &str = "inputs";

/// What checking a component yields.
#[derive(Debug, Default)]
pub struct ComponentAttrs {
    /// Every attribute but `inputs`, defaults filled in.
    pub attrs: BTreeMap<String, PlanValue>,
    /// The `inputs` references, with where each was written.
    pub inputs: Vec<(OutputRef, Span)>,
    /// References in other attributes of type [`AttrType::Ref`].
    pub refs: Vec<(OutputRef, Span)>,
    /// Named outputs from the `outputs_from` map (a route's routes); `None` when
    /// they cannot be known (the attribute is not a map).
    pub route_ports: Option<Vec<String>>,
    /// Whether a component that needs inputs has a usable `inputs` list; when it does
    /// not, it may be the missing consumer of any output, so unused outputs are not
    /// reported.
    pub inputs_ok: bool,
}

/// Checks the attributes of `member`, a component of `kind` described by `spec`.
pub fn check_component(
    member: &Member,
    kind: ComponentKind,
    spec: &'static ComponentSpec,
    src: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> ComponentAttrs {
    let mut out = ComponentAttrs::default();
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    let mut has_inputs = false;
    let mut lw = Lowerer::new(diagnostics, src);
    out.inputs_ok = !kind.takes_inputs();
    for attr in &member.attributes {
        let key = attr.key.name.as_str();
        if let Some(target) = &attr.target {
            lw.push(
                Diagnostic::error(
                    codes::BAD_BLOCK,
                    target.span,
                    format!("unexpected `{}` after `{key}`", target.text),
                )
                .with_label("unexpected")
                .with_help("component attributes are written `key = value`"),
            );
            continue;
        }
        if let Some(first) = seen.get(key) {
            lw.push(
                Diagnostic::error(
                    codes::DUPLICATE_ATTRIBUTE,
                    attr.key.span,
                    format!("`{key}` is set twice"),
                )
                .with_label("set again")
                .with_secondary(*first, "first set here")
                .with_help("remove one of them"),
            );
            continue;
        }
        seen.insert(key, attr.key.span);
        if key == INPUTS {
            has_inputs = true;
            if kind.takes_inputs() {
                let errors_before = lw.diagnostics.len();
                out.inputs = inputs(&mut lw, &attr.value);
                out.inputs_ok = lw.diagnostics.len() == errors_before;
            } else {
                lw.push(
                    Diagnostic::error(
                        codes::INPUTS_ON_SOURCE,
                        attr.key.span,
                        "a source takes no `inputs`",
                    )
                    .with_label("sources produce events, they do not read other components")
                    .with_help("remove `inputs`, or make this a transform"),
                );
            }
            continue;
        }
        let Some(attr_spec) = spec.attr(key) else {
            let mut names: Vec<&str> = spec.attrs.iter().map(|a| a.name).collect();
            if kind.takes_inputs() {
                names.push(INPUTS);
            }
            lw.push(
                Diagnostic::error(
                    codes::UNKNOWN_ATTRIBUTE,
                    attr.key.span,
                    format!("unknown attribute `{key}` for {kind} `{}`", spec.type_name),
                )
                .with_label("not an attribute of this component")
                .with_help_opt(suggest::help(key, names)),
            );
            continue;
        };
        let info = AttrInfo {
            name: attr_spec.name,
            sensitive: attr_spec.sensitive,
        };
        if let Some(v) = lw.typed(&attr.value, &attr_spec.ty, info) {
            out.attrs.insert(key.to_string(), v);
        }
    }
    out.refs = std::mem::take(&mut lw.refs);

    let header = member
        .type_name
        .as_ref()
        .map_or(member.label.span, |t| t.span);
    for attr_spec in spec.attrs {
        if seen.contains_key(attr_spec.name) {
            continue;
        }
        if attr_spec.required {
            lw.push(
                Diagnostic::error(
                    codes::MISSING_ATTRIBUTE,
                    member.label.span,
                    format!("missing required attribute `{}`", attr_spec.name),
                )
                .with_label(format!(
                    "{kind} `{}` needs `{}`",
                    spec.type_name, attr_spec.name
                ))
                .with_help(format!(
                    "add `{} = ...`, of type {}",
                    attr_spec.name,
                    attr_spec.ty.describe()
                )),
            );
        } else if let Some(default) = attr_spec.default {
            match default_value(default, &attr_spec.ty, attr_spec.name) {
                Ok(v) => {
                    out.attrs.insert(attr_spec.name.to_string(), v);
                }
                Err(why) => lw.push(
                    Diagnostic::error(
                        codes::BAD_DEFAULT,
                        header,
                        format!(
                            "the default `{default}` of `{}` does not check: {why}",
                            attr_spec.name
                        ),
                    )
                    .with_label("in the catalogue entry of this component")
                    .with_note(format!(
                        "this is a bug in the `{}` {kind} component, not in this file",
                        spec.type_name
                    )),
                ),
            }
        }
    }
    if kind.takes_inputs() && !has_inputs {
        lw.push(
            Diagnostic::error(
                codes::NO_INPUTS,
                member.label.span,
                format!("{kind} `{}` has no inputs", member.label.value),
            )
            .with_label("reads from nothing")
            .with_help("add `inputs = [...]` naming the components it reads from"),
        );
    }
    out.route_ports = route_ports(&mut lw, member, spec);
    out
}

/// `inputs = [a, b.errors]`: a non-empty list of references.
fn inputs(lw: &mut Lowerer, value: &crate::ast::Value) -> Vec<(OutputRef, Span)> {
    let items = match &value.kind {
        ValueKind::List(items) => items,
        _ => {
            let info = AttrInfo {
                name: INPUTS,
                sensitive: false,
            };
            static REFS: AttrType = AttrType::List(&AttrType::Ref);
            let _ = lw.typed(value, &REFS, info);
            return Vec::new();
        }
    };
    if items.is_empty() {
        lw.push(
            Diagnostic::error(codes::NO_INPUTS, value.span, "`inputs` is empty")
                .with_label("no inputs")
                .with_help("name the components this one reads from, e.g. `inputs = [parse]`"),
        );
        return Vec::new();
    }
    let mut refs = Vec::new();
    for item in items {
        let info = AttrInfo {
            name: INPUTS,
            sensitive: false,
        };
        let before = lw.refs.len();
        if lw.typed(item, &AttrType::Ref, info).is_some() {
            refs.extend(lw.refs.drain(before..));
        }
    }
    refs
}

/// The keys of the `outputs_from` map as written, each a valid port name that does not
/// clash with a fixed output. Taken from the syntax, so an error in one route's
/// condition does not make references to the routes look wrong too.
fn route_ports(lw: &mut Lowerer, member: &Member, spec: &ComponentSpec) -> Option<Vec<String>> {
    let Some(from) = spec.outputs_from else {
        return Some(Vec::new());
    };
    let Some(attr) = member
        .attributes
        .iter()
        .find(|a| a.key.name == from && a.target.is_none())
    else {
        return Some(Vec::new());
    };
    let ValueKind::Map(entries) = &attr.value.kind else {
        return None;
    };
    let mut ports: Vec<String> = Vec::new();
    for entry in entries {
        let key = &entry.key;
        if ports.contains(key) {
            continue;
        }
        if !is_port_name(key) {
            lw.push(
                Diagnostic::error(codes::BAD_PORT_NAME, entry.key_span, format!("`{key}` cannot name an output"))
                    .with_label("becomes an output name")
                    .with_help("output names are identifiers (letters, digits and `_`) so they can be referenced as `component.name`"),
            );
        } else if spec.fixed_outputs.contains(&key.as_str()) {
            lw.push(
                Diagnostic::error(
                    codes::BAD_PORT_NAME,
                    entry.key_span,
                    format!(
                        "`{key}` clashes with the fixed output `{key}` of `{}`",
                        spec.type_name
                    ),
                )
                .with_label("already an output")
                .with_help("choose another name"),
            );
        } else {
            ports.push(key.clone());
        }
    }
    Some(ports)
}

fn is_port_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A catalogue default, parsed and checked like user input.
pub fn default_value(text: &str, ty: &AttrType, name: &str) -> Result<PlanValue, String> {
    let value = parse_value(usize::MAX, text).map_err(|ds| {
        ds.first()
            .map_or_else(|| "does not parse".to_string(), |d| d.message.clone())
    })?;
    let mut diagnostics = Vec::new();
    let mut lw = Lowerer::new(&mut diagnostics, text);
    let info = AttrInfo {
        name,
        sensitive: false,
    };
    let lowered = lw.typed(&value, ty, info);
    match (lowered, diagnostics.iter().find(|d| d.is_error())) {
        (Some(v), None) => Ok(v),
        (_, Some(d)) => Err(d.message.clone()),
        (None, None) => Err("does not check".to_string()),
    }
}

/// Problems in the catalogue itself: defaults that do not check, `outputs_from` that
/// names no map attribute, attributes declared twice or named `inputs`, required
/// attributes with defaults. Components call this in their tests; the checker relies
/// on a sound catalogue.
pub fn catalogue_errors(catalogue: &Catalogue) -> Vec<String> {
    let mut errors = Vec::new();
    for spec in catalogue.specs() {
        let who = format!("{} `{}`", spec.kind, spec.type_name);
        let mut names = std::collections::BTreeSet::new();
        for attr in spec.attrs {
            if !names.insert(attr.name) {
                errors.push(format!(
                    "{who}: attribute `{}` is declared twice",
                    attr.name
                ));
            }
            if attr.name == INPUTS {
                errors.push(format!(
                    "{who}: `inputs` is implicit and must not be declared"
                ));
            }
            if attr.required && attr.default.is_some() {
                errors.push(format!(
                    "{who}: `{}` is required but has a default",
                    attr.name
                ));
            }
            if let Some(default) = attr.default {
                if let Err(why) = default_value(default, &attr.ty, attr.name) {
                    errors.push(format!(
                        "{who}: the default `{default}` of `{}` does not check: {why}",
                        attr.name
                    ));
                }
            }
        }
        if let Some(from) = spec.outputs_from {
            if !matches!(spec.attr(from).map(|a| a.ty), Some(AttrType::Map(_))) {
                errors.push(format!(
                    "{who}: `outputs_from` names `{from}`, which is not a map attribute"
                ));
            }
        }
    }
    errors
}

/// Words with a meaning in expressions, which cannot be referenced bare.
pub const RESERVED: [&str; 4] = ["true", "false", "null", "in"];

/// The label of a component must be usable as a bare reference.
pub fn is_component_name(name: &str) -> bool {
    if RESERVED.contains(&name) {
        return false;
    }
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A valid name close to `name`, to suggest: lower case, other characters as `_`.
pub fn component_name_like(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}
