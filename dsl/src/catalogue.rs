//! The component catalogue: every component type, its attributes, their types and
//! their documentation, declared once in code.
//!
//! Each component (in `connectors/`, `models/`, ...) declares a static
//! [`ComponentSpec`] beside its config type and run loop. The CLI gathers them into a
//! [`Catalogue`]; the checker, `pipectl validate` and the generated reference in
//! `docs/reference/` all read that one list, so the documentation cannot drift from
//! the code.

use crate::plan::ComponentKind;

/// The type an attribute's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// Text; `env()` and `secret()` are accepted too.
    String,
    /// A whole number.
    Int,
    /// A number (whole numbers are accepted).
    Float,
    Bool,
    /// `90s`, `15m`, `14d`, `250ms`.
    Duration,
    /// `512B`, `64KiB`, `10MiB`, `1GB`.
    Size,
    /// A string holding a regular expression, compiled at check time.
    Regex,
    /// A string naming a file or directory.
    Path,
    /// One of the listed words, written as a string.
    Enum(&'static [&'static str]),
    /// A condition or computed value in the expression language.
    Expr,
    /// A field path such as `user.name`.
    Field,
    /// A Rhai script (usually a raw `'''` string), compiled at check time.
    Script,
    /// A call such as `novelty(event.action)`; the allowed function names are listed.
    Call(&'static [&'static str]),
    /// A list whose items all have the inner type.
    List(&'static AttrType),
    /// A map from identifiers to values of the inner type.
    Map(&'static AttrType),
    /// A reference to a component's output (`name` or `name.port`).
    Ref,
}

impl AttrType {
    /// How the type reads in messages and in the reference.
    pub fn describe(&self) -> String {
        match self {
            AttrType::String => "string".into(),
            AttrType::Int => "integer".into(),
            AttrType::Float => "number".into(),
            AttrType::Bool => "boolean".into(),
            AttrType::Duration => "duration (e.g. 90s, 15m, 14d)".into(),
            AttrType::Size => "size (e.g. 64KiB, 10MiB)".into(),
            AttrType::Regex => "regular expression (string)".into(),
            AttrType::Path => "path (string)".into(),
            AttrType::Enum(words) => {
                let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            AttrType::Expr => "expression".into(),
            AttrType::Field => "field path (e.g. user.name)".into(),
            AttrType::Script => "Rhai script (string)".into(),
            AttrType::Call(names) => format!("call of {}", names.join(", ")),
            AttrType::List(inner) => format!("list of {}", inner.describe()),
            AttrType::Map(inner) => format!("map of {}", inner.describe()),
            AttrType::Ref => "component reference".into(),
        }
    }
}

/// One attribute of a component.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    pub name: &'static str,
    pub ty: AttrType,
    pub required: bool,
    /// The default, written in the pipeline language (e.g. `"ndjson"`, `1MiB`, `true`);
    /// checked like user input and filled into the plan when the attribute is absent.
    pub default: Option<&'static str>,
    /// Whether the value is sensitive: redacted in plans and diffs, and a literal value
    /// draws a warning asking for `secret()`.
    pub sensitive: bool,
    pub doc: &'static str,
}

impl AttrSpec {
    /// An optional attribute without a default.
    pub const fn optional(name: &'static str, ty: AttrType, doc: &'static str) -> AttrSpec {
        AttrSpec {
            name,
            ty,
            required: false,
            default: None,
            sensitive: false,
            doc,
        }
    }

    /// A required attribute.
    pub const fn required(name: &'static str, ty: AttrType, doc: &'static str) -> AttrSpec {
        AttrSpec {
            name,
            ty,
            required: true,
            default: None,
            sensitive: false,
            doc,
        }
    }

    /// An optional attribute with a default written in the language.
    pub const fn with_default(
        name: &'static str,
        ty: AttrType,
        default: &'static str,
        doc: &'static str,
    ) -> AttrSpec {
        AttrSpec {
            name,
            ty,
            required: false,
            default: Some(default),
            sensitive: false,
            doc,
        }
    }

    /// Marks the attribute as sensitive.
    pub const fn sensitive(mut self) -> AttrSpec {
        self.sensitive = true;
        self
    }
}

/// One component type.
#[derive(Debug, Clone, Copy)]
pub struct ComponentSpec {
    pub kind: ComponentKind,
    pub type_name: &'static str,
    /// One sentence: what the component is for.
    pub summary: &'static str,
    /// Attributes other than `inputs` (which every non-source takes).
    pub attrs: &'static [AttrSpec],
    /// Named outputs every instance offers besides the default one (e.g. `errors`).
    pub fixed_outputs: &'static [&'static str],
    /// A map attribute whose keys become named outputs (e.g. `route`'s `routes`).
    pub outputs_from: Option<&'static str>,
}

impl ComponentSpec {
    pub fn attr(&self, name: &str) -> Option<&'static AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// The set of component types a configuration may use.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    specs: Vec<&'static ComponentSpec>,
}

impl Catalogue {
    pub fn new(mut specs: Vec<&'static ComponentSpec>) -> Catalogue {
        specs.sort_by_key(|s| (s.kind, s.type_name));
        Catalogue { specs }
    }

    /// Adds more specs (for example from another crate).
    pub fn extend(&mut self, more: impl IntoIterator<Item = &'static ComponentSpec>) {
        self.specs.extend(more);
        self.specs.sort_by_key(|s| (s.kind, s.type_name));
    }

    pub fn get(&self, kind: ComponentKind, type_name: &str) -> Option<&'static ComponentSpec> {
        self.specs
            .iter()
            .copied()
            .find(|s| s.kind == kind && s.type_name == type_name)
    }

    /// The type names of one kind, for "did you mean" and for the reference.
    pub fn type_names(&self, kind: ComponentKind) -> impl Iterator<Item = &'static str> + '_ {
        self.specs
            .iter()
            .filter(move |s| s.kind == kind)
            .map(|s| s.type_name)
    }

    /// Every spec, sorted by kind then type name.
    pub fn specs(&self) -> &[&'static ComponentSpec] {
        &self.specs
    }
}
