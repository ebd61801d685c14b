use super::*;
use crate::normalise::samples::{
    assert_time_from_ingest, entity_keys, get, records, run_file, s, set_path, SampleRun,
};
use pipectl_core::detect::sigma::hit::document_id;
use pipectl_core::json::{from_str, to_string};

fn run(complete: bool) -> SampleRun {
    run_file(
        "box.jsonl",
        |r| {
            if complete {
                set_path(r, "created_at", Value::from("2026-03-04T10:11:12-08:00"));
            }
        },
        |r| normalise(r).map(|e| vec![e]),
        &["box.events"],
        "box",
        &[],
    )
}

/// A sample line, given the time every record of the sample lacks.
fn sample(line: usize) -> Value {
    let (_, mut record) = records("box.jsonl").remove(line - 1);
    set_path(
        &mut record,
        "created_at",
        Value::from("2026-03-04T10:11:12-08:00"),
    );
    normalise(record).unwrap()
}

#[test]
fn the_sample_records_have_no_time_and_take_the_time_received() {
    // Every record of box.jsonl is a fixture cut down to a few fields, without
    // `created_at`: normalised at the time received, and tagged so.
    let run = run(false);
    assert!(run.refused.is_empty(), "{:?}", run.refused);
    assert_eq!(run.events.len(), 20);
    for (_, e) in &run.events {
        assert_time_from_ingest(e);
    }
}

#[test]
fn given_a_time_every_sample_record_normalises_with_its_actor() {
    let run = run(true);
    assert!(run.refused.is_empty(), "{:?}", run.refused);
    assert_eq!(run.events.len(), 20);
    for (line, e) in &run.events {
        assert_eq!(s(e, "@timestamp"), Some("2026-03-04T18:11:12Z"));
        let record = get(e, "box.events").unwrap();
        if let Some(login) = text(record, "created_by.login") {
            assert_eq!(entity_keys(e), [format!("user:{login}")], "line {line}");
        }
        assert_eq!(s(e, "source.ip"), text(record, "ip_address"), "line {line}");
    }
}

#[test]
fn shield_alert_with_details_as_json_text() {
    let e = sample(4);
    assert_eq!(s(&e, "event.action"), Some("SHIELD_ALERT"));
    assert_eq!(
        get(&e, "event.risk_score").and_then(Value::as_f64),
        Some(77.0)
    );
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["intrusion_detection"]"#
    );
    assert_eq!(s(&e, "user.email"), Some("bob@example"));
    assert_eq!(s(&e, "user.full_name"), Some("Bob Cat"));
    assert_eq!(s(&e, "user.target.name"), Some("bob@example"));
    // The record keeps `additional_details` as it came: text.
    assert!(s(&e, "box.events.additional_details").is_some_and(|d| d.contains("risk_score")));
}

#[test]
fn file_marked_malicious_and_a_numeric_actor_id() {
    let e = sample(8);
    assert_eq!(s(&e, "file.name"), Some("bad_file.pdf"));
    assert_eq!(s(&e, "file.owner"), Some("cat@example"));
    assert_eq!(s(&e, "file.directory"), Some("Parent_Folder"));
    assert_eq!(get(&e, "user.target"), None);
    let numeric = sample(9);
    assert_eq!(s(&numeric, "user.id"), Some("12345678"));
    assert_eq!(
        get(&numeric, "event.risk_score").and_then(Value::as_f64),
        Some(100.0)
    );
}

#[test]
fn full_admin_logs_events() {
    let login = normalise(
        from_str(
            r#"{"type":"event","event_id":"f3c1-7a","event_type":"FAILED_LOGIN",
            "created_at":"2026-03-04T10:11:12-08:00","ip_address":"198.51.100.20",
            "created_by":{"type":"user","id":"11446498","name":"Aaron Levie","login":"Aaron@Box.Example"},
            "additional_details":{"service_id":"100","service_name":"Box Sync"}}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&login, "event.outcome"), Some("failure"));
    assert_eq!(s(&login, "user.email"), Some("aaron@box.example"));
    assert_eq!(s(&login, "source.ip"), Some("198.51.100.20"));
    assert_eq!(s(&login, "service.name"), Some("Box Sync"));
    assert_eq!(
        to_string(get(&login, "event.category").unwrap()),
        r#"["authentication"]"#
    );
    assert_eq!(
        s(&login, "event.id"),
        Some(document_id(&["event", "box.events", "f3c1-7a"]).as_str())
    );
    assert_eq!(
        entity_keys(&login),
        ["user:aaron@box.example", "service_principal:100"]
    );

    let invite = normalise(
        from_str(
            r#"{"Event_Id":"e2","Event_Type":"COLLABORATION_INVITE","Created_At":"2026-03-04T10:11:12Z",
            "Created_By":{"login":"ann@acme.example"},
            "Source":{"item_type":"folder","item_name":"Finance","item_id":"9"},
            "Accessible_By":{"type":"user","id":"77","login":"Ext@Other.Example","name":"Ext"}}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&invite, "event.action"), Some("COLLABORATION_INVITE"));
    assert_eq!(s(&invite, "user.target.email"), Some("ext@other.example"));
    assert_eq!(s(&invite, "file.name"), Some("Finance"));
    assert_eq!(
        to_string(get(&invite, "event.category").unwrap()),
        r#"["iam"]"#
    );
    assert_eq!(
        to_string(get(&invite, "event.type").unwrap()),
        r#"["creation"]"#
    );
    assert_eq!(
        to_string(get(&invite, "related.user").unwrap()),
        r#"["ann@acme.example","ext@other.example"]"#
    );
}

#[test]
fn refusals_say_why() {
    assert_time_from_ingest(
        &normalise(from_str(r#"{"type":"event","event_type":"DELETE"}"#).unwrap()).unwrap(),
    );
    let err = |json: &str| normalise(from_str(json).unwrap()).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"created_at":"2026-03-04T10:11:12Z","type":"event"}"#),
        "box: no `event_type`: not a Box event record"
    );
}
