//! The parser: recursive descent over bytes, strings sliced from validated text.

use super::scan::find_special;
use super::{JsonError, Limits, MAX_DEPTH, TOO_DEEP, TOO_MANY_FIELDS};
use crate::value::{Map, Str, Value};
use std::collections::HashMap;

/// Parses one JSON document; surrounding whitespace is allowed, anything else after
/// the document is an error.
pub fn from_slice(bytes: &[u8]) -> Result<Value, JsonError> {
    from_slice_limited(bytes, Limits::DEFAULT)
}

/// [`from_slice`] within `limits`: a document nested deeper or holding more object
/// members than they allow fails with [`TOO_DEEP`] or [`TOO_MANY_FIELDS`] as soon as the
/// parser gets there, before building the rest.
pub fn from_slice_limited(bytes: &[u8], limits: Limits) -> Result<Value, JsonError> {
    // Validating once up front (std's check is word-at-a-time) lets every string be a
    // slice of checked text; JSON must be UTF-8 throughout anyway.
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError {
        offset: e.valid_up_to(),
        reason: "invalid UTF-8",
    })?;
    from_str_limited(text, limits)
}

/// Parses JSON text; see [`from_slice`]. Text is already UTF-8, so prefer this when
/// the input is a `str` (it skips validation).
pub fn from_str(text: &str) -> Result<Value, JsonError> {
    from_str_limited(text, Limits::DEFAULT)
}

/// [`from_str`] within `limits`; see [`from_slice_limited`].
pub fn from_str_limited(text: &str, limits: Limits) -> Result<Value, JsonError> {
    // The scratch stacks and the key cache are kept per thread between documents, so
    // a parse neither starts by growing its stacks nor rebuilds keys it has seen.
    let mut scratch = SCRATCH.with(|s| s.take());
    if scratch.keys.is_empty() {
        scratch.keys = vec![Str::default(); KEY_SLOTS];
    }
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
        max_depth: limits.max_depth.min(MAX_DEPTH),
        fields_left: limits.max_fields,
        key_hash: 0,
        scratch,
    };
    let result = parser.document();
    let mut scratch = parser.scratch;
    // Keep the stacks unless one huge document grew them (then let them go).
    if scratch.entries.capacity() <= SCRATCH_KEEP && scratch.items.capacity() <= SCRATCH_KEEP {
        scratch.entries.clear();
        scratch.items.clear();
        SCRATCH.with(|s| s.set(scratch));
    }
    result
}

/// What the parser keeps between documents on a thread.
#[derive(Default)]
struct Scratch {
    /// Object entries being collected: each object parses its entries on top of the
    /// stack and moves them into an exactly-sized map when it closes, so maps never
    /// reallocate while growing.
    entries: Vec<(Str, Value)>,
    /// The same for array items.
    items: Vec<Value>,
    /// Recently seen short keys, by a cheap hash: records of one feed repeat the same
    /// keys, and copying a finished key is cheaper than building it again.
    keys: Vec<Str>,
}

/// Slots of the key cache.
const KEY_SLOTS: usize = 256;

/// Keys of one object looked up through a hash index once it holds this many.
const INDEX_AFTER: usize = 64;

/// Keys longer than this are not cached (they would not be stored inline anyway).
const MAX_CACHED_KEY: usize = 24;

/// The largest scratch stacks (in entries) kept between documents.
const SCRATCH_KEEP: usize = 4096;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> =
        const { std::cell::Cell::new(Scratch { entries: Vec::new(), items: Vec::new(), keys: Vec::new() }) };
}

/// The keys of the object being parsed, to resolve duplicates: the last value wins,
/// at the first key's position, so the map holds each key once (a later `remove`
/// cannot uncover an earlier value, and sinks never see a key twice).
///
/// A 256-bit filter of the keys seen (by a cheap hash) answers first: a key whose bit
/// is clear is certainly new, so an object of distinct keys costs a few bit operations
/// per key and duplicates are looked for only on a hit. Past [`INDEX_AFTER`] keys the
/// filter is mostly set, so a hash index takes over and a hostile object of a hundred
/// thousand keys still parses in linear time.
///
/// Every member is pushed onto the entries first, exactly as an object without the
/// check would be, and only a possible duplicate is then resolved in place
/// ([`ObjectKeys::resolve_last`]). Checking before the push made the key and value
/// travel through extra stack copies on every member, which cost the hot path about
/// a tenth of its throughput (docs/PERFORMANCE.md).
#[derive(Default)]
struct ObjectKeys {
    seen: [u64; 4],
    index: Option<HashMap<Str, usize>>,
}

impl ObjectKeys {
    /// Records the key of filter bit `bit` (its [`key_hash`]) as the object's member
    /// number `count` (0-based); true when it may repeat an earlier key, so the member
    /// just pushed must go through [`ObjectKeys::resolve_last`].
    #[inline(always)]
    fn may_repeat(&mut self, bit: usize, count: usize) -> bool {
        if count >= INDEX_AFTER {
            return true;
        }
        let word = &mut self.seen[(bit / 64) & 3];
        let mask = 1u64 << (bit % 64);
        let hit = *word & mask != 0;
        *word |= mask;
        hit
    }

    /// The last of `entries` (the object's newest member; the object's entries start
    /// at `start`) may repeat an earlier key: if it does, its value replaces the
    /// earlier one's and the entry is taken off again.
    #[cold]
    #[inline(never)]
    fn resolve_last(&mut self, entries: &mut Vec<(Str, Value)>, start: usize) {
        let Some(((key, _), earlier)) = entries
            .get_mut(start..)
            .and_then(|object| object.split_last_mut())
        else {
            return;
        };
        let count = earlier.len();
        let found = if count < INDEX_AFTER {
            earlier.iter().position(|(k, _)| k.as_str() == key.as_str())
        } else {
            let index = self.index.get_or_insert_with(|| {
                earlier
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect()
            });
            match index.get(key.as_str()) {
                Some(&i) => Some(i),
                None => {
                    index.insert(key.clone(), count);
                    None
                }
            }
        };
        if let Some(i) = found {
            if let Some((_, value)) = entries.pop() {
                if let Some(entry) = entries.get_mut(start + i) {
                    entry.1 = value;
                }
            }
        }
    }
}

/// The hash of a key (0..[`KEY_SLOTS`]) from its length and first, middle and last
/// bytes, which tell apart the keys of nearly every real object. It picks the key's
/// slot in the key cache and its bit in an object's filter of seen keys
/// ([`ObjectKeys`]); computed once per key, from the decoded key.
#[inline(always)]
fn key_hash(bytes: &[u8]) -> usize {
    let n = bytes.len();
    (match bytes {
        [] => 0,
        [only] => usize::from(*only),
        [first, .., last] => {
            let middle = bytes.get(n / 2).copied().unwrap_or(0);
            n * 31 + usize::from(*first) * 7 + usize::from(*last) + usize::from(middle) * 3
        }
    }) % KEY_SLOTS
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
    /// The nesting allowed: the caller's limit, never above [`MAX_DEPTH`] (the stack).
    max_depth: usize,
    /// Object members still allowed in this document.
    fields_left: usize,
    /// The [`key_hash`] of the key [`Parser::key`] returned last.
    key_hash: usize,
    scratch: Scratch,
}

impl<'a> Parser<'a> {
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

    #[inline(always)]
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
        if self.depth > self.max_depth {
            return Err(self.err(TOO_DEEP));
        }
        Ok(())
    }

    #[inline(never)]
    fn object(&mut self) -> PResult<Value> {
        self.enter()?;
        self.pos += 1; // `{`
        let start = self.scratch.entries.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Object(Map::new()));
        }
        let mut keys = ObjectKeys::default();
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.fail_entries(start, "expected a string key"));
            }
            if self.fields_left == 0 {
                return Err(self.fail_entries(start, TOO_MANY_FIELDS));
            }
            self.fields_left -= 1;
            self.pos += 1;
            let key = match self.key() {
                Ok(k) => k,
                Err(e) => return Err(self.fail_entries_with(start, e)),
            };
            let bit = self.key_hash;
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
            let count = self.scratch.entries.len() - start;
            self.scratch.entries.push((key, value));
            if keys.may_repeat(bit, count) {
                keys.resolve_last(&mut self.scratch.entries, start);
            }
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
        let entries = self.scratch.entries.split_off(start);
        self.depth -= 1;
        Ok(Value::Object(Map::from_entries(entries)))
    }

    fn fail_entries(&mut self, start: usize, reason: &'static str) -> Box<JsonError> {
        let e = self.err(reason);
        self.fail_entries_with(start, e)
    }

    fn fail_entries_with(&mut self, start: usize, e: Box<JsonError>) -> Box<JsonError> {
        self.scratch.entries.truncate(start);
        e
    }

    #[inline(never)]
    fn array(&mut self) -> PResult<Value> {
        self.enter()?;
        self.pos += 1; // `[`
        let start = self.scratch.items.len();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Array(Vec::new()));
        }
        loop {
            match self.value() {
                Ok(v) => self.scratch.items.push(v),
                Err(e) => {
                    self.scratch.items.truncate(start);
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
                    self.scratch.items.truncate(start);
                    return Err(self.err("expected `,` or `]` in an array"));
                }
            }
        }
        let items = self.scratch.items.split_off(start);
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

    /// Parses an object key (the opening quote is consumed), reusing a cached copy
    /// when the same key was seen recently; leaves the key's [`key_hash`] in
    /// `self.key_hash`.
    fn key(&mut self) -> PResult<Str> {
        let start = self.pos;
        let n = find_special(&self.bytes[start..]);
        if n > MAX_CACHED_KEY || self.bytes.get(start + n) != Some(&b'"') {
            let key = self.string()?;
            self.key_hash = key_hash(key.as_bytes());
            return Ok(key);
        }
        let text = self.slice(start, start + n)?;
        self.pos = start + n + 1;
        // Without escapes the key is its text, so this is the decoded key's hash.
        let hash = key_hash(text.as_bytes());
        self.key_hash = hash;
        match self.scratch.keys.get_mut(hash) {
            Some(slot) if slot.as_str() == text => Ok(slot.clone()),
            Some(slot) => {
                *slot = Str::from(text);
                Ok(slot.clone())
            }
            None => Ok(Str::from(text)),
        }
    }

    /// A piece of the (validated) input between ASCII delimiters, which always fall
    /// on character boundaries.
    fn slice(&self, from: usize, to: usize) -> PResult<&'a str> {
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
