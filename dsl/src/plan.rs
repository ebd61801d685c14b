//! The compiled plan: the checked, fully resolved form of a configuration that the
//! runtime consumes.
//!
//! The plan is the contract between the language and the runtime, so it is plain data:
//! serde-serialisable, free of spans and comments, and in a stable order (pipelines by
//! name, components by name, attributes by key). Two configurations that mean the same
//! thing — for example a file and its formatted version — compile to equal plans, which
//! is what lets `pipectl plan` diff what runs against what is on disk.
//!
//! Secrets and environment lookups stay symbolic (`PlanValue::Secret`,
//! `PlanValue::Env`): a plan can be printed, stored and diffed without leaking a value.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A whole configuration: every pipeline found in the given files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Plan {
    /// Sorted by name.
    pub pipelines: Vec<PipelinePlan>,
}

/// One `pipeline "name" { ... }` (blocks of the same name across files are merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelinePlan {
    pub name: String,
    /// Sorted by name; names are unique within a pipeline.
    pub components: Vec<ComponentPlan>,
    /// Inline `test` blocks, in source order.
    pub tests: Vec<TestPlan>,
}

/// The role a component plays in the graph; it is the block keyword in the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Source,
    Transform,
    Model,
    Detect,
    Correlate,
    Sink,
    Respond,
}

impl ComponentKind {
    /// Every kind, in the order the reference documentation lists them.
    pub const ALL: [ComponentKind; 7] = [
        ComponentKind::Source,
        ComponentKind::Transform,
        ComponentKind::Model,
        ComponentKind::Detect,
        ComponentKind::Correlate,
        ComponentKind::Sink,
        ComponentKind::Respond,
    ];

    /// The block keyword, e.g. `source`.
    pub fn keyword(self) -> &'static str {
        match self {
            ComponentKind::Source => "source",
            ComponentKind::Transform => "transform",
            ComponentKind::Model => "model",
            ComponentKind::Detect => "detect",
            ComponentKind::Correlate => "correlate",
            ComponentKind::Sink => "sink",
            ComponentKind::Respond => "respond",
        }
    }

    /// Parses a block keyword.
    pub fn from_keyword(word: &str) -> Option<ComponentKind> {
        ComponentKind::ALL.into_iter().find(|k| k.keyword() == word)
    }

    /// Whether components of this kind consume events (everything but sources).
    pub fn takes_inputs(self) -> bool {
        self != ComponentKind::Source
    }

    /// Whether components of this kind emit events others can consume.
    pub fn has_outputs(self) -> bool {
        !matches!(self, ComponentKind::Sink)
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// One component, checked and resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentPlan {
    /// The block label, unique in the pipeline, a valid identifier.
    pub name: String,
    pub kind: ComponentKind,
    /// The component type, e.g. `file`, `script`, `opensearch`.
    pub type_name: String,
    /// Upstream outputs this component reads, sorted and de-duplicated.
    pub inputs: Vec<OutputRef>,
    /// The named outputs this component offers besides its default output (for
    /// example a `route`'s routes, or `errors`), sorted.
    pub outputs: Vec<String>,
    /// Every attribute but `inputs`, with defaults from the catalogue filled in.
    pub attrs: BTreeMap<String, PlanValue>,
    /// Where the block starts (`file:line`), for runtime messages.
    pub origin: String,
}

impl ComponentPlan {
    /// Looks up an attribute.
    pub fn attr(&self, key: &str) -> Option<&PlanValue> {
        self.attrs.get(key)
    }
}

/// A reference to a component's output: `name` (default output) or `name.port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutputRef {
    pub component: String,
    /// `None` for the default output.
    pub port: Option<String>,
}

impl fmt::Display for OutputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.port {
            Some(port) => write!(f, "{}.{}", self.component, port),
            None => f.write_str(&self.component),
        }
    }
}

/// An attribute value after checking against the catalogue's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum PlanValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Milliseconds.
    Duration(u64),
    /// Bytes.
    Size(u64),
    List(Vec<PlanValue>),
    /// Sorted by key.
    Map(BTreeMap<String, PlanValue>),
    /// `env("NAME", "default")`: resolved when the component is built, so the plan
    /// never holds the value.
    Env {
        name: String,
        default: Option<String>,
    },
    /// `secret("name")`: resolved from the secret store when the component is built;
    /// its value never appears in a plan, a log or an error.
    Secret {
        name: String,
    },
    /// A field path such as `user.name`.
    Field(FieldPath),
    /// A condition or computed value.
    Expr(Expr),
    /// A call whose arguments are values, such as `novelty(event.action)` or
    /// `volume(file.size, per = 1h)`.
    Call {
        name: String,
        args: Vec<PlanValue>,
        /// Named arguments, sorted by name.
        named: BTreeMap<String, PlanValue>,
    },
    /// A reference to another component's output.
    Ref(OutputRef),
}

impl PlanValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PlanValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PlanValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            PlanValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Durations in milliseconds.
    pub fn as_duration_ms(&self) -> Option<u64> {
        match self {
            PlanValue::Duration(ms) => Some(*ms),
            _ => None,
        }
    }

    /// Sizes in bytes.
    pub fn as_size(&self) -> Option<u64> {
        match self {
            PlanValue::Size(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[PlanValue]> {
        match self {
            PlanValue::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, PlanValue>> {
        match self {
            PlanValue::Map(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_expr(&self) -> Option<&Expr> {
        match self {
            PlanValue::Expr(e) => Some(e),
            _ => None,
        }
    }

    pub fn as_field(&self) -> Option<&FieldPath> {
        match self {
            PlanValue::Field(f) => Some(f),
            _ => None,
        }
    }
}

/// A path into an event: `user.name`, `@timestamp`, `tags[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldPath(pub Vec<PathSegment>);

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSegment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                PathSegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Comparison operators of the expression language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A literal inside an expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Milliseconds.
    Duration(u64),
    /// Bytes.
    Size(u64),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::String(s) => write!(f, "{s:?}"),
            Literal::Duration(ms) => write!(f, "{ms}ms"),
            Literal::Size(bytes) => write!(f, "{bytes}B"),
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

/// Expressions print in the language's syntax (operands of `&&`, `||` and `!`
/// parenthesised when they are themselves operations), for messages that quote a
/// condition back: a failed test expectation, a plan difference.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operand = |e: &Expr, f: &mut fmt::Formatter<'_>| match e {
            Expr::And(..)
            | Expr::Or(..)
            | Expr::Cmp { .. }
            | Expr::In { .. }
            | Expr::Match { .. } => {
                write!(f, "({e})")
            }
            _ => write!(f, "{e}"),
        };
        match self {
            Expr::Literal(l) => write!(f, "{l}"),
            Expr::Field(p) => write!(f, "{p}"),
            Expr::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Expr::Not(e) => {
                f.write_str("!")?;
                operand(e, f)
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                operand(a, f)?;
                f.write_str(if matches!(self, Expr::And(..)) {
                    " && "
                } else {
                    " || "
                })?;
                operand(b, f)
            }
            Expr::Cmp { op, lhs, rhs } => write!(f, "{lhs} {op} {rhs}"),
            Expr::In { lhs, rhs } => write!(f, "{lhs} in {rhs}"),
            Expr::Match { lhs, pattern } => write!(f, "{lhs} =~ {pattern:?}"),
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A test's check, as written: `contains(cond)`, `not_contains(cond)`, `count(n)`,
/// `count(cond, n)`.
impl fmt::Display for TestCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestCheck::Contains(e) => write!(f, "contains({e})"),
            TestCheck::NotContains(e) => write!(f, "not_contains({e})"),
            TestCheck::Count {
                condition: Some(e),
                equals,
            } => write!(f, "count({e}, {equals})"),
            TestCheck::Count {
                condition: None,
                equals,
            } => write!(f, "count({equals})"),
        }
    }
}

/// The expression language used by conditions (`filter`, `route`, `when`, ...).
///
/// Checked by the language (field paths well formed, functions known with the right
/// arity, regexes valid) and compiled to an evaluator by the runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    Literal(Literal),
    Field(FieldPath),
    List(Vec<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp {
        op: CmpOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `lhs in [a, b]` (or `lhs in field` when the field holds a list).
    In {
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `lhs =~ "regex"`; the pattern is checked at compile time.
    Match {
        lhs: Box<Expr>,
        pattern: String,
    },
    /// A call of a function of [`crate::functions::FUNCTIONS`].
    Call {
        name: String,
        args: Vec<Expr>,
    },
}

/// An inline `test` block: inputs fed to components and expectations on outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestPlan {
    pub name: String,
    pub given: Vec<TestInput>,
    pub expect: Vec<TestExpectation>,
    pub origin: String,
}

/// `given COMPONENT = file("...")` or `given COMPONENT = [ {...}, ... ]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestInput {
    /// The component whose output is replaced by these events.
    pub component: String,
    pub events: TestEvents,
}

/// Where a test's events come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestEvents {
    /// An NDJSON file, relative to the pipeline file.
    File(String),
    /// Events written inline as maps, converted to JSON text.
    Inline(Vec<String>),
}

/// `expect OUTPUT = contains(cond)`, `not_contains(cond)`, `count(n)` or
/// `count(cond, n)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestExpectation {
    pub output: OutputRef,
    pub check: TestCheck,
}

/// What a test expects of an output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestCheck {
    Contains(Expr),
    NotContains(Expr),
    Count {
        condition: Option<Expr>,
        equals: u64,
    },
}

#[cfg(test)]
mod display_tests {
    use super::{ComponentPlan, PlanValue};
    use crate::testing::compile_one;

    fn condition(text: &str) -> PlanValue {
        let source = format!(
            "pipeline \"p\" {{\n  source stdin \"raw\" {{}}\n  transform filter \"f\" {{\n    inputs = [raw]\n    condition = {text}\n  }}\n}}\n"
        );
        let compiled = compile_one(&source);
        assert!(
            compiled.diagnostics.iter().all(|d| !d.is_error()),
            "{text}: {:?}",
            compiled.diagnostics
        );
        let plan = compiled.plan.expect("a plan");
        let filter: &ComponentPlan = plan.pipelines[0]
            .components
            .iter()
            .find(|c| c.name == "f")
            .unwrap();
        filter.attrs["condition"].clone()
    }

    #[test]
    fn expressions_print_back_as_the_same_expression() {
        for text in [
            r#"user.name == "root" && !(event.outcome == "success" || x > 3)"#,
            r#"source.ip in ["10.0.0.1", "10.0.0.2"] && lower(user.name) =~ "^adm""#,
            "exists(a.b) && n >= 2.5 && m != null && size < 10MiB",
        ] {
            let first = condition(text);
            let PlanValue::Expr(expr) = &first else {
                panic!("{text}: not an expression: {first:?}")
            };
            let printed = expr.to_string();
            assert_eq!(condition(&printed), first, "{text} printed as {printed}");
        }
    }
}
