//! Rule hit documents, as docs/schema.md §6 defines them (`pipectl-hits-*`, strict
//! mapping): the rule, ATT&CK, the matched fields and values, the entity, a copy of the
//! event's ECS context (leaf by leaf, only mapped fields) and a deterministic id.

use super::attack;
use super::rule::{Level, RuleMeta};
use super::time::format_rfc3339;
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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in digest.iter().take(16) {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// The event's `event.id`; for a raw record without one, the id its normalised event
/// gets (docs/schema.md): from the CloudTrail `eventID`, else over its content.
pub fn event_id(event: &Value) -> String {
    if let Some(id) = get(event, "event.id").and_then(Value::as_str) {
        return id.to_string();
    }
    let text = |k: &str| get(event, k).and_then(Value::as_str);
    match (text("eventID"), text("eventSource")) {
        (Some(id), Some(_)) => document_id(&["event", "aws.cloudtrail", id]),
        _ => document_id(&["event", &crate::json::to_string(event)]),
    }
}

/// Follows a dotted path of object keys.
fn get<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = event;
    for key in path.split('.') {
        cur = cur.as_object()?.get(key)?;
    }
    Some(cur)
}

/// Sets a dotted path of object keys, creating the objects on the way.
fn set(doc: &mut Value, path: &str, value: Value) {
    let mut cur = doc;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        let Value::Object(map) = cur else { return };
        if keys.peek().is_none() {
            map.insert(key, value);
            return;
        }
        if map.get(key).is_none() {
            map.push(key, Value::object());
        }
        cur = match map.get_mut(key) {
            Some(next) => next,
            None => return,
        };
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// ECS context copied from the event into hits, by top-level object (leaves only; all
/// mapped in `pipectl-ecs`/`pipectl-base`). Grouped so an event without, say, `host`
/// costs one lookup for all of its fields.
const COPIED: &[(&str, &[&str])] = &[
    (
        "event",
        &[
            "action", "provider", "outcome", "category", "type", "module",
        ],
    ),
    (
        "user",
        &[
            "id",
            "name",
            "email",
            "domain",
            "full_name",
            "roles",
            "target.id",
            "target.name",
            "target.email",
            "target.domain",
            "effective.id",
            "effective.name",
            "effective.email",
        ],
    ),
    (
        "source",
        &[
            "ip",
            "port",
            "address",
            "domain",
            "geo.country_iso_code",
            "geo.country_name",
            "geo.city_name",
            "as.number",
            "as.organization.name",
        ],
    ),
    (
        "cloud",
        &[
            "provider",
            "account.id",
            "account.name",
            "region",
            "availability_zone",
            "service.name",
            "project.id",
            "instance.id",
            "target.account.id",
        ],
    ),
    (
        "host",
        &["id", "name", "hostname", "ip", "os.name", "os.family"],
    ),
    ("related", &["ip", "user", "hosts", "hash"]),
    ("organization", &["id", "name"]),
    ("pipectl", &["source"]),
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
        // The root user's records may carry no ARN; its ARN follows from the account.
        if text(&format!("{prefix}userIdentity.type")).as_deref() == Some("Root") {
            let account = text(&format!("{prefix}userIdentity.accountId"))
                .or_else(|| text(&format!("{prefix}recipientAccountId")));
            if let Some(account) = account {
                return Some(("aws_user".into(), format!("arn:aws:iam::{account}:root")));
            }
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

/// The part of a rule's hits that never changes (rule, ATT&CK, producer, score),
/// built once per rule and cloned into each hit.
pub fn template(source: &HitSource, rule: &RuleMeta) -> Value {
    let mut doc = Value::Object(Map::new());
    set(&mut doc, "event.kind", Value::from("alert"));
    set(&mut doc, "event.dataset", Value::from("pipectl.hit"));
    let level = rule.level.unwrap_or(Level::Medium);
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
    set(&mut doc, "pipectl.hit.score", Value::Float(level.score()));
    doc
}

/// Builds a hit of `rule` on `event` (the last event for correlations) from the
/// rule's [`template`].
pub fn build(
    template: &Value,
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
    let mut doc = template.clone();
    set(
        &mut doc,
        "@timestamp",
        Value::from(format_rfc3339(event_time_ms)),
    );
    if let Some(root) = event.as_object() {
        for (top, leaves) in COPIED {
            let Some(object) = root.get(top) else {
                continue;
            };
            for leaf in *leaves {
                if let Some(v) = get(object, leaf).filter(|v| is_scalar_or_scalars(v)) {
                    set(&mut doc, &format!("{top}.{leaf}"), v.clone());
                }
            }
        }
    }
    set(&mut doc, "event.id", Value::from(id.as_str()));
    set(
        &mut doc,
        "event.created",
        Value::from(format_rfc3339(now_ms)),
    );
    if let Some((kind, eid)) = entity_of(event) {
        set(&mut doc, "entity.key", Value::from(format!("{kind}:{eid}")));
        set(&mut doc, "entity.kind", Value::from(kind));
        set(&mut doc, "entity.id", Value::from(eid));
    }
    set(&mut doc, "pipectl.hit.id", Value::from(id.as_str()));
    set(
        &mut doc,
        "pipectl.hit.event_id",
        Value::from(matched_event.as_str()),
    );
    let ids = match correlation {
        Some(c) => {
            let skip = c.event_ids.len().saturating_sub(MAX_EVENT_IDS);
            c.event_ids[skip..].to_vec()
        }
        None => vec![matched_event],
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
