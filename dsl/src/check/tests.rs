//! Inline `test` blocks: `given COMPONENT = file("x.jsonl")` or a list of events,
//! and `expect OUTPUT = contains(cond) | not_contains(cond) | count(n) | count(cond, n)`.

use super::expr::lower_expr;
use super::graph::Names;
use super::value::{describe_found, Lowerer};
use crate::ast::{Attribute, Member, Value, ValueKind};
use crate::codes;
use crate::diag::Diagnostic;
use crate::literal::Number;
use crate::plan::{OutputRef, TestCheck, TestEvents, TestExpectation, TestInput, TestPlan};
use crate::suggest;
use std::fmt::Write as _;

const KEYWORDS: [&str; 2] = ["given", "expect"];
const CHECKS: [&str; 3] = ["contains", "not_contains", "count"];

/// Checks a test block; the plan of it when it is sound.
pub fn check_test(
    member: &Member,
    names: &Names,
    src: &str,
    origin: String,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<TestPlan> {
    let errors_before = diagnostics.iter().filter(|d| d.is_error()).count();
    let mut lw = Lowerer::new(diagnostics, src);
    let mut given = Vec::new();
    let mut expect = Vec::new();
    for attr in &member.attributes {
        let key = attr.key.name.as_str();
        match (key, &attr.target) {
            ("given", Some(_)) => {
                if let Some(input) = given_statement(&mut lw, attr, names) {
                    given.push(input);
                }
            }
            ("expect", Some(_)) => {
                if let Some(e) = expect_statement(&mut lw, attr, names) {
                    expect.push(e);
                }
            }
            ("given" | "expect", None) => {
                let what = if key == "given" {
                    "COMPONENT"
                } else {
                    "OUTPUT"
                };
                lw.push(
                    Diagnostic::error(
                        codes::BAD_TEST,
                        attr.key.span,
                        format!("`{key}` needs a component"),
                    )
                    .with_label(format!("expected `{key} {what} = ...`"))
                    .with_help(format!("write `{key} {what} = ...`")),
                );
            }
            _ => {
                let help = suggest::did_you_mean(key, KEYWORDS).unwrap_or_else(|| {
                    "a test holds `given COMPONENT = ...` and `expect OUTPUT = ...` statements"
                        .into()
                });
                lw.push(
                    Diagnostic::error(
                        codes::BAD_TEST,
                        attr.key.span,
                        format!("unknown test statement `{key}`"),
                    )
                    .with_label("expected `given` or `expect`")
                    .with_help(help),
                );
            }
        }
    }
    if member.label.value.trim().is_empty() {
        lw.push(
            Diagnostic::error(
                codes::BAD_NAME,
                member.label.span,
                "a test needs a description",
            )
            .with_label("empty")
            .with_help("say what the test shows, e.g. `test \"failed logins are kept\" { ... }`"),
        );
    }
    if expect.is_empty() && !member.attributes.iter().any(|a| a.key.name == "expect") {
        lw.push(
            Diagnostic::error(
                codes::BAD_TEST,
                member.label.span,
                format!("test `{}` expects nothing", member.label.value),
            )
            .with_label("no `expect`")
            .with_help("add `expect OUTPUT = contains(...)`, `not_contains(...)` or `count(...)`"),
        );
    }
    let errors_after = lw.diagnostics.iter().filter(|d| d.is_error()).count();
    (errors_after == errors_before).then(|| TestPlan {
        name: member.label.value.clone(),
        given,
        expect,
        origin,
    })
}

fn given_statement(lw: &mut Lowerer, attr: &Attribute, names: &Names) -> Option<TestInput> {
    let target = attr.target.as_ref()?;
    let component = if target.text.contains('.') {
        lw.push(
            Diagnostic::error(
                codes::BAD_TEST,
                target.span,
                format!(
                    "`given` names a component, not an output: `{}`",
                    target.text
                ),
            )
            .with_label("expected a component name")
            .with_help(
                "the events replace everything the component emits; write `given NAME = ...`",
            ),
        );
        None
    } else {
        let r = OutputRef {
            component: target.text.clone(),
            port: None,
        };
        names
            .resolve(&r, target.span, "feeds", lw.diagnostics)
            .map(|_| target.text.clone())
    };
    let events = events(lw, &attr.value);
    Some(TestInput {
        component: component?,
        events: events?,
    })
}

fn events(lw: &mut Lowerer, value: &Value) -> Option<TestEvents> {
    match &value.kind {
        ValueKind::Call(call) if call.name.name == "file" => match call.args.as_slice() {
            [arg] if arg.name.is_none() => match &arg.value.kind {
                ValueKind::Str(s) if !s.value.is_empty() => Some(TestEvents::File(s.value.clone())),
                _ => bad_given(lw, value),
            },
            _ => bad_given(lw, value),
        },
        ValueKind::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for item in items {
                if !matches!(item.kind, ValueKind::Map(_)) {
                    lw.push(
                        Diagnostic::error(
                            codes::BAD_TEST,
                            item.span,
                            format!("a test event is a map, found {}", describe_found(item)),
                        )
                        .with_label("expected `{ field = value ... }`"),
                    );
                    ok = false;
                    continue;
                }
                let mut json = String::new();
                if json_value(lw, item, &mut json) {
                    out.push(json);
                } else {
                    ok = false;
                }
            }
            ok.then_some(TestEvents::Inline(out))
        }
        _ => bad_given(lw, value),
    }
}

fn bad_given<T>(lw: &mut Lowerer, value: &Value) -> Option<T> {
    lw.push(
        Diagnostic::error(
            codes::BAD_TEST,
            value.span,
            format!("expected test events, found {}", describe_found(value)),
        )
        .with_label("expected events")
        .with_help("write `file(\"events.jsonl\")` or a list of events `[{ field = \"value\" }]`"),
    );
    None
}

/// Writes a literal value as JSON text; reports what cannot be an event value.
fn json_value(lw: &mut Lowerer, value: &Value, out: &mut String) -> bool {
    match &value.kind {
        ValueKind::Null => out.push_str("null"),
        ValueKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ValueKind::Number(text) => match lw.number(text, value.span) {
            Some(Number::Int(i)) => {
                let _ = write!(out, "{i}");
            }
            Some(Number::Float(f)) => {
                let _ = write!(out, "{f}");
            }
            Some(Number::Duration(_) | Number::Size(_)) => {
                lw.push(
                    Diagnostic::error(
                        codes::BAD_TEST,
                        value.span,
                        "test events hold plain numbers, not durations or sizes",
                    )
                    .with_label("a unit is not JSON"),
                );
                return false;
            }
            None => return false,
        },
        ValueKind::Str(s) => json_string(&s.value, out),
        ValueKind::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !json_value(lw, item, out) {
                    return false;
                }
            }
            out.push(']');
        }
        ValueKind::Map(entries) => {
            if !lw.unique_keys(entries) {
                return false;
            }
            out.push('{');
            for (i, entry) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(&entry.key, out);
                out.push(':');
                if !json_value(lw, &entry.value, out) {
                    return false;
                }
            }
            out.push('}');
        }
        _ => {
            lw.push(
                Diagnostic::error(
                    codes::BAD_TEST,
                    value.span,
                    format!(
                        "test events hold literal values, found {}",
                        describe_found(value)
                    ),
                )
                .with_label("not a literal")
                .with_help("write strings in quotes: `\"text\"`"),
            );
            return false;
        }
    }
    true
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn expect_statement(lw: &mut Lowerer, attr: &Attribute, names: &Names) -> Option<TestExpectation> {
    let target = attr.target.as_ref()?;
    let mut parts = target.text.splitn(3, '.');
    let component = parts.next().unwrap_or_default().to_string();
    let port = parts.next().map(str::to_string);
    let output = if parts.next().is_some() {
        lw.push(
            Diagnostic::error(
                codes::BAD_TEST,
                target.span,
                format!("`{}` is not an output", target.text),
            )
            .with_label("expected `name` or `name.port`"),
        );
        None
    } else {
        let r = OutputRef { component, port };
        names
            .resolve(&r, target.span, "expects on", lw.diagnostics)
            .map(|_| r)
    };
    let check = expectation(lw, &attr.value);
    Some(TestExpectation {
        output: output?,
        check: check?,
    })
}

fn expectation(lw: &mut Lowerer, value: &Value) -> Option<TestCheck> {
    let ValueKind::Call(call) = &value.kind else {
        return bad_expect(lw, value, None);
    };
    let name = call.name.name.as_str();
    if let Some(named) = call.args.iter().find_map(|a| a.name.as_ref()) {
        lw.push(
            Diagnostic::error(
                codes::BAD_TEST,
                named.span,
                format!("`{name}()` takes no named arguments"),
            )
            .with_label("named argument"),
        );
        return None;
    }
    let args: Vec<&Value> = call.args.iter().map(|a| &a.value).collect();
    match (name, args.as_slice()) {
        ("contains", [cond]) => lower_expr(lw, cond).map(TestCheck::Contains),
        ("not_contains", [cond]) => lower_expr(lw, cond).map(TestCheck::NotContains),
        ("count", [n]) => count(lw, n).map(|equals| TestCheck::Count {
            condition: None,
            equals,
        }),
        ("count", [cond, n]) => {
            let condition = lower_expr(lw, cond);
            let equals = count(lw, n);
            Some(TestCheck::Count {
                condition: Some(condition?),
                equals: equals?,
            })
        }
        ("contains" | "not_contains" | "count", _) => {
            let usage = if name == "count" {
                "`count(n)` or `count(condition, n)`".to_string()
            } else {
                format!("`{name}(condition)`")
            };
            lw.push(
                Diagnostic::error(
                    codes::WRONG_ARITY,
                    call.name.span,
                    format!("`{name}()` takes {usage}, found {} arguments", args.len()),
                )
                .with_label("wrong number of arguments"),
            );
            None
        }
        _ => bad_expect(lw, value, suggest::did_you_mean(name, CHECKS)),
    }
}

fn count(lw: &mut Lowerer, value: &Value) -> Option<u64> {
    if let ValueKind::Number(text) = &value.kind {
        match lw.number(text, value.span)? {
            Number::Int(i) if i >= 0 => return u64::try_from(i).ok(),
            Number::Int(_) => {
                lw.push(
                    Diagnostic::error(
                        codes::BAD_TEST,
                        value.span,
                        format!("a count cannot be negative: `{text}`"),
                    )
                    .with_label("negative"),
                );
                return None;
            }
            _ => {}
        }
    }
    lw.push(
        Diagnostic::error(
            codes::BAD_TEST,
            value.span,
            format!(
                "a count is a whole number of events, found {}",
                describe_found(value)
            ),
        )
        .with_label("expected a number like `3`")
        .with_help("to count the events a condition holds for, write `count(condition, n)`"),
    );
    None
}

fn bad_expect<T>(lw: &mut Lowerer, value: &Value, near: Option<String>) -> Option<T> {
    let span = match &value.kind {
        ValueKind::Call(call) => call.name.span,
        _ => value.span,
    };
    lw.push(
        Diagnostic::error(
            codes::BAD_TEST,
            span,
            format!("expected an expectation, found {}", describe_found(value)),
        )
        .with_label("expected contains(...), not_contains(...) or count(...)")
        .with_help(near.unwrap_or_else(|| {
            "write `contains(condition)`, `not_contains(condition)`, `count(n)` or `count(condition, n)`".into()
        })),
    );
    None
}
