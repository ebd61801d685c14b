//! The JSON codec for [`Value`]: a hand-written byte-level parser and writer.
//!
//! JSON is the format most events arrive and leave in, so this sits on the hot path of
//! almost every pipeline. The parser is a recursive descent over bytes with a fast path
//! for strings without escapes, builds maps in input order (duplicates resolve to the
//! last on lookup, see [`Map::push`]) and refuses nesting deeper than [`MAX_DEPTH`]
//! instead of overflowing the stack. Integers that fit `i64` become [`Value::Int`],
//! every other number a [`Value::Float`].
//!
//! The writer emits compact JSON, escapes what JSON requires and writes non-finite
//! floats (which JSON cannot represent) as `null`.

use crate::value::{Map, Str, Value};

/// How deeply arrays and objects may nest before parsing fails.
pub const MAX_DEPTH: usize = 128;

/// Why a document is not valid JSON, and where (a byte offset into the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct JsonError {
    /// Where in the input the problem was found.
    pub offset: usize,
    /// What was wrong, in a few words.
    pub reason: &'static str,
}

/// Parses one JSON document; surrounding whitespace is allowed, anything else after
/// the document is an error.
pub fn from_slice(bytes: &[u8]) -> Result<Value, JsonError> {
    // Validating once up front (std's check is word-at-a-time) lets every string be a
    // slice of checked text; JSON must be UTF-8 throughout anyway.
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError {
        offset: e.valid_up_to(),
        reason: "invalid UTF-8",
    })?;
    from_str(text)
}

/// Parses JSON text; see [`from_slice`]. Text is already UTF-8, so prefer this when
/// the input is a `str` (it skips validation).
pub fn from_str(text: &str) -> Result<Value, JsonError> {
    // The scratch stacks are reused across documents on a thread, so a document's
    // parse does not start by growing them again.
    let (entries, items) = SCRATCH.with(|s| s.take());
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
        entries,
        items,
    };
    let result = parser.document();
    // Keep the stacks unless one huge document grew them (then let them go).
    if parser.entries.capacity() <= SCRATCH_KEEP && parser.items.capacity() <= SCRATCH_KEEP {
        parser.entries.clear();
        parser.items.clear();
        SCRATCH.with(|s| s.set((parser.entries, parser.items)));
    }
    result
}

/// The parser's scratch stacks: object entries and array items being collected.
type Scratch = (Vec<(Str, Value)>, Vec<Value>);

/// The largest scratch stacks (in entries) kept between documents.
const SCRATCH_KEEP: usize = 4096;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// Errors are boxed inside the parser so results stay as small as the values they
/// carry: the hot path moves fewer bytes.
type PResult<T> = Result<T, Box<JsonError>>;

fn fail(offset: usize, reason: &'static str) -> Box<JsonError> {
    Box::new(JsonError { offset, reason })
}

struct Parser<'a> {
    /// The input, known to be UTF-8, and its bytes.
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// Scratch stack of object entries: each object parses its entries on top of the
    /// stack and moves them into an exactly-sized map when it closes, so maps never
    /// reallocate while growing.
    entries: Vec<(Str, Value)>,
    /// The same for array items.
    items: Vec<Value>,
}

impl Parser<'_> {
    fn document(&mut self) -> Result<Value, JsonError> {
        self.skip_ws();
        let value = self.value().map_err(|e| *e)?;
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return Err(*self.err("unexpected data after the document"));
        }
        Ok(value)
    }

    fn err(&self, reason: &'static str) -> Box<JsonError> {
        fail(self.pos, reason)
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> PResult<Value> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                Ok(Value::String(self.string()?))
            }
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a value")),
            None => Err(self.err("unexpected end of input, expected a value")),
        }
    }

    fn literal(&mut self, word: &'static [u8], value: Value) -> PResult<Value> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        Ok(())
    }

    fn object(&mut self) -> PResult<Value> {
        self.enter()?;
        self.pos += 1; // `{`
        let start = self.entries.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Object(Map::new()));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.fail_entries(start, "expected a string key"));
            }
            self.pos += 1;
            let key = match self.string() {
                Ok(k) => k,
                Err(e) => return Err(self.fail_entries_with(start, e)),
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.fail_entries(start, "expected `:` after a key"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = match self.value() {
                Ok(v) => v,
                Err(e) => return Err(self.fail_entries_with(start, e)),
            };
            self.entries.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.fail_entries(start, "expected `,` or `}` in an object")),
            }
        }
        // `split_off` copies the block in one go into an exactly-sized vector.
        let entries = self.entries.split_off(start);
        self.depth -= 1;
        Ok(Value::Object(Map::from_entries(entries)))
    }

    fn fail_entries(&mut self, start: usize, reason: &'static str) -> Box<JsonError> {
        let e = self.err(reason);
        self.fail_entries_with(start, e)
    }

    fn fail_entries_with(&mut self, start: usize, e: Box<JsonError>) -> Box<JsonError> {
        self.entries.truncate(start);
        e
    }

    fn array(&mut self) -> PResult<Value> {
        self.enter()?;
        self.pos += 1; // `[`
        let start = self.items.len();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Array(Vec::new()));
        }
        loop {
            match self.value() {
                Ok(v) => self.items.push(v),
                Err(e) => {
                    self.items.truncate(start);
                    return Err(e);
                }
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    self.items.truncate(start);
                    return Err(self.err("expected `,` or `]` in an array"));
                }
            }
        }
        let items = self.items.split_off(start);
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    /// Parses a string body; the opening quote is already consumed.
    fn string(&mut self) -> PResult<Str> {
        let start = self.pos;
        // Fast path: no escapes means the text between the quotes is the string.
        let n = find_special(&self.bytes[start..]);
        match self.bytes.get(start + n) {
            Some(b'"') => {
                self.pos = start + n + 1;
                Ok(Str::from(self.slice(start, start + n)?))
            }
            Some(b'\\') => {
                let mut buf = String::with_capacity(n + 16);
                buf.push_str(self.slice(start, start + n)?);
                self.pos = start + n;
                self.string_with_escapes(buf)
            }
            Some(_) => Err(fail(start + n, "control character in a string")),
            None => Err(fail(self.bytes.len(), "unterminated string")),
        }
    }

    /// A piece of the (validated) input between ASCII delimiters, which always fall
    /// on character boundaries.
    fn slice(&self, from: usize, to: usize) -> PResult<&str> {
        self.text
            .get(from..to)
            .ok_or_else(|| fail(from, "invalid UTF-8 in a string"))
    }

    /// The slow path: `buf` holds the text before the first escape and `pos` points at
    /// that backslash.
    fn string_with_escapes(&mut self, mut buf: String) -> PResult<Str> {
        loop {
            let Some(b) = self.peek() else {
                return Err(fail(self.bytes.len(), "unterminated string"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(Str::from(buf));
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(esc) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.pos += 1;
                    let decoded = match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("invalid escape"));
                        }
                    };
                    buf.push(decoded);
                }
                0..=0x1f => return Err(self.err("control character in a string")),
                _ => {
                    // Copy the run up to the next quote, backslash or control character.
                    let n = find_special(&self.bytes[self.pos..]);
                    buf.push_str(self.slice(self.pos, self.pos + n)?);
                    self.pos += n;
                }
            }
        }
    }

    fn hex4(&mut self) -> PResult<u32> {
        let Some(digits) = self.bytes.get(self.pos..self.pos + 4) else {
            return Err(self.err("truncated \\u escape"));
        };
        let mut n = 0u32;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.err("invalid hex digit in \\u escape")),
            };
            n = n * 16 + u32::from(v);
        }
        self.pos += 4;
        Ok(n)
    }

    /// Decodes `XXXX` after `\u`, joining a surrogate pair into one character.
    fn unicode_escape(&mut self) -> PResult<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(self.err("unpaired surrogate in \\u escape"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.err("unpaired surrogate in \\u escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.err("unpaired surrogate in \\u escape")),
            c => c,
        };
        char::from_u32(code).ok_or_else(|| self.err("invalid \\u escape"))
    }

    fn number(&mut self) -> PResult<Value> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        // Integer part: `0` or a non-zero digit followed by digits.
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            _ => return Err(self.err("expected a digit")),
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("expected a digit after `.`"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("expected a digit in the exponent"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            is_float = true;
        }
        if !is_float && int_end - int_start <= 18 {
            // Up to 18 digits always fits i64.
            let mut n: i64 = 0;
            for &d in &self.bytes[int_start..int_end] {
                n = n * 10 + i64::from(d - b'0');
            }
            return Ok(Value::Int(if negative { -n } else { n }));
        }
        // The number is ASCII digits and signs, so this is valid UTF-8.
        let text = std::str::from_utf8(&self.bytes[start..self.pos])
            .map_err(|_| self.err("invalid number"))?;
        if !is_float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Int(i));
            }
        }
        text.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| fail(start, "invalid number"))
    }
}

/// `0x0101...01`: multiplying a byte by it repeats the byte in every lane of a word.
const LANES: u64 = u64::from_ne_bytes([1; 8]);
/// The high bit of every lane.
const HIGH: u64 = LANES << 7;

/// Flags (high bit of a lane) the bytes of `word` that are `"`, `\` or a control
/// character. Lanes above the lowest flagged one may be flagged spuriously (borrows
/// propagate upward), so only the lowest flag is meaningful — which is all a search
/// for the first such byte needs.
#[inline]
fn special_lanes(word: u64) -> u64 {
    let quote = word ^ (LANES * u64::from(b'"'));
    let backslash = word ^ (LANES * u64::from(b'\\'));
    let zero = |x: u64| x.wrapping_sub(LANES) & !x;
    let control = word.wrapping_sub(LANES * 0x20) & !word;
    (zero(quote) | zero(backslash) | control) & HIGH
}

/// The index of the first `"`, `\` or control character in `bytes` (its length when
/// there is none), eight bytes at a time.
#[inline]
fn find_special(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut lanes = [0u8; 8];
        lanes.copy_from_slice(chunk);
        let flags = special_lanes(u64::from_le_bytes(lanes));
        if flags != 0 {
            return offset + (flags.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    let tail = chunks.remainder();
    offset
        + tail
            .iter()
            .position(|&b| ESCAPE[b as usize] != 0)
            .unwrap_or(tail.len())
}

/// Appends the compact JSON text of `value` to `out`.
pub fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::Float(f) => write_float(*f, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(v, out);
            }
            out.push(b'}');
        }
    }
}

/// The compact JSON text of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    write(value, &mut out);
    // The writer only emits valid UTF-8: ASCII syntax plus the UTF-8 of `str`s.
    String::from_utf8(out).unwrap_or_default()
}

fn write_float(f: f64, out: &mut Vec<u8>) {
    if f.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Which bytes need escaping in a JSON string: 0 none, otherwise the letter of the
/// short escape, or `u` for `\u00XX`.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes `s` as a quoted JSON string.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = s.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    loop {
        let n = find_special(rest);
        out.extend_from_slice(&rest[..n]);
        let Some((&b, tail)) = rest[n..].split_first() else {
            break;
        };
        match ESCAPE[b as usize] {
            b'u' => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]),
            esc => out.extend_from_slice(&[b'\\', esc]),
        }
        rest = tail;
    }
    out.push(b'"');
}

/// Converts from `serde_json`'s tree, for code that already has one.
pub fn from_serde(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Str::from(s)),
        serde_json::Value::Array(items) => {
            Value::Array(items.into_iter().map(from_serde).collect())
        }
        serde_json::Value::Object(obj) => {
            let mut map = Map::with_capacity(obj.len());
            for (k, v) in obj {
                map.push(k, from_serde(v));
            }
            Value::Object(map)
        }
    }
}

/// Converts to `serde_json`'s tree. Non-finite floats become `null`; duplicate keys
/// keep the last value.
pub fn to_serde(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_serde(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
