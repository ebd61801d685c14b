//! Google Workspace Admin SDK Reports `activity` resources → `event.dataset:
//! google_workspace.activity`.
//!
//! One activity may carry several `events[]` (a Drive share that is both a
//! visibility change and an access change): each becomes an event of its own, so
//! that `event.action` is always one action and rules, counts and models see every
//! one. Each event keeps the activity under `google_workspace.activity` with
//! `events` narrowed to that event (an activity of one event is kept untouched), so a
//! rule on `events.name` matches the event it names and not its siblings. Records
//! already flattened to one event (`name`, `type`, `parameters` beside `id` and
//! `actor`, as several collectors deliver them) are one event each, kept untouched.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `id.time` (else the time received, tagged `time_from_ingest`) |
//! | `event.action` | the event's `name` (an activity of no named event, such as the cut-down `rules` alerts, is one event without an action) |
//! | `event.provider`, `cloud.account.id` | `id.applicationName` (`login`, `drive`, `admin`, ...); `id.customerId` |
//! | `user.email`, `user.name`, `user.id` | `actor.email` lowercased, `actor.profileId` |
//! | `service.id`, `service.name` | OAuth (`token`) events: parameters `client_id`, `app_name` |
//! | `source.ip` | `ipAddress` |
//! | `user.target.*` | parameters naming the user acted on: `target_user`, `affected_email_address`, `USER_EMAIL` (lowercased) |
//! | `file.name`, `file.owner` | Drive: parameters `doc_title`, `owner` |
//! | `event.outcome`, `event.reason` | names ending in `_success`/`_succeeded` (`login_success`) → `success`; `login_failure` and names ending in `_failure`/`_failed` → `failure` (parameter `login_failure_type` → `event.reason`); else `unknown` |
//! | `event.category`, `event.type` | by application: `login`, `saml` → `authentication`; `token` (OAuth grants), `user_accounts`, `groups`, `groups_enterprise` and user/role/group admin settings → `iam`; other `admin` → `configuration`; `drive` → `file`; `gmail` → `email`; types from the name's verb |
//! | `related.user`, `related.ip` | the users and addresses above |
//! | `event.id` | over `id.applicationName`, `id.time`, `id.uniqueQualifier` and the event's `name` (with its ordinal when the activity repeats a name, so that siblings never share an id); without them over the narrowed record |
//!
//! Parameters are read in both forms: the API's list of `{name, value | intValue |
//! multiValue}` and the `{name: value}` object of flattened records.

use super::{field, key, text, timestamp, Dataset, Doc, Format, NormaliseError, Received};
use pipectl_core::value::{Map, Value};

const DATASET: Dataset = Dataset {
    module: "google_workspace",
    name: "google_workspace.activity",
    cloud_provider: "google_workspace",
};

/// Normalises one activity into one event per `events[]` item (an activity without
/// `id.time`, at the time `received`); refuses records that are no activity: neither
/// an `id` (`applicationName`, `time`, `uniqueQualifier`) nor a named event.
pub fn normalise_all(record: &Value, received: Received) -> Result<Vec<Value>, NormaliseError> {
    let err = |reason: &str| NormaliseError::new(Format::GoogleWorkspace, reason);
    super::require_object(Format::GoogleWorkspace, record)?;
    let at = text(record, "id.time").and_then(timestamp);
    let has_id = ["id.applicationName", "id.time", "id.uniqueQualifier"]
        .iter()
        .any(|k| text(record, k).is_some());
    let events = match field(record, "events") {
        Some(Value::Array(events)) => events.as_slice(),
        Some(Value::Null) | None => &[],
        Some(_) => return Err(err("`events` is not a list")),
    };
    let named = events.iter().any(|e| text(e, "name").is_some()) || text(record, "name").is_some();
    if !has_id && !named {
        return Err(err(
            "no `id` nor event `name`: not a Google Workspace activity record",
        ));
    }
    if events.is_empty() {
        // Flattened to one event (`name` beside `id`), or an activity that names none.
        return Ok(vec![build(record, record, record.clone(), at, received, 0)]);
    }
    let mut out = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let name = text(event, "name");
        let ordinal = events[..i]
            .iter()
            .filter(|e| text(e, "name") == name)
            .count();
        let kept = if events.len() == 1 {
            record.clone()
        } else {
            narrowed(record, event)
        };
        out.push(build(record, event, kept, at.clone(), received, ordinal));
    }
    Ok(out)
}

/// The activity with `events` holding only `event`.
fn narrowed(record: &Value, event: &Value) -> Value {
    let Value::Object(map) = record else {
        return record.clone();
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map.iter() {
        if k.eq_ignore_ascii_case("events") {
            out.push(k.clone(), Value::from(vec![event.clone()]));
        } else {
            out.push(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// One event: `activity` is the whole record (id, actor, address), `event` the item
/// of `events[]` (or the record itself when flattened), `kept` what goes under the
/// namespace, `at` the activity's own time, `ordinal` how many earlier siblings share
/// its name.
fn build(
    activity: &Value,
    event: &Value,
    kept: Value,
    at: Option<String>,
    received: Received,
    ordinal: usize,
) -> Value {
    let mut doc = Doc::new(at, received);
    let name = text(event, "name").unwrap_or_default();
    doc.set_text("event.action", Some(name).filter(|n| !n.is_empty()));
    let application = text(activity, "id.applicationName").unwrap_or("");
    doc.set_text(
        "event.provider",
        Some(application).filter(|a| !a.is_empty()),
    );
    doc.set_text("cloud.account.id", text(activity, "id.customerId"));

    doc.set_login("user", text(activity, "actor.email"));
    doc.set_text("user.id", text(activity, "actor.profileId"));
    doc.set_client_ip(text(activity, "ipAddress"));

    let params = field(event, "parameters");
    let param = |name: &str| params.and_then(|p| parameter_text(p, name));
    if application == "token" {
        doc.set_text("service.id", param("client_id"));
        doc.set_text("service.name", param("app_name"));
    }
    let target = ["target_user", "affected_email_address", "USER_EMAIL"]
        .iter()
        .find_map(|k| param(k));
    doc.set_login("user.target", target);
    if application == "drive" {
        doc.set_text("file.name", param("doc_title"));
        doc.set_text("file.owner", param("owner"));
    }

    let lower = name.to_ascii_lowercase();
    let outcome = if lower.ends_with("_success") || lower.ends_with("_succeeded") {
        "success"
    } else if lower == "login_failure" || lower.ends_with("_failure") || lower.ends_with("_failed")
    {
        "failure"
    } else {
        "unknown"
    };
    doc.set("event.outcome", outcome);
    if outcome == "failure" {
        doc.set_text("event.reason", param("login_failure_type"));
    }
    categorise(
        &mut doc,
        application,
        text(event, "type").unwrap_or(""),
        &lower,
    );
    doc.relate_set_fields();

    let key = match (
        text(activity, "id.applicationName"),
        text(activity, "id.time"),
        text(activity, "id.uniqueQualifier"),
    ) {
        (Some(app), Some(time), Some(unique)) => {
            let mut parts = format!("{app}\u{1f}{time}\u{1f}{unique}\u{1f}{name}");
            if ordinal > 0 {
                parts.push_str(&format!("\u{1f}{ordinal}"));
            }
            Some(parts)
        }
        _ => None,
    };
    doc.finish(DATASET, key, kept)
}

/// The text of a parameter, in either form (a list of `{name, value...}` or an
/// object); numbers and booleans as their text, a `multiValue` as its first item.
fn parameter_text<'a>(params: &'a Value, name: &str) -> Option<&'a str> {
    let value = match params {
        Value::Array(items) => {
            let item = items
                .iter()
                .find(|p| text(p, "name") == Some(name))
                .or_else(|| {
                    items
                        .iter()
                        .find(|p| text(p, "name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
                })?;
            ["value", "multiValue", "intValue"]
                .iter()
                .find_map(|k| key(item, k))?
        }
        Value::Object(_) => key(params, name)?,
        _ => return None,
    };
    match value {
        Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty()),
        Value::Array(items) => items.first().and_then(Value::as_str),
        _ => None,
    }
}

/// `event.category` and `event.type` from the application, the event's type and the
/// verb of its name.
fn categorise(doc: &mut Doc, application: &str, event_type: &str, name: &str) {
    let verb = || -> &'static str {
        const CREATION: &[&str] = &["create", "add", "upload", "enroll", "authorize", "grant"];
        const DELETION: &[&str] = &["delete", "remove", "trash", "revoke", "unenroll"];
        const ACCESS: &[&str] = &["view", "download", "preview", "print", "open"];
        let starts = |words: &[&str]| words.iter().any(|w| name.starts_with(w));
        if starts(DELETION) {
            "deletion"
        } else if starts(CREATION) {
            "creation"
        } else if starts(ACCESS) {
            "access"
        } else if name.starts_with("login") {
            "start"
        } else if name.starts_with("logout") {
            "end"
        } else if name.starts_with("change") || name.starts_with("edit") || name.contains("rename")
        {
            "change"
        } else {
            "info"
        }
    };
    let admin_iam = [
        "USER_SETTINGS",
        "GROUP_SETTINGS",
        "DELEGATED_ADMIN_SETTINGS",
    ]
    .iter()
    .any(|t| event_type.eq_ignore_ascii_case(t));
    match application {
        "login" | "saml" => doc.categorise("authentication", &[verb()]),
        "token" | "user_accounts" | "groups" | "groups_enterprise" => {
            doc.categorise("iam", &[verb()])
        }
        "admin" if admin_iam => doc.categorise("iam", &[verb()]),
        "admin" => doc.categorise("configuration", &[verb()]),
        "drive" => doc.categorise("file", &[verb()]),
        "gmail" => doc.categorise("email", &[verb()]),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
