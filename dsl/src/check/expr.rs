//! The expression language: checked (functions known with the right arity, regexes
//! valid, operands meaningful) and lowered to [`plan::Expr`](crate::plan::Expr).

use super::regex_check;
use super::value::{describe_found, Lowerer};
use crate::ast::{CompareOp, Value, ValueKind};
use crate::codes;
use crate::diag::Diagnostic;
use crate::functions::{function, FUNCTIONS};
use crate::literal::Number;
use crate::plan::{Expr, FieldPath, Literal};
use crate::suggest;

/// Checks `value` as an expression and lowers it; `None` after reporting a problem.
pub fn lower_expr(lw: &mut Lowerer, value: &Value) -> Option<Expr> {
    match &value.kind {
        ValueKind::Null => Some(Expr::Literal(Literal::Null)),
        ValueKind::Bool(b) => Some(Expr::Literal(Literal::Bool(*b))),
        ValueKind::Number(text) => Some(Expr::Literal(match lw.number(text, value.span)? {
            Number::Int(i) => Literal::Int(i),
            Number::Float(f) => Literal::Float(f),
            Number::Duration(ms) => Literal::Duration(ms),
            Number::Size(b) => Literal::Size(b),
        })),
        ValueKind::Str(s) => Some(Expr::Literal(Literal::String(s.value.clone()))),
        ValueKind::Path(segs) => Some(Expr::Field(FieldPath(segs.clone()))),
        ValueKind::List(items) => all(lw, items).map(Expr::List),
        ValueKind::Map(_) => {
            lw.push(
                Diagnostic::error(
                    codes::BAD_EXPRESSION,
                    value.span,
                    "a map cannot be used in an expression",
                )
                .with_label("map")
                .with_help("compare fields one by one, e.g. `user.name == \"x\" && user.id == 1`"),
            );
            None
        }
        ValueKind::Call(call) => {
            let name = call.name.name.as_str();
            if name == "env" || name == "secret" {
                lw.push(
                    Diagnostic::error(
                        codes::BAD_EXPRESSION,
                        call.name.span,
                        format!("`{name}()` cannot be used in an expression"),
                    )
                    .with_label("not an expression function")
                    .with_help("expressions are evaluated on each event; `env()` and `secret()` are attribute values"),
                );
                return None;
            }
            let Some(spec) = function(name) else {
                lw.push(
                    Diagnostic::error(
                        codes::UNKNOWN_FUNCTION,
                        call.name.span,
                        format!("unknown function `{name}`"),
                    )
                    .with_label("not a function of the expression language")
                    .with_help_opt(suggest::did_you_mean(
                        name,
                        FUNCTIONS.iter().map(|f| f.name),
                    )),
                );
                return None;
            };
            if let Some(named) = call.args.iter().find_map(|a| a.name.as_ref()) {
                lw.push(
                    Diagnostic::error(
                        codes::BAD_EXPRESSION,
                        named.span,
                        format!("`{name}()` takes no named arguments"),
                    )
                    .with_label("named argument")
                    .with_help(format!("write `{}`", spec.signature)),
                );
                return None;
            }
            let n = call.args.len();
            if n < spec.min_args || n > spec.max_args {
                let wanted = if spec.min_args == spec.max_args {
                    plural(spec.min_args)
                } else {
                    format!("{} to {} arguments", spec.min_args, spec.max_args)
                };
                lw.push(
                    Diagnostic::error(
                        codes::WRONG_ARITY,
                        call.name.span,
                        format!("`{name}()` takes {wanted}, found {n}"),
                    )
                    .with_label("wrong number of arguments")
                    .with_help(format!("write `{}`", spec.signature)),
                );
                return None;
            }
            let args = all(lw, call.args.iter().map(|a| &a.value))?;
            Some(Expr::Call {
                name: name.to_string(),
                args,
            })
        }
        ValueKind::Paren(inner) => lower_expr(lw, inner),
        ValueKind::Not { count, operand } => {
            let inner = lower_expr(lw, operand)?;
            // `!!x` is the truth of x; more pairs of `!` change nothing.
            let once = Expr::Not(Box::new(inner));
            Some(if count % 2 == 0 {
                Expr::Not(Box::new(once))
            } else {
                once
            })
        }
        ValueKind::And(operands) => all(lw, operands).and_then(|ops| balanced(ops, Expr::And)),
        ValueKind::Or(operands) => all(lw, operands).and_then(|ops| balanced(ops, Expr::Or)),
        ValueKind::Compare { op, lhs, rhs } => {
            let left = lower_expr(lw, lhs);
            let right = compare_rhs(lw, *op, rhs);
            let (left, right) = (left?, right?);
            Some(match (op, right) {
                (CompareOp::Cmp(op), right) => Expr::Cmp {
                    op: *op,
                    lhs: Box::new(left),
                    rhs: Box::new(right),
                },
                (CompareOp::In, right) => Expr::In {
                    lhs: Box::new(left),
                    rhs: Box::new(right),
                },
                (CompareOp::Match, Expr::Literal(Literal::String(pattern))) => Expr::Match {
                    lhs: Box::new(left),
                    pattern,
                },
                (CompareOp::Match, _) => return None,
            })
        }
    }
}

/// The right side of a comparison: `in` wants a list or a field, `=~` a valid regex.
fn compare_rhs(lw: &mut Lowerer, op: CompareOp, rhs: &Value) -> Option<Expr> {
    let inner = unparen(rhs);
    match op {
        CompareOp::In => match &inner.kind {
            ValueKind::List(_) | ValueKind::Path(_) => lower_expr(lw, inner),
            _ => {
                lw.push(
                    Diagnostic::error(
                        codes::BAD_EXPRESSION,
                        rhs.span,
                        format!(
                            "`in` needs a list or a field on its right, found {}",
                            describe_found(rhs)
                        ),
                    )
                    .with_label("expected a list or a field")
                    .with_help("write `x in [\"a\", \"b\"]` or `x in some.list_field`"),
                );
                None
            }
        },
        CompareOp::Match => match &inner.kind {
            ValueKind::Str(s) => regex_check(lw, &s.value, s, inner.span)
                .then(|| Expr::Literal(Literal::String(s.value.clone()))),
            _ => {
                lw.push(
                    Diagnostic::error(
                        codes::BAD_EXPRESSION,
                        rhs.span,
                        format!(
                            "`=~` needs a string pattern on its right, found {}",
                            describe_found(rhs)
                        ),
                    )
                    .with_label("expected a regular expression")
                    .with_help(
                        "write `field =~ \"^prefix\"` or a raw string `field =~ '''\\d+'''`",
                    ),
                );
                None
            }
        },
        CompareOp::Cmp(_) => lower_expr(lw, rhs),
    }
}

fn unparen(value: &Value) -> &Value {
    let mut v = value;
    while let ValueKind::Paren(inner) = &v.kind {
        v = inner;
    }
    v
}

/// Lowers every value, reporting all problems; `None` if any failed.
fn all<'v>(lw: &mut Lowerer, values: impl IntoIterator<Item = &'v Value>) -> Option<Vec<Expr>> {
    let mut out = Vec::new();
    let mut ok = true;
    for v in values {
        match lower_expr(lw, v) {
            Some(e) => out.push(e),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Folds an associative chain (`a && b && c`) into a balanced tree, so a long chain
/// stays shallow for everything that walks it recursively later.
fn balanced(mut ops: Vec<Expr>, make: fn(Box<Expr>, Box<Expr>) -> Expr) -> Option<Expr> {
    match ops.len() {
        0 => None,
        1 => ops.pop(),
        n => {
            let right = ops.split_off(n / 2);
            let left = balanced(ops, make)?;
            let right = balanced(right, make)?;
            Some(make(Box::new(left), Box::new(right)))
        }
    }
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 argument".into()
    } else {
        format!("{n} arguments")
    }
}
