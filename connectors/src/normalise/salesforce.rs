//! Salesforce Event Monitoring → `event.dataset: salesforce.eventlog`: rows of the
//! EventLogFile CSVs (upper-case columns: `EVENT_TYPE`, `TIMESTAMP_DERIVED`,
//! `USER_ID_DERIVED`, ...) as a CSV codec parses them, and the real-time event
//! objects (`LoginEvent`, `ApiAnomalyEventStore`, ... with `EventDate`, `Username`,
//! `SourceIp`) as the API returns them.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `TIMESTAMP_DERIVED` (ISO 8601 UTC), else `TIMESTAMP` (`20230504213647.569` or ISO, UTC), else `EventDate` (`2023-05-04T21:36:47.000+0000`) (else the time received, tagged `time_from_ingest`) |
//! | `event.action` | `EVENT_TYPE`, else the object's type (`attributes.type`) (one required) |
//! | `user.name`, `user.email`, `user.id` | `USER_NAME`, else `USERNAME`/`Username` (lowercased); `USER_ID_DERIVED` (the 18-character id), else `USER_ID`/`UserId` |
//! | `source.ip` | `SOURCE_IP`/`SourceIp`, else `CLIENT_IP` (Salesforce writes `Salesforce.com IP` for its own calls: not an address, so not set) |
//! | `url.original`, `url.path` | `URI` |
//! | `user_agent.original` | `USER_AGENT`, else `BROWSER_TYPE` |
//! | `service.id`, `service.name` | `CONNECTED_APP_ID`, else `CLIENT_ID`; `CONNECTED_APP_NAME` |
//! | `cloud.account.id` | `ORGANIZATION_ID` |
//! | `event.outcome`, `event.reason` | `LOGIN_STATUS` `LOGIN_NO_ERROR` → `success`, another code → `failure` (the code → `event.reason`); else `STATUS`/`Status` or `REQUEST_STATUS` (`Success`/`S` → `success`, `Failed`/`Failure`/`F` → `failure`); else `unknown` |
//! | `event.category`, `event.type` | anomaly and threat detections (`ApiAnomalyEventStore`, ...) `intrusion_detection`/`info`; logins, logouts, login-as and OAuth token events `authentication`; API, REST, Bulk API and URI requests `web`/`access`; report exports `file`/`access` |
//! | `related.user`, `related.ip` | the user and address above |
//! | `event.id` | over `REQUEST_ID`, `EVENT_TYPE` and `TIMESTAMP`; real-time objects over `EventIdentifier`; else over the record |

use super::{id_text, text, timestamp, Dataset, Doc, Format, Head, NormaliseError, Received};
use pipectl_core::value::Value;

const DATASET: Dataset = Dataset {
    module: "salesforce",
    name: "salesforce.eventlog",
    cloud_provider: "salesforce",
};

/// The time columns, best first.
const TIMES: [&str; 3] = ["TIMESTAMP_DERIVED", "TIMESTAMP", "EventDate"];

/// Normalises one event log row or event object (without a time, at the time it is
/// called); refuses records without an event type.
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    super::require_object(Format::Salesforce, record)?;
    let action = text(record, "EVENT_TYPE")
        .or_else(|| text(record, "attributes.type"))
        .ok_or_else(|| {
            NormaliseError::new(
                Format::Salesforce,
                "no `EVENT_TYPE` nor `attributes.type`: not a Salesforce event log record",
            )
        })?;
    Ok(Head {
        time: TIMES
            .iter()
            .find_map(|k| text(record, k))
            .and_then(event_time),
        action: action.to_string(),
    })
}

/// An event log time: ISO 8601 (UTC when it has no zone; the API's `+0000` offsets
/// too), or the compact `YYYYMMDDHHMMSS.sss` of the `TIMESTAMP` column.
fn event_time(text: &str) -> Option<String> {
    timestamp(text)
        .or_else(|| timestamp(&with_offset_colon(text)?))
        .or_else(|| compact_time(text))
}

/// `…+0000` as `…+00:00`: Salesforce's API writes offsets without the colon.
fn with_offset_colon(text: &str) -> Option<String> {
    let cut = text.len().checked_sub(5)?;
    let (time, offset) = (text.get(..cut)?, text.get(cut..)?);
    let (hours, minutes) = (offset.get(..3)?, offset.get(3..)?);
    let signed = offset.starts_with(['+', '-']);
    let digits = offset.bytes().skip(1).all(|b| b.is_ascii_digit());
    (signed && digits && time.contains('T')).then(|| format!("{time}{hours}:{minutes}"))
}

/// The compact `YYYYMMDDHHMMSS.sss` (UTC) of the `TIMESTAMP` column.
fn compact_time(text: &str) -> Option<String> {
    let (digits, fraction) = text.split_once('.').unwrap_or((text, ""));
    let b = digits.as_bytes();
    if b.len() != 14 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let part = |r: std::ops::Range<usize>| digits.get(r).unwrap_or("");
    let mut iso = format!(
        "{}-{}-{}T{}:{}:{}",
        part(0..4),
        part(4..6),
        part(6..8),
        part(8..10),
        part(10..12),
        part(12..14)
    );
    if !fraction.is_empty() {
        iso.push('.');
        iso.push_str(fraction);
    }
    iso.push('Z');
    timestamp(&iso)
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    let event_type = head.action.as_str();
    doc.set("event.action", event_type);
    doc.set_text("cloud.account.id", text(r, "ORGANIZATION_ID"));

    doc.set_login("user", text(r, "USER_NAME").or_else(|| text(r, "USERNAME")));
    doc.set_text(
        "user.id",
        id_text(r, "USER_ID_DERIVED")
            .or_else(|| id_text(r, "USER_ID"))
            .or_else(|| id_text(r, "UserId"))
            .as_deref(),
    );
    let ip = ["SOURCE_IP", "SourceIp", "CLIENT_IP"]
        .iter()
        .find_map(|k| text(r, k).filter(|t| super::client_ip(t).is_some()));
    doc.set_client_ip(ip);
    if let Some(uri) = text(r, "URI") {
        doc.set("url.original", uri);
        if uri.starts_with('/') {
            doc.set("url.path", uri.split('?').next().unwrap_or(uri));
        }
    }
    doc.set_text(
        "user_agent.original",
        text(r, "USER_AGENT").or_else(|| text(r, "BROWSER_TYPE")),
    );
    doc.set_text(
        "service.id",
        text(r, "CONNECTED_APP_ID").or_else(|| text(r, "CLIENT_ID")),
    );
    doc.set_text("service.name", text(r, "CONNECTED_APP_NAME"));

    outcome(&mut doc, r);
    categorise(&mut doc, event_type);
    doc.relate_set_fields();

    let key = match (text(r, "REQUEST_ID"), text(r, "TIMESTAMP")) {
        (Some(request), Some(time)) => Some(format!("{request}\u{1f}{event_type}\u{1f}{time}")),
        _ => text(r, "EventIdentifier").map(str::to_string),
    };
    doc.finish(DATASET, key, record)
}

fn outcome(doc: &mut Doc, r: &Value) {
    if let Some(status) = text(r, "LOGIN_STATUS") {
        if status.eq_ignore_ascii_case("LOGIN_NO_ERROR") {
            doc.set("event.outcome", "success");
        } else {
            doc.set("event.outcome", "failure");
            doc.set("event.reason", status);
        }
        return;
    }
    let status = text(r, "STATUS").or_else(|| text(r, "REQUEST_STATUS"));
    let outcome = match status.map(str::to_ascii_lowercase).as_deref() {
        Some("success" | "succeeded" | "s") => "success",
        Some("failed" | "failure" | "f") => "failure",
        _ => "unknown",
    };
    doc.set("event.outcome", outcome);
}

/// `event.category` and `event.type` from the event type.
fn categorise(doc: &mut Doc, event_type: &str) {
    let lower = event_type.to_ascii_lowercase();
    if lower.contains("anomaly") || lower.contains("threat") {
        doc.categorise("intrusion_detection", &["info"]);
    } else if lower.starts_with("login") {
        doc.categorise("authentication", &["start"]);
    } else if lower.starts_with("logout") {
        doc.categorise("authentication", &["end"]);
    } else if lower.starts_with("oauth") {
        doc.categorise("authentication", &["info"]);
    } else if lower.starts_with("report") {
        doc.categorise("file", &["access"]);
    } else if [
        "api",
        "restapi",
        "bulkapi",
        "uri",
        "lightninguri",
        "visualforce",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        doc.categorise("web", &["access"]);
    }
}

#[cfg(test)]
mod tests;
