//! Literal values: string escapes, numbers and their units.
//!
//! Kept apart from the grammar so the parser can accept any `\x` or any unit and the
//! messages can then say exactly what is wrong with it.

use crate::suggest;

/// A problem in a string's escapes, at a byte offset within the string's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
    pub help: Option<String>,
}

/// Resolves `\" \\ \n \r \t \u{...}`. Bad escapes are reported and left out of the
/// value, so parsing can go on.
pub fn unescape(body: &str) -> (String, Vec<EscapeError>) {
    let mut out = String::with_capacity(body.len());
    let mut errors = Vec::new();
    let mut i = 0;
    while let Some(c) = body[i..].chars().next() {
        if c != '\\' {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let Some(e) = body[i + 1..].chars().next() else {
            errors.push(EscapeError {
                offset: i,
                len: 1,
                message: "a string cannot end with a lone `\\`".into(),
                help: Some("write `\\\\` for a backslash".into()),
            });
            break;
        };
        let simple = match e {
            '"' => Some('"'),
            '\\' => Some('\\'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            i += 2;
            continue;
        }
        if e == 'u' {
            match unicode_escape(&body[i..]) {
                Ok((ch, len)) => {
                    out.push(ch);
                    i += len;
                }
                Err((len, message)) => {
                    errors.push(EscapeError {
                        offset: i,
                        len,
                        message,
                        help: Some(
                            "write a unicode escape as `\\u{1F600}` (1 to 6 hex digits)".into(),
                        ),
                    });
                    i += len;
                }
            }
            continue;
        }
        let len = 1 + e.len_utf8();
        errors.push(EscapeError {
            offset: i,
            len,
            message: format!("unknown escape `\\{e}`"),
            help: Some(
                "the escapes are \\\" \\\\ \\n \\r \\t \\u{...}; write `\\\\` for a backslash, \
                 or use a raw string '''...''' (for regular expressions, for example)"
                    .into(),
            ),
        });
        i += len;
    }
    (out, errors)
}

/// Parses `\u{XXXX}` at the start of `s`; returns the character and the escape's length
/// in bytes, or the length to underline and a message.
fn unicode_escape(s: &str) -> Result<(char, usize), (usize, String)> {
    let rest = s.get(2..).unwrap_or("");
    if !rest.starts_with('{') {
        return Err((2, "a unicode escape needs braces: `\\u{...}`".into()));
    }
    let Some(close) = rest.find('}') else {
        return Err((
            2 + rest.len().min(1),
            "unterminated unicode escape: missing `}`".into(),
        ));
    };
    let hex = &rest[1..close];
    let len = 2 + close + 1;
    if hex.is_empty() || hex.len() > 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err((
            len,
            format!("invalid unicode escape `\\u{{{hex}}}`: expected 1 to 6 hex digits"),
        ));
    }
    let code =
        u32::from_str_radix(hex, 16).map_err(|_| (len, "invalid unicode escape".to_string()))?;
    match char::from_u32(code) {
        Some(ch) => Ok((ch, len)),
        None => Err((len, format!("`\\u{{{hex}}}` is not a unicode character"))),
    }
}

/// A number after its unit is applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A whole number without a unit.
    Int(i64),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// Milliseconds.
    Duration(u64),
    /// Bytes.
    Size(u64),
}

impl Number {
    /// How the kind of number reads in messages ("found a duration").
    pub fn describe(&self) -> &'static str {
        match self {
            Number::Int(_) => "an integer",
            Number::Float(_) => "a number",
            Number::Duration(_) => "a duration",
            Number::Size(_) => "a size",
        }
    }
}

/// Why a number is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberError {
    /// Malformed or too large; the message says which.
    Bad(String),
    /// An unknown unit, with a suggestion.
    Unit { unit: String, help: String },
}

/// Duration units and their length in milliseconds.
pub const DURATION_UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// Size units and their length in bytes.
pub const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Common spellings of units that are not ours, and what to write instead.
const UNIT_ALIASES: &[(&str, &str)] = &[
    ("sec", "s"),
    ("secs", "s"),
    ("second", "s"),
    ("seconds", "s"),
    ("min", "m"),
    ("mins", "m"),
    ("minute", "m"),
    ("minutes", "m"),
    ("hr", "h"),
    ("hrs", "h"),
    ("hour", "h"),
    ("hours", "h"),
    ("day", "d"),
    ("days", "d"),
    ("week", "w"),
    ("weeks", "w"),
    ("msec", "ms"),
    ("millis", "ms"),
    ("bytes", "B"),
    ("byte", "B"),
];

/// Parses a number token as the grammar accepts it: `-12`, `1_000`, `1.5`, `2e3`,
/// `90s`, `64KiB`.
pub fn parse_number(text: &str) -> Result<Number, NumberError> {
    let unit_start = unit_start(text);
    let (digits, unit) = text.split_at(unit_start);
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if unit.is_empty() {
        if clean.contains(['.', 'e', 'E']) {
            let value: f64 = clean
                .parse()
                .map_err(|_| NumberError::Bad(format!("`{text}` is not a number")))?;
            if !value.is_finite() {
                return Err(NumberError::Bad(format!(
                    "the number `{text}` is too large"
                )));
            }
            return Ok(Number::Float(value));
        }
        return clean.parse::<i64>().map(Number::Int).map_err(|_| {
            NumberError::Bad(format!(
                "the integer `{text}` is too large (integers go from {} to {})",
                i64::MIN,
                i64::MAX
            ))
        });
    }
    let scale = DURATION_UNITS
        .iter()
        .map(|(u, s)| (u, *s, true))
        .chain(SIZE_UNITS.iter().map(|(u, s)| (u, *s, false)))
        .find(|(u, _, _)| **u == unit);
    let Some((_, scale, is_duration)) = scale else {
        return Err(NumberError::Unit {
            unit: unit.to_string(),
            help: unit_help(unit),
        });
    };
    let what = if is_duration { "duration" } else { "size" };
    if clean.starts_with('-') {
        return Err(NumberError::Bad(format!(
            "a {what} cannot be negative: `{text}`"
        )));
    }
    if clean.contains(['.', 'e', 'E']) {
        return Err(NumberError::Bad(format!(
            "a {what} is a whole number with a unit: `{text}` is not (use a smaller unit)"
        )));
    }
    let amount: u64 = clean
        .parse()
        .map_err(|_| NumberError::Bad(format!("the {what} `{text}` is too large")))?;
    let value = amount
        .checked_mul(scale)
        .ok_or_else(|| NumberError::Bad(format!("the {what} `{text}` is too large")))?;
    Ok(if is_duration {
        Number::Duration(value)
    } else {
        Number::Size(value)
    })
}

/// Where the unit starts: after the digits, fraction and exponent.
fn unit_start(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'-') {
        i += 1;
    }
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_' || bytes[i] == b'.') {
        i += 1;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'_') {
                j += 1;
            }
            i = j;
        }
    }
    i
}

fn unit_help(unit: &str) -> String {
    if let Some((_, ours)) = UNIT_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(unit))
    {
        return format!("did you mean `{ours}`?");
    }
    let all = DURATION_UNITS
        .iter()
        .map(|(u, _)| *u)
        .chain(SIZE_UNITS.iter().map(|(u, _)| *u));
    // One letter is too little to guess from.
    let near = if unit.chars().count() > 1 {
        suggest::did_you_mean(unit, all)
    } else {
        None
    };
    near.unwrap_or_else(|| {
        "durations use ms, s, m, h, d, w; sizes use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_resolve() {
        let (s, errs) = unescape(r#"a\"b\\c\nd\te\u{41}\u{1F600}"#);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(s, "a\"b\\c\nd\teA\u{1F600}");
    }

    #[test]
    fn bad_escapes_are_reported_at_their_offset() {
        let (s, errs) = unescape(r"ab\qc\u{110000}d\u41");
        assert_eq!(s, "abcd41");
        let offsets: Vec<(usize, usize)> = errs.iter().map(|e| (e.offset, e.len)).collect();
        assert_eq!(offsets, [(2, 2), (5, 10), (16, 2)]);
        assert!(errs[1].message.contains("not a unicode character"));
        let (_, errs) = unescape(r"\u{12");
        assert!(errs[0].message.contains("missing `}`"));
        let (_, errs) = unescape(r"\u{zz}");
        assert!(errs[0].message.contains("hex digits"));
    }

    #[test]
    fn numbers_and_units() {
        assert_eq!(parse_number("42"), Ok(Number::Int(42)));
        assert_eq!(parse_number("-1_000"), Ok(Number::Int(-1000)));
        assert_eq!(parse_number("1.5"), Ok(Number::Float(1.5)));
        assert_eq!(parse_number("2e3"), Ok(Number::Float(2000.0)));
        assert_eq!(parse_number("250ms"), Ok(Number::Duration(250)));
        assert_eq!(parse_number("90s"), Ok(Number::Duration(90_000)));
        assert_eq!(parse_number("15m"), Ok(Number::Duration(900_000)));
        assert_eq!(parse_number("2h"), Ok(Number::Duration(7_200_000)));
        assert_eq!(parse_number("14d"), Ok(Number::Duration(1_209_600_000)));
        assert_eq!(parse_number("1w"), Ok(Number::Duration(604_800_000)));
        assert_eq!(parse_number("512B"), Ok(Number::Size(512)));
        assert_eq!(parse_number("10KB"), Ok(Number::Size(10_000)));
        assert_eq!(parse_number("64KiB"), Ok(Number::Size(65_536)));
        assert_eq!(parse_number("10MiB"), Ok(Number::Size(10 << 20)));
        assert_eq!(parse_number("1GB"), Ok(Number::Size(1_000_000_000)));
        assert_eq!(parse_number("1GiB"), Ok(Number::Size(1 << 30)));
        assert_eq!(parse_number("1TiB"), Ok(Number::Size(1 << 40)));
    }

    #[test]
    fn bad_numbers_say_why() {
        assert!(
            matches!(parse_number("99999999999999999999"), Err(NumberError::Bad(m)) if m.contains("too large"))
        );
        assert!(
            matches!(parse_number("20000000TiB"), Err(NumberError::Bad(m)) if m.contains("too large"))
        );
        assert!(
            matches!(parse_number("1e999"), Err(NumberError::Bad(m)) if m.contains("too large"))
        );
        assert!(
            matches!(parse_number("1.5h"), Err(NumberError::Bad(m)) if m.contains("whole number"))
        );
        assert!(matches!(parse_number("-5s"), Err(NumberError::Bad(m)) if m.contains("negative")));
        assert_eq!(
            parse_number("5mins"),
            Err(NumberError::Unit {
                unit: "mins".into(),
                help: "did you mean `m`?".into()
            })
        );
        assert_eq!(
            parse_number("5kib"),
            Err(NumberError::Unit {
                unit: "kib".into(),
                help: "did you mean `KiB`?".into()
            })
        );
        assert!(
            matches!(parse_number("5zz"), Err(NumberError::Unit { help, .. }) if help.starts_with("durations use"))
        );
    }
}
