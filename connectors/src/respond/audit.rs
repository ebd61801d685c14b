//! An action record as its audit document (docs/schema.md §9, `event.dataset:
//! pipectl.action`), one per transition, overwriting the same `_id` with a growing
//! `pipectl.version` so OpenSearch keeps the latest state and the history inside it.

use super::journal::ActionRecord;
use pipectl_core::detect::sigma::time::format_rfc3339;
use pipectl_core::value::Value;
use serde_json::{json, Map};

fn time(ms: i64) -> serde_json::Value {
    json!(format_rfc3339(ms))
}

/// `event.outcome` of a status.
fn outcome(status: &str) -> &'static str {
    match status {
        "succeeded" | "reverted" => "success",
        "failed" | "revert_failed" => "failure",
        _ => "unknown",
    }
}

/// Inserts `value` under `key` unless it is null.
fn put(map: &mut Map<String, serde_json::Value>, key: &str, value: serde_json::Value) {
    if !value.is_null() {
        map.insert(key.to_string(), value);
    }
}

/// The audit document of a record's current state.
pub fn document(record: &ActionRecord) -> Value {
    pipectl_core::json::from_serde(document_json(record))
}

/// The same, as serde JSON (what `pipectl actions list --json` prints).
pub fn document_json(record: &ActionRecord) -> serde_json::Value {
    let mut action = Map::new();
    put(&mut action, "id", json!(record.id));
    put(&mut action, "responder", json!(record.responder));
    put(&mut action, "provider", json!(record.provider));
    put(&mut action, "name", json!(record.name));
    put(&mut action, "mode", json!(record.mode));
    put(&mut action, "decision", json!(record.decision));
    put(&mut action, "status", json!(record.status));
    put(&mut action, "reason", json!(record.reason));
    let mut target = Map::new();
    put(&mut target, "kind", json!(record.target.kind));
    if !record.target.id.is_empty() {
        put(&mut target, "id", json!(record.target.id));
    }
    if !record.target.name.is_empty() {
        put(&mut target, "name", json!(record.target.name));
    }
    action.insert("target".into(), serde_json::Value::Object(target));
    put(&mut action, "incident_id", json!(record.incident_id));
    put(&mut action, "incident_score", json!(record.incident_score));
    put(&mut action, "requested_at", time(record.requested_at));
    if let Some(at) = record.executed_at {
        put(&mut action, "executed_at", time(at));
    }
    if let Some(at) = record.expires_at {
        put(&mut action, "expires_at", time(at));
    }
    put(&mut action, "permanent", json!(record.permanent));
    if let Some(approval) = &record.approval {
        let mut a = Map::new();
        put(&mut a, "by", json!(approval.by));
        put(&mut a, "at", time(approval.at));
        put(&mut a, "comment", json!(approval.comment));
        action.insert("approval".into(), serde_json::Value::Object(a));
    }
    let mut revert = Map::new();
    put(&mut revert, "action", json!(record.revert.action));
    put(&mut revert, "reversible", json!(record.revert.reversible));
    put(&mut revert, "status", json!(record.revert.status));
    if let Some(at) = record.revert.at {
        put(&mut revert, "at", time(at));
    }
    put(
        &mut revert,
        "state",
        record.revert.state.clone().unwrap_or_default(),
    );
    action.insert("revert".into(), serde_json::Value::Object(revert));
    put(
        &mut action,
        "provider_request_id",
        json!(record.provider_request_id),
    );
    put(&mut action, "error", json!(record.error));
    let history: Vec<serde_json::Value> = record
        .history
        .iter()
        .map(|t| {
            let mut h = Map::new();
            put(&mut h, "at", time(t.at));
            put(&mut h, "status", json!(t.status));
            put(&mut h, "by", json!(t.by));
            put(&mut h, "note", json!(t.note));
            serde_json::Value::Object(h)
        })
        .collect();
    action.insert("history".into(), json!(history));

    let mut doc = json!({
        "@timestamp": format_rfc3339(record.updated_at()),
        "event": {
            "id": record.id,
            "kind": "event",
            "dataset": "pipectl.action",
            "action": record.name,
            "outcome": outcome(&record.status),
            "module": record.provider,
        },
        "pipectl": {
            "pipeline": record.pipeline,
            "component": record.responder,
            "version": record.version,
            "action": action,
        },
    });
    if !record.entity.key.is_empty() {
        doc["entity"] = json!({
            "key": record.entity.key,
            "kind": record.entity.kind,
            "id": record.entity.id,
        });
    }
    let mut cloud = Map::new();
    put(&mut cloud, "provider", json!(record.provider));
    if let Some(account) = &record.target.account {
        cloud.insert("account".into(), json!({ "id": account }));
    }
    doc["cloud"] = serde_json::Value::Object(cloud);
    doc
}
