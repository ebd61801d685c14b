//! Diagnostics: what went wrong, where, and what to do about it.
//!
//! Every diagnostic has a stable code (listed in [`crate::codes`]), a primary span, an
//! optional "did you mean" style help and optional secondary spans (a duplicate points
//! at the first definition too). Two renderings: [`render_short`], one deterministic
//! line per diagnostic for tools and tests, and [`render`], the human form with the
//! source line and a caret under the problem, in the manner of rustc.

use crate::source::{floor_boundary, line_bounds, line_col, SourceFile};
use std::fmt::Write as _;

/// A byte range in one of the files given to [`crate::compile`] (by index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: usize,
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// A span of bytes `start..end` in file number `file`.
    pub fn new(file: usize, start: usize, end: usize) -> Span {
        Span { file, start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// A span shifted right by `by` bytes (for positions inside strings).
    pub fn shifted(self, by: usize, len: usize) -> Span {
        Span {
            file: self.file,
            start: self.start + by,
            end: self.start + by + len,
        }
    }
}

/// How bad a diagnostic is: errors stop a plan from being produced, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration cannot run.
    Error,
    /// It can, but probably not as meant.
    Warning,
}

impl Severity {
    /// `error` or `warning`, as rendered.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code such as `E011`, see [`crate::codes`].
    pub code: &'static str,
    pub message: String,
    /// Where the problem is.
    pub span: Span,
    /// A short note printed under the primary span, e.g. "not a source type".
    pub label: String,
    /// What to do, e.g. "did you mean `cloudtrail`?".
    pub help: Option<String>,
    pub notes: Vec<String>,
    /// Other places worth showing, e.g. the first definition of a duplicate.
    pub secondary: Vec<(Span, String)>,
    /// Text not to repeat when the source line is shown (a literal secret): it is
    /// printed as `*`, so a CI log of `pipectl validate` does not spread it further.
    pub conceal: Vec<Span>,
}

impl Diagnostic {
    /// An error with its code, place and message; the rest is added with `with_*`.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            notes: Vec::new(),
            secondary: Vec::new(),
            conceal: Vec::new(),
        }
    }

    /// A warning with its code, place and message.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// The note under the primary span.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// What to do about it.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Sets the help only when there is one (e.g. a "did you mean" that may not exist).
    pub fn with_help_opt(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Context that is neither the label nor the help.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Another place worth showing, with its own label.
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    /// Hides the text of `span` wherever the source is shown.
    pub fn with_concealed(mut self, span: Span) -> Diagnostic {
        self.conceal.push(span);
        self
    }

    /// Whether it stops the configuration from compiling.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether it is only a warning.
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }
}

/// Sorts diagnostics by file, then position; ties keep the order they were found in.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.span.file, d.span.start));
}

fn location(span: Span, files: &[SourceFile]) -> (String, usize, usize) {
    match files.get(span.file) {
        Some(file) => {
            let (line, col) = line_col(&file.text, span.start);
            (file.path.clone(), line, col)
        }
        None => ("<unknown>".to_string(), 0, 0),
    }
}

/// One line: `path:line:col: error[E012]: message (help: ...)`.
pub fn render_short(d: &Diagnostic, files: &[SourceFile]) -> String {
    let (path, line, col) = location(d.span, files);
    let mut out = format!(
        "{path}:{line}:{col}: {}[{}]: {}",
        d.severity.word(),
        d.code,
        d.message
    );
    if let Some(help) = &d.help {
        let _ = write!(out, " (help: {help})");
    }
    out
}

/// ANSI styles, or nothing when colour is off.
struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn severity(&self, sev: Severity, text: &str) -> String {
        match sev {
            Severity::Error => self.paint("1;31", text),
            Severity::Warning => self.paint("1;33", text),
        }
    }
    fn gutter(&self, text: &str) -> String {
        self.paint("1;34", text)
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// One underlined place in the human rendering.
struct Mark<'a> {
    span: Span,
    label: &'a str,
    primary: bool,
}

/// The human rendering: the message, `--> file:line:col`, the source line with the
/// span underlined (`^` for the problem, `-` for related places), then help and notes.
pub fn render(d: &Diagnostic, files: &[SourceFile], color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    let head = format!("{}[{}]", d.severity.word(), d.code);
    let _ = writeln!(
        out,
        "{}{}",
        style.severity(d.severity, &head),
        style.bold(&format!(": {}", d.message))
    );

    let mut marks = vec![Mark {
        span: d.span,
        label: &d.label,
        primary: true,
    }];
    marks.extend(d.secondary.iter().map(|(span, label)| Mark {
        span: *span,
        label,
        primary: false,
    }));

    // The gutter is as wide as the largest line number shown.
    let width = marks
        .iter()
        .filter_map(|m| {
            files
                .get(m.span.file)
                .map(|f| line_col(&f.text, m.span.start).0)
        })
        .max()
        .unwrap_or(0)
        .to_string()
        .len();
    let pad = " ".repeat(width);

    // The primary file first, then the others in order of first mention.
    let mut file_order: Vec<usize> = Vec::new();
    for m in &marks {
        if !file_order.contains(&m.span.file) {
            file_order.push(m.span.file);
        }
    }
    for (n, file_index) in file_order.iter().enumerate() {
        let Some(file) = files.get(*file_index) else {
            continue;
        };
        let mut in_file: Vec<&Mark> = marks
            .iter()
            .filter(|m| m.span.file == *file_index)
            .collect();
        let anchor = match in_file.first() {
            Some(m) if n > 0 => m.span,
            _ => d.span,
        };
        let (line, col) = line_col(&file.text, anchor.start);
        let arrow = if n == 0 { "-->" } else { ":::" };
        let _ = writeln!(
            out,
            "{pad}{} {}:{line}:{col}",
            style.gutter(arrow),
            file.path
        );
        let _ = writeln!(out, "{pad} {}", style.gutter("|"));
        in_file.sort_by_key(|m| (m.span.start, !m.primary));
        let mut last_line: Option<usize> = None;
        for m in in_file {
            let (mline, _) = line_col(&file.text, m.span.start);
            if let Some(prev) = last_line {
                if mline > prev + 1 {
                    let _ = writeln!(out, "{}", style.gutter("..."));
                }
            }
            if last_line != Some(mline) {
                let (ls, le) = line_bounds(&file.text, m.span.start);
                let line_text = concealed(&file.text, ls, le, *file_index, &d.conceal);
                let shown = expand_tabs(&line_text);
                let number = format!("{mline:>width$} |");
                let _ = writeln!(out, "{} {}", style.gutter(&number), shown);
            }
            last_line = Some(mline);
            let _ = writeln!(
                out,
                "{pad} {} {}",
                style.gutter("|"),
                underline(&file.text, m, d.severity, &style)
            );
        }
    }

    if d.help.is_some() || !d.notes.is_empty() {
        let _ = writeln!(out, "{pad} {}", style.gutter("|"));
    }
    if let Some(help) = &d.help {
        let _ = writeln!(
            out,
            "{pad} {} {}: {help}",
            style.gutter("="),
            style.bold("help")
        );
    }
    for note in &d.notes {
        let _ = writeln!(
            out,
            "{pad} {} {}: {note}",
            style.gutter("="),
            style.bold("note")
        );
    }
    out
}

/// Spaces up to the span, then `^^^` (or `---`) as wide as the span on its first
/// line (at least one), then the label.
fn underline(text: &str, mark: &Mark, severity: Severity, style: &Style) -> String {
    let start = floor_boundary(text, mark.span.start);
    let (ls, le) = line_bounds(text, start);
    let lead = display_width(text.get(ls..start).unwrap_or(""));
    let end = floor_boundary(text, mark.span.end.clamp(start, le.max(start)));
    let width = display_width(text.get(start..end).unwrap_or("")).max(1);
    let glyph = if mark.primary { "^" } else { "-" };
    let mut line = format!("{}{}", " ".repeat(lead), glyph.repeat(width));
    if !mark.label.is_empty() {
        line.push(' ');
        line.push_str(mark.label);
    }
    let painted = if mark.primary {
        style.severity(severity, &line)
    } else {
        style.gutter(&line)
    };
    painted.trim_end().to_string()
}

/// The line `start..end` with every concealed character replaced by `*` (one for one,
/// so carets still line up).
fn concealed(text: &str, start: usize, end: usize, file: usize, conceal: &[Span]) -> String {
    let line = text.get(start..end).unwrap_or("");
    line.char_indices()
        .map(|(i, c)| {
            let at = start + i;
            let hidden = conceal
                .iter()
                .any(|s| s.file == file && s.start <= at && at < s.end);
            if hidden && !c.is_whitespace() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

const TAB: &str = "    ";

fn expand_tabs(line: &str) -> String {
    line.replace('\t', TAB)
}

fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| if c == '\t' { TAB.len() } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<SourceFile> {
        vec![
            SourceFile::new("a.pipe", "pipeline \"p\" {\n  source filee \"in\" {}\n}\n"),
            SourceFile::new("b.pipe", "x\n\ty = 1\n"),
        ]
    }

    #[test]
    fn short_rendering_is_one_line_with_help() {
        let d = Diagnostic::error("E011", Span::new(0, 24, 29), "unknown source type `filee`")
            .with_help("did you mean `file`?");
        assert_eq!(
            render_short(&d, &files()),
            "a.pipe:2:10: error[E011]: unknown source type `filee` (help: did you mean `file`?)"
        );
        let w = Diagnostic::warning("W001", Span::new(1, 0, 1), "unused");
        assert_eq!(
            render_short(&w, &files()),
            "b.pipe:1:1: warning[W001]: unused"
        );
    }

    #[test]
    fn human_rendering_underlines_the_span() {
        let d = Diagnostic::error("E011", Span::new(0, 24, 29), "unknown source type `filee`")
            .with_label("not a source type")
            .with_help("did you mean `file`?");
        let expected = "\
error[E011]: unknown source type `filee`
 --> a.pipe:2:10
  |
2 |   source filee \"in\" {}
  |          ^^^^^ not a source type
  |
  = help: did you mean `file`?
";
        assert_eq!(render(&d, &files(), false), expected);
    }

    #[test]
    fn secondary_spans_in_other_files_get_their_own_header() {
        let d = Diagnostic::error("E016", Span::new(1, 3, 4), "duplicate")
            .with_label("again")
            .with_secondary(Span::new(0, 31, 33), "first");
        let text = render(&d, &files(), false);
        let expected = "\
error[E016]: duplicate
 --> b.pipe:2:2
  |
2 |     y = 1
  |     ^ again
 ::: a.pipe:2:17
  |
2 |   source filee \"in\" {}
  |                 -- first
";
        assert_eq!(text, expected);
    }

    #[test]
    fn concealed_text_is_not_shown() {
        let files = vec![SourceFile::new("s.pipe", "token = \"hunter2\"\n")];
        let d = Diagnostic::warning("W002", Span::new(0, 8, 17), "literal")
            .with_concealed(Span::new(0, 9, 16));
        let text = render(&d, &files, false);
        assert!(text.contains("token = \"*******\""), "{text}");
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn colour_is_only_used_when_asked() {
        let d = Diagnostic::error("E001", Span::new(0, 0, 1), "x");
        assert!(!render(&d, &files(), false).contains('\x1b'));
        assert!(render(&d, &files(), true).contains("\x1b[1;31m"));
    }

    #[test]
    fn bad_spans_do_not_panic() {
        let d = Diagnostic::error("E001", Span::new(7, 500, 400), "x");
        assert_eq!(render_short(&d, &files()), "<unknown>:0:0: error[E001]: x");
        let d = Diagnostic::error("E001", Span::new(0, 500, 900), "x");
        assert!(render(&d, &files(), false).contains("^"));
    }
}
