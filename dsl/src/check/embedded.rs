//! Languages embedded in strings: regular expressions and Rhai scripts, compiled at
//! check time so that a typo is reported against the pipeline file, at the line inside
//! the string where it is.

use super::value::{offset_in_source, Lowerer};
use crate::ast::Str;
use crate::codes;
use crate::diag::{Diagnostic, Span};

/// Compiles a regular expression; reports the regex crate's message on failure.
pub fn regex_check(lw: &mut Lowerer, pattern: &str, s: &Str, span: Span) -> bool {
    let err = match regex::Regex::new(pattern) {
        Ok(_) => return true,
        Err(e) => e,
    };
    let (message, place) = regex_message(&err, pattern);
    let at = place
        .and_then(|(offset, len)| {
            let start = offset_in_source(s, span, offset)?;
            let end = offset_in_source(s, span, offset + len)?;
            Some(Span::new(span.file, start, end.max(start + 1)))
        })
        .unwrap_or(span);
    lw.push(
        Diagnostic::error(codes::BAD_REGEX, at, format!("invalid regular expression: {message}"))
            .with_label(message.clone())
            .with_help("regular expressions follow the syntax of Rust's regex crate; a raw string '''...''' saves escaping backslashes"),
    );
    false
}

/// The regex crate's message without its drawing, and where in the pattern (in
/// characters) the problem is, when it says so.
fn regex_message(err: &regex::Error, pattern: &str) -> (String, Option<(usize, usize)>) {
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let message = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| match err {
            regex::Error::CompiledTooBig(_) => "the compiled expression is too large".to_string(),
            _ => lines.last().copied().unwrap_or("invalid").to_string(),
        });
    // A one-line pattern is drawn as "    <pattern>" over "    ^^^".
    let place = match (lines.get(1), lines.get(2)) {
        (Some(shown), Some(carets))
            if !pattern.contains('\n') && shown.strip_prefix("    ") == Some(pattern) =>
        {
            let lead = carets.chars().take_while(|c| *c == ' ').count();
            let width = carets.chars().filter(|c| *c == '^').count();
            (lead >= 4 && width > 0).then(|| (lead - 4, width))
        }
        _ => None,
    };
    (message, place)
}

/// Compiles (never runs) a Rhai script; reports Rhai's message at the line and column
/// inside the string.
pub fn script_check(lw: &mut Lowerer, s: &Str, span: Span) -> bool {
    let engine = rhai::Engine::new_raw();
    let err = match engine.compile(&s.value) {
        Ok(_) => return true,
        Err(e) => e,
    };
    let message = err.0.to_string();
    let at = match (err.1.line(), err.1.position()) {
        (Some(line), col) => char_offset_of(&s.value, line, col.unwrap_or(1))
            .and_then(|off| offset_in_source(s, span, off))
            .map(|start| Span::new(span.file, start, start + 1)),
        _ => None,
    }
    .unwrap_or(span);
    let line_note = err
        .1
        .line()
        .map(|l| format!(" (line {l} of the script)"))
        .unwrap_or_default();
    lw.push(
        Diagnostic::error(
            codes::BAD_SCRIPT,
            at,
            format!("the Rhai script does not compile: {message}{line_note}"),
        )
        .with_label(message),
    );
    false
}

/// The character offset of 1-based (line, column) in `text`.
fn char_offset_of(text: &str, line: usize, col: usize) -> Option<usize> {
    let mut offset = 0;
    for (n, l) in text.split('\n').enumerate() {
        if n + 1 == line {
            let cols = l.chars().count();
            return Some(offset + col.saturating_sub(1).min(cols));
        }
        offset += l.chars().count() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_messages_lose_their_drawing_but_keep_the_place() {
        let pattern = String::from("ab(c");
        let err = regex::Regex::new(&pattern).unwrap_err();
        let (message, place) = regex_message(&err, &pattern);
        assert_eq!(message, "unclosed group");
        assert_eq!(place, Some((2, 1)));
    }

    #[test]
    fn script_positions_map_to_characters() {
        assert_eq!(char_offset_of("ab\ncdé\nx", 2, 3), Some(5));
        assert_eq!(char_offset_of("ab", 3, 1), None);
    }
}
