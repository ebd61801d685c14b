//! Windows event log records exported as JSON (`EventID`, `ProviderName`,
//! `TimeCreated`, `Computer`, `Channel`, the event's data under `ExtraEventData` or
//! `EventData`), as SIEM collectors forward them next to cloud audit records →
//! `event.dataset: windows.<channel>` (`windows.security`, ...).
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `TimeCreated` (`2024-01-15 10:30:45 +0000` or RFC 3339) |
//! | `event.code`, `event.action` | `EventID`; the action of the [`ACTIONS`] table (`created-process` for 4688, `logged-in` for 4624, ...), else `windows-event-<id>` |
//! | `event.outcome` | the table's: 4625 and 4771 `failure`, the others `success` |
//! | `event.provider`, `host.name`, `event.sequence` | `ProviderName`, `Computer`, `EventRecordID` |
//! | `user.name`, `user.domain`, `user.id` | `TargetUserName`/`TargetDomainName`/`TargetUserSid` for logons and account changes, else `SubjectUserName`, `SubjectDomainName`, `SubjectUserSid` |
//! | `process.executable`, `process.name`, `process.pid`, `process.command_line`, `process.parent.executable`, `process.parent.pid` | `NewProcessName`, its file name, `NewProcessId` (hex), `CommandLine`, `ParentProcessName`, `ProcessId` |
//! | `source.ip` | `IpAddress` (logons), when it is an address |
//! | `event.id` | over `Computer`, `Channel` and `EventRecordID`, else over the record |

use super::{field, number, text, timestamp, Doc, Head, Received};
use pipectl_core::value::Value;

/// Event ids with their ECS action, category, type and outcome.
const ACTIONS: &[(i64, &str, &str, &str, &str)] = &[
    (
        1102,
        "audit-log-cleared",
        "configuration",
        "deletion",
        "success",
    ),
    (4624, "logged-in", "authentication", "start", "success"),
    (4625, "logon-failed", "authentication", "start", "failure"),
    (4634, "logged-out", "authentication", "end", "success"),
    (
        4648,
        "logged-in-explicit",
        "authentication",
        "start",
        "success",
    ),
    (4672, "logged-in-special", "iam", "admin", "success"),
    (4688, "created-process", "process", "start", "success"),
    (4689, "exited-process", "process", "end", "success"),
    (4720, "added-user-account", "iam", "creation", "success"),
    (4722, "enabled-user-account", "iam", "change", "success"),
    (4724, "reset-password", "iam", "change", "success"),
    (4725, "disabled-user-account", "iam", "change", "success"),
    (4726, "deleted-user-account", "iam", "deletion", "success"),
    (4728, "added-member-to-group", "iam", "change", "success"),
    (4732, "added-member-to-group", "iam", "change", "success"),
    (4740, "locked-out-user-account", "iam", "change", "success"),
    (4756, "added-member-to-group", "iam", "change", "success"),
    (
        4768,
        "kerberos-authentication-ticket-requested",
        "authentication",
        "start",
        "success",
    ),
    (
        4769,
        "kerberos-service-ticket-requested",
        "authentication",
        "start",
        "success",
    ),
    (
        4771,
        "kerberos-preauth-failed",
        "authentication",
        "start",
        "failure",
    ),
];

/// Whether a record is a Windows event: an `EventID` and the log it came from.
pub(crate) fn is_windows_event(record: &Value) -> bool {
    number(record, "EventID").is_some()
        && (text(record, "ProviderName").is_some() || text(record, "Channel").is_some())
}

pub(crate) fn head(record: &Value) -> Option<Head> {
    let id = number(record, "EventID")?;
    let action = match ACTIONS.iter().find(|a| a.0 == id) {
        Some(known) => known.1.to_string(),
        None => format!("windows-event-{id}"),
    };
    Some(Head {
        time: text(record, "TimeCreated").and_then(time_created),
        action,
    })
}

/// `TimeCreated`: RFC 3339, or the `2024-01-15 10:30:45 +0000` of exports (an offset
/// after a space, without a colon).
fn time_created(text: &str) -> Option<String> {
    if let Some(time) = timestamp(text) {
        return Some(time);
    }
    let (clock, offset) = text.rsplit_once(' ')?;
    timestamp(&format!("{clock}{}", super::colon_offset(offset)?))
}

/// The event's data: `ExtraEventData` (as some collectors name it) or `EventData`.
fn data(record: &Value) -> Option<&Value> {
    field(record, "ExtraEventData").or_else(|| field(record, "EventData"))
}

/// A hexadecimal (`0x1a2b`) or decimal process id.
fn pid(text: &str) -> Option<i64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    let id = number(r, "EventID").unwrap_or_default();
    doc.set("event.code", id.to_string());
    doc.set("event.action", head.action.as_str());
    match ACTIONS.iter().find(|a| a.0 == id) {
        Some(&(_, _, category, kind, outcome)) => {
            doc.categorise(category, &[kind]);
            doc.set("event.outcome", outcome);
        }
        None => doc.set("event.outcome", "unknown"),
    }
    doc.set_text("event.provider", text(r, "ProviderName"));
    doc.set_text("host.name", text(r, "Computer"));
    if let Some(seq) = number(r, "EventRecordID") {
        doc.set("event.sequence", seq);
    }
    if let Some(d) = data(r) {
        let targets_user = matches!(id, 4624 | 4625 | 4634 | 4648 | 4720..=4767 | 4768..=4771);
        let (name, domain, sid) = if targets_user && text(d, "TargetUserName").is_some() {
            ("TargetUserName", "TargetDomainName", "TargetUserSid")
        } else {
            ("SubjectUserName", "SubjectDomainName", "SubjectUserSid")
        };
        doc.set_text("user.name", text(d, name));
        doc.set_text("user.domain", text(d, domain));
        doc.set_text("user.id", text(d, sid));
        if let Some(exe) = text(d, "NewProcessName") {
            doc.set("process.executable", exe);
            let name = exe.rsplit(['\\', '/']).next().unwrap_or(exe);
            doc.set("process.name", name);
        }
        if let Some(p) = text(d, "NewProcessId").and_then(pid) {
            doc.set("process.pid", p);
        }
        doc.set_text("process.command_line", text(d, "CommandLine"));
        doc.set_text("process.parent.executable", text(d, "ParentProcessName"));
        if let Some(p) = text(d, "ProcessId").and_then(pid) {
            doc.set("process.parent.pid", p);
        }
        doc.set_client_ip(text(d, "IpAddress"));
    } else {
        doc.set_text("user.id", text(r, "UserID"));
    }
    let channel = text(r, "Channel")
        .unwrap_or("security")
        .to_ascii_lowercase();
    let channel: String = channel
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dataset = format!("windows.{channel}");
    let key = match (text(r, "Computer"), number(r, "EventRecordID")) {
        (Some(host), Some(seq)) => Some(format!("{host}/{channel}/{seq}")),
        _ => None,
    };
    doc.finish_in("windows", &dataset, None, key, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_times_with_a_spaced_offset() {
        assert_eq!(
            time_created("2024-01-15 10:30:45 +0000").as_deref(),
            Some("2024-01-15T10:30:45Z")
        );
        assert_eq!(
            time_created("2024-01-15 10:30:45 -0130").as_deref(),
            Some("2024-01-15T12:00:45Z")
        );
        assert_eq!(
            time_created("2024-01-15T10:30:45Z").as_deref(),
            Some("2024-01-15T10:30:45Z")
        );
        assert_eq!(time_created("2024-01-15 10:30:45 +00x0"), None);
        assert_eq!(time_created("yesterday"), None);
    }

    #[test]
    fn a_failed_logon_names_its_target_and_address() {
        let record = pipectl_core::json::from_str(
            r#"{"EventID": 4625, "Channel": "Security", "Computer": "DC1", "EventRecordID": 7,
                "TimeCreated": "2024-01-15T10:30:45Z",
                "EventData": {"SubjectUserName": "-", "TargetUserName": "alice",
                              "TargetDomainName": "CORP", "IpAddress": "10.0.0.9"}}"#,
        )
        .unwrap();
        assert!(is_windows_event(&record));
        let head = head(&record).unwrap();
        assert_eq!(head.action, "logon-failed");
        let e = build(record, head, Received::from_unix_millis(0));
        let s = |p: &str| super::super::text(&e, p).map(str::to_string);
        assert_eq!(s("event.outcome").as_deref(), Some("failure"));
        assert_eq!(s("user.name").as_deref(), Some("alice"));
        assert_eq!(s("source.ip").as_deref(), Some("10.0.0.9"));
        assert_eq!(s("event.dataset").as_deref(), Some("windows.security"));
        let unknown =
            pipectl_core::json::from_str(r#"{"EventID": "9999", "ProviderName": "Custom"}"#)
                .unwrap();
        assert_eq!(head_action(&unknown), "windows-event-9999");
    }

    fn head_action(record: &Value) -> String {
        head(record).map(|h| h.action).unwrap_or_default()
    }
}
