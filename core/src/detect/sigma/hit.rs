//! Rule hit documents, as docs/schema.md §6 defines them (`pipectl-hits-*`, strict
//! mapping): the rule, ATT&CK, the matched fields and values, the entity, a copy of the
//! event's ECS context (leaf by leaf, only mapped fields) and a deterministic id.

use super::attack;
use super::rule::{Level, RuleMeta};
use super::time::format_rfc3339;
use crate::path::FieldPath;
use crate::value::{Map, Value};
use sha2::{Digest, Sha256};

/// Where a hit comes from.
#[derive(Debug, Clone)]
pub struct HitSource {
    pub pipeline: String,
    pub component: String,
    /// `rule.ruleset` (`sigmahq`, `pipectl-cloud`...).
    pub ruleset: String,
}

/// The correlation part of a correlation hit.
#[derive(Debug, Clone)]
pub struct CorrelationInfo {
    pub kind: &'static str,
    /// `field=value` pairs joined by `, `.
    pub group: String,
    pub window: String,
    pub window_start_ms: i64,
    pub count: i64,
    /// Matched events, oldest first (bounded).
    pub event_ids: Vec<String>,
}

/// The most event ids a hit lists.
pub const MAX_EVENT_IDS: usize = 100;

/// The schema's id: lowercase hex of the first 16 bytes of SHA-256 over the parts
/// joined with U+001F.
pub fn document_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update("\u{1f}".as_bytes());
        }
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in digest.iter().take(16) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The event's `event.id`, or (a raw record without one) an id over its content.
pub fn event_id(event: &Value) -> String {
    match get(event, "event.id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => document_id(&["event", &crate::json::to_string(event)]),
    }
}

fn get<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    FieldPath::parse(path).ok().and_then(|p| event.get_path(&p))
}

fn set(doc: &mut Value, path: &str, value: Value) {
    if let Ok(p) = FieldPath::parse(path) {
        let _ = doc.insert_path(&p, value);
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// ECS context copied from the event into hits (leaves only; all mapped in
/// `pipectl-ecs`/`pipectl-base`).
const COPIED: &[&str] = &[
    "event.action",
    "event.provider",
    "event.outcome",
    "event.category",
    "event.type",
    "event.module",
    "user.id",
    "user.name",
    "user.email",
    "user.domain",
    "user.full_name",
    "user.roles",
    "user.target.id",
    "user.target.name",
    "user.target.email",
    "user.target.domain",
    "user.effective.id",
    "user.effective.name",
    "user.effective.email",
    "source.ip",
    "source.port",
    "source.address",
    "source.domain",
    "source.geo.country_iso_code",
    "source.geo.country_name",
    "source.geo.city_name",
    "source.as.number",
    "source.as.organization.name",
    "cloud.provider",
    "cloud.account.id",
    "cloud.account.name",
    "cloud.region",
    "cloud.availability_zone",
    "cloud.service.name",
    "cloud.project.id",
    "cloud.instance.id",
    "cloud.target.account.id",
    "host.id",
    "host.name",
    "host.hostname",
    "host.ip",
    "host.os.name",
    "host.os.family",
    "related.ip",
    "related.user",
    "related.hosts",
    "related.hash",
    "organization.id",
    "organization.name",
    "pipectl.source",
];

fn is_scalar_or_scalars(v: &Value) -> bool {
    match v {
        Value::Array(items) => items
            .iter()
            .all(|i| !matches!(i, Value::Array(_) | Value::Object(_) | Value::Null)),
        Value::Object(_) | Value::Null => false,
        _ => true,
    }
}

/// The entity a hit concerns: the event's first attributed entity, else one derived
/// from its ECS user/host fields or a raw CloudTrail identity.
fn entity_of(event: &Value) -> Option<(String, String)> {
    let first = |path: &str| match get(event, path) {
        Some(Value::Array(items)) => items.first().and_then(Value::as_str).map(str::to_string),
        Some(Value::String(s)) => Some(s.to_string()),
        _ => None,
    };
    if let (Some(kind), Some(id)) = (first("entity.kind"), first("entity.id")) {
        return Some((kind, id));
    }
    let text = |p: &str| {
        get(event, p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    for prefix in ["", "aws.cloudtrail."] {
        let arn = text(&format!(
            "{prefix}userIdentity.sessionContext.sessionIssuer.arn"
        ))
        .or_else(|| text(&format!("{prefix}userIdentity.arn")));
        if let Some(arn) = arn {
            return Some(("aws_user".into(), arn));
        }
    }
    if let Some(user) = text("user.email").or_else(|| text("user.name")) {
        return Some(("user".into(), user));
    }
    if let Some(host) = text("host.id").or_else(|| text("host.name")) {
        return Some(("host".into(), host));
    }
    None
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Builds a hit document for `rule` on `event` (the last event for correlations).
pub fn build(
    source: &HitSource,
    rule: &RuleMeta,
    event: &Value,
    event_time_ms: i64,
    matched: &[(String, Value)],
    correlation: Option<&CorrelationInfo>,
    now_ms: i64,
) -> Value {
    let matched_event = event_id(event);
    let id = match correlation {
        None => document_id(&["hit", &rule.id, &matched_event]),
        Some(c) => document_id(&["hit", &rule.id, &c.group, &c.window_start_ms.to_string()]),
    };
    let mut doc = Value::Object(Map::new());
    set(
        &mut doc,
        "@timestamp",
        Value::from(format_rfc3339(event_time_ms)),
    );
    for path in COPIED {
        if let Some(v) = get(event, path).filter(|v| is_scalar_or_scalars(v)) {
            set(&mut doc, path, v.clone());
        }
    }
    set(&mut doc, "event.id", Value::from(id.as_str()));
    set(&mut doc, "event.kind", Value::from("alert"));
    set(&mut doc, "event.dataset", Value::from("pipectl.hit"));
    set(
        &mut doc,
        "event.created",
        Value::from(format_rfc3339(now_ms)),
    );
    let level = rule.level.unwrap_or(Level::Medium);
    if let Some((kind, eid)) = entity_of(event) {
        set(&mut doc, "entity.key", Value::from(format!("{kind}:{eid}")));
        set(&mut doc, "entity.kind", Value::from(kind));
        set(&mut doc, "entity.id", Value::from(eid));
    }
    set(&mut doc, "rule.id", Value::from(rule.id.as_str()));
    if is_uuid(&rule.id) {
        set(&mut doc, "rule.uuid", Value::from(rule.id.as_str()));
    }
    set(&mut doc, "rule.name", Value::from(rule.title.as_str()));
    if let Some(d) = &rule.description {
        set(&mut doc, "rule.description", Value::from(d.as_str()));
    }
    set(&mut doc, "rule.level", Value::from(level.as_str()));
    if !rule.tags.is_empty() {
        set(&mut doc, "rule.tags", strings(&rule.tags));
    }
    set(
        &mut doc,
        "rule.ruleset",
        Value::from(source.ruleset.as_str()),
    );
    let category = rule.logsource.label();
    if !category.is_empty() {
        set(&mut doc, "rule.category", Value::from(category));
    }
    if let Some(a) = &rule.author {
        set(&mut doc, "rule.author", Value::from(a.as_str()));
    }
    if !rule.references.is_empty() {
        set(&mut doc, "rule.reference", strings(&rule.references));
    }
    if let Some(v) = &rule.version {
        set(&mut doc, "rule.version", Value::from(v.as_str()));
    }
    if let Some(s) = &rule.status {
        set(&mut doc, "rule.status", Value::from(s.as_str()));
    }
    let a = attack::from_tags(&rule.tags);
    if !a.is_empty() {
        set(&mut doc, "threat.framework", Value::from("MITRE ATT&CK"));
        if !a.tactic_ids.is_empty() {
            set(&mut doc, "threat.tactic.id", strings(&a.tactic_ids));
            set(&mut doc, "threat.tactic.name", strings(&a.tactic_names));
        }
        if !a.technique_ids.is_empty() {
            set(&mut doc, "threat.technique.id", strings(&a.technique_ids));
        }
        if !a.subtechnique_ids.is_empty() {
            set(
                &mut doc,
                "threat.technique.subtechnique.id",
                strings(&a.subtechnique_ids),
            );
        }
    }
    set(
        &mut doc,
        "pipectl.pipeline",
        Value::from(source.pipeline.as_str()),
    );
    set(
        &mut doc,
        "pipectl.component",
        Value::from(source.component.as_str()),
    );
    set(&mut doc, "pipectl.hit.id", Value::from(id.as_str()));
    set(
        &mut doc,
        "pipectl.hit.event_id",
        Value::from(matched_event.as_str()),
    );
    let ids = match correlation {
        Some(c) => c
            .event_ids
            .iter()
            .rev()
            .take(MAX_EVENT_IDS)
            .rev()
            .cloned()
            .collect(),
        None => vec![matched_event.clone()],
    };
    set(&mut doc, "pipectl.hit.event_ids", strings(&ids));
    if !matched.is_empty() {
        let names: Vec<String> = matched.iter().map(|(n, _)| n.clone()).collect();
        set(&mut doc, "pipectl.hit.matched_fields", strings(&names));
        let mut m = Map::with_capacity(matched.len());
        for (n, v) in matched {
            m.push(n.as_str(), v.clone());
        }
        set(&mut doc, "pipectl.hit.matched", Value::Object(m));
    }
    set(&mut doc, "pipectl.hit.score", Value::Float(level.score()));
    if let Some(c) = correlation {
        set(
            &mut doc,
            "pipectl.hit.correlation.type",
            Value::from(c.kind),
        );
        set(
            &mut doc,
            "pipectl.hit.correlation.group",
            Value::from(c.group.as_str()),
        );
        set(
            &mut doc,
            "pipectl.hit.correlation.window",
            Value::from(c.window.as_str()),
        );
        set(
            &mut doc,
            "pipectl.hit.correlation.count",
            Value::Int(c.count),
        );
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_sha256_prefixes() {
        let id = document_id(&["hit", "r", "e"]);
        assert_eq!(id.len(), 32);
        assert_eq!(id, document_id(&["hit", "r", "e"]));
        assert_ne!(id, document_id(&["hit", "r", "f"]));
        // "abc" → ba7816bf8f01cfea414140de5dae2223...
        assert_eq!(document_id(&["abc"]), "ba7816bf8f01cfea414140de5dae2223");
    }

    #[test]
    fn entity_from_raw_cloudtrail_assumed_role() {
        let e = crate::json::from_str(
            r#"{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/R"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            entity_of(&e),
            Some(("aws_user".into(), "arn:aws:iam::1:role/R".into()))
        );
    }
}
