//! A cheap lexical pass before the grammar runs.
//!
//! It walks the text once, skipping strings, raw strings and comments, and checks what a
//! PEG parser reports badly or handles dangerously: unclosed strings and delimiters
//! (pointing at the opening one, not at the end of the file), mismatched closers, and
//! nesting deeper than [`MAX_DEPTH`] (which would otherwise let a hostile file drive the
//! parser's recursion arbitrarily deep). It also collects the comments, which the
//! grammar skips but the formatter keeps.

use crate::ast::Comment;
use crate::codes;
use crate::diag::{Diagnostic, Span};
use crate::source::line_col;

/// How deep `{`, `[` and `(` may nest, all kinds counted together.
pub const MAX_DEPTH: usize = 64;

/// What the lexer meets outside strings and comments (closed strings are skipped).
enum Token {
    /// A comment over this byte range (trailing spaces excluded).
    Comment(usize, usize),
    Open(u8, usize),
    Close(u8, usize),
    UnclosedRaw(usize),
    UnclosedString(usize),
}

/// Walks the text once, token by token; stops after an unclosed string.
struct Lexer<'a> {
    text: &'a str,
    i: usize,
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.i) {
            let start = self.i;
            match b {
                b'#' => return Some(self.comment()),
                b'/' if bytes.get(start + 1) == Some(&b'/') => return Some(self.comment()),
                b'\'' if self.text[start..].starts_with("'''") => {
                    match self.text[start + 3..].find("'''") {
                        Some(close) => self.i = start + 3 + close + 3,
                        None => {
                            self.i = bytes.len();
                            return Some(Token::UnclosedRaw(start));
                        }
                    }
                }
                b'"' => match string_end(bytes, start) {
                    Some(end) => self.i = end,
                    None => {
                        self.i = bytes.len();
                        return Some(Token::UnclosedString(start));
                    }
                },
                b'{' | b'[' | b'(' => {
                    self.i += 1;
                    return Some(Token::Open(b, start));
                }
                b'}' | b']' | b')' => {
                    self.i += 1;
                    return Some(Token::Close(b, start));
                }
                _ => self.i += 1,
            }
        }
        None
    }
}

impl Lexer<'_> {
    fn comment(&mut self) -> Token {
        let start = self.i;
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |n| start + n);
        self.i = end;
        let trimmed = self.text[start..end].trim_end();
        Token::Comment(start, start + trimmed.len())
    }
}

/// Just past the closing quote of the `"` string opened at `start`, if it closes on
/// its line.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match bytes.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' if !matches!(bytes.get(i + 1), None | Some(b'\n')) => i += 2,
            b'\n' | b'\\' => return None,
            _ => i += 1,
        }
    }
}

/// How many brackets are open at `pos` (for messages that depend on where they are).
pub fn depth_at(text: &str, pos: usize) -> usize {
    let mut depth: usize = 0;
    for token in (Lexer { text, i: 0 }) {
        match token {
            Token::Open(_, at) if at < pos => depth += 1,
            Token::Close(_, at) if at < pos => depth = depth.saturating_sub(1),
            Token::Comment(at, _) | Token::Open(_, at) | Token::Close(_, at) if at >= pos => break,
            _ => {}
        }
    }
    depth
}

/// What the pre-scan learnt about a text that is lexically sound.
#[derive(Debug)]
pub struct Scan {
    pub comments: Vec<Comment>,
    /// The deepest bracket nesting met.
    pub depth: usize,
}

/// Scans `text` (file number `file`); returns its comments and nesting depth, or the
/// first lexical error.
pub fn scan(file: usize, text: &str) -> Result<Scan, Box<Diagnostic>> {
    let mut comments = Vec::new();
    let mut depth = 0;
    let mut open: Vec<(u8, usize)> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for token in (Lexer { text, i: 0 }) {
        match token {
            Token::Comment(start, end) => comments.push(Comment {
                span: Span::new(file, start, end),
                text: text[start..end].to_string(),
            }),
            Token::UnclosedRaw(at) => {
                return Err(Box::new(
                    Diagnostic::error(
                        codes::UNCLOSED_RAW_STRING,
                        Span::new(file, at, at + 3),
                        "unclosed raw string",
                    )
                    .with_label("this raw string is never closed")
                    .with_help("end it with `'''`"),
                ))
            }
            Token::UnclosedString(at) => {
                return Err(Box::new(
                    Diagnostic::error(
                        codes::UNCLOSED_STRING,
                        Span::new(file, at, at + 1),
                        "unclosed string",
                    )
                    .with_label("this string is not closed on its line")
                    .with_help(
                        "end it with `\"`; for text over several lines use a raw string '''...'''",
                    ),
                ))
            }
            Token::Open(b, at) => {
                if open.len() >= MAX_DEPTH {
                    return Err(Box::new(
                        Diagnostic::error(
                            codes::TOO_DEEP,
                            Span::new(file, at, at + 1),
                            format!("brackets nested more than {MAX_DEPTH} deep"),
                        )
                        .with_label("too deep")
                        .with_help(
                            "flatten the value; a configuration never needs this much nesting",
                        ),
                    ));
                }
                open.push((b, at));
                depth = depth.max(open.len());
            }
            Token::Close(b, at) => {
                let want = match b {
                    b'}' => b'{',
                    b']' => b'[',
                    _ => b'(',
                };
                let closer = b as char;
                match open.pop() {
                    None => {
                        return Err(Box::new(
                            Diagnostic::error(
                                codes::UNEXPECTED_CLOSER,
                                Span::new(file, at, at + 1),
                                format!("unexpected `{closer}`"),
                            )
                            .with_label(format!("no `{}` opens this", want as char))
                            .with_help("remove it, or add the opening bracket it closes"),
                        ))
                    }
                    Some((opener, open_at)) if opener != want => {
                        let (line, _) = line_col(text, open_at);
                        return Err(Box::new(
                            Diagnostic::error(
                                codes::UNEXPECTED_CLOSER,
                                Span::new(file, at, at + 1),
                                format!(
                                    "mismatched `{closer}`: expected `{}` to close the `{}` on line {line}",
                                    partner(opener),
                                    opener as char
                                ),
                            )
                            .with_label(format!("expected `{}`", partner(opener)))
                            .with_secondary(Span::new(file, open_at, open_at + 1), "opened here")
                            .with_help(format!("close the `{}` with `{}` first", opener as char, partner(opener))),
                        ));
                    }
                    Some((_, open_at)) => pairs.push((open_at, at)),
                }
            }
        }
    }
    if let Some(&(opener, at)) = open.last() {
        return Err(Box::new(unclosed(file, text, opener, at, &pairs)));
    }
    Ok(Scan { comments, depth })
}

fn partner(opener: u8) -> char {
    match opener {
        b'{' => '}',
        b'[' => ']',
        _ => ')',
    }
}

/// The unclosed-delimiter error. A missing `}` is usually noticed only at the end of the
/// file, after an outer block's `}` was taken to close the inner block; when a matched
/// pair is indented inconsistently, that inner block is the likely culprit, so it is the
/// one reported.
fn unclosed(
    file: usize,
    text: &str,
    opener: u8,
    at: usize,
    pairs: &[(usize, usize)],
) -> Diagnostic {
    let suspect = pairs
        .iter()
        .filter(|(o, c)| line_col(text, *o).0 != line_col(text, *c).0)
        .filter(|(o, c)| indent_of(text, *o) != indent_of(text, *c))
        .min_by_key(|(o, _)| *o);
    let closer = partner(opener);
    match suspect {
        Some(&(o, c)) if text.as_bytes().get(o) == Some(&opener) => {
            let (close_line, _) = line_col(text, c);
            Diagnostic::error(
                codes::UNCLOSED_DELIMITER,
                Span::new(file, o, o + 1),
                format!("unclosed `{}`", opener as char),
            )
            .with_label(format!("this `{}` is probably never closed", opener as char))
            .with_help(format!("add the missing `{closer}`"))
            .with_note(format!(
                "the `{closer}` on line {close_line} is indented like an outer block, so it probably closes that one"
            ))
        }
        _ => Diagnostic::error(
            codes::UNCLOSED_DELIMITER,
            Span::new(file, at, at + 1),
            format!("unclosed `{}`", opener as char),
        )
        .with_label("never closed")
        .with_help(format!("add the missing `{closer}`")),
    }
}

/// The indentation (leading spaces and tabs) of the line holding `offset`.
fn indent_of(text: &str, offset: usize) -> usize {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |n| n + 1);
    text[start..]
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Diagnostic {
        *scan(0, text).unwrap_err()
    }

    #[test]
    fn comments_are_collected_outside_strings() {
        let text = "a # one\nb = \"# not\" // two\nc = '''# no\n''' # three\n";
        let comments = scan(0, text).unwrap().comments;
        let texts: Vec<&str> = comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["# one", "// two", "# three"]);
    }

    #[test]
    fn unclosed_things_point_at_their_opening() {
        let d = err("a = \"abc\nb = 1\n");
        assert_eq!((d.code, d.span.start), (codes::UNCLOSED_STRING, 4));
        let d = err("a = '''abc\n");
        assert_eq!((d.code, d.span.start), (codes::UNCLOSED_RAW_STRING, 4));
        let d = err("p {\n  [1, 2\n}\n");
        assert_eq!(d.code, codes::UNEXPECTED_CLOSER);
        assert!(d.message.contains("expected `]`"), "{}", d.message);
        let d = err("x }");
        assert_eq!((d.code, d.span.start), (codes::UNEXPECTED_CLOSER, 2));
    }

    #[test]
    fn a_missing_inner_brace_is_blamed_on_the_badly_indented_block() {
        let text = "p {\n  a {\n    x = 1\n\n  b { y = 2 }\n}\n";
        let d = err(text);
        assert_eq!(d.code, codes::UNCLOSED_DELIMITER);
        assert_eq!(d.span.start, text.find("a {").unwrap() + 2);
        let d = err("p {\n  a {\n  }\n");
        assert_eq!(d.span.start, 2);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let text = "[".repeat(100_000);
        let d = err(&text);
        assert_eq!((d.code, d.span.start), (codes::TOO_DEEP, MAX_DEPTH));
    }
}
