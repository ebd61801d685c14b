//! Field paths at run time: parsed once, followed many times.

use crate::value::Str;
use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    Key(Str),
    Index(usize),
}

/// A path into an event such as `user.name`, `@timestamp` or `tags[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<PathSegment>,
}

/// Why a path string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path `{path}`: {reason}")]
pub struct PathError {
    pub path: String,
    pub reason: &'static str,
}

impl FieldPath {
    pub fn new(segments: Vec<PathSegment>) -> FieldPath {
        FieldPath { segments }
    }

    /// The empty path: the event root.
    pub fn root() -> FieldPath {
        FieldPath {
            segments: Vec::new(),
        }
    }

    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }

    /// Parses `a.b[2].c`; keys may be quoted (`a."dotted.key"`) to hold any character.
    pub fn parse(text: &str) -> Result<FieldPath, PathError> {
        let err = |reason| PathError {
            path: text.to_string(),
            reason,
        };
        let mut segments = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut expect_key = true;
        while i < bytes.len() {
            match bytes[i] {
                b'[' => {
                    let end = text[i..].find(']').ok_or_else(|| err("unclosed `[`"))? + i;
                    let index: usize = text[i + 1..end]
                        .trim()
                        .parse()
                        .map_err(|_| err("an index must be a whole number"))?;
                    segments.push(PathSegment::Index(index));
                    i = end + 1;
                    expect_key = false;
                }
                b'.' => {
                    if expect_key {
                        return Err(err("empty segment"));
                    }
                    i += 1;
                    expect_key = true;
                }
                b'"' => {
                    if !expect_key {
                        return Err(err("expected `.` before a key"));
                    }
                    let end = text[i + 1..]
                        .find('"')
                        .ok_or_else(|| err("unclosed quote"))?
                        + i
                        + 1;
                    segments.push(PathSegment::Key(Str::from(&text[i + 1..end])));
                    i = end + 1;
                    expect_key = false;
                }
                _ => {
                    if !expect_key {
                        return Err(err("expected `.` before a key"));
                    }
                    let end = text[i..]
                        .find(['.', '[', '"'])
                        .map(|p| p + i)
                        .unwrap_or(text.len());
                    segments.push(PathSegment::Key(Str::from(&text[i..end])));
                    i = end;
                    expect_key = false;
                }
            }
        }
        if expect_key && !segments.is_empty() {
            return Err(err("trailing `.`"));
        }
        if segments.is_empty() {
            return Err(err("empty path"));
        }
        Ok(FieldPath { segments })
    }
}

impl From<&pipectl_dsl::plan::FieldPath> for FieldPath {
    fn from(p: &pipectl_dsl::plan::FieldPath) -> FieldPath {
        FieldPath {
            segments: p
                .0
                .iter()
                .map(|s| match s {
                    pipectl_dsl::plan::PathSegment::Key(k) => {
                        PathSegment::Key(Str::from(k.as_str()))
                    }
                    pipectl_dsl::plan::PathSegment::Index(i) => PathSegment::Index(*i),
                })
                .collect(),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                PathSegment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if k.contains(['.', '[', '"']) {
                        write!(f, "\"{k}\"")?;
                    } else {
                        f.write_str(k)?;
                    }
                }
                PathSegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_indices_and_quotes() {
        let p = FieldPath::parse("a.b[2].\"c.d\".@timestamp").unwrap();
        assert_eq!(
            p.segments(),
            &[
                PathSegment::Key("a".into()),
                PathSegment::Key("b".into()),
                PathSegment::Index(2),
                PathSegment::Key("c.d".into()),
                PathSegment::Key("@timestamp".into()),
            ]
        );
        assert_eq!(p.to_string(), "a.b[2].\"c.d\".@timestamp");
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["", "a.", ".a", "a..b", "a[x]", "a[1", "\"a", "a\"b\""] {
            assert!(FieldPath::parse(bad).is_err(), "{bad} should fail");
        }
    }
}
