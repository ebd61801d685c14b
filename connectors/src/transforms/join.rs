//! `transform join`: remembers some records by a key for a while of event time and
//! copies their fields onto later records carrying the same key — the sender of a
//! mail onto the click on a link in it, the process of a connection onto its DNS
//! answer.
//!
//! Audit feeds split one story over several records: Microsoft 365 writes the mail
//! (`TIMailData`: sender, subject) and the click on a link in it (`TIUrlClickData`:
//! user, URL) as two records sharing only the message's network id. A model that
//! learns which link domains a sender's mail carries needs both on one event; this is
//! where they meet.
//!
//! - Records for which `remember` holds and that carry `key` are remembered: the
//!   values of the `copy` fields they have, with their `@timestamp`. A later record
//!   of the same key replaces the earlier one.
//! - Every other record carrying a remembered key within `within` of event time (on
//!   either side) receives those fields where it has none of its own, and its entity
//!   fields (`entity.*`, docs/schema.md §2) are derived again, since a copied sender
//!   can make a new entity. Nothing else changes; every record passes on.
//! - A record met before its partner is passed on unjoined: the join does not hold
//!   records back. Replays (`pipectl replay`) deliver in event time, so there the
//!   partner always comes first when it happened first.
//! - Bounded: at most `max_keys` remembered keys (the oldest by event time are
//!   forgotten first) and none older than `within` behind the newest event time seen.
//! - The remembered records are saved in the state store (table
//!   `join/<pipeline>/<component>`) every `checkpoint_interval` and when the input
//!   ends, and restored at start, so a restart does not forget the mail a later click
//!   belongs to. A row that does not decode is skipped with a warning.

use pipectl_core::component::{
    BuildContext, BuildError, Built, Factory, Transform, TransformOutput,
};
use pipectl_core::config::Attrs;
use pipectl_core::detect::sigma::time::millis_of;
use pipectl_core::event::Batch;
use pipectl_core::expr::CompiledExpr;
use pipectl_core::path::FieldPath;
use pipectl_core::store::Store;
use pipectl_core::value::{Map, Value};
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PlanValue};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The catalogue entry of `transform join`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "join",
    summary: "Remembers records by a key for a while of event time and copies their fields onto later records with the same key (a mail's sender onto the click on its link).",
    attrs: &[
        AttrSpec::required(
            "remember",
            AttrType::Expr,
            "Which records are remembered, e.g. `event.action == \"TIMailData\"`.",
        ),
        AttrSpec::required(
            "key",
            AttrType::Field,
            "The field both sides share, e.g. `email.local_id` (the mail's network message id).",
        ),
        AttrSpec::required(
            "copy",
            AttrType::List(&AttrType::Field),
            "The fields copied from a remembered record onto a matching record that lacks them.",
        ),
        AttrSpec::with_default(
            "within",
            AttrType::Duration,
            "7d",
            "How far apart in event time two records may be and still join; also how long a record is remembered.",
        ),
        AttrSpec::with_default(
            "max_keys",
            AttrType::Int,
            "1000000",
            "Remembered keys at most; beyond it the oldest are forgotten first.",
        ),
        AttrSpec::with_default(
            "checkpoint_interval",
            AttrType::Duration,
            "60s",
            "How often the remembered records are saved to the state store (and when the input ends).",
        ),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `transform join`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// The state store table of a join.
pub fn table(pipeline: &str, component: &str) -> String {
    format!("join/{pipeline}/{component}")
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let remember = attrs.expr("remember")?;
    let key = attrs.field("key")?;
    let copy: Vec<FieldPath> = match attrs.raw("copy") {
        Some(PlanValue::List(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                PlanValue::Field(f) => Ok(FieldPath::from(f)),
                _ => Err(attrs.error("`copy` must list event fields, e.g. `[email.from.address]`")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(attrs.error("`copy` must list at least one field")),
    };
    if copy.iter().any(|f| f.to_string() == key.to_string()) {
        return Err(attrs.error("`copy` need not list the `key` field: both sides already have it"));
    }
    let within = attrs.duration("within")?;
    if within.is_zero() {
        return Err(attrs.error("`within` must be longer than zero"));
    }
    let max_keys = usize::try_from(attrs.int("max_keys")?)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| attrs.error("`max_keys` must be at least 1"))?;
    let checkpoint_interval = attrs.duration("checkpoint_interval")?;
    let store = Store::shared(&ctx.data_dir)
        .map_err(|e| attrs.error(format!("cannot open the state store: {e}")))?;
    let mut join = Join {
        remember,
        key,
        copy,
        within_ms: i64::try_from(within.as_millis()).unwrap_or(i64::MAX),
        max_keys,
        memory: HashMap::new(),
        by_age: BTreeSet::new(),
        newest_ms: i64::MIN,
        changed: HashSet::new(),
        forgotten: HashSet::new(),
        store,
        table: table(ctx.pipeline, &plan.name),
        checkpoint_interval,
        last_checkpoint: Instant::now(),
    };
    join.restore()
        .map_err(|e| attrs.error(format!("cannot restore the remembered records: {e}")))?;
    Ok(Built::Transform(Box::new(join)))
}

/// A remembered record: its event time and the values of the `copy` fields it had,
/// by index into `copy`.
#[derive(Debug, Clone, PartialEq)]
struct Remembered {
    at_ms: i64,
    values: Vec<(usize, Value)>,
}

/// A built `transform join`.
pub struct Join {
    remember: CompiledExpr,
    key: FieldPath,
    copy: Vec<FieldPath>,
    within_ms: i64,
    max_keys: usize,
    memory: HashMap<String, Remembered>,
    /// (event time, key): the order in which remembered records are forgotten.
    by_age: BTreeSet<(i64, String)>,
    newest_ms: i64,
    changed: HashSet<String>,
    forgotten: HashSet<String>,
    store: Arc<Store>,
    table: String,
    checkpoint_interval: Duration,
    last_checkpoint: Instant,
}

/// A key as text: strings as they are, integers written out.
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

impl Join {
    fn remember(&mut self, key: String, event: &Value, at_ms: i64) {
        let values: Vec<(usize, Value)> = self
            .copy
            .iter()
            .enumerate()
            .filter_map(|(i, path)| {
                event
                    .get_path(path)
                    .filter(|v| !matches!(v, Value::Null))
                    .map(|v| (i, v.clone()))
            })
            .collect();
        if values.is_empty() {
            return;
        }
        if let Some(old) = self.memory.remove(&key) {
            self.by_age.remove(&(old.at_ms, key.clone()));
        }
        self.by_age.insert((at_ms, key.clone()));
        self.forgotten.remove(&key);
        self.changed.insert(key.clone());
        self.memory.insert(key, Remembered { at_ms, values });
        self.forget_beyond_bounds();
    }

    /// Forgets records older than `within` behind the newest event time, and the
    /// oldest beyond `max_keys`.
    fn forget_beyond_bounds(&mut self) {
        let horizon = self.newest_ms.saturating_sub(self.within_ms);
        while let Some((at, key)) = self.by_age.first().cloned() {
            if at >= horizon && self.memory.len() <= self.max_keys {
                break;
            }
            self.by_age.pop_first();
            self.memory.remove(&key);
            self.changed.remove(&key);
            self.forgotten.insert(key);
        }
    }

    /// Copies the remembered fields onto `event`; whether anything was copied.
    fn complete(&self, key: &str, event: &mut Value, at_ms: Option<i64>) -> bool {
        let Some(found) = self.memory.get(key) else {
            return false;
        };
        // A record without a time of its own joins whatever is remembered.
        if at_ms.is_some_and(|t| (t - found.at_ms).abs() > self.within_ms) {
            return false;
        }
        let mut copied = false;
        for (i, value) in &found.values {
            let Some(path) = self.copy.get(*i) else {
                continue;
            };
            if event.get_path(path).is_none() {
                // Fails only when the path crosses a non-object; the event stays as is.
                copied |= event.insert_path(path, value.clone()).is_ok();
            }
        }
        copied
    }

    fn restore(&mut self) -> Result<(), pipectl_core::store::StoreError> {
        for (key, bytes) in self.store.scan(&self.table)? {
            match decode_row(&bytes, self.copy.len()) {
                Some(remembered) => {
                    self.newest_ms = self.newest_ms.max(remembered.at_ms);
                    self.by_age.insert((remembered.at_ms, key.clone()));
                    self.memory.insert(key, remembered);
                }
                None => {
                    tracing::warn!(table = %self.table, key, "a remembered record does not decode; skipped");
                    self.forgotten.insert(key);
                }
            }
        }
        self.forget_beyond_bounds();
        Ok(())
    }

    fn checkpoint(&mut self) {
        let mut changes: Vec<(String, Option<Vec<u8>>)> =
            self.forgotten.iter().map(|k| (k.clone(), None)).collect();
        for key in &self.changed {
            if let Some(r) = self.memory.get(key) {
                changes.push((key.clone(), Some(encode_row(r).into_bytes())));
            }
        }
        if changes.is_empty() {
            return;
        }
        match self.store.write(&self.table, changes) {
            Ok(()) => {
                self.changed.clear();
                self.forgotten.clear();
            }
            // Kept for the next checkpoint; the join itself goes on in memory.
            Err(e) => {
                tracing::warn!(table = %self.table, error = %e, "cannot save the remembered records; retrying at the next checkpoint")
            }
        }
        self.last_checkpoint = Instant::now();
    }
}

/// A row: `{"at": ms, "values": [[index, value], ...]}`.
fn encode_row(r: &Remembered) -> String {
    let mut row = Map::with_capacity(2);
    row.push("at", Value::Int(r.at_ms));
    row.push(
        "values",
        Value::Array(
            r.values
                .iter()
                .map(|(i, v)| {
                    Value::Array(vec![
                        Value::Int(i64::try_from(*i).unwrap_or(i64::MAX)),
                        v.clone(),
                    ])
                })
                .collect(),
        ),
    );
    pipectl_core::json::to_string(&Value::Object(row))
}

fn decode_row(bytes: &[u8], fields: usize) -> Option<Remembered> {
    let text = std::str::from_utf8(bytes).ok()?;
    let row = pipectl_core::json::from_str(text).ok()?;
    let row = row.as_object()?;
    let at_ms = match row.get("at")? {
        Value::Int(i) => *i,
        _ => return None,
    };
    let Value::Array(items) = row.get("values")? else {
        return None;
    };
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(pair) = item else {
            return None;
        };
        let [Value::Int(i), value] = pair.as_slice() else {
            return None;
        };
        let i = usize::try_from(*i).ok().filter(|i| *i < fields)?;
        values.push((i, value.clone()));
    }
    Some(Remembered { at_ms, values })
}

impl Transform for Join {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for mut event in batch {
            let key = event.value.get_path(&self.key).and_then(key_text);
            if let Some(key) = key {
                let at_ms = event
                    .value
                    .as_object()
                    .and_then(|o| o.get("@timestamp"))
                    .and_then(millis_of);
                if let Some(t) = at_ms {
                    self.newest_ms = self.newest_ms.max(t);
                }
                if self.remember.matches(&event.value) {
                    // A record without a time is remembered as of the newest seen.
                    let at = at_ms.unwrap_or(self.newest_ms);
                    self.remember(key, &event.value, at);
                } else if self.complete(&key, &mut event.value, at_ms)
                    && event
                        .value
                        .as_object()
                        .is_some_and(|o| o.get("entity").is_some())
                {
                    pipectl_core::entity::attach(&mut event.value);
                }
            }
            out.push(event);
        }
        if self.last_checkpoint.elapsed() >= self.checkpoint_interval {
            self.checkpoint();
        }
    }

    fn finish(&mut self, _out: &mut TransformOutput) {
        self.checkpoint();
    }
}

#[cfg(test)]
mod tests;
