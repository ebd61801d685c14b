//! Dropbox Business team log events (`/2/team_log/get_events`) → `event.dataset:
//! dropbox.team_log`. Union tags are read under both spellings, the API's `.tag` and
//! the `_tag` of collectors that cannot keep a dot in a key.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `timestamp` (UTC; else the time received, tagged `time_from_ingest`) |
//! | `event.action` | `event_type`'s tag (`file_download`, `sign_in_as_session_start`, ...) (required) |
//! | `message` | `event_type.description` |
//! | `user.email`, `user.name`, `user.id`, `user.full_name` | the person acting (`actor.user`, `actor.admin`, or the user of `actor.app`/`actor.reseller`): `email` lowercased, `team_member_id` (else `account_id`), `display_name` |
//! | `service.id`, `service.name` | an app acting (`actor.app`) or linked (`details.app_info`): `app_id`, `display_name` |
//! | `user.target.*` | the member whose account was acted on (`context`, when it is a team member other than the actor), else the first user among `participants` |
//! | `source.ip`, `source.geo.*` | `origin.geo_location`: `ip_address`, `city`, `region` → `region_name`, `country` (two-letter) → `country_iso_code` |
//! | `file.path`, `file.name`, `file.extension` | the first of `assets`: `path.contextual`, `display_name` (else the path's last segment) |
//! | `event.outcome` | failures (`login_fail`, tags ending in `_fail`/`_failed`) → `failure`; `login_success` → `success`; else `unknown` |
//! | `event.category`, `event.type` | from `event_category` (else the tag's prefix): `logins` → `authentication`; `file_operations`, `sharing`, `file_requests`, `paper` → `file`; `members`, `groups`, `passwords`, `tfa`, `apps` → `iam`; `team_policies`, `team_profile`, `domains`, `devices` → `configuration` |
//! | `related.user`, `related.ip` | the users (including every participant) and the address above |
//! | `event.id` | over the record: the team log names no event id (schema §1) |

use super::{field, key, text, timestamp, Dataset, Doc, Format, Head, NormaliseError, Received};
use pipectl_core::value::Value;

const DATASET: Dataset = Dataset {
    module: "dropbox",
    name: "dropbox.team_log",
    cloud_provider: "dropbox",
};

/// The tag of a Dropbox union: `.tag`, else `_tag`.
fn tag(union: &Value) -> Option<&str> {
    [".tag", "_tag"]
        .iter()
        .find_map(|k| key(union, k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Normalises one team log event (without `timestamp`, at the time it is called);
/// refuses records without an `event_type` tag.
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    super::require_object(Format::Dropbox, record)?;
    let action = field(record, "event_type").and_then(tag).ok_or_else(|| {
        NormaliseError::new(
            Format::Dropbox,
            "no `event_type` tag (`.tag`/`_tag`): not a Dropbox team log record",
        )
    })?;
    Ok(Head {
        time: text(record, "timestamp").and_then(timestamp),
        action: action.to_string(),
    })
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    let action = head.action.as_str();
    doc.set("event.action", action);
    doc.set_text("message", text(r, "event_type.description"));

    let actor = field(r, "actor");
    let actor_kind = actor.and_then(tag);
    let person = actor.and_then(|a| {
        ["user", "admin"]
            .iter()
            .find_map(|k| field(a, k).filter(|v| matches!(v, Value::Object(_))))
            .or_else(|| field(a, "app.user"))
    });
    if let Some(person) = person {
        set_member(&mut doc, "user", person);
    }
    let app = actor
        .filter(|_| actor_kind == Some("app"))
        .and_then(|a| field(a, "app"))
        .or_else(|| field(r, "details.app_info"));
    if let Some(app) = app {
        doc.set_text("service.id", text(app, "app_id"));
        doc.set_text("service.name", text(app, "display_name"));
    }

    let actor_email = person.and_then(|p| text(p, "email"));
    let context = field(r, "context").filter(|c| {
        tag(c) == Some("team_member")
            && text(c, "email").is_some_and(|email| {
                !actor_email.is_some_and(|actor| actor.eq_ignore_ascii_case(email))
            })
    });
    let participants = field(r, "participants")
        .and_then(Value::as_array)
        .unwrap_or(&[]);
    let first_participant = participants
        .iter()
        .find_map(|p| field(p, "user").filter(|u| text(u, "email").is_some()));
    if let Some(target) = context.or(first_participant) {
        set_member(&mut doc, "user.target", target);
    }

    if let Some(geo) = field(r, "origin.geo_location") {
        doc.set_client_ip(text(geo, "ip_address"));
        doc.set_text("source.geo.city_name", text(geo, "city"));
        doc.set_text("source.geo.region_name", text(geo, "region"));
        if let Some(country) = text(geo, "country").filter(|c| c.len() == 2) {
            doc.set("source.geo.country_iso_code", country.to_ascii_uppercase());
        }
    }

    if let Some(asset) = field(r, "assets")
        .and_then(Value::as_array)
        .and_then(<[Value]>::first)
    {
        let path = text(asset, "path.contextual");
        doc.set_text("file.path", path);
        let name = text(asset, "display_name").or_else(|| {
            path.and_then(|p| p.rsplit('/').next())
                .filter(|n| !n.is_empty())
        });
        doc.set_text("file.name", name);
        doc.set_text(
            "file.extension",
            name.and_then(|n| n.rsplit_once('.'))
                .map(|(_, ext)| ext)
                .filter(|e| !e.is_empty()),
        );
    }

    let outcome = if action == "login_success" {
        "success"
    } else if action == "login_fail" || action.ends_with("_fail") || action.ends_with("_failed") {
        "failure"
    } else {
        "unknown"
    };
    doc.set("event.outcome", outcome);
    let category = field(r, "event_category").and_then(tag);
    categorise(&mut doc, category, action);

    doc.relate_set_fields();
    for participant in participants {
        for k in ["user", "group"] {
            if let Some(email) = field(participant, k).and_then(|u| text(u, "email")) {
                doc.relate("user", &email.to_lowercase());
            }
        }
    }
    doc.finish(DATASET, None, record)
}

/// `<prefix>.email`/`.name` (lowercased), `.id` and `.full_name` of a team member or
/// other account.
fn set_member(doc: &mut Doc, prefix: &str, member: &Value) {
    doc.set_login(prefix, text(member, "email"));
    doc.set_text(
        &format!("{prefix}.id"),
        text(member, "team_member_id").or_else(|| text(member, "account_id")),
    );
    doc.set_text(&format!("{prefix}.full_name"), text(member, "display_name"));
}

/// `event.category` and `event.type` from the event category (else the action's
/// prefix) and the action's verb.
fn categorise(doc: &mut Doc, category: Option<&str>, action: &str) {
    let has = |words: &[&str]| words.iter().any(|w| action.contains(w));
    let verb = if has(&["delete", "remove", "unlink", "revoke", "disable"]) {
        "deletion"
    } else if has(&["add", "create", "upload", "link", "invite", "enable"]) {
        "creation"
    } else if has(&["download", "view", "preview", "access"]) {
        "access"
    } else if has(&["change", "edit", "rename", "move", "transfer", "update"]) {
        "change"
    } else {
        "info"
    };
    let category = category.unwrap_or_else(|| action.split('_').next().unwrap_or(""));
    match category {
        "logins" | "login" | "sign" => {
            let kind = if action.contains("end") || action.contains("logout") {
                "end"
            } else {
                "start"
            };
            doc.categorise("authentication", &[kind]);
        }
        "file_operations" | "sharing" | "file_requests" | "paper" | "file" | "shared" => {
            doc.categorise("file", &[verb]);
        }
        "members" | "groups" | "passwords" | "tfa" | "apps" | "member" | "group" | "app" => {
            doc.categorise("iam", &[verb]);
        }
        "team_policies" | "team_profile" | "domains" | "devices" => {
            doc.categorise("configuration", &[verb]);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
