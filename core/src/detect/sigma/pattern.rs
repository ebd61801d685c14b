//! String patterns: Sigma's wildcard strings compiled to the cheapest matcher that
//! means the same (exact, prefix, suffix, substring, general wildcard or regex).
//!
//! Sigma strings are case-insensitive unless the `cased` modifier says otherwise, so a
//! case-insensitive pattern keeps its literals lowercased and is matched against the
//! lowercased value, which [`Text`] computes at most once per value and only when a
//! pattern asks for it.

use regex::Regex;
use std::borrow::Cow;
use std::cell::OnceCell;

/// One piece of a Sigma string after escapes are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// Plain text.
    Lit(String),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Parses a Sigma string: `*` and `?` are wildcards, `\*`, `\?` and `\\` escape them
/// and the backslash; a backslash before anything else is a plain backslash.
pub fn parse_sigma_string(raw: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    lit.push(next);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                toks.push(if c == '*' { Tok::Star } else { Tok::One });
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    toks
}

/// Whether a parsed string has any wildcard.
pub fn has_wildcards(toks: &[Tok]) -> bool {
    toks.iter().any(|t| !matches!(t, Tok::Lit(_)))
}

/// The text of a wildcard-free string.
pub fn literal_text(toks: &[Tok]) -> String {
    toks.iter()
        .filter_map(|t| match t {
            Tok::Lit(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

/// Where the value must sit in the field (from `contains`, `startswith`, `endswith`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Whole,
    Start,
    End,
    Anywhere,
}

/// A compiled string pattern.
#[derive(Debug, Clone)]
pub struct StrPattern {
    kind: StrKind,
    /// Case-sensitive (`cased`, or a regex without `i`).
    cased: bool,
}

#[derive(Debug, Clone)]
enum StrKind {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// Matches every string (`*`).
    Any,
    Glob(Vec<Tok>),
    Regex(Regex),
}

impl StrPattern {
    /// A wildcard pattern placed by `anchor`; literals are lowercased unless `cased`.
    pub fn from_tokens(toks: Vec<Tok>, anchor: Anchor, cased: bool) -> StrPattern {
        let mut all = Vec::with_capacity(toks.len() + 2);
        if matches!(anchor, Anchor::End | Anchor::Anywhere) {
            all.push(Tok::Star);
        }
        for t in toks {
            match (t, all.last_mut()) {
                (Tok::Lit(s), Some(Tok::Lit(prev))) => prev.push_str(&s),
                (Tok::Star, Some(Tok::Star)) => {}
                (Tok::Lit(s), _) => all.push(Tok::Lit(if cased { s } else { s.to_lowercase() })),
                (t, _) => all.push(t),
            }
        }
        if matches!(anchor, Anchor::Start | Anchor::Anywhere) && all.last() != Some(&Tok::Star) {
            all.push(Tok::Star);
        }
        let kind = match all.as_slice() {
            [] => StrKind::Exact(String::new()),
            [Tok::Star] => StrKind::Any,
            [Tok::Lit(s)] => StrKind::Exact(s.clone()),
            [Tok::Lit(s), Tok::Star] => StrKind::Prefix(s.clone()),
            [Tok::Star, Tok::Lit(s)] => StrKind::Suffix(s.clone()),
            [Tok::Star, Tok::Lit(s), Tok::Star] => StrKind::Contains(s.clone()),
            _ => StrKind::Glob(all),
        };
        StrPattern { kind, cased }
    }

    /// A regular expression (already built with its flags).
    pub fn regex(re: Regex, case_insensitive: bool) -> StrPattern {
        StrPattern {
            kind: StrKind::Regex(re),
            cased: !case_insensitive,
        }
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &Text<'_>) -> bool {
        if let StrKind::Regex(re) = &self.kind {
            return re.is_match(text.raw());
        }
        let t = if self.cased { text.raw() } else { text.lower() };
        match &self.kind {
            StrKind::Exact(s) => t == s,
            StrKind::Prefix(s) => t.starts_with(s.as_str()),
            StrKind::Suffix(s) => t.ends_with(s.as_str()),
            StrKind::Contains(s) => memchr::memmem::find(t.as_bytes(), s.as_bytes()).is_some(),
            StrKind::Any => true,
            StrKind::Glob(toks) => glob_match(toks, t),
            StrKind::Regex(_) => false,
        }
    }

    /// A piece of text every match must contain (lowercased unless cased), for the
    /// shared prefilter; `None` for regexes and patterns without literals.
    pub fn needle(&self) -> Option<&str> {
        match &self.kind {
            StrKind::Exact(s) | StrKind::Prefix(s) | StrKind::Suffix(s) | StrKind::Contains(s) => {
                Some(s)
            }
            StrKind::Glob(toks) => toks
                .iter()
                .filter_map(|t| match t {
                    Tok::Lit(s) => Some(s.as_str()),
                    _ => None,
                })
                .max_by_key(|s| s.len()),
            StrKind::Any | StrKind::Regex(_) => None,
        }
    }

    /// The whole value a pattern without wildcards or anchors equals (lowercased
    /// unless cased).
    pub fn exact(&self) -> Option<&str> {
        match &self.kind {
            StrKind::Exact(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the pattern compares case-sensitively.
    pub fn is_cased(&self) -> bool {
        self.cased
    }
}

/// A value's text with its lowercase form computed on first use.
pub struct Text<'a> {
    raw: Cow<'a, str>,
    lower: OnceCell<Option<String>>,
}

impl<'a> Text<'a> {
    pub fn new(raw: Cow<'a, str>) -> Text<'a> {
        Text {
            raw,
            lower: OnceCell::new(),
        }
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The lowercase form; the raw text itself when it has no uppercase letter.
    pub fn lower(&self) -> &str {
        let lower = self.lower.get_or_init(|| {
            let raw: &str = &self.raw;
            let needs = if raw.is_ascii() {
                raw.bytes().any(|b| b.is_ascii_uppercase())
            } else {
                raw.chars().any(char::is_uppercase)
            };
            needs.then(|| raw.to_lowercase())
        });
        lower.as_deref().unwrap_or(&self.raw)
    }
}

/// Matches `*`/`?` tokens against text: the star-free segments must appear in order,
/// the first one at the start and the last one at the end unless a star stands there.
fn glob_match(toks: &[Tok], text: &str) -> bool {
    let segments: Vec<&[Tok]> = toks.split(|t| *t == Tok::Star).collect();
    let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
        return true;
    };
    if segments.len() == 1 {
        return match_here(first, text) == Some(text.len());
    }
    let Some(mut pos) = match_here(first, text) else {
        return false;
    };
    let Some(tail_start) = tail_position(last, text) else {
        return false;
    };
    if tail_start < pos {
        return false;
    }
    let middle = &segments[1..segments.len() - 1];
    for seg in middle {
        if seg.is_empty() {
            continue;
        }
        match find_segment(seg, &text[..tail_start], pos) {
            Some(end) => pos = end,
            None => return false,
        }
    }
    true
}

/// Matches a star-free segment at the start of `text`; returns the byte length used.
fn match_here(seg: &[Tok], text: &str) -> Option<usize> {
    let mut at = 0;
    for t in seg {
        match t {
            Tok::Lit(s) => {
                if !text[at..].starts_with(s.as_str()) {
                    return None;
                }
                at += s.len();
            }
            Tok::One => {
                let c = text[at..].chars().next()?;
                at += c.len_utf8();
            }
            Tok::Star => return None,
        }
    }
    Some(at)
}

/// Where a star-free segment must start so that it ends exactly at the end of `text`.
fn tail_position(seg: &[Tok], text: &str) -> Option<usize> {
    let mut end = text.len();
    for t in seg.iter().rev() {
        match t {
            Tok::Lit(s) => {
                if !text[..end].ends_with(s.as_str()) {
                    return None;
                }
                end -= s.len();
            }
            Tok::One => {
                let c = text[..end].chars().next_back()?;
                end -= c.len_utf8();
            }
            Tok::Star => return None,
        }
    }
    Some(end)
}

/// The leftmost occurrence of a segment at or after `from`; returns its end.
fn find_segment(seg: &[Tok], text: &str, from: usize) -> Option<usize> {
    let mut start = from;
    while start <= text.len() {
        if let Some(len) = match_here(seg, &text[start..]) {
            return Some(start + len);
        }
        let c = text[start..].chars().next()?;
        start += c.len_utf8();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(raw: &str, anchor: Anchor) -> StrPattern {
        StrPattern::from_tokens(parse_sigma_string(raw), anchor, false)
    }

    fn m(p: &StrPattern, text: &str) -> bool {
        p.matches(&Text::new(Cow::Borrowed(text)))
    }

    #[test]
    fn escapes_follow_the_specification() {
        assert_eq!(
            parse_sigma_string(r"C:\Windows"),
            vec![Tok::Lit(r"C:\Windows".into())]
        );
        assert_eq!(
            parse_sigma_string(r"C:\\Windows"),
            vec![Tok::Lit(r"C:\Windows".into())]
        );
        assert_eq!(parse_sigma_string(r"a\*b"), vec![Tok::Lit("a*b".into())]);
        assert_eq!(parse_sigma_string(r"a\?"), vec![Tok::Lit("a?".into())]);
        assert_eq!(
            parse_sigma_string(r"a\\*"),
            vec![Tok::Lit(r"a\".into()), Tok::Star]
        );
        assert_eq!(parse_sigma_string(r"a\\\*"), vec![Tok::Lit(r"a\*".into())]);
        assert_eq!(parse_sigma_string(r"\\\\"), vec![Tok::Lit(r"\\".into())]);
        assert_eq!(parse_sigma_string(r"end\"), vec![Tok::Lit(r"end\".into())]);
    }

    #[test]
    fn wildcards_and_anchors() {
        assert!(m(&pat("prog?.exe", Anchor::Whole), "PROGA.exe"));
        assert!(!m(&pat("prog?.exe", Anchor::Whole), "prog.exe"));
        assert!(m(
            &pat("antivirus_V*.exe", Anchor::Whole),
            "antivirus_V21.2.1.exe"
        ));
        assert!(m(&pat("a*b*c", Anchor::Whole), "axxbyyc"));
        assert!(!m(&pat("a*b*c", Anchor::Whole), "axxbyycd"));
        assert!(m(&pat("a*b*c", Anchor::Anywhere), "zzaXbYcZZ"));
        assert!(m(&pat("*", Anchor::Whole), ""));
        assert!(m(&pat("", Anchor::Whole), ""));
        assert!(!m(&pat("", Anchor::Whole), "x"));
        assert!(m(&pat("ab?", Anchor::End), "xxabé"));
        assert!(m(
            &pat(r"\cmd.exe", Anchor::End),
            r"C:\Windows\System32\CMD.EXE"
        ));
        assert!(m(&pat(r"literal\*star", Anchor::Whole), "literal*star"));
        assert!(!m(&pat(r"literal\*star", Anchor::Whole), "literalXstar"));
        assert!(m(&pat("a*a", Anchor::Whole), "aa"));
        assert!(!m(&pat("a*a", Anchor::Whole), "a"));
    }

    #[test]
    fn case_insensitive_unless_cased() {
        let p = StrPattern::from_tokens(parse_sigma_string("Evil"), Anchor::Anywhere, true);
        assert!(m(&p, "an Evil thing"));
        assert!(!m(&p, "an EVIL thing"));
        assert!(m(&pat("ÉTÉ", Anchor::Whole), "été"));
    }

    #[test]
    fn needles_are_the_longest_literal() {
        assert_eq!(pat("ab*cdef?g", Anchor::Whole).needle(), Some("cdef"));
        assert_eq!(pat("*", Anchor::Whole).needle(), None);
        assert_eq!(
            pat("CreateKey", Anchor::Anywhere).needle(),
            Some("createkey")
        );
    }
}
