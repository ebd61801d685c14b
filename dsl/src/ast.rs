//! The syntax tree: what was written, with a span on every node and the file's
//! comments kept aside for the formatter.
//!
//! The tree is deliberately untyped: a bare name is a [`ValueKind::Path`] whatever it
//! will turn out to mean, numbers keep their text (units and overflow are judged by the
//! checker, which can then say precisely what is wrong), and block keywords are plain
//! identifiers so that a misspelt `sorce` reaches the checker and gets a "did you mean".

use crate::diag::Span;
use crate::plan::{CmpOp, PathSegment};

/// One parsed file.
#[derive(Debug, Clone)]
pub struct File {
    pub pipelines: Vec<Pipeline>,
    /// Every comment of the file, in source order.
    pub comments: Vec<Comment>,
}

/// A `#` or `//` comment, from its marker to the end of the line.
#[derive(Debug, Clone)]
pub struct Comment {
    pub span: Span,
    pub text: String,
}

/// A name as written, e.g. a block keyword, a component type or an attribute key.
#[derive(Debug, Clone)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A quoted block label such as `"trail"`; `value` has escapes resolved.
#[derive(Debug, Clone)]
pub struct Label {
    pub value: String,
    pub span: Span,
}

/// `pipeline "name" { ... }` (the keyword is checked, not parsed, so it may be a typo).
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub keyword: Ident,
    pub label: Label,
    pub members: Vec<Member>,
    pub span: Span,
}

/// A block inside a pipeline: a component (`source file "in" { ... }`, with a type) or
/// a test (`test "description" { ... }`, without one).
#[derive(Debug, Clone)]
pub struct Member {
    pub keyword: Ident,
    pub type_name: Option<Ident>,
    pub label: Label,
    pub attributes: Vec<Attribute>,
    pub span: Span,
}

/// `key = value`, or a test statement `given COMPONENT = value`.
#[derive(Debug, Clone)]
pub struct Attribute {
    pub key: Ident,
    /// The `COMPONENT` or `OUTPUT` of a test statement.
    pub target: Option<Target>,
    pub value: Value,
    pub span: Span,
}

impl Attribute {
    /// The attribute as it reads before `=`: `key` or `given enrich`.
    pub fn head(&self) -> String {
        match &self.target {
            Some(t) => format!("{} {}", self.key.name, t.text),
            None => self.key.name.clone(),
        }
    }
}

/// A dotted name after a test keyword: `enrich` or `route.high`.
#[derive(Debug, Clone)]
pub struct Target {
    pub text: String,
    pub span: Span,
}

/// A value or expression with its span.
#[derive(Debug, Clone)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

/// The shapes a value can take.
#[derive(Debug, Clone)]
pub enum ValueKind {
    Null,
    Bool(bool),
    /// The number as written, e.g. `-3`, `1.5`, `1_000`, `90s`, `64KiB`.
    Number(String),
    Str(Str),
    /// A bare name: a field path or a component reference.
    Path(Vec<PathSegment>),
    List(Vec<Value>),
    Map(Vec<MapEntry>),
    Call(Call),
    /// `( value )`, kept so the formatter can print what was written.
    Paren(Box<Value>),
    /// `!value`, `!!value`: `count` is the number of `!`.
    Not {
        count: usize,
        operand: Box<Value>,
    },
    /// `a && b && c` (at least two operands).
    And(Vec<Value>),
    /// `a || b || c` (at least two operands).
    Or(Vec<Value>),
    Compare {
        op: CompareOp,
        lhs: Box<Value>,
        rhs: Box<Value>,
    },
}

/// A quoted string or a raw `'''` string.
#[derive(Debug, Clone)]
pub struct Str {
    /// The text with escapes resolved (raw strings have none).
    pub value: String,
    pub raw: bool,
    /// Whether the source text differs from `value` (escapes were used), which makes
    /// byte positions inside the string and inside `value` differ.
    pub escaped: bool,
}

/// The comparison-level operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Cmp(CmpOp),
    In,
    Match,
}

impl CompareOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Cmp(CmpOp::Eq) => "==",
            CompareOp::Cmp(CmpOp::Ne) => "!=",
            CompareOp::Cmp(CmpOp::Lt) => "<",
            CompareOp::Cmp(CmpOp::Le) => "<=",
            CompareOp::Cmp(CmpOp::Gt) => ">",
            CompareOp::Cmp(CmpOp::Ge) => ">=",
            CompareOp::In => "in",
            CompareOp::Match => "=~",
        }
    }
}

/// `{ key = value ... }` entry; the key is an identifier or a quoted string.
#[derive(Debug, Clone)]
pub struct MapEntry {
    pub key: String,
    pub key_span: Span,
    pub value: Value,
    pub span: Span,
}

/// `name(arg, name = value)`.
#[derive(Debug, Clone)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Argument>,
}

/// A positional (`name` is `None`) or named argument.
#[derive(Debug, Clone)]
pub struct Argument {
    pub name: Option<Ident>,
    pub value: Value,
    pub span: Span,
}
