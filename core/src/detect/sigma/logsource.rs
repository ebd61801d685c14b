//! Log sources: which events a rule applies to.
//!
//! A rule's `logsource` (product, category, service) is matched against configured
//! entries, each a selector (`product:aws service:cloudtrail`) with an event predicate
//! and the namespaces its vendor fields may live under. A rule applies to an event
//! when the predicate of any entry selecting the rule holds for it. Rules no entry
//! selects follow the `unmapped` policy (every event, or none). The built-in entries
//! cover the cloud and SaaS sources pipectl reads, recognising both normalised events
//! (`event.dataset`) and raw vendor records by their shape.

use super::fieldmap::{key_path, KeyPath};
use super::rule::Logsource;
use crate::expr::CompiledExpr;
use crate::path::FieldPath;
use crate::value::Value;

/// A test on an event.
#[derive(Debug, Clone)]
pub enum Predicate {
    /// The field holds this string.
    Equals(FieldPath, String),
    /// The field is present.
    Exists(FieldPath),
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    /// A pipeline expression (from the `logsources` attribute).
    Expr(CompiledExpr),
}

impl Predicate {
    pub fn holds(&self, event: &Value) -> bool {
        match self {
            Predicate::Equals(p, v) => {
                event.get_path(p).and_then(Value::as_str) == Some(v.as_str())
            }
            Predicate::Exists(p) => event.get_path(p).is_some(),
            Predicate::All(items) => items.iter().all(|i| i.holds(event)),
            Predicate::Any(items) => items.iter().any(|i| i.holds(event)),
            Predicate::Expr(e) => e.matches(event),
        }
    }
}

/// One configured log source.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The terms a rule's logsource must have (unset terms match anything).
    pub selector: Logsource,
    pub predicate: Predicate,
    /// Where the source's vendor fields live besides the root.
    pub namespaces: Vec<KeyPath>,
}

/// What happens to rules no entry selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmapped {
    /// They apply to every event (their fields decide).
    AllEvents,
    /// They never apply.
    NoEvents,
}

/// The most entries a map may hold (event classes are a 64-bit mask).
pub const MAX_ENTRIES: usize = 64;

/// The configured log sources.
#[derive(Debug, Clone)]
pub struct LogsourceMap {
    entries: Vec<Entry>,
    pub unmapped: Unmapped,
}

/// How a rule's logsource resolved.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// The entries selecting the rule; 0 when none does.
    pub mask: u64,
    pub namespaces: Vec<KeyPath>,
}

/// Parses a selector: space-separated `product:x`, `category:y`, `service:z` terms.
pub fn parse_selector(text: &str) -> Result<Logsource, String> {
    let mut ls = Logsource::default();
    for term in text.split_whitespace() {
        let (k, v) = term.split_once(':').ok_or_else(|| {
            format!("`{term}` is not `product:`, `category:` or `service:` followed by a value")
        })?;
        let slot = match k {
            "product" => &mut ls.product,
            "category" => &mut ls.category,
            "service" => &mut ls.service,
            other => return Err(format!("`{other}` is not product, category or service")),
        };
        *slot = Some(v.to_ascii_lowercase());
    }
    if ls == Logsource::default() {
        return Err(format!(
            "selector `{text}` names no product, category or service"
        ));
    }
    Ok(ls)
}

fn field(p: &str) -> FieldPath {
    FieldPath::parse(p).unwrap_or_else(|_| FieldPath::root())
}

fn dataset(name: &str) -> Predicate {
    Predicate::Equals(field("event.dataset"), name.to_string())
}

fn exists_all(fields: &[&str]) -> Predicate {
    Predicate::All(fields.iter().map(|f| Predicate::Exists(field(f))).collect())
}

fn entry(selector: &str, predicate: Predicate, namespaces: &[&str]) -> Entry {
    Entry {
        selector: parse_selector(selector).unwrap_or_default(),
        predicate,
        namespaces: namespaces.iter().filter_map(|n| key_path(n).ok()).collect(),
    }
}

/// The built-in entries: normalised datasets (docs/schema.md) and raw record shapes.
pub fn default_entries() -> Vec<Entry> {
    vec![
        entry(
            "product:aws service:cloudtrail",
            Predicate::Any(vec![
                dataset("aws.cloudtrail"),
                // Raw records: an API call name plus any of the envelope's keys
                // (sample records lack one or another of them).
                Predicate::All(vec![
                    Predicate::Exists(field("eventName")),
                    Predicate::Any(
                        ["eventSource", "awsRegion", "eventVersion", "userIdentity"]
                            .iter()
                            .map(|f| Predicate::Exists(field(f)))
                            .collect(),
                    ),
                ]),
            ]),
            &["aws.cloudtrail"],
        ),
        entry(
            "product:azure service:signinlogs",
            Predicate::Any(vec![
                dataset("azure.signinlogs"),
                Predicate::Equals(field("category"), "SignInLogs".into()),
            ]),
            &["azure.signinlogs"],
        ),
        entry(
            "product:azure service:auditlogs",
            Predicate::Any(vec![
                dataset("azure.auditlogs"),
                Predicate::Equals(field("category"), "AuditLogs".into()),
            ]),
            &["azure.auditlogs"],
        ),
        entry(
            "product:azure service:activitylogs",
            Predicate::Any(vec![
                dataset("azure.activitylogs"),
                Predicate::All(vec![
                    Predicate::Exists(field("operationName")),
                    Predicate::Exists(field("resourceId")),
                    Predicate::Exists(field("correlationId")),
                ]),
            ]),
            &["azure.activitylogs"],
        ),
        entry(
            "product:azure service:riskdetection",
            dataset("azure.identityprotection"),
            &["azure.identityprotection"],
        ),
        entry(
            "product:azure service:pim",
            dataset("azure.auditlogs"),
            &["azure.auditlogs"],
        ),
        entry(
            "product:m365",
            Predicate::Any(vec![
                dataset("o365.audit"),
                exists_all(&["Workload", "Operation", "RecordType"]),
            ]),
            &["o365.audit"],
        ),
        entry(
            "product:okta",
            Predicate::Any(vec![
                dataset("okta.system"),
                exists_all(&["eventType", "published", "actor"]),
            ]),
            &["okta.system"],
        ),
        entry(
            "product:gcp service:google_workspace.admin",
            Predicate::Any(vec![
                dataset("google_workspace.activity"),
                Predicate::Equals(field("kind"), "admin#reports#activity".into()),
            ]),
            &["google_workspace.activity"],
        ),
        entry(
            "product:gcp service:google_workspace.login",
            Predicate::Any(vec![
                dataset("google_workspace.activity"),
                Predicate::Equals(field("kind"), "admin#reports#activity".into()),
            ]),
            &["google_workspace.activity"],
        ),
        entry(
            "product:gcp service:gcp.audit",
            dataset("gcp.audit"),
            &["gcp.audit"],
        ),
        entry(
            "product:github service:audit",
            dataset("github.audit"),
            &["github.audit"],
        ),
        entry(
            "product:zeek",
            Predicate::Equals(field("event.module"), "zeek".into()),
            &[],
        ),
    ]
}

impl LogsourceMap {
    /// A map over `entries` (at most [`MAX_ENTRIES`]).
    pub fn new(entries: Vec<Entry>, unmapped: Unmapped) -> Result<LogsourceMap, String> {
        if entries.len() > MAX_ENTRIES {
            return Err(format!(
                "at most {MAX_ENTRIES} log source entries are supported, got {}",
                entries.len()
            ));
        }
        Ok(LogsourceMap { entries, unmapped })
    }

    /// The entries selecting a rule's logsource, and their namespaces.
    pub fn resolve(&self, ls: &Logsource) -> Resolved {
        let mut r = Resolved::default();
        for (i, e) in self.entries.iter().enumerate() {
            let term =
                |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
            if term(&e.selector.product, &ls.product)
                && term(&e.selector.category, &ls.category)
                && term(&e.selector.service, &ls.service)
            {
                r.mask |= 1 << i;
                for ns in &e.namespaces {
                    if !r.namespaces.contains(ns) {
                        r.namespaces.push(ns.clone());
                    }
                }
            }
        }
        r
    }

    /// The entries whose predicate holds for `event`.
    pub fn classify(&self, event: &Value) -> u64 {
        let mut mask = 0;
        for (i, e) in self.entries.iter().enumerate() {
            if e.predicate.holds(event) {
                mask |= 1 << i;
            }
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_resolve_and_classify() {
        let map = LogsourceMap::new(default_entries(), Unmapped::AllEvents).unwrap();
        let aws = Logsource {
            product: Some("aws".into()),
            service: Some("cloudtrail".into()),
            category: None,
        };
        let r = map.resolve(&aws);
        assert_ne!(r.mask, 0);
        assert_eq!(r.namespaces, vec![key_path("aws.cloudtrail").unwrap()]);
        let raw = crate::json::from_str(
            r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#,
        )
        .unwrap();
        assert_ne!(map.classify(&raw) & r.mask, 0);
        let normalised =
            crate::json::from_str(r#"{"event":{"dataset":"aws.cloudtrail"}}"#).unwrap();
        assert_ne!(map.classify(&normalised) & r.mask, 0);
        let okta = crate::json::from_str(
            r#"{"eventType":"user.session.start","published":"x","actor":{}}"#,
        )
        .unwrap();
        assert_eq!(map.classify(&okta) & r.mask, 0);
        let windows = Logsource {
            product: Some("windows".into()),
            ..Logsource::default()
        };
        assert_eq!(map.resolve(&windows).mask, 0);
    }

    #[test]
    fn selector_errors() {
        assert!(parse_selector("product:aws service:cloudtrail").is_ok());
        assert!(parse_selector("vendor:aws").is_err());
        assert!(parse_selector("aws").is_err());
        assert!(parse_selector("").is_err());
    }
}
