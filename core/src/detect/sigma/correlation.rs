//! Correlation rules over event time: `event_count`, `value_count`, `value_sum`,
//! `value_avg`, `temporal` and `temporal_ordered`, with group-by, aliases, chaining
//! (a correlation may reference another) and `generate`.
//!
//! Semantics, chosen to be predictable on replays:
//! - Time is the event's own time (`@timestamp` or the configured fields), never the
//!   wall clock. A window of timespan `T` holds events whose times `t` satisfy
//!   `start <= t <= start + T`: an event exactly `T` after the first is inside.
//! - Events may arrive out of order by up to the allowed lateness behind the newest
//!   time seen; later ones are counted as late and ignored.
//! - Conditions with only lower bounds (`gt`, `gte`, and temporal's "all rules seen")
//!   fire as soon as some window containing the new event satisfies them; the events
//!   of that window are then consumed, so one burst gives one hit. Conditions with an
//!   upper bound (`lt`, `lte`, `eq`, `neq`, ranges) are judged when a window closes:
//!   windows open at a group's first event and close once event time has moved past
//!   their end by the allowed lateness (or at the end of a finite run).
//! - An event missing a group-by field is not counted (its group is unknown).
//! - State is bounded: at most `max_groups` groups per correlation (the least recently
//!   updated is evicted) and `max_entries` events per group (the oldest dropped).

use super::fieldmap::{FieldMap, KeyPath};
use super::hit::{event_id, CorrelationInfo};
use super::rule::{CorrelationRule, CorrelationType, RuleMeta};
use crate::value::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Limits and tolerance.
#[derive(Debug, Clone, Copy)]
pub struct CorrelationOptions {
    /// How far behind the newest event time an event may arrive and still count.
    pub lateness_ms: i64,
    pub max_groups: usize,
    pub max_entries: usize,
}

impl Default for CorrelationOptions {
    fn default() -> CorrelationOptions {
        CorrelationOptions {
            lateness_ms: 60_000,
            max_groups: 10_000,
            max_entries: 10_000,
        }
    }
}

/// Counters of what the correlator set aside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorrelationStats {
    pub late: u64,
    pub missing_group: u64,
    pub evicted_groups: u64,
    pub dropped_entries: u64,
}

/// What a correlation references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Detection(usize),
    Correlation(usize),
}

#[derive(Debug, Clone)]
struct Entry {
    ts: i64,
    /// Position of the matching rule in the correlation's `rules`.
    rule: usize,
    value: Option<String>,
    num: f64,
    event_id: String,
}

#[derive(Debug, Default)]
struct Group {
    entries: Vec<Entry>,
    last_update: u64,
    /// The latest event, kept for windows judged at close.
    last_event: Option<Value>,
}

#[derive(Debug)]
struct State {
    rule: CorrelationRule,
    /// Resolved `rules`.
    sources: Vec<Source>,
    groups: HashMap<String, Group>,
}

/// A correlation that matched.
#[derive(Debug, Clone)]
pub struct Fired {
    pub correlation: usize,
    pub info: CorrelationInfo,
    pub time_ms: i64,
    /// The event behind the hit when it is not the one just observed (windows judged
    /// at close).
    pub event: Option<Value>,
}

/// All correlation rules and their state.
#[derive(Debug)]
pub struct Correlator {
    states: Vec<State>,
    /// Detection index → correlations referencing it.
    by_detection: Vec<Vec<usize>>,
    /// Correlation index → correlations referencing it.
    by_correlation: Vec<Vec<usize>>,
    detections: Vec<Arc<RuleMeta>>,
    namespaces: Vec<Vec<KeyPath>>,
    fieldmap: FieldMap,
    opts: CorrelationOptions,
    watermark: i64,
    next_deadline: i64,
    clock: u64,
    stats: CorrelationStats,
}

/// How deep correlations may chain.
const MAX_CHAIN: usize = 8;

impl Correlator {
    /// Correlations over `detections` (with their log sources' namespaces, for
    /// resolving group-by fields). References were checked when loading; one that
    /// does not resolve here simply never fires.
    pub fn new(
        correlations: Vec<CorrelationRule>,
        detections: Vec<Arc<RuleMeta>>,
        namespaces: Vec<Vec<KeyPath>>,
        fieldmap: FieldMap,
        opts: CorrelationOptions,
    ) -> Correlator {
        let find = |r: &str| -> Option<Source> {
            if let Some(i) = detections
                .iter()
                .position(|d| d.id == r || d.name.as_deref() == Some(r))
            {
                return Some(Source::Detection(i));
            }
            correlations
                .iter()
                .position(|c| c.meta.id == r || c.meta.name.as_deref() == Some(r))
                .map(Source::Correlation)
        };
        let mut by_detection = vec![Vec::new(); detections.len()];
        let mut by_correlation = vec![Vec::new(); correlations.len()];
        let mut states = Vec::with_capacity(correlations.len());
        for (ci, c) in correlations.iter().enumerate() {
            let sources: Vec<Source> = c.rules.iter().filter_map(|r| find(r)).collect();
            for s in &sources {
                match *s {
                    Source::Detection(d) => by_detection[d].push(ci),
                    Source::Correlation(o) => by_correlation[o].push(ci),
                }
            }
            states.push(State {
                rule: c.clone(),
                sources,
                groups: HashMap::new(),
            });
        }
        Correlator {
            states,
            by_detection,
            by_correlation,
            detections,
            namespaces,
            fieldmap,
            opts,
            watermark: i64::MIN,
            next_deadline: i64::MAX,
            clock: 0,
            stats: CorrelationStats::default(),
        }
    }

    pub fn rule(&self, i: usize) -> Option<&CorrelationRule> {
        self.states.get(i).map(|s| &s.rule)
    }

    pub fn stats(&self) -> CorrelationStats {
        self.stats
    }

    /// Whether a detection rule reports its own hits: when no correlation references
    /// it, or one that does says `generate: true`.
    pub fn detection_generates(&self, d: usize) -> bool {
        let refs = self
            .by_detection
            .get(d)
            .map(Vec::as_slice)
            .unwrap_or_default();
        refs.is_empty() || refs.iter().any(|&c| self.states[c].rule.generate)
    }

    /// Whether a correlation reports its own hits (the same rule for chained ones).
    pub fn correlation_generates(&self, c: usize) -> bool {
        let refs = self
            .by_correlation
            .get(c)
            .map(Vec::as_slice)
            .unwrap_or_default();
        refs.is_empty() || refs.iter().any(|&o| self.states[o].rule.generate)
    }

    /// Whether any correlation listens to this detection.
    pub fn listens_to(&self, d: usize) -> bool {
        self.by_detection.get(d).is_some_and(|v| !v.is_empty())
    }

    /// Feeds a match of detection `d` on `event` at time `ts`.
    pub fn observe(&mut self, d: usize, event: &Value, ts: i64, out: &mut Vec<Fired>) {
        if ts > self.watermark {
            self.watermark = ts;
        }
        let targets = self.by_detection.get(d).cloned().unwrap_or_default();
        for c in targets {
            self.feed(c, Source::Detection(d), d, event, ts, out, 0);
        }
        if self.watermark.saturating_sub(self.opts.lateness_ms) > self.next_deadline {
            self.close_windows(self.watermark.saturating_sub(self.opts.lateness_ms), out);
        }
    }

    /// Judges every open window (the end of a finite run).
    pub fn finish(&mut self, out: &mut Vec<Fired>) {
        self.close_windows(i64::MAX, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn feed(
        &mut self,
        c: usize,
        source: Source,
        origin: usize,
        event: &Value,
        ts: i64,
        out: &mut Vec<Fired>,
        depth: usize,
    ) {
        if depth > MAX_CHAIN {
            return;
        }
        if ts < self.watermark.saturating_sub(self.opts.lateness_ms) {
            self.stats.late += 1;
            return;
        }
        let Some(group) = self.group_key(c, source, origin, event) else {
            self.stats.missing_group += 1;
            return;
        };
        let state = &self.states[c];
        let Some(rule_pos) = state.sources.iter().position(|s| *s == source) else {
            return;
        };
        let (value, num) = match state.rule.kind {
            CorrelationType::ValueCount => {
                match self.field_values(origin, &state.rule.condition.field, event) {
                    Some(v) => (Some(v), 0.0),
                    None => return,
                }
            }
            CorrelationType::ValueSum | CorrelationType::ValueAvg => {
                let text = self.field_values(origin, &state.rule.condition.field, event);
                match text.and_then(|t| t.parse::<f64>().ok()) {
                    Some(n) => (None, n),
                    None => return,
                }
            }
            _ => (None, 0.0),
        };
        let entry = Entry {
            ts,
            rule: rule_pos,
            value,
            num,
            event_id: event_id(event),
        };
        self.clock += 1;
        let clock = self.clock;
        let horizon = self.watermark.saturating_sub(self.opts.lateness_ms);
        let monotone = is_monotone(&self.states[c].rule);
        let (span, max_entries, max_groups) = (
            self.states[c].rule.timespan_ms,
            self.opts.max_entries,
            self.opts.max_groups,
        );
        let state = &mut self.states[c];
        if !state.groups.contains_key(&group) && state.groups.len() >= max_groups {
            evict_oldest(&mut state.groups);
            self.stats.evicted_groups += 1;
        }
        let g = state.groups.entry(group.clone()).or_default();
        g.last_update = clock;
        let pos = g.entries.partition_point(|e| e.ts <= ts);
        g.entries.insert(pos, entry);
        let keep_from = g
            .entries
            .partition_point(|e| e.ts < horizon.saturating_sub(span));
        // Windows judged at close keep their entries until then.
        if monotone && keep_from > 0 {
            g.entries.drain(..keep_from);
        }
        if g.entries.len() > max_entries {
            let excess = g.entries.len() - max_entries;
            g.entries.drain(..excess);
            self.stats.dropped_entries += excess as u64;
        }
        if !monotone {
            g.last_event = Some(event.clone());
            if let Some(first) = g.entries.first() {
                self.next_deadline = self.next_deadline.min(first.ts.saturating_add(span));
            }
            return;
        }
        let rule = &state.rule;
        if let Some((start, end, count)) = best_window(rule, &g.entries, ts) {
            let window_start = g.entries[start].ts;
            let info = CorrelationInfo {
                kind: rule.kind.as_str(),
                group: group.clone(),
                window: rule.timespan_text.clone(),
                window_start_ms: window_start,
                count,
                event_ids: g.entries[start..end]
                    .iter()
                    .map(|e| e.event_id.clone())
                    .collect(),
            };
            let last_ts = g.entries[start..end]
                .iter()
                .map(|e| e.ts)
                .max()
                .unwrap_or(ts);
            g.entries.drain(start..end);
            out.push(Fired {
                correlation: c,
                info,
                time_ms: last_ts,
                event: None,
            });
            let chained = self.by_correlation.get(c).cloned().unwrap_or_default();
            for o in chained {
                self.feed(
                    o,
                    Source::Correlation(c),
                    origin,
                    event,
                    last_ts,
                    out,
                    depth + 1,
                );
            }
        }
    }

    /// Judges windows that ended before `horizon`.
    fn close_windows(&mut self, horizon: i64, out: &mut Vec<Fired>) {
        let mut next = i64::MAX;
        for (c, state) in self.states.iter_mut().enumerate() {
            if is_monotone(&state.rule) {
                if horizon == i64::MAX {
                    state.groups.clear();
                }
                continue;
            }
            let span = state.rule.timespan_ms;
            let mut empty = Vec::new();
            for (key, g) in state.groups.iter_mut() {
                while let Some(first) = g.entries.first() {
                    let end_ts = first.ts.saturating_add(span);
                    if end_ts >= horizon {
                        next = next.min(end_ts);
                        break;
                    }
                    let end = g.entries.partition_point(|e| e.ts <= end_ts);
                    let window = &g.entries[..end];
                    let n = metric(&state.rule, window);
                    if state.rule.condition.holds(n) {
                        out.push(Fired {
                            correlation: c,
                            info: CorrelationInfo {
                                kind: state.rule.kind.as_str(),
                                group: key.clone(),
                                window: state.rule.timespan_text.clone(),
                                window_start_ms: first.ts,
                                count: n as i64,
                                event_ids: window.iter().map(|e| e.event_id.clone()).collect(),
                            },
                            time_ms: window.iter().map(|e| e.ts).max().unwrap_or(first.ts),
                            event: g.last_event.clone(),
                        });
                    }
                    g.entries.drain(..end);
                }
                if g.entries.is_empty() {
                    empty.push(key.clone());
                }
            }
            for k in empty {
                state.groups.remove(&k);
            }
        }
        self.next_deadline = next;
    }

    fn group_key(&self, c: usize, source: Source, origin: usize, event: &Value) -> Option<String> {
        let state = self.states.get(c)?;
        let (rule_id, rule_name) = match source {
            Source::Detection(d) => {
                let m = self.detections.get(d)?;
                (m.id.clone(), m.name.clone())
            }
            Source::Correlation(o) => {
                let m = &self.states.get(o)?.rule.meta;
                (m.id.clone(), m.name.clone())
            }
        };
        let mut parts = Vec::with_capacity(state.rule.group_by.len());
        for g in &state.rule.group_by {
            let field = state
                .rule
                .aliases
                .iter()
                .find(|(alias, _)| alias == g)
                .and_then(|(_, per_rule)| {
                    per_rule
                        .iter()
                        .find(|(r, _)| *r == rule_id || Some(r) == rule_name.as_ref())
                        .map(|(_, f)| f.as_str())
                })
                .unwrap_or(g.as_str());
            let value = self.lookup(origin, field, event)?;
            parts.push(format!("{g}={value}"));
        }
        Some(parts.join(", "))
    }

    fn field_values(&self, origin: usize, fields: &[String], event: &Value) -> Option<String> {
        let mut parts = Vec::with_capacity(fields.len());
        for f in fields {
            parts.push(self.lookup(origin, f, event)?);
        }
        Some(parts.join("\u{1f}"))
    }

    /// A field's value as text, by the same paths detection uses.
    fn lookup(&self, origin: usize, field: &str, event: &Value) -> Option<String> {
        let ns = self
            .namespaces
            .get(origin)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for path in self.fieldmap.paths(field, ns) {
            let mut cur = Some(event);
            for k in &path {
                cur = cur.and_then(Value::as_object).and_then(|m| m.get(k));
            }
            match cur {
                Some(Value::String(s)) => return Some(s.to_string()),
                Some(v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_))) => {
                    return Some(crate::json::to_string(v))
                }
                Some(v @ Value::Array(_)) => return Some(crate::json::to_string(v)),
                _ => {}
            }
        }
        None
    }
}

fn is_monotone(rule: &CorrelationRule) -> bool {
    rule.condition.is_monotone()
}

fn evict_oldest(groups: &mut HashMap<String, Group>) {
    if let Some(key) = groups
        .iter()
        .min_by_key(|(_, g)| g.last_update)
        .map(|(k, _)| k.clone())
    {
        groups.remove(&key);
    }
}

/// The metric of a window: events, distinct values, sum, average or distinct rules.
fn metric(rule: &CorrelationRule, window: &[Entry]) -> f64 {
    match rule.kind {
        CorrelationType::EventCount => window.len() as f64,
        CorrelationType::ValueCount => {
            let mut seen: Vec<&str> = window.iter().filter_map(|e| e.value.as_deref()).collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len() as f64
        }
        CorrelationType::ValueSum => window.iter().map(|e| e.num).sum(),
        CorrelationType::ValueAvg => {
            if window.is_empty() {
                0.0
            } else {
                window.iter().map(|e| e.num).sum::<f64>() / window.len() as f64
            }
        }
        CorrelationType::Temporal => {
            let mut rules: Vec<usize> = window.iter().map(|e| e.rule).collect();
            rules.sort_unstable();
            rules.dedup();
            rules.len() as f64
        }
        CorrelationType::TemporalOrdered => ordered_prefix(rule.rules.len(), window) as f64,
    }
}

/// How many of the rules, in order, appear as a chain of increasing times.
fn ordered_prefix(n: usize, window: &[Entry]) -> usize {
    let mut next = 0;
    for e in window {
        if next < n && e.rule == next {
            next += 1;
        }
    }
    next
}

/// A window (as entry indices `start..end` and its metric) containing the event at
/// `ts` whose metric satisfies the condition.
fn best_window(rule: &CorrelationRule, entries: &[Entry], ts: i64) -> Option<(usize, usize, i64)> {
    let span = rule.timespan_ms;
    let first = entries.partition_point(|e| e.ts < ts.saturating_sub(span));
    let last = entries.partition_point(|e| e.ts <= ts);
    // With nothing after the new event, the earliest start's window holds every
    // other candidate window, and the metrics only grow with more events.
    let starts = if last == entries.len() {
        first..(first + 1).min(last)
    } else {
        first..last
    };
    for start in starts {
        let s = entries[start].ts;
        let end = entries.partition_point(|e| e.ts <= s.saturating_add(span));
        let n = metric(rule, &entries[start..end]);
        if rule.condition.holds(n) {
            return Some((start, end, n as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests;
