//! How much of each vendor sample file of ../shared/samples the normalisers map: one
//! test per file pins the figures, so a mapping that stops filling a field fails here.
//! `cargo test -p pipectl-connectors --lib normalise::coverage -- --nocapture` prints
//! the table kept in docs/normalisation.md.

use super::samples::{get, records, s};
use super::{Format, Normaliser, Received, TIME_FROM_INGEST};
use pipectl_core::value::Value;

/// The time the samples are "received" at: 2027-01-15T08:00:00Z.
const RECEIVED: Received = Received::from_unix_millis(1_800_000_000_000);
const RECEIVED_TEXT: &str = "2027-01-15T08:00:00Z";

/// The figures of one sample file: its records, what became of them, and how many
/// events have each key field.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Coverage {
    /// Records (non-blank lines) in the file.
    records: usize,
    /// Records refused as not the vendor's (each with its reason, checked apart).
    refused: usize,
    /// Records that carry no event (VPC flow NODATA/SKIPDATA).
    no_event: usize,
    /// Events made (a Google Workspace activity may make several).
    events: usize,
    /// Events whose `@timestamp` is the record's own time (the others are tagged
    /// `time_from_ingest`).
    vendor_time: usize,
    /// Events with `event.action`.
    action: usize,
    /// Events with a known `event.outcome` (`success` or `failure`, not `unknown`).
    outcome: usize,
    /// Events naming an actor: `user.name`, `user.email`, `user.id` or the service
    /// (`service.id`, `service.name`).
    actor: usize,
    /// Events with `source.ip`.
    source_ip: usize,
}

/// Normalises every record of `file` as `format` received at [`RECEIVED`], checking
/// the fields every event carries; returns the figures and the refused lines.
fn cover(file: &str, format: Format) -> (Coverage, Vec<usize>) {
    let mut normaliser = Normaliser::new(format);
    let mut c = Coverage::default();
    let mut refused = Vec::new();
    for (line, record) in records(file) {
        c.records += 1;
        let mut event = record;
        let mut more = Vec::new();
        match normaliser.apply_received(&mut event, RECEIVED, &mut more) {
            Ok(false) => c.no_event += 1,
            Ok(true) => {
                for e in std::iter::once(event).chain(more) {
                    count(&mut c, file, line, &e);
                }
            }
            Err(e) => {
                assert!(e.reason.contains("not a"), "{file}:{line}: {e}");
                c.refused += 1;
                refused.push(line);
            }
        }
    }
    (c, refused)
}

/// Checks the fields every event has and adds this one to the figures.
fn count(c: &mut Coverage, file: &str, line: usize, e: &Value) {
    let at = format!("{file}:{line}");
    c.events += 1;
    let time = s(e, "@timestamp").unwrap_or_default();
    assert!(time.ends_with('Z') && time.len() >= 20, "{at}: {time}");
    assert_eq!(s(e, "event.id").map(str::len), Some(32), "{at}");
    // Findings that travel with the audit records (security alerts, behaviour
    // summaries) are alerts or metrics; everything else is an event.
    assert!(
        matches!(s(e, "event.kind"), Some("event" | "alert" | "metric")),
        "{at}"
    );
    let dataset = s(e, "event.dataset").unwrap_or_default();
    assert!(get(e, dataset).is_some(), "{at}: no vendor record");
    let from_ingest = get(e, "tags")
        .and_then(Value::as_array)
        .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(TIME_FROM_INGEST)));
    if from_ingest {
        assert_eq!(time, RECEIVED_TEXT, "{at}");
        assert_eq!(s(e, "event.ingested"), Some(RECEIVED_TEXT), "{at}");
    } else {
        c.vendor_time += 1;
    }
    let has = |path: &str| s(e, path).is_some_and(|v| !v.is_empty());
    c.action += usize::from(has("event.action"));
    c.outcome += usize::from(matches!(s(e, "event.outcome"), Some("success" | "failure")));
    c.actor += usize::from(
        [
            "user.name",
            "user.email",
            "user.id",
            "service.id",
            "service.name",
        ]
        .iter()
        .any(|p| has(p)),
    );
    c.source_ip += usize::from(has("source.ip"));
}

/// Covers `file`, prints its row of the table and checks the figures and the lines
/// refused as not the vendor's.
fn assert_coverage(file: &str, format: Format, expected: Coverage, refused: &[usize]) {
    let (c, refused_lines) = cover(file, format);
    eprintln!("| file | format | records | refused | no event | events | vendor time | action | outcome | actor | source.ip |");
    eprintln!(
        "| {file} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        format.name(),
        c.records,
        c.refused,
        c.no_event,
        c.events,
        c.vendor_time,
        c.action,
        c.outcome,
        c.actor,
        c.source_ip
    );
    assert_eq!(c, expected, "{file}");
    assert_eq!(refused_lines, refused, "{file}: refused lines");
}

#[test]
fn aws_cloudtrail() {
    assert_coverage(
        "aws_cloudtrail.jsonl",
        Format::AwsCloudtrail,
        Coverage {
            records: 436,
            refused: 0,
            no_event: 0,
            events: 436,
            vendor_time: 419,
            action: 436,
            outcome: 436,
            actor: 420,
            source_ip: 362,
        },
        &[],
    );
}

#[test]
fn aws_vpcflow() {
    assert_coverage(
        "aws_vpcflow.jsonl",
        Format::AwsVpcflow,
        Coverage {
            records: 34,
            refused: 0,
            no_event: 2,
            events: 32,
            vendor_time: 10,
            action: 14,
            outcome: 14,
            actor: 0,
            source_ip: 29,
        },
        &[],
    );
}

#[test]
fn azure_signin() {
    assert_coverage(
        "azure_signin.jsonl",
        Format::EntraId,
        Coverage {
            records: 46,
            refused: 0,
            no_event: 0,
            events: 46,
            vendor_time: 46,
            action: 46,
            outcome: 45,
            actor: 46,
            source_ip: 46,
        },
        &[],
    );
}

#[test]
fn m365_audit() {
    assert_coverage(
        "m365_audit.jsonl",
        Format::O365,
        Coverage {
            records: 25,
            refused: 0,
            no_event: 0,
            events: 25,
            vendor_time: 25,
            action: 25,
            outcome: 16,
            actor: 23,
            source_ip: 18,
        },
        &[],
    );
}

#[test]
fn okta_system_log() {
    assert_coverage(
        "okta_system_log.jsonl",
        Format::Okta,
        Coverage {
            records: 87,
            refused: 0,
            no_event: 0,
            events: 87,
            vendor_time: 65,
            action: 87,
            outcome: 51,
            actor: 78,
            source_ip: 56,
        },
        &[],
    );
}

#[test]
fn google_workspace_activity() {
    assert_coverage(
        "google_workspace_activity.jsonl",
        Format::GoogleWorkspace,
        Coverage {
            records: 105,
            refused: 0,
            no_event: 0,
            events: 105,
            vendor_time: 61,
            action: 98,
            outcome: 10,
            actor: 95,
            source_ip: 53,
        },
        &[],
    );
}

#[test]
fn google_workspace_reports() {
    assert_coverage(
        "google_workspace_reports.jsonl",
        Format::GoogleWorkspace,
        Coverage {
            records: 18,
            refused: 0,
            no_event: 0,
            events: 18,
            vendor_time: 4,
            action: 18,
            outcome: 0,
            actor: 18,
            source_ip: 3,
        },
        &[],
    );
}

#[test]
fn salesforce() {
    assert_coverage(
        "salesforce.jsonl",
        Format::Salesforce,
        Coverage {
            records: 21,
            refused: 0,
            no_event: 0,
            events: 21,
            vendor_time: 21,
            action: 21,
            outcome: 9,
            actor: 21,
            source_ip: 21,
        },
        &[],
    );
}

#[test]
fn box_events() {
    assert_coverage(
        "box.jsonl",
        Format::Box,
        Coverage {
            records: 20,
            refused: 0,
            no_event: 0,
            events: 20,
            vendor_time: 0,
            action: 20,
            outcome: 3,
            actor: 19,
            source_ip: 2,
        },
        &[],
    );
}

#[test]
fn dropbox() {
    assert_coverage(
        "dropbox.jsonl",
        Format::Dropbox,
        Coverage {
            records: 14,
            refused: 0,
            no_event: 0,
            events: 14,
            vendor_time: 8,
            action: 14,
            outcome: 0,
            actor: 14,
            source_ip: 12,
        },
        &[],
    );
}

#[test]
fn aws_s3_access() {
    assert_coverage(
        "aws_s3_access.jsonl",
        Format::AwsS3Access,
        Coverage {
            records: 16,
            refused: 0,
            no_event: 0,
            events: 16,
            vendor_time: 11,
            action: 11,
            outcome: 10,
            actor: 10,
            source_ip: 13,
        },
        &[],
    );
}

#[test]
fn azure_activity() {
    assert_coverage(
        "azure_activity.jsonl",
        Format::AzureActivity,
        Coverage {
            records: 212,
            refused: 0,
            no_event: 0,
            events: 212,
            vendor_time: 212,
            action: 212,
            outcome: 210,
            actor: 17,
            source_ip: 212,
        },
        &[],
    );
}
