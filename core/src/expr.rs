//! The expression evaluator: conditions (`filter`, `route`, `when`) and computed values.
//!
//! A plan expression compiles once into a tree whose field paths are parsed, regexes
//! and CIDR blocks compiled and literals converted to [`Value`]s. Evaluation returns
//! borrowed views ([`Cow::Borrowed`]) of the event and of the compiled literals, so a
//! comparison of a field with a literal — the common `filter` — allocates nothing.
//!
//! Semantics: a missing field is `null`; numbers compare across int and float;
//! strings compare lexicographically (by bytes) and booleans `false < true`; `==`
//! between different types is false (`!=` true) and ordering between different types
//! is false; durations are milliseconds and sizes bytes (integers); `&&` and `||`
//! short-circuit and yield booleans.

mod functions;

use crate::path::FieldPath;
use crate::value::{Str, Value};
use functions::Function;
use pipectl_dsl::plan::{CmpOp, Expr, Literal};
use regex::Regex;
use std::borrow::Cow;
use std::cmp::Ordering;

/// Why an expression could not be compiled. The checker rejects these first, so they
/// signal a plan built by hand or a checker/runtime mismatch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The name is not in [`pipectl_dsl::functions::FUNCTIONS`] (or has no
    /// implementation here, which a test prevents).
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
    /// Too few or too many arguments.
    #[error("function `{name}` takes {expected} argument(s), got {got}")]
    Arity {
        name: String,
        expected: String,
        got: usize,
    },
    /// A `=~` pattern the regex engine refuses.
    #[error("invalid regular expression `{pattern}`: {message}")]
    Regex { pattern: String, message: String },
    /// An argument that cannot work, known at compile time (e.g. a bad CIDR literal).
    #[error("invalid argument to `{function}`: {message}")]
    Argument {
        function: &'static str,
        message: String,
    },
}

/// A compiled expression, ready to evaluate against events.
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Const(Value),
    Field(FieldPath),
    List(Vec<Node>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    In(Box<Node>, Box<Node>),
    Match(Box<Node>, Regex),
    Call(Function),
}

static NULL: Value = Value::Null;

impl CompiledExpr {
    /// Compiles a checked plan expression.
    pub fn compile(expr: &Expr) -> Result<CompiledExpr, ExprError> {
        Ok(CompiledExpr {
            root: compile_node(expr)?,
        })
    }

    /// The value of the expression for `event`, borrowing from the event or the
    /// expression where possible.
    pub fn evaluate_ref<'a>(&'a self, event: &'a Value) -> Cow<'a, Value> {
        self.root.eval(event)
    }

    /// The value of the expression for `event`, owned.
    pub fn evaluate(&self, event: &Value) -> Value {
        self.root.eval(event).into_owned()
    }

    /// Whether the expression holds for `event` (its value is truthy).
    pub fn matches(&self, event: &Value) -> bool {
        self.root.truth(event)
    }
}

fn compile_node(expr: &Expr) -> Result<Node, ExprError> {
    Ok(match expr {
        Expr::Literal(lit) => Node::Const(literal_value(lit)),
        Expr::Field(path) => Node::Field(FieldPath::from(path)),
        Expr::List(items) => {
            let nodes = items
                .iter()
                .map(compile_node)
                .collect::<Result<Vec<_>, _>>()?;
            // A list of literals is one constant array, compared without building it.
            if nodes.iter().all(|n| matches!(n, Node::Const(_))) {
                Node::Const(Value::Array(
                    nodes
                        .into_iter()
                        .filter_map(|n| match n {
                            Node::Const(v) => Some(v),
                            _ => None,
                        })
                        .collect(),
                ))
            } else {
                Node::List(nodes)
            }
        }
        Expr::Not(inner) => Node::Not(Box::new(compile_node(inner)?)),
        Expr::And(a, b) => Node::And(Box::new(compile_node(a)?), Box::new(compile_node(b)?)),
        Expr::Or(a, b) => Node::Or(Box::new(compile_node(a)?), Box::new(compile_node(b)?)),
        Expr::Cmp { op, lhs, rhs } => Node::Cmp(
            *op,
            Box::new(compile_node(lhs)?),
            Box::new(compile_node(rhs)?),
        ),
        Expr::In { lhs, rhs } => {
            Node::In(Box::new(compile_node(lhs)?), Box::new(compile_node(rhs)?))
        }
        Expr::Match { lhs, pattern } => {
            let regex = Regex::new(pattern).map_err(|e| ExprError::Regex {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            Node::Match(Box::new(compile_node(lhs)?), regex)
        }
        Expr::Call { name, args } => {
            let args = args
                .iter()
                .map(compile_node)
                .collect::<Result<Vec<_>, _>>()?;
            Node::Call(Function::compile(name, args)?)
        }
    })
}

fn literal_value(lit: &Literal) -> Value {
    match lit {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Float(f) => Value::Float(*f),
        Literal::String(s) => Value::String(Str::from(s.as_str())),
        Literal::Duration(n) | Literal::Size(n) => match i64::try_from(*n) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(*n as f64),
        },
    }
}

impl Node {
    fn eval<'a>(&'a self, event: &'a Value) -> Cow<'a, Value> {
        match self {
            Node::Const(v) => Cow::Borrowed(v),
            Node::Field(path) => Cow::Borrowed(event.get_path(path).unwrap_or(&NULL)),
            Node::List(items) => Cow::Owned(Value::Array(
                items.iter().map(|n| n.eval(event).into_owned()).collect(),
            )),
            Node::Call(f) => f.eval(event),
            Node::Not(_)
            | Node::And(..)
            | Node::Or(..)
            | Node::Cmp(..)
            | Node::In(..)
            | Node::Match(..) => Cow::Owned(Value::Bool(self.truth(event))),
        }
    }

    fn truth(&self, event: &Value) -> bool {
        match self {
            Node::Not(inner) => !inner.truth(event),
            Node::And(a, b) => a.truth(event) && b.truth(event),
            Node::Or(a, b) => a.truth(event) || b.truth(event),
            Node::Cmp(op, lhs, rhs) => compare(*op, &lhs.eval(event), &rhs.eval(event)),
            Node::In(lhs, rhs) => {
                let needle = lhs.eval(event);
                match &*rhs.eval(event) {
                    Value::Array(items) => items.iter().any(|item| equal(&needle, item)),
                    _ => false,
                }
            }
            Node::Match(lhs, regex) => match &*lhs.eval(event) {
                Value::String(s) => regex.is_match(s),
                _ => false,
            },
            Node::Const(_) | Node::Field(_) | Node::List(_) | Node::Call(_) => {
                self.eval(event).is_truthy()
            }
        }
    }
}

/// Equality across the expression language's types: numbers by value (`1 == 1.0`),
/// arrays item by item, objects key by key; different types are never equal.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            order(a, b) == Some(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| equal(v, other)))
        }
        _ => false,
    }
}

/// The order of two values of comparable types; `None` for anything else (including
/// NaN).
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Float(y)) => (*x as f64).partial_cmp(y),
        (Value::Float(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compare(op: CmpOp, a: &Value, b: &Value) -> bool {
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        CmpOp::Lt => order(a, b) == Some(Ordering::Less),
        CmpOp::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => order(a, b) == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
    }
}

#[cfg(test)]
mod tests;
