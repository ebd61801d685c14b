//! Sigma detection: rules in the public Sigma format (../shared/sigma/spec) loaded from
//! files, compiled to shared matchers, evaluated on events, with correlation rules on
//! top; hits are documents of docs/schema.md §6.
//!
//! - [`rule`]: YAML → rule AST, refusing with a reason what cannot be used;
//! - [`modifiers`], [`pattern`], [`condition`]: the detection syntax;
//! - [`logsource`], [`fieldmap`]: which events a rule applies to, where its fields are;
//! - [`compile`], [`eval`]: rules to matchers that share work, and their evaluation;
//! - [`correlation`]: event_count, value_count, temporal, temporal_ordered...;
//! - [`hit`]: the hit documents; [`loader`]: rule trees and the load report;
//! - [`stage`]: the `detect sigma` pipeline component.

pub mod attack;
pub mod cidr;
pub mod compile;
pub mod condition;
pub mod correlation;
pub mod eval;
pub mod fieldmap;
pub mod glob;
pub mod hit;
pub mod loader;
pub mod logsource;
pub mod modifiers;
pub mod pattern;
pub mod rule;
pub mod stage;
pub mod time;

use crate::path::FieldPath;
use crate::value::Value;
use compile::{Engine, Scratch};
use correlation::{CorrelationOptions, Correlator, Fired};
use fieldmap::FieldMap;
use hit::HitSource;
use loader::Loaded;
use logsource::LogsourceMap;
use rule::{Level, RuleMeta};
use std::sync::Arc;

/// Which loaded rules run.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Rule statuses to run (`stable`, `test`, `experimental`...); rules without a
    /// status always run.
    pub statuses: Vec<String>,
    /// Rules below this level do not run (rules without a level count as medium).
    pub min_level: Level,
}

impl Default for Selection {
    fn default() -> Selection {
        Selection {
            statuses: vec!["stable".into(), "test".into(), "experimental".into()],
            min_level: Level::Informational,
        }
    }
}

impl Selection {
    fn admits(&self, meta: &RuleMeta) -> bool {
        let status_ok = meta
            .status
            .as_ref()
            .is_none_or(|s| self.statuses.iter().any(|w| w == s));
        status_ok && meta.level.unwrap_or(Level::Medium) >= self.min_level
    }
}

/// A running detector: compiled rules, correlation state, reusable buffers.
pub struct Detector {
    engine: Engine,
    correlator: Correlator,
    /// Per detection rule: reports its own hits.
    generates: Vec<bool>,
    /// Per detection rule: some correlation listens to it.
    listened: Vec<bool>,
    time_fields: Vec<FieldPath>,
    /// Per detection rule, then per correlation rule: the constant part of its hits.
    templates: Vec<Value>,
    correlation_templates: Vec<Value>,
    scratch: Scratch,
    matched: Vec<u32>,
    fired: Vec<Fired>,
}

/// A hit, with the event it was built from when that is not the current one.
pub struct Hit {
    pub document: Value,
    /// `true` when it came from a window judged later (its event was stored).
    pub deferred: bool,
}

impl Detector {
    /// Compiles the selected rules of `loaded`. Detection rules that a selected
    /// correlation references always run (as its building blocks).
    pub fn new(
        loaded: &Loaded,
        selection: &Selection,
        fieldmap: FieldMap,
        logsources: LogsourceMap,
        correlation: CorrelationOptions,
        time_fields: Vec<FieldPath>,
        source: HitSource,
    ) -> Detector {
        let correlations: Vec<_> = loaded
            .correlations
            .iter()
            .filter(|c| selection.admits(&c.meta))
            .cloned()
            .collect();
        let referenced = |m: &RuleMeta| {
            correlations.iter().any(|c| {
                c.rules
                    .iter()
                    .any(|r| *r == m.id || Some(r) == m.name.as_ref())
            })
        };
        let detections: Vec<_> = loaded
            .detections
            .iter()
            .filter(|d| selection.admits(&d.meta) || referenced(&d.meta))
            .cloned()
            .collect();
        let namespaces = detections
            .iter()
            .map(|d| logsources.resolve(&d.meta.logsource).namespaces)
            .collect();
        let metas: Vec<Arc<RuleMeta>> = detections.iter().map(|d| d.meta.clone()).collect();
        let engine = Engine::new(&detections, &fieldmap, logsources);
        let correlator = Correlator::new(correlations, metas, namespaces, fieldmap, correlation);
        let generates = (0..detections.len())
            .map(|i| correlator.detection_generates(i) && selection.admits(&detections[i].meta))
            .collect();
        let listened = (0..detections.len())
            .map(|i| correlator.listens_to(i))
            .collect();
        let templates = detections
            .iter()
            .map(|d| hit::template(&source, &d.meta))
            .collect();
        let correlation_templates = (0..)
            .map_while(|i| correlator.rule(i))
            .map(|c| hit::template(&source, &c.meta))
            .collect();
        Detector {
            engine,
            correlator,
            generates,
            listened,
            time_fields,
            templates,
            correlation_templates,
            scratch: Scratch::default(),
            matched: Vec::new(),
            fired: Vec::new(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn correlator(&self) -> &Correlator {
        &self.correlator
    }

    /// The event's time in milliseconds: the first time field that parses, else
    /// `fallback_ms` (the ingest time).
    pub fn event_time(&self, event: &Value, fallback_ms: i64) -> i64 {
        self.time_fields
            .iter()
            .find_map(|p| event.get_path(p).and_then(time::millis_of))
            .unwrap_or(fallback_ms)
    }

    /// The detection rules matching `event` (for tests and tools).
    pub fn matching_rules(&mut self, event: &Value) -> Vec<Arc<RuleMeta>> {
        self.matched.clear();
        let fields = self
            .engine
            .matches(event, &mut self.scratch, &mut self.matched);
        self.scratch.recycle(fields);
        self.matched
            .iter()
            .filter_map(|&i| self.engine.rules().get(i as usize))
            .map(|r| r.meta.clone())
            .collect()
    }

    /// Runs every rule on `event`; pushes its hits (rule hits, then correlation hits).
    /// Returns whether any detection rule matched.
    pub fn process(
        &mut self,
        event: &Value,
        ingest_ms: i64,
        now_ms: i64,
        out: &mut Vec<Hit>,
    ) -> bool {
        self.matched.clear();
        let fields = self
            .engine
            .matches(event, &mut self.scratch, &mut self.matched);
        if self.matched.is_empty() {
            self.scratch.recycle(fields);
            return false;
        }
        let ts = self.event_time(event, ingest_ms);
        for &r in &self.matched {
            let ri = r as usize;
            if self.generates.get(ri).copied().unwrap_or(false) {
                if let (Some(rule), Some(template)) =
                    (self.engine.rules().get(ri), self.templates.get(ri))
                {
                    let explained = eval::explain(&self.engine, rule, &fields);
                    let document =
                        hit::build(template, &rule.meta, event, ts, &explained, None, now_ms);
                    out.push(Hit {
                        document,
                        deferred: false,
                    });
                }
            }
            if self.listened.get(ri).copied().unwrap_or(false) {
                self.correlator.observe(ri, event, ts, &mut self.fired);
            }
        }
        self.scratch.recycle(fields);
        self.emit_fired(Some(event), now_ms, out);
        true
    }

    /// Judges the correlation windows still open (the end of a finite run).
    pub fn finish(&mut self, now_ms: i64, out: &mut Vec<Hit>) {
        self.correlator.finish(&mut self.fired);
        self.emit_fired(None, now_ms, out);
    }

    fn emit_fired(&mut self, current: Option<&Value>, now_ms: i64, out: &mut Vec<Hit>) {
        for f in self.fired.drain(..) {
            if !self.correlator.correlation_generates(f.correlation) {
                continue;
            }
            let (Some(rule), Some(template)) = (
                self.correlator.rule(f.correlation),
                self.correlation_templates.get(f.correlation),
            ) else {
                continue;
            };
            let (event, deferred) = match (&f.event, current) {
                (Some(stored), _) => (stored, true),
                (None, Some(cur)) => (cur, false),
                (None, None) => continue,
            };
            let document = hit::build(
                template,
                &rule.meta,
                event,
                f.time_ms,
                &[],
                Some(&f.info),
                now_ms,
            );
            out.push(Hit { document, deferred });
        }
    }
}
