//! The formatter: one canonical layout for every file.
//!
//! - two spaces of indentation, one attribute per line, `=` aligned within a run of
//!   attributes (as `terraform fmt` does; a blank line or a value spanning several lines
//!   ends the run);
//! - one blank line between blocks; blank lines between attributes kept, collapsed to one;
//! - lists on one line when they fit in 80 columns, otherwise one item per line with a
//!   trailing comma; a map that is an attribute's whole value gets one entry per line,
//!   maps inside lists or calls stay on one line when they fit;
//! - operators with one space around them, `!` against its operand, `f(a, b = c)`;
//! - literals (strings, raw strings, numbers) exactly as written: raw strings keep every
//!   byte, so a Rhai script is never touched;
//! - every comment kept: own-line comments stay before what follows them, trailing
//!   comments stay at the end of their line, and a comment in a place with no line of
//!   its own (inside an expression, say) moves to its own line just above.
//!
//! Formatting is idempotent and never changes the plan a file compiles to.

use crate::ast::{Comment, File, Member, Pipeline, Value, ValueKind};
use crate::diag::{Diagnostic, Span};
use crate::parse::parse_file;
use crate::source::SourceFile;

/// Lines are kept within this many columns where the layout allows it.
pub const WIDTH: usize = 80;

const INDENT: &str = "  ";

/// Formats a file; a file with a syntax error is returned as its diagnostics.
pub fn format_source(file: &SourceFile) -> Result<String, Vec<Diagnostic>> {
    let parsed = parse_file(0, &file.text);
    let Some(ast) = parsed.file else {
        return Err(parsed.diagnostics);
    };
    Ok(format_file(&ast, &file.text))
}

/// Prints a parsed file.
pub fn format_file(ast: &File, src: &str) -> String {
    let mut printer = Printer {
        src,
        comments: &ast.comments,
        used: vec![false; ast.comments.len()],
    };
    let (_, lines) = printer.walk(
        &ast.pipelines,
        (0, src.len()),
        Walk {
            blocks: true,
            open_comment: false,
        },
        |p, pipeline| (None, p.pipeline(pipeline)),
        |pipeline| pipeline.span,
    );
    let text = render_lines(&lines, 0, false);
    if text.is_empty() {
        text
    } else {
        text + "\n"
    }
}

/// One line of a block body (or list, or map) before indentation and alignment.
enum Line {
    Blank,
    Comment(String),
    Item {
        /// The attribute or map key, aligned within its run.
        key: Option<String>,
        /// The rest; continuation lines carry their own indentation.
        text: String,
        trailing: Option<String>,
    },
}

/// How a sequence is laid out.
#[derive(Clone, Copy)]
struct Walk {
    /// Blocks: always a blank line between items.
    blocks: bool,
    /// A comment right after the opening bracket stays on that line.
    open_comment: bool,
}

struct Printer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    used: Vec<bool>,
}

impl<'a> Printer<'a> {
    fn text(&self, span: Span) -> &'a str {
        self.src.get(span.start..span.end).unwrap_or("")
    }

    /// Unused comments starting in `[from, to)`, now used.
    fn take_comments(&mut self, from: usize, to: usize) -> Vec<Comment> {
        let first = self.comments.partition_point(|c| c.span.start < from);
        let mut out = Vec::new();
        for (i, c) in self.comments.iter().enumerate().skip(first) {
            if c.span.start >= to {
                break;
            }
            if let Some(flag) = self.used.get_mut(i) {
                if !*flag {
                    *flag = true;
                    out.push(c.clone());
                }
            }
        }
        out
    }

    /// The first unused comment in `[end, limit)` on the same line as `end`, now used.
    fn trailing_comment(&mut self, end: usize, limit: usize) -> Option<String> {
        let first = self.comments.partition_point(|c| c.span.start < end);
        let (i, c) = self
            .comments
            .iter()
            .enumerate()
            .skip(first)
            .find(|(i, _)| !self.used.get(*i).copied().unwrap_or(true))?;
        if c.span.start >= limit || self.has_newline(end, c.span.start) {
            return None;
        }
        if let Some(flag) = self.used.get_mut(i) {
            *flag = true;
        }
        Some(c.text.clone())
    }

    fn has_newline(&self, from: usize, to: usize) -> bool {
        self.src.get(from..to).is_some_and(|s| s.contains('\n'))
    }

    fn blank_between(&self, from: usize, to: usize) -> bool {
        self.src
            .get(from..to)
            .is_some_and(|s| s.bytes().filter(|b| *b == b'\n').count() >= 2)
    }

    fn has_comment_in(&self, span: Span) -> bool {
        let first = self.comments.partition_point(|c| c.span.start < span.start);
        self.comments
            .get(first)
            .is_some_and(|c| c.span.start < span.end)
    }

    /// The next position holding code (not space, not a comment) from `pos`.
    fn next_code(&self, mut pos: usize) -> usize {
        let bytes = self.src.as_bytes();
        loop {
            while bytes.get(pos).is_some_and(|b| b.is_ascii_whitespace()) {
                pos += 1;
            }
            let i = self.comments.partition_point(|c| c.span.start < pos);
            match self.comments.get(i) {
                Some(c) if c.span.start == pos => pos = c.span.end,
                _ => return pos,
            }
        }
    }

    /// Lays out a sequence of items with the comments and blank lines around them.
    fn walk<T>(
        &mut self,
        items: &[T],
        region: (usize, usize),
        how: Walk,
        mut render: impl FnMut(&mut Self, &T) -> (Option<String>, String),
        span_of: impl Fn(&T) -> Span,
    ) -> (Option<String>, Vec<Line>) {
        let mut lines = Vec::new();
        let mut open = None;
        let mut prev_end = region.0;
        let mut first = true;
        for (i, item) in items.iter().enumerate() {
            let span = span_of(item);
            let mut group_start = true;
            for c in self.take_comments(prev_end, span.start) {
                if how.open_comment
                    && first
                    && open.is_none()
                    && !self.has_newline(prev_end, c.span.start)
                {
                    open = Some(c.text);
                    prev_end = c.span.end;
                    continue;
                }
                if !first
                    && (self.blank_between(prev_end, c.span.start) || (how.blocks && group_start))
                {
                    lines.push(Line::Blank);
                }
                lines.push(Line::Comment(c.text));
                first = false;
                group_start = false;
                prev_end = c.span.end;
            }
            if !first && (self.blank_between(prev_end, span.start) || (how.blocks && group_start)) {
                lines.push(Line::Blank);
            }
            let (key, text) = render(self, item);
            for c in self.take_comments(span.start, span.end) {
                lines.push(Line::Comment(c.text));
            }
            let next_start = items.get(i + 1).map_or(region.1, |n| span_of(n).start);
            let trailing = self.trailing_comment(span.end, next_start);
            prev_end = span.end;
            if trailing.is_some() {
                prev_end = self
                    .src
                    .get(span.end..)
                    .and_then(|s| s.find('\n'))
                    .map_or(self.src.len(), |n| span.end + n);
            }
            lines.push(Line::Item {
                key,
                text,
                trailing,
            });
            first = false;
        }
        for c in self.take_comments(prev_end, region.1) {
            if how.open_comment
                && first
                && open.is_none()
                && !self.has_newline(prev_end, c.span.start)
            {
                open = Some(c.text);
                prev_end = c.span.end;
                continue;
            }
            if !first && self.blank_between(prev_end, c.span.start) {
                lines.push(Line::Blank);
            }
            lines.push(Line::Comment(c.text));
            first = false;
            prev_end = c.span.end;
        }
        (open, lines)
    }

    /// `{ ... }` around laid-out lines, or `{}` when there is nothing inside.
    fn braced(
        open_bracket: &str,
        close_bracket: &str,
        open: Option<String>,
        lines: &[Line],
        indent: usize,
        align: bool,
    ) -> String {
        if lines.is_empty() && open.is_none() {
            return format!("{open_bracket}{close_bracket}");
        }
        let mut out = open_bracket.to_string();
        if let Some(c) = open {
            out.push(' ');
            out.push_str(&c);
        }
        out.push('\n');
        out.push_str(&render_lines(lines, indent + 1, align));
        out.push('\n');
        out.push_str(&INDENT.repeat(indent));
        out.push_str(close_bracket);
        out
    }

    fn pipeline(&mut self, p: &Pipeline) -> String {
        let header = format!("{} {}", p.keyword.name, self.text(p.label.span));
        let open_pos = self.next_code(p.label.span.end);
        let close = p.span.end.saturating_sub(1);
        let (open, lines) = self.walk(
            &p.members,
            (open_pos + 1, close),
            Walk {
                blocks: true,
                open_comment: true,
            },
            |pr, m| (None, pr.member(m, 1)),
            |m| m.span,
        );
        format!(
            "{header} {}",
            Self::braced("{", "}", open, &lines, 0, false)
        )
    }

    fn member(&mut self, m: &Member, indent: usize) -> String {
        let mut header = m.keyword.name.clone();
        if let Some(t) = &m.type_name {
            header.push(' ');
            header.push_str(&t.name);
        }
        header.push(' ');
        header.push_str(self.text(m.label.span));
        let open_pos = self.next_code(m.label.span.end);
        let close = m.span.end.saturating_sub(1);
        let inner = indent + 1;
        let (open, lines) = self.walk(
            &m.attributes,
            (open_pos + 1, close),
            Walk {
                blocks: false,
                open_comment: true,
            },
            |p, a| {
                let head = a.head();
                let col = inner * 2 + head.chars().count() + 3;
                let text = p.value(&a.value, inner, col, true);
                (Some(head), text)
            },
            |a| a.span,
        );
        format!(
            "{header} {}",
            Self::braced("{", "}", open, &lines, indent, true)
        )
    }

    /// The length of `v` printed on one line, if it can be (no comment inside, no
    /// line break in a literal).
    fn inline_len(&self, v: &Value) -> Option<usize> {
        if self.has_comment_in(v.span) {
            return None;
        }
        let sum = |vals: &mut dyn Iterator<Item = &Value>| -> Option<(usize, usize)> {
            let mut total = 0;
            let mut n = 0;
            for x in vals {
                total += self.inline_len(x)?;
                n += 1;
            }
            Some((total, n))
        };
        Some(match &v.kind {
            ValueKind::Null
            | ValueKind::Bool(_)
            | ValueKind::Number(_)
            | ValueKind::Str(_)
            | ValueKind::Path(_) => {
                let t = self.text(v.span);
                if t.contains('\n') {
                    return None;
                }
                t.chars().count()
            }
            ValueKind::Paren(inner) => self.inline_len(inner)? + 2,
            ValueKind::Not { count, operand } => count + self.inline_len(operand)?,
            ValueKind::And(ops) | ValueKind::Or(ops) => {
                let (total, n) = sum(&mut ops.iter())?;
                total + 4 * n.saturating_sub(1)
            }
            ValueKind::Compare { op, lhs, rhs } => {
                self.inline_len(lhs)? + self.inline_len(rhs)? + op.symbol().len() + 2
            }
            ValueKind::Call(call) => {
                let mut total = call.name.name.len() + 2;
                for (i, a) in call.args.iter().enumerate() {
                    if i > 0 {
                        total += 2;
                    }
                    if let Some(n) = &a.name {
                        total += n.name.len() + 3;
                    }
                    total += self.inline_len(&a.value)?;
                }
                total
            }
            ValueKind::List(items) => {
                let (total, n) = sum(&mut items.iter())?;
                2 + total + 2 * n.saturating_sub(1)
            }
            ValueKind::Map(entries) => {
                if entries.is_empty() {
                    2
                } else {
                    let mut total = 4 + 2 * (entries.len() - 1);
                    for e in entries {
                        total += self.text(e.key_span).chars().count()
                            + 3
                            + self.inline_len(&e.value)?;
                    }
                    total
                }
            }
        })
    }

    /// Prints a value starting at column `col`; `attr_map` marks a map that is an
    /// attribute's whole value (always one entry per line).
    fn value(&mut self, v: &Value, indent: usize, col: usize, attr_map: bool) -> String {
        match &v.kind {
            ValueKind::Null
            | ValueKind::Bool(_)
            | ValueKind::Number(_)
            | ValueKind::Str(_)
            | ValueKind::Path(_) => self.text(v.span).to_string(),
            ValueKind::Paren(inner) => format!("({})", self.value(inner, indent, col + 1, false)),
            ValueKind::Not { count, operand } => {
                let bangs = "!".repeat(*count);
                let rest = self.value(operand, indent, col + count, false);
                format!("{bangs}{rest}")
            }
            ValueKind::And(ops) | ValueKind::Or(ops) => {
                let sep = if matches!(v.kind, ValueKind::And(_)) {
                    " && "
                } else {
                    " || "
                };
                let mut out = String::new();
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    let c = col_after(col, &out);
                    out.push_str(&self.value(op, indent, c, false));
                }
                out
            }
            ValueKind::Compare { op, lhs, rhs } => {
                let mut out = self.value(lhs, indent, col, false);
                out.push(' ');
                out.push_str(op.symbol());
                out.push(' ');
                let c = col_after(col, &out);
                out.push_str(&self.value(rhs, indent, c, false));
                out
            }
            ValueKind::Call(call) => {
                let mut out = format!("{}(", call.name.name);
                for (i, a) in call.args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if let Some(n) = &a.name {
                        out.push_str(&n.name);
                        out.push_str(" = ");
                    }
                    let c = col_after(col, &out);
                    out.push_str(&self.value(&a.value, indent, c, false));
                }
                out.push(')');
                out
            }
            ValueKind::List(items) => {
                if let Some(n) = self.inline_len(v) {
                    if col + n <= WIDTH {
                        let mut out = String::from("[");
                        for (i, item) in items.iter().enumerate() {
                            if i > 0 {
                                out.push_str(", ");
                            }
                            let c = col_after(col, &out);
                            out.push_str(&self.value(item, indent, c, false));
                        }
                        out.push(']');
                        return out;
                    }
                }
                let inner = indent + 1;
                let (open, lines) = self.walk(
                    items,
                    (v.span.start + 1, v.span.end.saturating_sub(1)),
                    Walk {
                        blocks: false,
                        open_comment: true,
                    },
                    |p, item| (None, p.value(item, inner, inner * 2, false) + ","),
                    |item| item.span,
                );
                Self::braced("[", "]", open, &lines, indent, false)
            }
            ValueKind::Map(entries) => {
                if !attr_map || entries.is_empty() {
                    if let Some(n) = self.inline_len(v) {
                        if col + n <= WIDTH {
                            if entries.is_empty() {
                                return "{}".to_string();
                            }
                            let mut out = String::from("{ ");
                            for (i, e) in entries.iter().enumerate() {
                                if i > 0 {
                                    out.push_str(", ");
                                }
                                out.push_str(self.text(e.key_span));
                                out.push_str(" = ");
                                let c = col_after(col, &out);
                                out.push_str(&self.value(&e.value, indent, c, false));
                            }
                            out.push_str(" }");
                            return out;
                        }
                    }
                }
                let inner = indent + 1;
                let (open, lines) = self.walk(
                    entries,
                    (v.span.start + 1, v.span.end.saturating_sub(1)),
                    Walk {
                        blocks: false,
                        open_comment: true,
                    },
                    |p, e| {
                        let key = p.text(e.key_span).to_string();
                        let col = inner * 2 + key.chars().count() + 3;
                        let text = p.value(&e.value, inner, col, false);
                        (Some(key), text)
                    },
                    |e| e.span,
                );
                Self::braced("{", "}", open, &lines, indent, true)
            }
        }
    }
}

/// The column after printing `s` from column `col`.
fn col_after(col: usize, s: &str) -> usize {
    match s.rfind('\n') {
        Some(n) => s[n + 1..].chars().count(),
        None => col + s.chars().count(),
    }
}

/// Indents lines, aligns `=` (when `align`) and trailing comments within runs of
/// items, and joins them. A run ends at a blank line or after an item that spans
/// several lines.
fn render_lines(lines: &[Line], indent: usize, align: bool) -> String {
    let pad = INDENT.repeat(indent);
    let mut runs: Vec<Vec<usize>> = vec![Vec::new()];
    for (i, line) in lines.iter().enumerate() {
        match line {
            Line::Blank => runs.push(Vec::new()),
            Line::Comment(_) => {}
            Line::Item { text, .. } => {
                if let Some(run) = runs.last_mut() {
                    run.push(i);
                }
                if text.contains('\n') {
                    runs.push(Vec::new());
                }
            }
        }
    }
    // Each item's text up to its trailing comment, aligned within its run.
    let mut bodies: Vec<String> = vec![String::new(); lines.len()];
    let mut comment_column: Vec<usize> = vec![0; lines.len()];
    for run in &runs {
        let key_width = run
            .iter()
            .filter_map(|&i| match lines.get(i) {
                Some(Line::Item { key: Some(k), .. }) if align => Some(k.chars().count()),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        for &i in run {
            if let Some(Line::Item { key, text, .. }) = lines.get(i) {
                let mut s = String::new();
                if let Some(k) = key {
                    s.push_str(k);
                    s.push_str(&" ".repeat(key_width.saturating_sub(k.chars().count())));
                    s.push_str(" = ");
                }
                s.push_str(text);
                if let Some(slot) = bodies.get_mut(i) {
                    *slot = s;
                }
            }
        }
        let column = run
            .iter()
            .filter(|&&i| {
                matches!(
                    lines.get(i),
                    Some(Line::Item {
                        trailing: Some(_),
                        ..
                    })
                )
            })
            .filter_map(|&i| bodies.get(i))
            .filter(|b| !b.contains('\n'))
            .map(|b| b.chars().count())
            .max()
            .unwrap_or(0);
        for &i in run {
            if let Some(slot) = comment_column.get_mut(i) {
                *slot = column;
            }
        }
    }
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match line {
            Line::Blank => out.push(String::new()),
            Line::Comment(c) => out.push(format!("{pad}{c}")),
            Line::Item { trailing, .. } => {
                let body = bodies.get(i).map_or("", String::as_str);
                let mut s = format!("{pad}{body}");
                if let Some(c) = trailing {
                    let last_line = body.rsplit('\n').next().unwrap_or("").chars().count();
                    let column = comment_column.get(i).copied().unwrap_or(0).max(last_line);
                    s.push_str(&" ".repeat(column - last_line + 1));
                    s.push_str(c);
                }
                out.push(s);
            }
        }
    }
    out.join("\n")
}
