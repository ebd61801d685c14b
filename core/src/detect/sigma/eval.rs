//! Evaluating compiled rules on one event: the field values every rule reads,
//! collected in one walk, and the condition and matchers over them.

use super::compile::{scalar_text, CompiledRule, Engine, FieldId, Matcher};
use super::condition::Cond;
use super::modifiers::ValuePattern;
use super::pattern::Text;
use super::time::{millis_of, part_of};
use crate::value::Value;
use std::borrow::Cow;
use std::cell::OnceCell;

/// The pseudo-field of keyword searches: every string of the event.
pub const KEYWORDS: FieldId = FieldId::MAX;

/// The values of every field the rules use, found in one walk of the event.
pub struct EventFields<'e> {
    event: &'e Value,
    /// (field, value), sorted by field.
    entries: Vec<(FieldId, &'e Value)>,
    keywords: OnceCell<Vec<(FieldId, &'e Value)>>,
}

impl<'e> EventFields<'e> {
    /// Walks the event once along the engine's path trie. `storage` is a reused
    /// allocation (its contents are ignored).
    pub fn collect(
        engine: &Engine,
        event: &'e Value,
        mut storage: Vec<(FieldId, usize)>,
    ) -> EventFields<'e> {
        storage.clear();
        let mut entries: Vec<(FieldId, &'e Value)> =
            storage.into_iter().map(|(f, _)| (f, event)).collect();
        walk(engine, 0, event, &mut entries);
        entries.sort_unstable_by_key(|(f, _)| *f);
        EventFields {
            event,
            entries,
            keywords: OnceCell::new(),
        }
    }

    /// Gives the allocation back for the next event.
    pub fn into_storage(mut self) -> Vec<(FieldId, usize)> {
        self.entries.clear();
        self.entries.into_iter().map(|(f, _)| (f, 0)).collect()
    }

    pub fn entries(&self) -> &[(FieldId, &'e Value)] {
        &self.entries
    }

    /// The values of one field (every candidate path, array elements flattened), or
    /// every scalar of the event for [`KEYWORDS`].
    pub fn values(&self, field: FieldId) -> &[(FieldId, &'e Value)] {
        if field == KEYWORDS {
            return self.keyword_values();
        }
        let start = self.entries.partition_point(|(f, _)| *f < field);
        let len = self.entries[start..]
            .iter()
            .take_while(|(f, _)| *f == field)
            .count();
        &self.entries[start..start + len]
    }

    /// Every scalar in the event, for keyword searches.
    pub fn keyword_values(&self) -> &[(FieldId, &'e Value)] {
        self.keywords.get_or_init(|| {
            let mut out = Vec::new();
            scalars(self.event, &mut out);
            out
        })
    }
}

fn scalars<'e>(v: &'e Value, out: &mut Vec<(FieldId, &'e Value)>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(_, v)| scalars(v, out)),
        Value::Array(a) => a.iter().for_each(|v| scalars(v, out)),
        Value::Null => {}
        other => out.push((KEYWORDS, other)),
    }
}

fn walk<'e>(engine: &Engine, node: usize, value: &'e Value, out: &mut Vec<(FieldId, &'e Value)>) {
    let Some(n) = engine.trie.nodes.get(node) else {
        return;
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter() {
                let Some(&child) = n.children.get(k) else {
                    continue;
                };
                let Some(c) = engine.trie.nodes.get(child as usize) else {
                    continue;
                };
                for &f in &c.fields {
                    push_leaf(f, v, out);
                }
                if !c.children.is_empty() {
                    walk(engine, child as usize, v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(engine, node, i, out)),
        _ => {}
    }
}

fn push_leaf<'e>(field: FieldId, v: &'e Value, out: &mut Vec<(FieldId, &'e Value)>) {
    match v {
        Value::Array(items) if !items.is_empty() => {
            items.iter().for_each(|i| push_leaf(field, i, out))
        }
        other => out.push((field, other)),
    }
}

/// Evaluates a condition.
pub fn eval_cond(rule: &CompiledRule, cond: &Cond, fields: &EventFields<'_>) -> bool {
    match cond {
        Cond::Search(i) => rule
            .searches
            .get(*i)
            .is_some_and(|s| eval_search(s, fields)),
        Cond::Not(c) => !eval_cond(rule, c, fields),
        Cond::And(items) => items.iter().all(|c| eval_cond(rule, c, fields)),
        Cond::Or(items) => items.iter().any(|c| eval_cond(rule, c, fields)),
        Cond::All(ids) => ids
            .iter()
            .all(|i| eval_cond(rule, &Cond::Search(*i), fields)),
        Cond::AtLeast(n, ids) => {
            let mut hits = 0;
            for i in ids {
                if eval_cond(rule, &Cond::Search(*i), fields) {
                    hits += 1;
                    if hits >= *n {
                        return true;
                    }
                }
            }
            false
        }
    }
}

fn eval_search(alternatives: &[Vec<Matcher>], fields: &EventFields<'_>) -> bool {
    alternatives
        .iter()
        .any(|conj| conj.iter().all(|m| eval_matcher(m, fields).is_some()))
}

/// Whether a matcher holds; `Some` carries the value that made it hold (none for
/// matchers that hold on absence, like `null` or `exists: false`).
pub fn eval_matcher<'e>(m: &Matcher, fields: &EventFields<'e>) -> Option<Option<&'e Value>> {
    let values = fields.values(m.field);
    let spec = &m.spec;
    if values.is_empty() {
        // Only `null` and `exists` can hold on an absent field.
        let absent =
            |p: &ValuePattern| matches!(p, ValuePattern::Null | ValuePattern::Exists(false));
        let result = if spec.all {
            spec.values.iter().all(absent)
        } else {
            spec.values.iter().any(absent)
        };
        return (result != spec.negate).then_some(None);
    }
    let mut texts: Vec<Option<Text<'e>>> = Vec::new();
    let mut witness = None;
    let result = if spec.all {
        spec.values
            .iter()
            .all(|p| match_pattern(p, values, &mut texts, fields, spec, &mut witness))
    } else {
        spec.values
            .iter()
            .any(|p| match_pattern(p, values, &mut texts, fields, spec, &mut witness))
    };
    if result != spec.negate {
        Some(if spec.negate { None } else { witness })
    } else {
        None
    }
}

fn text_of<'e>(v: &'e Value) -> Option<Text<'e>> {
    match v {
        Value::String(s) => Some(Text::new(Cow::Borrowed(s))),
        other => {
            let mut buf = String::new();
            scalar_text(other, &mut buf).map(|t| Text::new(Cow::Owned(t.to_string())))
        }
    }
}

fn match_pattern<'e>(
    p: &ValuePattern,
    values: &[(FieldId, &'e Value)],
    texts: &mut Vec<Option<Text<'e>>>,
    fields: &EventFields<'e>,
    spec: &super::modifiers::FieldSpec,
    witness: &mut Option<&'e Value>,
) -> bool {
    match p {
        ValuePattern::Null => return values.is_empty() || values.iter().any(|(_, v)| v.is_null()),
        ValuePattern::Exists(want) => return values.is_empty() != *want,
        _ => {}
    }
    if texts.is_empty() && matches!(p, ValuePattern::Str(_)) {
        texts.extend(values.iter().map(|(_, v)| text_of(v)));
    }
    for (i, &(_, v)) in values.iter().enumerate() {
        let hit = match (p, spec.time) {
            (ValuePattern::Num { value, .. }, Some(part)) => {
                millis_of(v).is_some_and(|ms| part_of(ms, part) as f64 == *value)
            }
            (ValuePattern::Cmp(op, n), Some(part)) => {
                millis_of(v).is_some_and(|ms| op.holds(part_of(ms, part) as f64, *n))
            }
            (_, Some(_)) => false,
            (ValuePattern::Str(s), None) => texts
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|t| s.matches(t)),
            (ValuePattern::Num { value, text }, None) => match v {
                Value::Int(_) | Value::Float(_) => v.as_f64() == Some(*value),
                Value::String(s) => {
                    s.trim() == text || s.trim().parse::<f64>().ok() == Some(*value)
                }
                _ => false,
            },
            (ValuePattern::Bool(b), None) => match v {
                Value::Bool(x) => x == b,
                Value::String(s) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
                _ => false,
            },
            (ValuePattern::Cmp(op, n), None) => number(v).is_some_and(|x| op.holds(x, *n)),
            (ValuePattern::Cidr(c), None) => v.as_str().is_some_and(|s| c.contains_text(s)),
            (ValuePattern::FieldRef { id, .. }, None) => fields
                .values(*id)
                .iter()
                .any(|(_, other)| same(v, other, spec.cased)),
            (ValuePattern::Null | ValuePattern::Exists(_), None) => false,
        };
        if hit {
            *witness = Some(v);
            return true;
        }
    }
    false
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(_) | Value::Float(_) => v.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Equality for `fieldref`: numbers by value, text case-insensitively unless cased.
fn same(a: &Value, b: &Value, cased: bool) -> bool {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        if !matches!((a, b), (Value::String(_), Value::String(_))) {
            return x == y;
        }
    }
    let (mut ba, mut bb) = (String::new(), String::new());
    match (scalar_text(a, &mut ba), scalar_text(b, &mut bb)) {
        (Some(x), Some(y)) => {
            if cased {
                x == y
            } else {
                x.to_lowercase() == y.to_lowercase()
            }
        }
        _ => false,
    }
}

/// The fields (event paths) and values that made a matching rule match: every
/// matcher that holds in a selection the condition relies on positively.
pub fn explain(
    engine: &Engine,
    rule: &CompiledRule,
    fields: &EventFields<'_>,
) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    collect_positive(engine, rule, &rule.cond, fields, &mut out);
    out
}

fn collect_positive(
    engine: &Engine,
    rule: &CompiledRule,
    cond: &Cond,
    fields: &EventFields<'_>,
    out: &mut Vec<(String, Value)>,
) {
    let search = |i: usize, out: &mut Vec<(String, Value)>| {
        let Some(alternatives) = rule.searches.get(i) else {
            return;
        };
        for conj in alternatives {
            let witnesses: Option<Vec<_>> = conj
                .iter()
                .map(|m| eval_matcher(m, fields).map(|w| (m, w)))
                .collect();
            if let Some(witnesses) = witnesses {
                for (m, w) in witnesses {
                    let Some(value) = w else { continue };
                    let name = field_path_in_event(engine, m.field, fields.event, value);
                    if !out.iter().any(|(n, _)| *n == name) {
                        out.push((name, value.clone()));
                    }
                }
                return;
            }
        }
    };
    match cond {
        Cond::Search(i) => search(*i, out),
        Cond::Not(_) => {}
        Cond::And(items) | Cond::Or(items) => {
            for c in items {
                if eval_cond(rule, c, fields) {
                    collect_positive(engine, rule, c, fields, out);
                }
            }
        }
        Cond::All(ids) | Cond::AtLeast(_, ids) => {
            for &i in ids {
                if eval_cond(rule, &Cond::Search(i), fields) {
                    search(i, out);
                }
            }
        }
    }
}

/// The path (dotted) at which a field's value was found, for `matched_fields`.
fn field_path_in_event(engine: &Engine, field: FieldId, event: &Value, value: &Value) -> String {
    if field == KEYWORDS {
        return "keywords".to_string();
    }
    let Some(info) = engine.fields.get(field as usize) else {
        return String::new();
    };
    for path in &info.paths {
        let mut cur = Some(event);
        for k in path {
            cur = cur.and_then(|c| c.as_object()).and_then(|m| m.get(k));
        }
        if let Some(found) = cur {
            let holds = found == value || found.as_array().is_some_and(|a| a.contains(value));
            if holds || cur.is_some() && path.len() == 1 {
                return path.join(".");
            }
        }
    }
    info.name.clone()
}
