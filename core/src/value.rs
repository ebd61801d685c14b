//! The event tree: a JSON-like value with insertion-ordered maps.
//!
//! Maps are small vectors of `(key, value)` pairs: audit records have tens of keys per
//! level, where a linear scan beats hashing and keeps the vendor's key order, which makes
//! output diffable and `_id`s stable. Strings are `CompactString`s, so the short keys and
//! values that dominate audit records need no heap allocation.

use crate::path::{FieldPath, PathSegment};
use compact_str::CompactString;
use std::fmt;

/// A string in the event tree.
pub type Str = CompactString;

/// A JSON-like value.
#[derive(Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Str),
    Array(Vec<Value>),
    Object(Map),
}

/// An insertion-ordered map; the last of duplicate keys wins on lookup.
#[derive(Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<(Str, Value)>,
}

impl Map {
    pub fn new() -> Map {
        Map {
            entries: Vec::new(),
        }
    }

    pub fn with_capacity(n: usize) -> Map {
        Map {
            entries: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Sets `key`, replacing an existing value in place (keeping its position).
    pub fn insert(&mut self, key: impl Into<Str>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Appends without looking for an existing key; for decoders that build a map from
    /// input in order (duplicates then resolve to the last, as in JSON parsers).
    pub fn push(&mut self, key: impl Into<Str>, value: Value) {
        self.entries.push((key.into(), value));
    }

    /// A map of the given entries in order, without looking for duplicate keys (as
    /// [`Map::push`]); lets decoders hand over a finished vector without copying.
    pub fn from_entries(entries: Vec<(Str, Value)>) -> Map {
        Map { entries }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.entries.iter().rposition(|(k, _)| k == key)?;
        Some(self.entries.remove(pos).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Str, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Str, &mut Value)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Str> {
        self.entries.iter().map(|(k, _)| k)
    }
}

impl IntoIterator for Map {
    type Item = (Str, Value);
    type IntoIter = std::vec::IntoIter<(Str, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(Str, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (Str, Value)>>(iter: I) -> Map {
        let mut map = Map::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl Value {
    /// An empty object, the usual root of an event.
    pub fn object() -> Value {
        Value::Object(Map::new())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether the value counts as true in a condition: `true`, a non-zero number, a
    /// non-empty string, list or map.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(m) => !m.is_empty(),
        }
    }

    /// The name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Follows a field path.
    pub fn get_path(&self, path: &FieldPath) -> Option<&Value> {
        let mut cur = self;
        for seg in path.segments() {
            cur = match (seg, cur) {
                (PathSegment::Key(k), Value::Object(m)) => m.get(k)?,
                (PathSegment::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Follows a field path for writing.
    pub fn get_path_mut(&mut self, path: &FieldPath) -> Option<&mut Value> {
        let mut cur = self;
        for seg in path.segments() {
            cur = match (seg, cur) {
                (PathSegment::Key(k), Value::Object(m)) => m.get_mut(k)?,
                (PathSegment::Index(i), Value::Array(a)) => a.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Sets the value at a path, creating intermediate objects. Fails (returning the
    /// value back) when the path runs through a scalar or past the end of an array.
    pub fn insert_path(&mut self, path: &FieldPath, value: Value) -> Result<(), Value> {
        let segs = path.segments();
        let Some((last, parents)) = segs.split_last() else {
            *self = value;
            return Ok(());
        };
        let mut cur = self;
        for seg in parents {
            cur = match (seg, cur) {
                (PathSegment::Key(k), Value::Object(m)) => {
                    if m.get(k).is_none() {
                        m.push(k.clone(), Value::object());
                    }
                    match m.get_mut(k) {
                        Some(v) => v,
                        None => return Err(value),
                    }
                }
                (PathSegment::Key(k), v @ Value::Null) => {
                    let mut m = Map::new();
                    m.push(k.clone(), Value::object());
                    *v = Value::Object(m);
                    match v.as_object_mut().and_then(|m| m.get_mut(k)) {
                        Some(inner) => inner,
                        None => return Err(value),
                    }
                }
                (PathSegment::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                    Some(v) => v,
                    None => return Err(value),
                },
                _ => return Err(value),
            };
        }
        match (last, cur) {
            (PathSegment::Key(k), Value::Object(m)) => {
                m.insert(k.clone(), value);
                Ok(())
            }
            (PathSegment::Key(k), v @ Value::Null) => {
                let mut m = Map::new();
                m.push(k.clone(), value);
                *v = Value::Object(m);
                Ok(())
            }
            (PathSegment::Index(i), Value::Array(a)) if *i < a.len() => {
                a[*i] = value;
                Ok(())
            }
            _ => Err(value),
        }
    }

    /// Removes the value at a path.
    pub fn remove_path(&mut self, path: &FieldPath) -> Option<Value> {
        let segs = path.segments();
        let (last, parents) = segs.split_last()?;
        let mut cur = self;
        for seg in parents {
            cur = match (seg, cur) {
                (PathSegment::Key(k), Value::Object(m)) => m.get_mut(k)?,
                (PathSegment::Index(i), Value::Array(a)) => a.get_mut(*i)?,
                _ => return None,
            };
        }
        match (last, cur) {
            (PathSegment::Key(k), Value::Object(m)) => m.remove(k),
            (PathSegment::Index(i), Value::Array(a)) if *i < a.len() => Some(a.remove(*i)),
            _ => None,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::json::to_string(self))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(Str::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Str::from(s))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Object(m)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Value {
        Value::Array(a)
    }
}
