//! Values against their declared types: each attribute value is checked against its
//! [`AttrType`] and lowered to the [`PlanValue`] the runtime reads, in one pass, so the
//! check and the conversion can never disagree.

use super::expr::lower_expr;
use super::{regex_check, script_check};
use crate::ast::{Argument, Call, MapEntry, Str, Value, ValueKind};
use crate::catalogue::AttrType;
use crate::codes;
use crate::diag::{Diagnostic, Span};
use crate::literal::{parse_number, Number, NumberError};
use crate::plan::{FieldPath, OutputRef, PathSegment, PlanValue};
use crate::suggest;
use std::collections::BTreeMap;

/// Where values are being checked: the diagnostics go here, `src` is the text the
/// spans point into (a file, or a catalogue default).
pub struct Lowerer<'a> {
    pub diagnostics: &'a mut Vec<Diagnostic>,
    pub src: &'a str,
    /// References met in `Ref`-typed values, resolved later against the whole pipeline.
    pub refs: Vec<(OutputRef, Span)>,
}

/// What the checker knows about the attribute a value belongs to.
#[derive(Debug, Clone, Copy)]
pub struct AttrInfo<'a> {
    pub name: &'a str,
    pub sensitive: bool,
}

impl<'a> Lowerer<'a> {
    pub fn new(diagnostics: &'a mut Vec<Diagnostic>, src: &'a str) -> Lowerer<'a> {
        Lowerer {
            diagnostics,
            src,
            refs: Vec::new(),
        }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// Checks `value` against `ty` and lowers it; `None` after reporting a problem.
    pub fn typed(&mut self, value: &Value, ty: &AttrType, attr: AttrInfo) -> Option<PlanValue> {
        if let (ValueKind::Paren(inner), false) = (&value.kind, matches!(ty, AttrType::Expr)) {
            return self.typed(inner, ty, attr);
        }
        if let ValueKind::Call(call) = &value.kind {
            match call.name.name.as_str() {
                "env" => return self.env_value(value, call, ty, attr),
                "secret" => return self.secret_value(call, attr),
                _ => {}
            }
        }
        match (ty, &value.kind) {
            (AttrType::String | AttrType::Path, ValueKind::Str(s)) => {
                if attr.sensitive {
                    self.push(
                        Diagnostic::warning(
                            codes::LITERAL_SECRET,
                            value.span,
                            format!("`{}` is sensitive but holds a literal value", attr.name),
                        )
                        .with_label("written in the file")
                        .with_concealed(literal_contents(s, value.span))
                        .with_help("use `secret(\"name\")` (or `env(\"NAME\")`) so the value stays out of files and plans"),
                    );
                }
                Some(PlanValue::String(s.value.clone()))
            }
            (
                AttrType::Int | AttrType::Float | AttrType::Duration | AttrType::Size,
                ValueKind::Number(text),
            ) => {
                let number = self.number(text, value.span)?;
                match (ty, number) {
                    (AttrType::Int, Number::Int(i)) => Some(PlanValue::Int(i)),
                    (AttrType::Float, Number::Int(i)) => Some(PlanValue::Float(i as f64)),
                    (AttrType::Float, Number::Float(f)) => Some(PlanValue::Float(f)),
                    (AttrType::Duration, Number::Duration(ms)) => Some(PlanValue::Duration(ms)),
                    (AttrType::Size, Number::Size(b)) => Some(PlanValue::Size(b)),
                    (AttrType::Duration, Number::Int(_)) => self.mismatch(
                        value,
                        ty,
                        attr,
                        Some(format!("add a unit: `{text}s`, `{text}m`, `{text}h`...")),
                    ),
                    (AttrType::Size, Number::Int(_)) => self.mismatch(
                        value,
                        ty,
                        attr,
                        Some(format!(
                            "add a unit: `{text}B`, `{text}KiB`, `{text}MiB`..."
                        )),
                    ),
                    _ => self.mismatch(value, ty, attr, None),
                }
            }
            (AttrType::Bool, ValueKind::Bool(b)) => Some(PlanValue::Bool(*b)),
            (AttrType::Regex, ValueKind::Str(s)) => regex_check(self, &s.value, s, value.span)
                .then(|| PlanValue::String(s.value.clone())),
            (AttrType::Script, ValueKind::Str(s)) => {
                script_check(self, s, value.span).then(|| PlanValue::String(s.value.clone()))
            }
            (AttrType::Enum(words), ValueKind::Str(s)) => {
                if words.contains(&s.value.as_str()) {
                    Some(PlanValue::String(s.value.clone()))
                } else {
                    self.push(
                        Diagnostic::error(
                            codes::BAD_ENUM,
                            value.span,
                            format!("`{}` is not a valid value for `{}`", s.value, attr.name),
                        )
                        .with_label("not an allowed value")
                        .with_help_opt(suggest::help(&s.value, words.iter().copied())),
                    );
                    None
                }
            }
            (AttrType::Enum(words), ValueKind::Path(segs)) => {
                let word = path_text(segs);
                let help = if words.contains(&word.as_str()) {
                    format!("write it as a string: `\"{word}\"`")
                } else {
                    match suggest::closest(&word, words.iter().copied()) {
                        Some(near) => format!("write it as a string: did you mean `\"{near}\"`?"),
                        None => format!("write one of {} as a string", quoted(words)),
                    }
                };
                self.mismatch(value, ty, attr, Some(help))
            }
            (AttrType::Expr, _) => lower_expr(self, value).map(PlanValue::Expr),
            (AttrType::Field, ValueKind::Path(segs)) => {
                Some(PlanValue::Field(FieldPath(segs.clone())))
            }
            (AttrType::Ref, ValueKind::Path(segs)) => {
                let r = self.reference(segs, value.span, attr)?;
                self.refs.push((r.clone(), value.span));
                Some(PlanValue::Ref(r))
            }
            (AttrType::Call(names), ValueKind::Call(call)) => {
                self.call_value(call, names, value.span)
            }
            (AttrType::Call(names), ValueKind::Path(segs))
                if names.contains(&path_text(segs).as_str()) =>
            {
                let help = format!("call it: `{}()`", path_text(segs));
                self.mismatch(value, ty, attr, Some(help))
            }
            (AttrType::List(inner), ValueKind::List(items)) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.typed(item, inner, attr) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(PlanValue::List(out))
            }
            (AttrType::Map(inner), ValueKind::Map(entries)) => self.map_value(entries, inner, attr),
            _ => {
                let help = self.mismatch_help(value, ty);
                self.mismatch(value, ty, attr, help)
            }
        }
    }

    /// A value with no declared type, such as an argument of a catalogue call
    /// (`volume(file.size, per = 1h)`): each shape lowers to its natural plan value.
    pub fn untyped(&mut self, value: &Value) -> Option<PlanValue> {
        match &value.kind {
            ValueKind::Null => {
                self.push(
                    Diagnostic::error(codes::WRONG_TYPE, value.span, "`null` is not allowed here")
                        .with_label("null"),
                );
                None
            }
            ValueKind::Bool(b) => Some(PlanValue::Bool(*b)),
            ValueKind::Number(text) => Some(match self.number(text, value.span)? {
                Number::Int(i) => PlanValue::Int(i),
                Number::Float(f) => PlanValue::Float(f),
                Number::Duration(ms) => PlanValue::Duration(ms),
                Number::Size(b) => PlanValue::Size(b),
            }),
            ValueKind::Str(s) => Some(PlanValue::String(s.value.clone())),
            ValueKind::Path(segs) => Some(PlanValue::Field(FieldPath(segs.clone()))),
            ValueKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.untyped(item) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(PlanValue::List(out))
            }
            ValueKind::Map(entries) => {
                let mut out = BTreeMap::new();
                let mut ok = self.unique_keys(entries);
                for entry in entries {
                    match self.untyped(&entry.value) {
                        Some(v) => {
                            out.insert(entry.key.clone(), v);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(PlanValue::Map(out))
            }
            ValueKind::Call(call) => match call.name.name.as_str() {
                "env" => self
                    .env_args(call, value.span)
                    .map(|(name, default)| PlanValue::Env { name, default }),
                "secret" => {
                    self.push(
                        Diagnostic::error(
                            codes::SECRET_NOT_ALLOWED,
                            value.span,
                            "`secret()` cannot be used inside a call",
                        )
                        .with_label("not here")
                        .with_help("only sensitive attributes take `secret()`"),
                    );
                    None
                }
                _ => {
                    let (args, named) = self.call_args(call)?;
                    Some(PlanValue::Call {
                        name: call.name.name.clone(),
                        args,
                        named,
                    })
                }
            },
            ValueKind::Paren(inner) => self.untyped(inner),
            ValueKind::Not { .. }
            | ValueKind::And(_)
            | ValueKind::Or(_)
            | ValueKind::Compare { .. } => lower_expr(self, value).map(PlanValue::Expr),
        }
    }

    /// Parses a number token, reporting a bad number or unit.
    pub fn number(&mut self, text: &str, span: Span) -> Option<Number> {
        match parse_number(text) {
            Ok(n) => Some(n),
            Err(NumberError::Bad(message)) => {
                self.push(Diagnostic::error(codes::BAD_NUMBER, span, message).with_label("here"));
                None
            }
            Err(NumberError::Unit { unit, help }) => {
                let unit_span = span.shifted(text.len() - unit.len(), unit.len());
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_UNIT,
                        unit_span,
                        format!("unknown unit `{unit}` in `{text}`"),
                    )
                    .with_label("not a duration or size unit")
                    .with_help(help),
                );
                None
            }
        }
    }

    fn map_value(
        &mut self,
        entries: &[MapEntry],
        inner: &AttrType,
        attr: AttrInfo,
    ) -> Option<PlanValue> {
        let mut ok = self.unique_keys(entries);
        let mut out = BTreeMap::new();
        for entry in entries {
            match self.typed(&entry.value, inner, attr) {
                Some(v) => {
                    out.insert(entry.key.clone(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(PlanValue::Map(out))
    }

    /// Reports keys given twice; true when all are distinct.
    pub fn unique_keys(&mut self, entries: &[MapEntry]) -> bool {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut ok = true;
        for entry in entries {
            if let Some(first) = seen.get(entry.key.as_str()) {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_KEY,
                        entry.key_span,
                        format!("the key `{}` is given twice", entry.key),
                    )
                    .with_label("given again")
                    .with_secondary(*first, "first given here"),
                );
                ok = false;
            } else {
                seen.insert(&entry.key, entry.key_span);
            }
        }
        ok
    }

    /// `name` or `name.port`.
    fn reference(&mut self, segs: &[PathSegment], span: Span, attr: AttrInfo) -> Option<OutputRef> {
        match segs {
            [PathSegment::Key(c)] => Some(OutputRef {
                component: c.clone(),
                port: None,
            }),
            [PathSegment::Key(c), PathSegment::Key(p)] => Some(OutputRef {
                component: c.clone(),
                port: Some(p.clone()),
            }),
            _ => {
                self.push(
                    Diagnostic::error(
                        codes::WRONG_TYPE,
                        span,
                        format!("wrong type for `{}`: `{}` is not a component reference", attr.name, path_text(segs)),
                    )
                    .with_label("expected `name` or `name.port`")
                    .with_help("a reference names a component, optionally with one of its outputs: `parse` or `parse.errors`"),
                );
                None
            }
        }
    }

    fn call_value(&mut self, call: &Call, names: &[&str], span: Span) -> Option<PlanValue> {
        if !names.contains(&call.name.name.as_str()) {
            self.push(
                Diagnostic::error(
                    codes::UNKNOWN_FUNCTION,
                    call.name.span,
                    format!("unknown function `{}` here", call.name.name),
                )
                .with_label("not allowed here")
                .with_help_opt(suggest::help(&call.name.name, names.iter().copied())),
            );
            let _ = span;
            return None;
        }
        let (args, named) = self.call_args(call)?;
        Some(PlanValue::Call {
            name: call.name.name.clone(),
            args,
            named,
        })
    }

    fn call_args(&mut self, call: &Call) -> Option<(Vec<PlanValue>, BTreeMap<String, PlanValue>)> {
        let mut args = Vec::new();
        let mut named: BTreeMap<String, PlanValue> = BTreeMap::new();
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut ok = true;
        for Argument { name, value, .. } in &call.args {
            let lowered = self.untyped(value);
            match (name, lowered) {
                (None, Some(v)) => args.push(v),
                (Some(n), Some(v)) => {
                    if let Some(first) = seen.get(n.name.as_str()) {
                        self.push(
                            Diagnostic::error(
                                codes::DUPLICATE_KEY,
                                n.span,
                                format!("the argument `{}` is given twice", n.name),
                            )
                            .with_label("given again")
                            .with_secondary(*first, "first given here"),
                        );
                        ok = false;
                    } else {
                        seen.insert(&n.name, n.span);
                        named.insert(n.name.clone(), v);
                    }
                }
                (_, None) => ok = false,
            }
        }
        ok.then_some((args, named))
    }

    fn env_value(
        &mut self,
        value: &Value,
        call: &Call,
        ty: &AttrType,
        attr: AttrInfo,
    ) -> Option<PlanValue> {
        let (name, default) = self.env_args(call, value.span)?;
        if matches!(
            ty,
            AttrType::String | AttrType::Path | AttrType::Enum(_) | AttrType::Int | AttrType::Bool
        ) {
            Some(PlanValue::Env { name, default })
        } else {
            self.push(
                Diagnostic::error(
                    codes::WRONG_TYPE,
                    value.span,
                    format!(
                        "wrong type for `{}`: expected {}, found `env()`",
                        attr.name,
                        ty.describe()
                    ),
                )
                .with_label("resolved only at start-up, so it cannot be checked")
                .with_help(
                    "`env()` is accepted by text, path, word, integer and boolean attributes",
                ),
            );
            None
        }
    }

    /// `env("NAME")` or `env("NAME", "default")`.
    pub fn env_args(&mut self, call: &Call, span: Span) -> Option<(String, Option<String>)> {
        let strings = self.string_args(
            call,
            span,
            "env",
            1,
            2,
            "env(\"NAME\") or env(\"NAME\", \"default\")",
        )?;
        let mut it = strings.into_iter();
        let name = it.next()?;
        if !is_env_name(&name) {
            self.push(
                Diagnostic::error(
                    codes::BAD_ENV_OR_SECRET,
                    call.args.first().map_or(span, |a| a.span),
                    format!("`{name}` is not a valid environment variable name"),
                )
                .with_label("not a variable name")
                .with_help("environment variable names have letters, digits and `_`, and do not start with a digit"),
            );
            return None;
        }
        Some((name, it.next()))
    }

    fn secret_value(&mut self, call: &Call, attr: AttrInfo) -> Option<PlanValue> {
        let span = call.name.span;
        if !attr.sensitive {
            self.push(
                Diagnostic::error(
                    codes::SECRET_NOT_ALLOWED,
                    span,
                    format!("`secret()` cannot be used for `{}`, which is not sensitive", attr.name),
                )
                .with_label("not a sensitive attribute")
                .with_help("use a string or `env(\"NAME\")`; secrets go only to attributes that keep them out of logs"),
            );
            return None;
        }
        let strings = self.string_args(call, span, "secret", 1, 1, "secret(\"name\")")?;
        let name = strings.into_iter().next()?;
        if name.trim().is_empty() {
            self.push(
                Diagnostic::error(
                    codes::BAD_ENV_OR_SECRET,
                    span,
                    "`secret()` needs a non-empty name",
                )
                .with_label("empty name"),
            );
            return None;
        }
        Some(PlanValue::Secret { name })
    }

    /// Arguments that must all be plain strings, between `min` and `max` of them.
    fn string_args(
        &mut self,
        call: &Call,
        span: Span,
        function: &str,
        min: usize,
        max: usize,
        usage: &str,
    ) -> Option<Vec<String>> {
        let n = call.args.len();
        if n < min || n > max {
            let wanted = if min == max {
                format!("{min} argument{}", if min == 1 { "" } else { "s" })
            } else {
                format!("{min} or {max} arguments")
            };
            self.push(
                Diagnostic::error(
                    codes::BAD_ENV_OR_SECRET,
                    span,
                    format!("`{function}()` takes {wanted}, found {n}"),
                )
                .with_label("wrong number of arguments")
                .with_help(format!("write {usage}")),
            );
            return None;
        }
        let mut out = Vec::new();
        for arg in &call.args {
            match (&arg.name, &arg.value.kind) {
                (None, ValueKind::Str(s)) => out.push(s.value.clone()),
                (Some(name), _) => {
                    self.push(
                        Diagnostic::error(
                            codes::BAD_ENV_OR_SECRET,
                            name.span,
                            format!("`{function}()` takes no named arguments"),
                        )
                        .with_label("named argument")
                        .with_help(format!("write {usage}")),
                    );
                    return None;
                }
                (None, _) => {
                    self.push(
                        Diagnostic::error(
                            codes::BAD_ENV_OR_SECRET,
                            arg.value.span,
                            format!(
                                "`{function}()` arguments must be strings, found {}",
                                describe_found(&arg.value)
                            ),
                        )
                        .with_label("expected a string")
                        .with_help(format!("write {usage}")),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    fn mismatch(
        &mut self,
        value: &Value,
        ty: &AttrType,
        attr: AttrInfo,
        help: Option<String>,
    ) -> Option<PlanValue> {
        self.push(
            Diagnostic::error(
                codes::WRONG_TYPE,
                value.span,
                format!(
                    "wrong type for `{}`: expected {}, found {}",
                    attr.name,
                    ty.describe(),
                    describe_found(value)
                ),
            )
            .with_label(format!("expected {}", ty.describe()))
            .with_help_opt(help),
        );
        None
    }

    /// Hints for the usual slips: quotes around a duration or a field path, a bare
    /// word where text is wanted, a single reference where a list is wanted.
    fn mismatch_help(&self, value: &Value, ty: &AttrType) -> Option<String> {
        match (ty, &value.kind) {
            (AttrType::Duration | AttrType::Size, ValueKind::Str(s))
                if parse_number(&s.value).is_ok() =>
            {
                Some(format!("write it without quotes: `{}`", s.value))
            }
            (AttrType::Int | AttrType::Float | AttrType::Bool, ValueKind::Str(s))
                if parse_number(&s.value).is_ok() || s.value == "true" || s.value == "false" =>
            {
                Some(format!("write it without quotes: `{}`", s.value))
            }
            (AttrType::Field, ValueKind::Str(s)) if !s.value.is_empty() => {
                Some(format!("write field paths without quotes: `{}`", s.value))
            }
            (AttrType::Ref, ValueKind::Str(s)) => {
                Some(format!("write references without quotes: `{}`", s.value))
            }
            (
                AttrType::String | AttrType::Path | AttrType::Regex | AttrType::Script,
                ValueKind::Path(segs),
            ) => Some(format!("write text in quotes: `\"{}\"`", path_text(segs))),
            (AttrType::List(_), ValueKind::Path(_) | ValueKind::Str(_) | ValueKind::Number(_)) => {
                let text = self
                    .src
                    .get(value.span.start..value.span.end)
                    .unwrap_or("...");
                Some(format!("write a list: `[{text}]`"))
            }
            _ => None,
        }
    }
}

/// The span of a string literal's contents, without its quotes.
fn literal_contents(s: &Str, span: Span) -> Span {
    let quote = if s.raw { 3 } else { 1 };
    Span::new(
        span.file,
        span.start + quote,
        span.end.saturating_sub(quote).max(span.start + quote),
    )
}

/// How a value reads in "found ..." messages.
pub fn describe_found(value: &Value) -> String {
    match &value.kind {
        ValueKind::Null => "null".into(),
        ValueKind::Bool(_) => "a boolean".into(),
        ValueKind::Number(text) => match parse_number(text) {
            Ok(n) => n.describe().into(),
            Err(_) => "a number".into(),
        },
        ValueKind::Str(_) => "a string".into(),
        ValueKind::Path(segs) => {
            if segs.len() == 1 {
                format!("the bare word `{}`", path_text(segs))
            } else {
                format!("the field path `{}`", path_text(segs))
            }
        }
        ValueKind::List(_) => "a list".into(),
        ValueKind::Map(_) => "a map".into(),
        ValueKind::Call(call) => format!("a call of `{}()`", call.name.name),
        ValueKind::Paren(inner) => describe_found(inner),
        ValueKind::Not { .. }
        | ValueKind::And(_)
        | ValueKind::Or(_)
        | ValueKind::Compare { .. } => "an expression".into(),
    }
}

pub fn path_text(segs: &[PathSegment]) -> String {
    FieldPath(segs.to_vec()).to_string()
}

fn quoted(words: &[&str]) -> String {
    let q: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    q.join(", ")
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The byte offset in the source where the `n`th character of a string's value sits,
/// when that can be known (no escapes changed the positions).
pub fn offset_in_source(s: &Str, span: Span, char_offset: usize) -> Option<usize> {
    if s.escaped {
        return None;
    }
    let content_start = span.start + if s.raw { 3 } else { 1 };
    let byte = s
        .value
        .char_indices()
        .nth(char_offset)
        .map_or(s.value.len(), |(b, _)| b);
    Some(content_start + byte)
}
