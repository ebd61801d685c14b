//! Text to syntax tree: the pre-scan, the pest grammar, and the tree builder.
//!
//! A file that fails the pre-scan or the grammar yields one syntax error and no tree
//! (the checker then skips that file, and knows which pipelines may be incomplete).
//! Problems the grammar lets through on purpose, such as a bad escape or an oversized
//! list index, are reported here but do not stop the file from being checked.

use crate::ast::*;
use crate::codes;
use crate::diag::{Diagnostic, Span};
use crate::literal::unescape;
use crate::plan::{CmpOp, PathSegment};
use crate::prescan::{scan, Scan};
use pest::iterators::Pair;
use pest::Parser as _;

pub use crate::prescan::MAX_DEPTH;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct Grammar;

/// The pest grammar, for the generated reference.
pub const GRAMMAR: &str = include_str!("grammar.pest");

/// The result of parsing one file: the tree (absent after a syntax error) and the
/// problems found on the way.
#[derive(Debug)]
pub struct Parsed {
    pub file: Option<File>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The stack the grammar runs on. pest recurses a few frames per nesting level and
/// debug builds make those frames large; the pre-scan caps nesting at [`MAX_DEPTH`], and
/// this stack holds that depth with a wide margin whatever thread the caller is on.
const PARSE_STACK: usize = 32 << 20;

/// Nesting the caller's stack takes without help (a few hundred KiB in debug builds).
const SHALLOW: usize = 16;

/// Runs `f` on a thread with [`PARSE_STACK`] of stack when the text nests deeper than
/// [`SHALLOW`] (on this thread otherwise, or if a thread cannot be started).
fn with_parse_stack<T: Send>(depth: usize, f: impl FnOnce() -> T + Send) -> T {
    if depth <= SHALLOW {
        return f();
    }
    let slot = std::sync::Mutex::new(Some(f));
    let take = || slot.lock().ok().and_then(|mut guard| guard.take());
    let on_thread = std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("pipectl-dsl-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, || take().map(|f| f()));
        match handle.map(|h| h.join()) {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => None,
        }
    });
    match on_thread {
        Some(result) => result,
        // The thread could not be started: parse here (the closure was not taken).
        None => match take() {
            Some(f) => f(),
            None => std::process::abort(),
        },
    }
}

/// Parses file number `index`.
pub fn parse_file(index: usize, text: &str) -> Parsed {
    let Scan { comments, depth } = match scan(index, text) {
        Ok(s) => s,
        Err(d) => {
            return Parsed {
                file: None,
                diagnostics: vec![*d],
            }
        }
    };
    let mut parsed = with_parse_stack(depth, || {
        let pairs = match Grammar::parse(Rule::file, text) {
            Ok(p) => p,
            Err(e) => {
                return Parsed {
                    file: None,
                    diagnostics: vec![syntax_error(index, text, &e)],
                }
            }
        };
        let mut builder = Builder {
            file: index,
            text,
            comments: &comments,
            diagnostics: Vec::new(),
        };
        let mut pipelines = Vec::new();
        for file_pair in pairs {
            for pair in file_pair.into_inner() {
                if pair.as_rule() == Rule::pipeline {
                    pipelines.push(builder.pipeline(pair));
                }
            }
        }
        Parsed {
            file: Some(File {
                pipelines,
                comments: Vec::new(),
            }),
            diagnostics: builder.diagnostics,
        }
    });
    if let Some(file) = &mut parsed.file {
        file.comments = comments;
    }
    parsed
}

/// Parses a lone value, as catalogue defaults are written; spans are in file `index`.
pub fn parse_value(index: usize, text: &str) -> Result<Value, Vec<Diagnostic>> {
    let Scan { comments, depth } = scan(index, text).map_err(|d| vec![*d])?;
    with_parse_stack(depth, || {
        let mut pairs = Grammar::parse(Rule::value_only, text)
            .map_err(|e| vec![syntax_error(index, text, &e)])?;
        let mut builder = Builder {
            file: index,
            text,
            comments: &comments,
            diagnostics: Vec::new(),
        };
        let value = pairs
            .next()
            .and_then(|p| p.into_inner().find(|p| p.as_rule() == Rule::value))
            .map(|p| builder.value(p));
        match value {
            Some(v) if builder.diagnostics.is_empty() => Ok(v),
            _ => Err(builder.diagnostics),
        }
    })
}

struct Builder<'a> {
    file: usize,
    text: &'a str,
    comments: &'a [Comment],
    diagnostics: Vec<Diagnostic>,
}

impl Builder<'_> {
    /// The span of a rule without the spaces and comments pest lets trail at the end
    /// of a rule that ends with an optional part, so a span ends where its last token
    /// does (the formatter relies on this to keep trailing comments in place).
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let start = s.start();
        let mut end = s.end();
        loop {
            let trimmed = self.text.get(start..end).map_or(0, |t| t.trim_end().len());
            end = start + trimmed;
            let i = self.comments.partition_point(|c| c.span.end < end);
            match self.comments.get(i) {
                Some(c) if c.span.end == end && c.span.start >= start => end = c.span.start,
                _ => break,
            }
        }
        Span::new(self.file, start, end)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn pipeline(&mut self, pair: Pair<Rule>) -> Pipeline {
        let span = self.span(&pair);
        let mut keyword = None;
        let mut label = None;
        let mut members = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::pipeline_kw => keyword = Some(self.ident(p)),
                Rule::label => label = Some(self.label(p)),
                Rule::component => members.push(self.member(p, true)),
                Rule::test => members.push(self.member(p, false)),
                _ => {}
            }
        }
        Pipeline {
            keyword: keyword.unwrap_or_else(|| self.missing_ident(span)),
            label: label.unwrap_or_else(|| self.missing_label(span)),
            members,
            span,
        }
    }

    fn member(&mut self, pair: Pair<Rule>, has_type: bool) -> Member {
        let span = self.span(&pair);
        let mut idents = Vec::new();
        let mut label = None;
        let mut attributes = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::member_kw | Rule::type_name => idents.push(self.ident(p)),
                Rule::label => label = Some(self.label(p)),
                Rule::attribute => attributes.push(self.attribute(p)),
                _ => {}
            }
        }
        let mut idents = idents.into_iter();
        let keyword = idents.next().unwrap_or_else(|| self.missing_ident(span));
        let type_name = if has_type { idents.next() } else { None };
        Member {
            keyword,
            type_name,
            label: label.unwrap_or_else(|| self.missing_label(span)),
            attributes,
            span,
        }
    }

    /// Unreachable for text the grammar accepted; kept total so no input can panic.
    fn missing_ident(&self, span: Span) -> Ident {
        Ident {
            name: String::new(),
            span,
        }
    }

    fn missing_label(&self, span: Span) -> Label {
        Label {
            value: String::new(),
            span,
        }
    }

    fn label(&mut self, pair: Pair<Rule>) -> Label {
        let span = self.span(&pair);
        let body = pair.into_inner().next();
        let value = match body {
            Some(b) => self.string_body(&b).0,
            None => String::new(),
        };
        Label { value, span }
    }

    /// Resolves escapes; reports bad ones at their exact place.
    fn string_body(&mut self, body: &Pair<Rule>) -> (String, bool) {
        let text = body.as_str();
        let start = body.as_span().start();
        let (value, errors) = unescape(text);
        for e in errors {
            self.diagnostics.push(
                Diagnostic::error(
                    codes::BAD_ESCAPE,
                    Span::new(self.file, start + e.offset, start + e.offset + e.len),
                    e.message,
                )
                .with_label("bad escape")
                .with_help_opt(e.help),
            );
        }
        let escaped = value != text;
        (value, escaped)
    }

    fn attribute(&mut self, pair: Pair<Rule>) -> Attribute {
        let span = self.span(&pair);
        let mut key = None;
        let mut target = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::attr_key => key = Some(self.ident(p)),
                Rule::target => {
                    target = Some(Target {
                        text: p.as_str().to_string(),
                        span: self.span(&p),
                    })
                }
                Rule::value => value = Some(self.value(p)),
                _ => {}
            }
        }
        Attribute {
            key: key.unwrap_or_else(|| self.missing_ident(span)),
            target,
            value: value.unwrap_or(Value {
                kind: ValueKind::Null,
                span,
            }),
            span,
        }
    }

    /// Any expression-level rule. Levels with a single child collapse into it, so the
    /// tree holds only what was written.
    fn value(&mut self, pair: Pair<Rule>) -> Value {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        match rule {
            Rule::value => self.first_child(pair, span),
            Rule::or_expr | Rule::and_expr => {
                let operands: Vec<Value> = pair
                    .into_inner()
                    .filter(|p| !matches!(p.as_rule(), Rule::or_op | Rule::and_op))
                    .map(|p| self.value(p))
                    .collect();
                if operands.len() == 1 {
                    operands.into_iter().next().unwrap_or(Value {
                        kind: ValueKind::Null,
                        span,
                    })
                } else if rule == Rule::or_expr {
                    Value {
                        kind: ValueKind::Or(operands),
                        span,
                    }
                } else {
                    Value {
                        kind: ValueKind::And(operands),
                        span,
                    }
                }
            }
            Rule::not_expr => {
                let mut count = 0;
                let mut operand = None;
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::bang {
                        count += 1;
                    } else {
                        operand = Some(self.value(p));
                    }
                }
                let operand = operand.unwrap_or(Value {
                    kind: ValueKind::Null,
                    span,
                });
                if count == 0 {
                    operand
                } else {
                    Value {
                        kind: ValueKind::Not {
                            count,
                            operand: Box::new(operand),
                        },
                        span,
                    }
                }
            }
            Rule::cmp_expr => {
                let mut parts = pair.into_inner();
                let lhs = parts.next().map(|p| self.value(p));
                let op = parts.next();
                let rhs = parts.next().map(|p| self.value(p));
                match (lhs, op, rhs) {
                    (Some(lhs), Some(op), Some(rhs)) => Value {
                        kind: ValueKind::Compare {
                            op: compare_op(op.as_str()),
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        },
                        span,
                    },
                    (Some(lhs), _, _) => lhs,
                    _ => Value {
                        kind: ValueKind::Null,
                        span,
                    },
                }
            }
            Rule::paren => {
                let inner = self.first_child(pair, span);
                Value {
                    kind: ValueKind::Paren(Box::new(inner)),
                    span,
                }
            }
            Rule::list => {
                let items = pair
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::value)
                    .map(|p| self.value(p))
                    .collect();
                Value {
                    kind: ValueKind::List(items),
                    span,
                }
            }
            Rule::map => {
                let entries = pair
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::entry)
                    .map(|p| self.entry(p))
                    .collect();
                Value {
                    kind: ValueKind::Map(entries),
                    span,
                }
            }
            Rule::call => self.call(pair, span),
            Rule::string => {
                let body = pair.into_inner().next();
                let (value, escaped) = match body {
                    Some(b) => self.string_body(&b),
                    None => (String::new(), false),
                };
                Value {
                    kind: ValueKind::Str(Str {
                        value,
                        raw: false,
                        escaped,
                    }),
                    span,
                }
            }
            Rule::raw_string => {
                let value = pair
                    .into_inner()
                    .next()
                    .map(|b| b.as_str().to_string())
                    .unwrap_or_default();
                Value {
                    kind: ValueKind::Str(Str {
                        value,
                        raw: true,
                        escaped: false,
                    }),
                    span,
                }
            }
            Rule::number => Value {
                kind: ValueKind::Number(pair.as_str().to_string()),
                span,
            },
            Rule::boolean => Value {
                kind: ValueKind::Bool(pair.as_str() == "true"),
                span,
            },
            Rule::null => Value {
                kind: ValueKind::Null,
                span,
            },
            Rule::path => Value {
                kind: ValueKind::Path(self.path(pair.as_str(), span)),
                span,
            },
            _ => self.first_child(pair, span),
        }
    }

    fn first_child(&mut self, pair: Pair<Rule>, span: Span) -> Value {
        match pair
            .into_inner()
            .find(|p| !matches!(p.as_rule(), Rule::lparen | Rule::rparen))
        {
            Some(p) => self.value(p),
            None => Value {
                kind: ValueKind::Null,
                span,
            },
        }
    }

    fn entry(&mut self, pair: Pair<Rule>) -> MapEntry {
        let span = self.span(&pair);
        let mut key = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => key = Some((p.as_str().to_string(), self.span(&p))),
                Rule::string => {
                    let key_span = self.span(&p);
                    let body = p.into_inner().next();
                    let text = match body {
                        Some(b) => self.string_body(&b).0,
                        None => String::new(),
                    };
                    key = Some((text, key_span));
                }
                Rule::value => value = Some(self.value(p)),
                _ => {}
            }
        }
        let (key, key_span) = key.unwrap_or((String::new(), span));
        MapEntry {
            key,
            key_span,
            value: value.unwrap_or(Value {
                kind: ValueKind::Null,
                span,
            }),
            span,
        }
    }

    fn call(&mut self, pair: Pair<Rule>, span: Span) -> Value {
        let mut name = None;
        let mut args = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::call_name => name = Some(self.ident(p)),
                Rule::named_arg => {
                    let arg_span = self.span(&p);
                    let mut arg_name = None;
                    let mut value = None;
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::ident => arg_name = Some(self.ident(q)),
                            Rule::value => value = Some(self.value(q)),
                            _ => {}
                        }
                    }
                    args.push(Argument {
                        name: arg_name,
                        value: value.unwrap_or(Value {
                            kind: ValueKind::Null,
                            span: arg_span,
                        }),
                        span: arg_span,
                    });
                }
                Rule::value => {
                    let value = self.value(p);
                    args.push(Argument {
                        name: None,
                        span: value.span,
                        value,
                    });
                }
                _ => {}
            }
        }
        Value {
            kind: ValueKind::Call(Call {
                name: name.unwrap_or_else(|| self.missing_ident(span)),
                args,
            }),
            span,
        }
    }

    /// Splits `a.b[0].c` into segments; an index too large for the machine is reported.
    fn path(&mut self, text: &str, span: Span) -> Vec<PathSegment> {
        let mut segments = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let close = after.find(']').unwrap_or(after.len());
                let digits = &after[..close];
                match digits.parse::<usize>() {
                    Ok(n) => segments.push(PathSegment::Index(n)),
                    Err(_) => self.diagnostics.push(
                        Diagnostic::error(
                            codes::BAD_NUMBER,
                            span.shifted(offset + 1, digits.len()),
                            format!("the index `{digits}` is too large"),
                        )
                        .with_label("too large"),
                    ),
                }
                let used = (close + 2).min(rest.len());
                rest = &rest[used..];
                offset += used;
            } else {
                let rest_key = rest.strip_prefix('.').unwrap_or(rest);
                let skipped = rest.len() - rest_key.len();
                let end = rest_key.find(['.', '[']).unwrap_or(rest_key.len());
                segments.push(PathSegment::Key(rest_key[..end].to_string()));
                rest = &rest_key[end..];
                offset += skipped + end;
            }
        }
        segments
    }
}

fn compare_op(text: &str) -> CompareOp {
    match text {
        "==" => CompareOp::Cmp(CmpOp::Eq),
        "!=" => CompareOp::Cmp(CmpOp::Ne),
        "<" => CompareOp::Cmp(CmpOp::Lt),
        "<=" => CompareOp::Cmp(CmpOp::Le),
        ">" => CompareOp::Cmp(CmpOp::Gt),
        ">=" => CompareOp::Cmp(CmpOp::Ge),
        "=~" => CompareOp::Match,
        _ => CompareOp::In,
    }
}

/// What the grammar wanted, in words.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::pipeline | Rule::pipeline_kw => "a `pipeline` block",
        Rule::component | Rule::test | Rule::member_kw => "a component or test block",
        Rule::type_name => "a component type",
        Rule::attribute | Rule::attr_key => "an attribute",
        Rule::target => "a component name",
        Rule::ident | Rule::call_name => "a name",
        Rule::label => "a quoted name",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::comma => "`,`",
        Rule::eq => "`=`",
        Rule::entry => "a map entry (`key = value`)",
        Rule::named_arg => "an argument",
        Rule::or_op | Rule::and_op | Rule::cmp_op => return None,
        _ => "a value",
    })
}

/// Turns pest's error into ours: "expected `=`, found a string", underlining the token
/// that was found.
fn syntax_error(file: usize, text: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let positives: Vec<Rule> = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    if positives.contains(&Rule::label) {
        if let Some(d) = not_a_pipeline(file, text, pos) {
            return d;
        }
    }
    let expected = expected_words(&positives);
    let (found, len) = found_at(text, pos);
    let span = Span::new(file, pos, pos + len);
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {expected}, found {found}")
    };
    let label = if expected.is_empty() {
        "unexpected".to_string()
    } else {
        format!("expected {expected}")
    };
    let help = syntax_help(&positives, text, pos);
    Diagnostic::error(codes::SYNTAX, span, message)
        .with_label(label)
        .with_help_opt(help)
}

/// At the top level a name is expected after `pipeline`; when the word before is not
/// `pipeline`, the file does not start a block at all, and saying so beats asking for a
/// quoted name.
fn not_a_pipeline(file: usize, text: &str, pos: usize) -> Option<Diagnostic> {
    if crate::prescan::depth_at(text, pos) != 0 {
        return None;
    }
    let before = text.get(..pos)?.trim_end();
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map(|(i, _)| i)?;
    let word = &before[word_start..];
    if word == "pipeline" {
        return None;
    }
    Some(
        Diagnostic::error(
            codes::SYNTAX,
            Span::new(file, word_start, before.len()),
            format!("expected a `pipeline` block, found `{word}`"),
        )
        .with_label("expected `pipeline \"name\" { ... }`")
        .with_help_opt(crate::suggest::did_you_mean(word, ["pipeline"]).or_else(|| {
            Some("a file holds `pipeline \"name\" { ... }` blocks; attributes go inside components".into())
        })),
    )
}

fn expected_words(positives: &[Rule]) -> String {
    // A missing `=` is by far the likeliest reading when it is one of the options.
    let rules: Vec<Rule> = if positives.contains(&Rule::eq) {
        vec![Rule::eq]
    } else {
        positives.to_vec()
    };
    let mut words: Vec<&str> = Vec::new();
    for rule in rules {
        if let Some(w) = describe(rule) {
            if !words.contains(&w) {
                words.push(w);
            }
        }
    }
    if words.is_empty() && !positives.is_empty() {
        words.push("an operator");
    }
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn syntax_help(positives: &[Rule], text: &str, pos: usize) -> Option<String> {
    let rest = text.get(pos..).unwrap_or("");
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if positives.contains(&Rule::label) && !word.is_empty() {
        return Some(format!("names are written in quotes: `\"{word}\"`"));
    }
    if positives.contains(&Rule::eq) {
        return Some("attributes are written `key = value`".into());
    }
    if ["in", "true", "false", "null"].contains(&word.as_str()) {
        return Some(format!(
            "`{word}` is a reserved word; it cannot name a component"
        ));
    }
    if ["==", "!=", "<", ">", "=~"]
        .iter()
        .any(|op| rest.starts_with(op))
    {
        return Some("comparisons do not chain: write `a < b && b < c`".into());
    }
    if rest.starts_with('=') {
        return Some("to compare, write `==`".into());
    }
    if rest.starts_with('\'') {
        return Some("strings use double quotes \"...\"; raw strings use '''...'''".into());
    }
    None
}

/// What is at `pos`, in words, and how many bytes to underline.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("end of file".into(), 0);
    };
    if rest.starts_with("'''") {
        return ("a raw string".into(), 3);
    }
    if first == '"' {
        let len = rest[1..].find(['"', '\n']).map_or(1, |n| {
            if rest.as_bytes().get(n + 1) == Some(&b'"') {
                n + 2
            } else {
                1
            }
        });
        return ("a string".into(), len);
    }
    if first.is_alphanumeric() || first == '_' || first == '@' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '@' | '.' | '-'))
            .collect();
        return (format!("`{word}`"), word.len());
    }
    let shown = if first.is_control() {
        first.escape_unicode().to_string()
    } else {
        first.to_string()
    };
    (format!("`{shown}`"), first.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> File {
        let parsed = parse_file(0, text);
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        parsed.file.unwrap()
    }

    fn value(text: &str) -> Value {
        parse_value(0, text).unwrap()
    }

    fn syntax(text: &str) -> Diagnostic {
        let parsed = parse_file(0, text);
        assert!(parsed.file.is_none());
        parsed.diagnostics.into_iter().next().unwrap()
    }

    #[test]
    fn blocks_attributes_and_statements() {
        let file = parse_ok(
            "pipeline \"p\" {\n  source file \"in\" { path = \"x\"  mode = \"follow\" }\n  test \"t\" {\n    given in = [{a = 1}]\n    expect out.errors = count(0)\n  }\n}\n",
        );
        let p = &file.pipelines[0];
        assert_eq!(p.keyword.name, "pipeline");
        assert_eq!(p.label.value, "p");
        assert_eq!(p.members.len(), 2);
        let src = &p.members[0];
        assert_eq!(src.type_name.as_ref().unwrap().name, "file");
        assert_eq!(src.attributes.len(), 2);
        let test = &p.members[1];
        assert!(test.type_name.is_none());
        assert_eq!(
            test.attributes[1].target.as_ref().unwrap().text,
            "out.errors"
        );
    }

    #[test]
    fn precedence_is_or_and_not_comparison() {
        let v = value("!a == 1 && b || c in [1, 2]");
        let ValueKind::Or(ors) = v.kind else {
            panic!("{v:?}")
        };
        assert_eq!(ors.len(), 2);
        let ValueKind::And(ands) = &ors[0].kind else {
            panic!()
        };
        let ValueKind::Not { count: 1, operand } = &ands[0].kind else {
            panic!()
        };
        assert!(matches!(
            operand.kind,
            ValueKind::Compare {
                op: CompareOp::Cmp(CmpOp::Eq),
                ..
            }
        ));
        assert!(matches!(
            ors[1].kind,
            ValueKind::Compare {
                op: CompareOp::In,
                ..
            }
        ));
    }

    #[test]
    fn paths_split_into_segments() {
        let v = value("tags[0].name");
        let ValueKind::Path(segs) = v.kind else {
            panic!()
        };
        assert_eq!(
            segs,
            [
                PathSegment::Key("tags".into()),
                PathSegment::Index(0),
                PathSegment::Key("name".into())
            ]
        );
        let v = value("@timestamp");
        assert!(
            matches!(v.kind, ValueKind::Path(ref s) if s == &[PathSegment::Key("@timestamp".into())])
        );
    }

    #[test]
    fn calls_take_named_arguments() {
        let v = value("volume(file.size, per = 1h)");
        let ValueKind::Call(call) = v.kind else {
            panic!()
        };
        assert_eq!(call.name.name, "volume");
        assert_eq!(call.args.len(), 2);
        assert_eq!(call.args[1].name.as_ref().unwrap().name, "per");
    }

    #[test]
    fn keywords_are_not_paths() {
        assert!(matches!(value("true").kind, ValueKind::Bool(true)));
        assert!(matches!(value("null").kind, ValueKind::Null));
        assert!(matches!(value("input").kind, ValueKind::Path(_)));
        assert!(matches!(value("truthy").kind, ValueKind::Path(_)));
    }

    #[test]
    fn strings_and_raw_strings() {
        let v = value(r#""a\tb""#);
        assert!(
            matches!(v.kind, ValueKind::Str(Str { ref value, escaped: true, .. }) if value == "a\tb")
        );
        let v = value("'''x\n\\d'''");
        assert!(
            matches!(v.kind, ValueKind::Str(Str { ref value, raw: true, .. }) if value == "x\n\\d")
        );
        let errs = parse_value(0, r#""\q""#).unwrap_err();
        assert_eq!(errs[0].code, codes::BAD_ESCAPE);
        assert_eq!((errs[0].span.start, errs[0].span.end), (1, 3));
    }

    #[test]
    fn missing_equals_says_so() {
        let d = syntax("pipeline \"p\" {\n  source file \"a\" {\n    path \"x\"\n  }\n}\n");
        assert_eq!(d.message, "expected `=`, found a string");
        assert_eq!(
            &"pipeline \"p\" {\n  source file \"a\" {\n    path \"x\"\n  }\n}\n"
                [d.span.start..d.span.end],
            "\"x\""
        );
    }

    #[test]
    fn unquoted_labels_get_a_hint() {
        let d = syntax("pipeline p {}\n");
        assert_eq!(d.message, "expected a quoted name, found `p`");
        assert_eq!(
            d.help.as_deref(),
            Some("names are written in quotes: `\"p\"`")
        );
    }

    #[test]
    fn operators_do_not_crowd_the_expectation() {
        let d = syntax("pipeline \"p\" {\n  source file \"a\" { path = \"x\" \"y\" }\n}\n");
        assert_eq!(d.message, "expected an attribute or `}`, found a string");
    }

    #[test]
    fn long_operator_chains_do_not_recurse() {
        let text = format!("a{}", " || a".repeat(50_000));
        let v = value(&text);
        assert!(matches!(v.kind, ValueKind::Or(ref ops) if ops.len() == 50_001));
        let text = format!("{}a", "!".repeat(50_000));
        assert!(matches!(
            value(&text).kind,
            ValueKind::Not { count: 50_000, .. }
        ));
    }
}
