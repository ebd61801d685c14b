//! Which index each document goes to (docs/schema.md, "Index naming").
//!
//! Documents go to concrete, time-partitioned indices named from a time field of the
//! document itself, never from the wall clock: a retry, a restart or a replay of the
//! same document then reaches the same index, where its `_id` overwrites itself. With
//! `index = "auto"` each document is routed by `event.dataset` to its type's index
//! (`pipectl-incidents-YYYY.MM` from `incident.first_seen`, ...); otherwise the `index`
//! pattern (`%Y`, `%m`, `%d`, `%H`, UTC) is filled from `timestamp_field`.
//!
//! A document whose partition field is missing, is not a date, or lies more than a day
//! in the future is refused here (it would create an index retention never reaches)
//! and goes to the dead-letter index with reason `timestamp_out_of_range`.

use super::time::{civil_from_ms, timestamp_ms, Civil};
use pipectl_core::path::FieldPath;
use pipectl_core::value::Value;
use std::sync::Arc;

/// How far ahead of the clock a document's time may be.
const MAX_FUTURE_MS: i64 = 86_400_000;

/// Year, month, day and hour of an index's period (unused ones zeroed).
type PeriodKey = (i64, u32, u32, u32);

/// One piece of an index pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Year,
    Month,
    Day,
    Hour,
}

/// An index name pattern such as `pipectl-events-%Y.%m.%d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPattern {
    text: String,
    parts: Vec<Part>,
}

/// Characters OpenSearch refuses in index names.
const FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

impl IndexPattern {
    /// Parses and checks a pattern: the tokens `%Y %m %d %H %%`, and text that can only
    /// make valid index names (lowercase, none of `\ / * ? " < > | , # :` or spaces, not
    /// starting with `-`, `_` or `+`).
    pub fn parse(text: &str) -> Result<IndexPattern, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let token = match chars.next() {
                Some('%') => {
                    literal.push('%');
                    continue;
                }
                Some('Y') => Part::Year,
                Some('m') => Part::Month,
                Some('d') => Part::Day,
                Some('H') => Part::Hour,
                Some(other) => {
                    return Err(format!(
                        "`%{other}` is not a token of an index pattern (use %Y, %m, %d, %H or %%)"
                    ))
                }
                None => {
                    return Err(
                        "a pattern cannot end with `%` (write %% for a percent sign)".into(),
                    )
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(token);
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        let pattern = IndexPattern {
            text: text.to_string(),
            parts,
        };
        pattern.check()?;
        Ok(pattern)
    }

    fn check(&self) -> Result<(), String> {
        if self.text.is_empty() {
            return Err("an index pattern cannot be empty".into());
        }
        for part in &self.parts {
            if let Part::Text(t) = part {
                if t.chars().any(|c| c.is_uppercase()) {
                    return Err(format!("index names must be lowercase: `{}`", self.text));
                }
                if let Some(c) = t.chars().find(|c| FORBIDDEN.contains(c) || c.is_control()) {
                    return Err(format!("index names cannot contain {c:?}: `{}`", self.text));
                }
            }
        }
        if let Some(Part::Text(first)) = self.parts.first() {
            if first.starts_with(['-', '_', '+']) || first == "." || first == ".." {
                return Err(format!(
                    "index names cannot start with `-`, `_` or `+`, nor be `.` or `..`: `{}`",
                    self.text
                ));
            }
        }
        if !self.is_timed()
            && TYPES
                .iter()
                .any(|t| self.text == format!("pipectl-{}", t.name))
        {
            return Err(format!(
                "`{}` is the read alias every pipectl-{{type}}-* index carries; write to a dated index such as `{}-%Y.%m.%d`",
                self.text, self.text
            ));
        }
        Ok(())
    }

    /// `<prefix>%Y.%m.%d`, or `<prefix>%Y.%m` when monthly: the schema's own names.
    fn dated(prefix: &str, monthly: bool) -> IndexPattern {
        let mut parts = vec![
            Part::Text(prefix.to_string()),
            Part::Year,
            Part::Text(".".into()),
            Part::Month,
        ];
        let mut text = format!("{prefix}%Y.%m");
        if !monthly {
            parts.extend([Part::Text(".".into()), Part::Day]);
            text.push_str(".%d");
        }
        IndexPattern { text, parts }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the name depends on the document's time.
    pub fn is_timed(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    /// The index name for a time (`None` for an untimed pattern).
    pub fn render(&self, at: Option<Civil>) -> String {
        let mut name = String::with_capacity(self.text.len() + 8);
        for part in &self.parts {
            match (part, at) {
                (Part::Text(t), _) => name.push_str(t),
                (Part::Year, Some(c)) => name.push_str(&format!("{:04}", c.year)),
                (Part::Month, Some(c)) => name.push_str(&format!("{:02}", c.month)),
                (Part::Day, Some(c)) => name.push_str(&format!("{:02}", c.day)),
                (Part::Hour, Some(c)) => name.push_str(&format!("{:02}", c.hour)),
                (_, None) => {}
            }
        }
        name
    }

    /// What identifies the index a time falls into: fields the pattern does not use are
    /// zeroed, so every time of one day maps to one key for a daily pattern.
    fn period_key(&self, c: Civil) -> PeriodKey {
        let uses = |p: Part| self.parts.contains(&p);
        (
            if uses(Part::Year) { c.year } else { 0 },
            if uses(Part::Month) { c.month } else { 0 },
            if uses(Part::Day) { c.day } else { 0 },
            if uses(Part::Hour) { c.hour } else { 0 },
        )
    }

    /// The pipectl document type the pattern writes (`pipectl-hits-...` → `hits`),
    /// `events` when it names none.
    fn kind(&self) -> &'static str {
        let Some(Part::Text(first)) = self.parts.first() else {
            return "events";
        };
        TYPES
            .iter()
            .map(|t| t.name)
            .find(|name| {
                first
                    .strip_prefix("pipectl-")
                    .and_then(|rest| rest.strip_prefix(name))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.']))
            })
            .unwrap_or("events")
    }
}

/// A document type of docs/schema.md.
struct DocType {
    /// `events`, `incidents`, ...: the index base is `pipectl-<name>`.
    name: &'static str,
    /// The `event.dataset` that selects it (`None`: the default, events).
    dataset: Option<&'static str>,
    /// Where the time that names the index comes from.
    partition: &'static str,
    monthly: bool,
}

/// The table of docs/schema.md, "Index naming"; events (the default) first.
const TYPES: [DocType; 8] = [
    DocType {
        name: "events",
        dataset: None,
        partition: "@timestamp",
        monthly: false,
    },
    DocType {
        name: "breaches",
        dataset: Some("pipectl.breach"),
        partition: "@timestamp",
        monthly: false,
    },
    DocType {
        name: "anomalies",
        dataset: Some("pipectl.anomaly"),
        partition: "@timestamp",
        monthly: false,
    },
    DocType {
        name: "hits",
        dataset: Some("pipectl.hit"),
        partition: "@timestamp",
        monthly: false,
    },
    DocType {
        name: "incidents",
        dataset: Some("pipectl.incident"),
        partition: "incident.first_seen",
        monthly: true,
    },
    DocType {
        name: "entities",
        dataset: Some("pipectl.entity"),
        partition: "@timestamp",
        monthly: true,
    },
    DocType {
        name: "actions",
        dataset: Some("pipectl.action"),
        partition: "pipectl.action.requested_at",
        monthly: true,
    },
    DocType {
        name: "deadletter",
        dataset: Some("pipectl.deadletter"),
        partition: "@timestamp",
        monthly: false,
    },
];

/// One destination: a pattern, the field that fills it and the type it holds.
#[derive(Debug, Clone)]
struct Route {
    pattern: IndexPattern,
    timestamp: FieldPath,
    kind: &'static str,
}

/// Where a document goes.
#[derive(Debug, Clone)]
pub struct Target {
    pub index: Arc<str>,
    /// The document type (`events`, `incidents`, ...), for dead-letter records.
    pub kind: &'static str,
}

/// A document the sink refuses before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The index it was meant for (the pattern when its time is unknown).
    pub index: String,
    pub kind: &'static str,
    pub reason: String,
}

/// Chooses indices, caching the names of the few periods a stream of events spans.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
    /// With several routes: the field that selects one (`event.dataset`).
    selector: Option<FieldPath>,
    cache: Vec<(usize, PeriodKey, Arc<str>)>,
}

/// How many index names the router remembers.
const CACHE: usize = 32;

fn path(text: &str) -> FieldPath {
    // The schema's paths are plain dotted keys, which always parse.
    FieldPath::parse(text).unwrap_or_else(|_| FieldPath::root())
}

impl Router {
    /// `index = "auto"`: every type of docs/schema.md, selected by `event.dataset`.
    pub fn auto() -> Router {
        let routes = TYPES
            .iter()
            .map(|t| Route {
                pattern: IndexPattern::dated(&format!("pipectl-{}-", t.name), t.monthly),
                timestamp: path(t.partition),
                kind: t.name,
            })
            .collect();
        Router {
            routes,
            selector: Some(path("event.dataset")),
            cache: Vec::new(),
        }
    }

    /// One pattern, filled from `timestamp`.
    pub fn pattern(pattern: IndexPattern, timestamp: FieldPath) -> Router {
        let kind = pattern.kind();
        Router {
            routes: vec![Route {
                pattern,
                timestamp,
                kind,
            }],
            selector: None,
            cache: Vec::new(),
        }
    }

    /// The index for `doc`, or why it is refused; `now_ms` bounds future timestamps.
    pub fn route(&mut self, doc: &Value, now_ms: i64) -> Result<Target, Refused> {
        let which = self.select(doc);
        let Some(route) = self.routes.get(which) else {
            return Err(Refused {
                index: String::new(),
                kind: "events",
                reason: "no index route".into(),
            });
        };
        let kind = route.kind;
        if !route.pattern.is_timed() {
            return Ok(Target {
                index: self.cached(which, (0, 0, 0, 0), None),
                kind,
            });
        }
        let refuse = |why: String| Refused {
            index: route.pattern.as_str().to_string(),
            kind,
            reason: why,
        };
        let ms = match doc.get_path(&route.timestamp) {
            None | Some(Value::Null) => {
                return Err(refuse(format!(
                    "the document has no `{}`, which names its index",
                    route.timestamp
                )))
            }
            Some(value) => timestamp_ms(value).ok_or_else(|| {
                refuse(format!(
                    "`{}` is not a date (RFC 3339 text or epoch milliseconds): {}",
                    route.timestamp,
                    preview(value)
                ))
            })?,
        };
        let civil = civil_from_ms(ms);
        if !(0..=9999).contains(&civil.year) {
            return Err(refuse(format!(
                "`{}` is out of range (year {})",
                route.timestamp, civil.year
            )));
        }
        if ms > now_ms.saturating_add(MAX_FUTURE_MS) {
            return Err(Refused {
                index: route.pattern.render(Some(civil)),
                kind,
                reason: format!(
                    "`{}` is more than a day in the future: {}",
                    route.timestamp,
                    super::time::format_rfc3339(ms)
                ),
            });
        }
        let key = route.pattern.period_key(civil);
        Ok(Target {
            index: self.cached(which, key, Some(civil)),
            kind,
        })
    }

    fn select(&self, doc: &Value) -> usize {
        let Some(selector) = &self.selector else {
            return 0;
        };
        let dataset = doc.get_path(selector).and_then(Value::as_str);
        TYPES
            .iter()
            .position(|t| t.dataset.is_some() && t.dataset == dataset)
            .unwrap_or(0)
    }

    fn cached(&mut self, route: usize, key: PeriodKey, at: Option<Civil>) -> Arc<str> {
        if let Some((_, _, name)) = self.cache.iter().find(|(r, k, _)| *r == route && *k == key) {
            return Arc::clone(name);
        }
        let name: Arc<str> = match self.routes.get(route) {
            Some(r) => Arc::from(r.pattern.render(at)),
            None => Arc::from(""),
        };
        if self.cache.len() >= CACHE {
            self.cache.clear();
        }
        self.cache.push((route, key, Arc::clone(&name)));
        name
    }
}

/// A short rendering of a value for a reason text.
fn preview(value: &Value) -> String {
    let mut text = pipectl_core::json::to_string(value);
    if text.len() > 64 {
        let mut cut = 64;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::json::from_str;

    const NOW: i64 = 1_759_529_645_000; // 2025-10-03T22:14:05Z

    fn route(router: &mut Router, json: &str) -> Result<(String, &'static str), Refused> {
        let doc = from_str(json).unwrap();
        router
            .route(&doc, NOW)
            .map(|t| (t.index.to_string(), t.kind))
    }

    #[test]
    fn patterns_are_checked() {
        assert!(IndexPattern::parse("pipectl-events-%Y.%m.%d").is_ok());
        assert!(IndexPattern::parse("logs-100%%-%Y").is_ok());
        for (bad, why) in [
            ("", "empty"),
            ("Pipectl-%Y", "lowercase"),
            ("a b-%Y", "contain"),
            ("_x-%Y", "start"),
            ("x-%Q", "%Q"),
            ("x-%", "end with"),
            ("pipectl-events", "read alias"),
        ] {
            let err = IndexPattern::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_pattern_is_filled_from_the_documents_time_in_utc() {
        let pattern = IndexPattern::parse("pipectl-events-x-%Y.%m.%d").unwrap();
        let mut router = Router::pattern(pattern, path("@timestamp"));
        assert_eq!(
            route(&mut router, r#"{"@timestamp":"2025-10-04T01:30:00+02:00"}"#).unwrap(),
            ("pipectl-events-x-2025.10.03".to_string(), "events")
        );
        assert_eq!(
            route(&mut router, r#"{"@timestamp":1000}"#).unwrap().0,
            "pipectl-events-x-1970.01.01"
        );
        let hourly = IndexPattern::parse("h-%Y%m%d%H").unwrap();
        let mut router = Router::pattern(hourly, path("t"));
        assert_eq!(
            route(&mut router, r#"{"t":"2020-02-29T07:00:00Z"}"#)
                .unwrap()
                .0,
            "h-2020022907"
        );
        let fixed = IndexPattern::parse("fixed-name").unwrap();
        let mut router = Router::pattern(fixed, path("t"));
        assert_eq!(route(&mut router, r#"{}"#).unwrap().0, "fixed-name");
    }

    #[test]
    fn auto_routes_by_dataset_with_each_types_partition_field() {
        let mut router = Router::auto();
        let cases = [
            (
                r#"{"@timestamp":"2025-10-03T10:00:00Z"}"#,
                "pipectl-events-2025.10.03",
                "events",
            ),
            (
                r#"{"@timestamp":"2025-10-03T10:00:00Z","event":{"dataset":"aws.cloudtrail"}}"#,
                "pipectl-events-2025.10.03",
                "events",
            ),
            (
                r#"{"@timestamp":"2025-10-03T10:00:00Z","event":{"dataset":"pipectl.hit"}}"#,
                "pipectl-hits-2025.10.03",
                "hits",
            ),
            (
                r#"{"@timestamp":"2025-10-03T10:00:00Z","event":{"dataset":"pipectl.breach"}}"#,
                "pipectl-breaches-2025.10.03",
                "breaches",
            ),
            (
                r#"{"@timestamp":"2025-10-03T10:00:00Z","event":{"dataset":"pipectl.anomaly"}}"#,
                "pipectl-anomalies-2025.10.03",
                "anomalies",
            ),
            (
                r#"{"@timestamp":"2025-10-03T10:00:00Z","event":{"dataset":"pipectl.incident"},"incident":{"first_seen":"2025-09-30T23:00:00Z"}}"#,
                "pipectl-incidents-2025.09",
                "incidents",
            ),
            (
                r#"{"event":{"dataset":"pipectl.action"},"pipectl":{"action":{"requested_at":"2025-08-01T00:00:00Z"}}}"#,
                "pipectl-actions-2025.08",
                "actions",
            ),
        ];
        for (doc, index, kind) in cases {
            assert_eq!(
                route(&mut router, doc).unwrap(),
                (index.to_string(), kind),
                "{doc}"
            );
        }
    }

    #[test]
    fn missing_bad_and_future_times_are_refused() {
        let mut router = Router::auto();
        let missing =
            route(&mut router, r#"{"event":{"dataset":"pipectl.incident"}}"#).unwrap_err();
        assert_eq!(missing.kind, "incidents");
        assert_eq!(missing.index, "pipectl-incidents-%Y.%m");
        assert!(
            missing.reason.contains("no `incident.first_seen`"),
            "{}",
            missing.reason
        );
        let bad = route(&mut router, r#"{"@timestamp":"yesterday"}"#).unwrap_err();
        assert!(bad.reason.contains("\"yesterday\""), "{}", bad.reason);
        let future = route(&mut router, r#"{"@timestamp":"2025-10-05T00:00:00Z"}"#).unwrap_err();
        assert_eq!(future.index, "pipectl-events-2025.10.05");
        assert!(future.reason.contains("future"), "{}", future.reason);
        assert!(route(&mut router, r#"{"@timestamp":"2025-10-04T20:00:00Z"}"#).is_ok());
        assert!(route(&mut router, r#"{"@timestamp":"1999-01-01T00:00:00Z"}"#).is_ok());
    }

    #[test]
    fn names_are_cached_per_period() {
        let mut router = Router::auto();
        let doc = from_str(r#"{"@timestamp":"2025-10-03T10:00:00Z"}"#).unwrap();
        let a = router.route(&doc, NOW).unwrap().index;
        let doc = from_str(r#"{"@timestamp":"2025-10-03T23:59:59Z"}"#).unwrap();
        let b = router.route(&doc, NOW).unwrap().index;
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(router.cache.len(), 1);
    }
}
