//! Box Events API enterprise events (`stream_type=admin_logs`) → `event.dataset:
//! box.events`. (The module is `box_events` because `box` is a Rust keyword; the
//! format's name is `box`.)
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `created_at` (when it is not there or no time: the time received, tagged `time_from_ingest`) |
//! | `event.action` | `event_type` (required) |
//! | `user.email`, `user.name`, `user.id`, `user.full_name` | `created_by`: `login` lowercased, `id`, `name` |
//! | `source.ip` | `ip_address` |
//! | `user.target.*` | the user acted on: `source` when it is a user (`type: user`), else `accessible_by` when it is one |
//! | `file.name`, `file.owner`, `file.directory` | an item `source`: `item_name`, `owned_by.login`, `parent.name` |
//! | `service.id`, `service.name` | `additional_details.service_id`, `service_name` (events of an application) |
//! | `event.risk_score` | `additional_details.shield_alert.risk_score` (Box Shield alerts) |
//! | `event.outcome` | failed logins and `*_FAILED`/`*_VIOLATION` types → `failure`; `LOGIN` → `success`; else `unknown` |
//! | `event.category`, `event.type` | logins `authentication`; Shield alerts and policy violations `intrusion_detection`; collaboration, permission, group and device events `iam`; item events `file`; types from the verb |
//! | `related.user`, `related.ip` | the users and address above |
//! | `event.id` | over `event_id`, else over the record |
//!
//! `additional_details` is an object in some events and a JSON string in others;
//! both are read, and the record keeps it as it came.

use super::{
    field, id_text, require_head, text, Dataset, Doc, Format, Head, NormaliseError, Received,
};
use pipectl_core::value::Value;

const DATASET: Dataset = Dataset {
    module: "box",
    name: "box.events",
    cloud_provider: "box",
};

/// Normalises one admin_logs event (without `created_at`, at the time it is called);
/// refuses records without `event_type`.
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    require_head(Format::Box, record, "created_at", "event_type")
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    let event_type = head.action.as_str();
    doc.set("event.action", event_type);

    if let Some(actor) = field(r, "created_by") {
        doc.set_login("user", text(actor, "login"));
        doc.set_text("user.id", id_text(actor, "id").as_deref());
        doc.set_text("user.full_name", text(actor, "name"));
    }
    doc.set_client_ip(text(r, "ip_address"));

    let is_user = |v: &Value| text(v, "type").is_some_and(|t| t.eq_ignore_ascii_case("user"));
    let target = field(r, "source")
        .filter(|s| is_user(s))
        .or_else(|| field(r, "accessible_by").filter(|a| is_user(a)));
    if let Some(target) = target {
        doc.set_login("user.target", text(target, "login"));
        doc.set_text("user.target.id", id_text(target, "id").as_deref());
        doc.set_text("user.target.full_name", text(target, "name"));
    }
    if let Some(item) = field(r, "source").filter(|s| text(s, "item_name").is_some()) {
        doc.set_text("file.name", text(item, "item_name"));
        doc.set_text("file.owner", text(item, "owned_by.login"));
        doc.set_text("file.directory", text(item, "parent.name"));
    }

    let details = additional_details(r);
    if let Some(details) = &details {
        doc.set_text("service.id", id_text(details, "service_id").as_deref());
        doc.set_text("service.name", text(details, "service_name"));
        if let Some(score) = field(details, "shield_alert.risk_score").and_then(|v| match v {
            Value::String(s) => s.trim().parse().ok(),
            other => other.as_f64(),
        }) {
            doc.set("event.risk_score", Value::Float(score));
        }
    }

    let upper = event_type.to_ascii_uppercase();
    let failed =
        upper == "FAILED_LOGIN" || upper.ends_with("_FAILED") || upper.ends_with("_VIOLATION");
    let outcome = if failed {
        "failure"
    } else if upper == "LOGIN" {
        "success"
    } else {
        "unknown"
    };
    doc.set("event.outcome", outcome);
    categorise(&mut doc, &upper);
    doc.relate_set_fields();

    let key = id_text(r, "event_id");
    doc.finish(DATASET, key, record)
}

/// `additional_details` as an object: itself, or the object its JSON text holds.
fn additional_details(r: &Value) -> Option<Value> {
    match field(r, "additional_details")? {
        Value::String(s) => pipectl_core::json::from_str(s)
            .ok()
            .filter(|v| matches!(v, Value::Object(_))),
        v @ Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

/// `event.category` and `event.type` from the upper-case event type.
fn categorise(doc: &mut Doc, t: &str) {
    let verb = || -> &'static str {
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        if has(&["DELETE", "REMOVE", "TRASH", "REVOKE"]) {
            "deletion"
        } else if has(&["UPLOAD", "CREATE", "ADD", "INVITE", "GRANTED", "COPY"]) {
            "creation"
        } else if has(&["DOWNLOAD", "PREVIEW", "VIEW", "ACCESS"]) {
            "access"
        } else if has(&["CHANGE", "EDIT", "UPDATE", "MOVE", "RENAME", "SHARED"]) {
            "change"
        } else {
            "info"
        }
    };
    if t.contains("LOGIN") && !t.contains("DEVICE") {
        doc.categorise("authentication", &["start"]);
    } else if t == "SHIELD_ALERT" || t.ends_with("_VIOLATION") || t.contains("MALICIOUS") {
        doc.categorise("intrusion_detection", &["info"]);
    } else if [
        "COLLABORATION",
        "PERMISSION",
        "GROUP",
        "DEVICE",
        "ACCESS_",
        "ADMIN",
        "USER",
    ]
    .iter()
    .any(|w| t.contains(w))
    {
        doc.categorise("iam", &[verb()]);
    } else if [
        "UPLOAD", "DOWNLOAD", "PREVIEW", "DELETE", "EDIT", "COPY", "MOVE", "ITEM_", "RENAME",
        "LOCK", "SHARE", "UNDELETE", "TAG",
    ]
    .iter()
    .any(|w| t.contains(w))
    {
        doc.categorise("file", &[verb()]);
    }
}

#[cfg(test)]
mod tests;
