//! Behaviour summaries computed over the Okta System Log by an analytics job (one row
//! per user or admin: a baseline period against a recent one, with z-scores and
//! anomaly flags), as they arrive mixed with the System Log events →
//! `event.dataset: okta.anomaly`, `event.kind: alert` when the row says it is
//! anomalous, else `metric`.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `detection_timestamp`, else the latest `recent_*_last_event` (else the time received, tagged `time_from_ingest`) |
//! | `event.action` | what the row measures, from its keys: `okta-anomaly-credential-extraction` (`*swa*`, `*extraction*`), `okta-anomaly-policy-weakening` (`*policy*`, `*weakening*`, `*enrollment*`), `okta-anomaly-credential-access-hours` (`*credential_access*`, `*inactive_slot*`), `okta-anomaly-account-activity` (`*events_per_hour*`, `*ip_diversity*`), else `okta-anomaly-summary` |
//! | `user.email`, `user.name` | `user_email`, else `admin_email`, lowercased |
//! | `event.risk_score` | `anomaly_severity_score` |
//! | `related.ip` | `all_recent_ips` |
//! | `event.id` | over the record |

use super::super::{field, text, timestamp, Dataset, Doc, Head, Received};
use pipectl_core::value::Value;

const DATASET: Dataset = Dataset {
    module: "okta",
    name: "okta.anomaly",
    cloud_provider: "okta",
};

/// Whether a record is a behaviour summary: a severity score or baseline and z-score
/// columns, and no `eventType`.
pub(crate) fn is_summary(record: &Value) -> bool {
    let Some(map) = record.as_object() else {
        return false;
    };
    map.get("anomaly_severity_score").is_some()
        || map
            .iter()
            .any(|(k, _)| k.starts_with("baseline_") || k.starts_with("z_score_"))
}

fn action(record: &Value) -> &'static str {
    let keys: Vec<&str> = record
        .as_object()
        .map(|m| m.iter().map(|(k, _)| k.as_ref()).collect())
        .unwrap_or_default();
    let any = |parts: &[&str]| keys.iter().any(|k| parts.iter().any(|p| k.contains(p)));
    if any(&["swa", "extraction"]) {
        "okta-anomaly-credential-extraction"
    } else if any(&["policy", "weakening", "enrollment"]) {
        "okta-anomaly-policy-weakening"
    } else if any(&["credential_access", "inactive_slot"]) {
        "okta-anomaly-credential-access-hours"
    } else if any(&["events_per_hour", "ip_diversity", "total_events"]) {
        "okta-anomaly-account-activity"
    } else {
        "okta-anomaly-summary"
    }
}

pub(crate) fn head(record: &Value) -> Head {
    let latest = record
        .as_object()
        .into_iter()
        .flat_map(|m| m.iter())
        .filter(|(k, _)| k.starts_with("recent_") && k.ends_with("_last_event"))
        .filter_map(|(_, v)| v.as_str().and_then(timestamp))
        .max();
    Head {
        time: text(record, "detection_timestamp")
            .and_then(timestamp)
            .or(latest),
        action: action(record).to_string(),
    }
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    let anomalous = field(r, "is_anomalous").and_then(Value::as_bool) == Some(true)
        || field(r, "anomaly_severity_score")
            .and_then(Value::as_f64)
            .is_some_and(|s| s > 0.0);
    doc.set("event.kind", if anomalous { "alert" } else { "metric" });
    doc.set("event.action", head.action.as_str());
    doc.set_login(
        "user",
        text(r, "user_email").or_else(|| text(r, "admin_email")),
    );
    if let Some(score) = field(r, "anomaly_severity_score").and_then(Value::as_f64) {
        doc.set("event.risk_score", score);
    }
    if let Some(ips) = field(r, "all_recent_ips").and_then(Value::as_array) {
        for ip in ips.iter().filter_map(Value::as_str) {
            doc.relate("ip", ip);
        }
    }
    doc.categorise("iam", &["info"]);
    doc.finish(DATASET, None, record)
}
