//! Input limits: how large, how deep and how wide one record may be.
//!
//! Every record comes from outside and may be hostile: a 50 MB line, JSON nested ten
//! thousand levels, an object of a million keys. Components that decode records take
//! these limits as attributes (with the defaults below) and treat a record over any of
//! them as a bad record, with a reason naming the limit and the attribute to raise:
//! it goes to the `errors` output (transforms) or is emitted as an error record
//! (sources), never dropped silently and never allowed to exhaust memory or time.
//! Line-oriented sources have their own `max_line_length`, enforced before a line is
//! even assembled (see [`crate::lines`]).

use pipectl_core::component::BuildError;
use pipectl_core::config::Attrs;
use pipectl_core::json;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use std::fmt;

/// The default of `max_event_size`: the same as `max_line_length`'s, so a line that
/// was read whole can also be decoded.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 1 << 20;
/// The default of `max_depth`: far deeper than any real log record, well inside the
/// JSON parser's own bound ([`json::MAX_DEPTH`]).
pub const DEFAULT_MAX_DEPTH: usize = 32;
/// The default of `max_fields`: room for the largest real records (a CloudTrail event
/// with big request parameters) while bounding the work one record can cause.
pub const DEFAULT_MAX_FIELDS: usize = 10_000;

/// The `max_event_size` attribute.
pub const MAX_EVENT_SIZE_ATTR: AttrSpec = AttrSpec::with_default(
    "max_event_size",
    AttrType::Size,
    "1MiB",
    "A record whose text is larger is not decoded: it is a bad record with that reason.",
);

/// The `max_depth` attribute.
pub const MAX_DEPTH_ATTR: AttrSpec = AttrSpec::with_default(
    "max_depth",
    AttrType::Int,
    "32",
    "A record nesting objects and arrays deeper (at most 128) is a bad record.",
);

/// The `max_fields` attribute.
pub const MAX_FIELDS_ATTR: AttrSpec = AttrSpec::with_default(
    "max_fields",
    AttrType::Int,
    "10000",
    "A record with more fields (object members at any depth; array elements do not count) is a bad record.",
);

/// The limits one component applies to each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Bytes of one record's text.
    pub max_event_size: usize,
    /// Levels of nested objects and arrays.
    pub max_depth: usize,
    /// Object members, counted at every depth.
    pub max_fields: usize,
}

impl Default for InputLimits {
    fn default() -> InputLimits {
        InputLimits {
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            max_depth: DEFAULT_MAX_DEPTH,
            max_fields: DEFAULT_MAX_FIELDS,
        }
    }
}

/// Which limit a record broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the record is {size} bytes, more than max_event_size ({max} bytes)")]
    TooLarge { size: usize, max: usize },
    #[error("the record nests deeper than max_depth ({max} levels)")]
    TooDeep { max: usize },
    #[error("the record has more than max_fields ({max}) fields")]
    TooManyFields { max: usize },
}

impl InputLimits {
    /// Reads `max_event_size`, `max_depth` and `max_fields` from a component's
    /// attributes; a depth above [`json::MAX_DEPTH`] is refused, since the parser
    /// could not honour it.
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<InputLimits, BuildError> {
        let max_event_size = match attrs.raw("max_event_size") {
            None => DEFAULT_MAX_EVENT_SIZE,
            Some(_) => crate::settings::size_limit(attrs, "max_event_size")?,
        };
        Ok(InputLimits {
            max_event_size,
            ..InputLimits::from_attrs_without_size(attrs)?
        })
    }

    /// Reads `max_depth` and `max_fields` only, for components whose record size is
    /// bounded another way (`max_body_size`, `max_length`); `max_event_size` is left
    /// at its default. An attribute absent from the plan (a plan built by code rather
    /// than compiled, which fills in defaults) takes its default.
    pub fn from_attrs_without_size(attrs: &Attrs<'_>) -> Result<InputLimits, BuildError> {
        let max_depth = count_or(attrs, "max_depth", DEFAULT_MAX_DEPTH)?;
        if max_depth > json::MAX_DEPTH {
            return Err(attrs.error(format!(
                "attribute `max_depth` must be at most {}, not {max_depth}",
                json::MAX_DEPTH
            )));
        }
        Ok(InputLimits {
            max_depth,
            max_fields: count_or(attrs, "max_fields", DEFAULT_MAX_FIELDS)?,
            ..InputLimits::default()
        })
    }

    /// The bounds handed to the JSON parser, which enforces them while parsing.
    pub fn json(&self) -> json::Limits {
        json::Limits {
            max_depth: self.max_depth,
            max_fields: self.max_fields,
        }
    }

    /// Checks a record's size before decoding it.
    pub fn check_size(&self, size: usize) -> Result<(), LimitError> {
        if size > self.max_event_size {
            return Err(LimitError::TooLarge {
                size,
                max: self.max_event_size,
            });
        }
        Ok(())
    }

    /// Checks the shape of a decoded value (for codecs other than JSON, whose parser
    /// checks while parsing). Stops at the first breach, so the walk costs at most
    /// `max_fields` steps per level reached.
    pub fn check_value(&self, value: &Value) -> Result<(), LimitError> {
        let mut fields_left = self.max_fields;
        self.walk(value, 0, &mut fields_left)
    }

    fn walk(&self, value: &Value, depth: usize, fields_left: &mut usize) -> Result<(), LimitError> {
        let too_deep = LimitError::TooDeep {
            max: self.max_depth,
        };
        match value {
            Value::Object(map) => {
                if depth >= self.max_depth {
                    return Err(too_deep);
                }
                if map.len() > *fields_left {
                    return Err(LimitError::TooManyFields {
                        max: self.max_fields,
                    });
                }
                *fields_left -= map.len();
                for (_, child) in map.iter() {
                    self.walk(child, depth + 1, fields_left)?;
                }
                Ok(())
            }
            Value::Array(items) => {
                if depth >= self.max_depth {
                    return Err(too_deep);
                }
                for child in items {
                    self.walk(child, depth + 1, fields_left)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The limit error behind a JSON parse failure, if a limit is what failed.
    pub fn json_breach(&self, error: &json::JsonError) -> Option<LimitError> {
        match error.reason {
            json::TOO_DEEP => Some(LimitError::TooDeep {
                max: self.max_depth.min(json::MAX_DEPTH),
            }),
            json::TOO_MANY_FIELDS => Some(LimitError::TooManyFields {
                max: self.max_fields,
            }),
            _ => None,
        }
    }
}

/// A count of at least 1, or `default` when the attribute is absent.
pub(crate) fn count_or(attrs: &Attrs<'_>, key: &str, default: usize) -> Result<usize, BuildError> {
    match attrs.raw(key) {
        None => Ok(default),
        Some(_) => crate::settings::positive(attrs, key),
    }
}

impl fmt::Display for InputLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max_event_size {} bytes, max_depth {}, max_fields {}",
            self.max_event_size, self.max_depth, self.max_fields
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_depth: usize, max_fields: usize) -> InputLimits {
        InputLimits {
            max_event_size: 10,
            max_depth,
            max_fields,
        }
    }

    fn value(text: &str) -> Value {
        json::from_str(text).unwrap()
    }

    #[test]
    fn sizes_are_checked_before_decoding() {
        let l = limits(4, 4);
        assert_eq!(l.check_size(10), Ok(()));
        assert_eq!(
            l.check_size(11).unwrap_err().to_string(),
            "the record is 11 bytes, more than max_event_size (10 bytes)"
        );
    }

    #[test]
    fn decoded_values_are_checked_like_the_json_parser_checks() {
        let l = limits(2, 3);
        for (text, ok) in [
            (r#"{"a":{"b":1}}"#, true),
            (r#"{"a":{"b":[1]}}"#, false),
            (r#"[[1]]"#, true),
            (r#"[[[1]]]"#, false),
            (r#"{"a":1,"b":2,"c":3}"#, true),
            (r#"{"a":1,"b":{"c":3,"d":4}}"#, false),
            (r#"[1,2,3,4,5,6,7]"#, true),
            ("42", true),
        ] {
            let v = value(text);
            assert_eq!(l.check_value(&v).is_ok(), ok, "{text}");
            // The parser agrees.
            assert_eq!(json::from_str_limited(text, l.json()).is_ok(), ok, "{text}");
        }
        assert_eq!(
            l.check_value(&value(r#"[[[1]]]"#)).unwrap_err().to_string(),
            "the record nests deeper than max_depth (2 levels)"
        );
        assert_eq!(
            l.check_value(&value(r#"{"a":1,"b":{"c":3,"d":4}}"#))
                .unwrap_err()
                .to_string(),
            "the record has more than max_fields (3) fields"
        );
    }

    #[test]
    fn json_breaches_are_recognised() {
        let l = limits(2, 3);
        let err = json::from_str_limited(r#"[[[1]]]"#, l.json()).unwrap_err();
        assert_eq!(l.json_breach(&err), Some(LimitError::TooDeep { max: 2 }));
        let err = json::from_str_limited(r#"{"a":1,"b":2,"c":3,"d":4}"#, l.json()).unwrap_err();
        assert_eq!(
            l.json_breach(&err),
            Some(LimitError::TooManyFields { max: 3 })
        );
        let err = json::from_str_limited("{", l.json()).unwrap_err();
        assert_eq!(l.json_breach(&err), None);
    }
}
