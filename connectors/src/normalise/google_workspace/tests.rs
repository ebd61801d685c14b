use super::*;
use crate::normalise::samples::{
    assert_time_from_ingest, entity_keys, get, records, run_file, s, set_path, SampleRun,
};
use crate::normalise::{Format, Normaliser, Received};
use pipectl_core::detect::sigma::hit::document_id;
use pipectl_core::json::{from_str, to_string};

const DATASETS: &[&str] = &["google_workspace.activity"];

/// The lines of google_workspace_activity.jsonl without `id.time`: cut-down fixtures
/// of a detection tool's tests.
const ACTIVITY_WITHOUT_TIME: &[usize] = &[
    14, 15, 16, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47,
    48, 60, 61, 62, 63, 64, 65, 66, 67, 72, 73, 74, 75, 76, 87, 88, 89, 90, 91, 92,
];

/// Of those, the ones that name no event either (`rules` alerts, bare stubs): an
/// event each, without an action.
const ACTIVITY_WITHOUT_NAME: &[usize] = &[34, 35, 72, 73, 74, 75, 76];

fn one(record: &str) -> Value {
    let mut events = normalise_all(&from_str(record).unwrap(), Received::now()).unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0)
}

fn run(file: &str, complete: bool) -> SampleRun {
    run_file(
        file,
        |r| {
            if complete && text(r, "id.time").is_none() {
                set_path(r, "id.time", Value::from("2026-01-01T00:00:00Z"));
            }
        },
        |r| normalise_all(&r, Received::now()),
        DATASETS,
        "google_workspace",
        &[],
    )
}

#[test]
fn every_sample_record_normalises_those_without_a_time_at_the_time_received() {
    let activity = run("google_workspace_activity.jsonl", false);
    assert!(activity.refused.is_empty(), "{:?}", activity.refused);
    assert_eq!(activity.events.len(), 105);
    for (line, e) in &activity.events {
        if ACTIVITY_WITHOUT_TIME.contains(line) {
            assert_time_from_ingest(e);
        } else {
            assert_eq!(get(e, "tags"), None, "line {line}");
        }
        assert_eq!(
            get(e, "event.action").is_none(),
            ACTIVITY_WITHOUT_NAME.contains(line),
            "line {line}"
        );
    }
    let reports = run("google_workspace_reports.jsonl", false);
    assert!(reports.refused.is_empty(), "{:?}", reports.refused);
    assert_eq!(reports.events.len(), 18);
}

#[test]
fn every_sample_record_names_its_actor_address_and_application() {
    let activity = run("google_workspace_activity.jsonl", true);
    let reports = run("google_workspace_reports.jsonl", true);
    for (line, e) in activity.events.iter().chain(&reports.events) {
        // The namespace holds the record as it came (flattened records are one event).
        let record = get(e, "google_workspace.activity").cloned().unwrap();
        if let Some(email) = text(&record, "actor.email") {
            assert_eq!(
                entity_keys(e).first().copied(),
                Some(format!("user:{}", email.to_lowercase()).as_str()),
                "line {line}"
            );
        }
        if let Some(ip) = text(&record, "ipAddress") {
            assert_eq!(s(e, "source.ip"), Some(ip), "line {line}");
        }
        assert_eq!(s(e, "event.provider"), text(&record, "id.applicationName"));
    }
}

#[test]
fn drive_share_with_an_outsider() {
    let (_, record) = records("google_workspace_reports.jsonl").remove(0);
    let e = normalise_all(&record, Received::now()).unwrap().remove(0);
    assert_eq!(s(&e, "@timestamp"), Some("2020-09-07T15:50:49.617Z"));
    assert_eq!(s(&e, "event.action"), Some("change_user_access"));
    assert_eq!(s(&e, "user.email"), Some("example@acme.com"));
    assert_eq!(s(&e, "user.target.email"), Some("outside@acme.com"));
    assert_eq!(s(&e, "file.name"), Some("1 Document Title Primary"));
    assert_eq!(s(&e, "cloud.account.id"), Some("C010qxghg"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["file"]"#);
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["change"]"#);
    assert_eq!(
        to_string(get(&e, "related.user").unwrap()),
        r#"["example@acme.com","outside@acme.com"]"#
    );
    assert_eq!(
        to_string(get(&e, "google_workspace.activity").unwrap()),
        to_string(&record)
    );
    assert_eq!(
        s(&e, "event.id"),
        Some(
            document_id(&[
                "event",
                "google_workspace.activity",
                "drive",
                "2020-09-07T15:50:49.617Z",
                "1111111111111111111",
                "change_user_access"
            ])
            .as_str()
        )
    );
}

#[test]
fn oauth_grant_names_the_app() {
    let (_, record) = records("google_workspace_activity.jsonl").remove(67);
    let e = normalise_all(&record, Received::now()).unwrap().remove(0);
    assert_eq!(s(&e, "event.action"), Some("authorize"));
    assert_eq!(s(&e, "service.name"), Some("SuspiciousThirdPartyApp"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["iam"]"#);
    assert_eq!(
        entity_keys(&e),
        [
            "user:user@example.com",
            "service_principal:123456789012-abcdefghijklmnopqrstuvwxyz123456.apps.googleusercontent.com"
        ]
    );
}

const TWO_SHARES_AND_A_VIEW: &str = r#"{"kind":"admin#reports#activity",
    "id":{"time":"2026-02-03T04:05:06.789Z","uniqueQualifier":"-42","applicationName":"drive","customerId":"C1"},
    "actor":{"callerType":"USER","email":"Ann@Acme.Example","profileId":"p1"},"ipAddress":"198.51.100.9",
    "events":[
      {"type":"acl_change","name":"change_user_access","parameters":[
         {"name":"target_user","value":"Bob@Other.Example"},{"name":"doc_title","value":"Plan"},
         {"name":"new_value","multiValue":["can_edit"]},{"name":"primary_event","boolValue":true}]},
      {"type":"acl_change","name":"change_user_access","parameters":[
         {"name":"target_user","value":"cy@other.example"},{"name":"doc_title","value":"Plan"}]},
      {"type":"access","name":"view","parameters":[{"name":"doc_title","value":"Plan"},
         {"name":"owner","value":"ann@acme.example"}]}]}"#;

#[test]
fn an_activity_of_several_events_is_one_event_each() {
    let events = normalise_all(&from_str(TWO_SHARES_AND_A_VIEW).unwrap(), Received::now()).unwrap();
    let actions: Vec<_> = events.iter().map(|e| s(e, "event.action")).collect();
    assert_eq!(
        actions,
        [
            Some("change_user_access"),
            Some("change_user_access"),
            Some("view")
        ]
    );
    let targets: Vec<_> = events.iter().map(|e| s(e, "user.target.email")).collect();
    assert_eq!(
        targets,
        [Some("bob@other.example"), Some("cy@other.example"), None]
    );
    for e in &events {
        assert_eq!(s(e, "@timestamp"), Some("2026-02-03T04:05:06.789Z"));
        assert_eq!(s(e, "user.email"), Some("ann@acme.example"));
        assert_eq!(s(e, "source.ip"), Some("198.51.100.9"));
        assert_eq!(s(e, "file.name"), Some("Plan"));
        // The activity, narrowed to this event.
        let kept = get(e, "google_workspace.activity.events").and_then(Value::as_array);
        assert_eq!(kept.map(<[Value]>::len), Some(1));
        assert_eq!(
            s(e, "google_workspace.activity.kind"),
            Some("admin#reports#activity")
        );
    }
    assert_eq!(s(&events[2], "file.owner"), Some("ann@acme.example"));
    assert_eq!(
        to_string(get(&events[2], "event.type").unwrap()),
        r#"["access"]"#
    );
    let base = [
        "event",
        "google_workspace.activity",
        "drive",
        "2026-02-03T04:05:06.789Z",
        "-42",
    ];
    let id = |tail: &[&str]| document_id(&[&base[..], tail].concat());
    assert_eq!(
        s(&events[0], "event.id"),
        Some(id(&["change_user_access"]).as_str())
    );
    // A repeated name gets its ordinal, so siblings never overwrite each other.
    assert_eq!(
        s(&events[1], "event.id"),
        Some(id(&["change_user_access", "1"]).as_str())
    );
    assert_eq!(s(&events[2], "event.id"), Some(id(&["view"]).as_str()));
}

#[test]
fn the_normaliser_yields_every_event_of_an_activity_in_order() {
    let mut normaliser = Normaliser::new(Format::GoogleWorkspace);
    let mut event = Value::object();
    set_path(&mut event, "message", Value::from(TWO_SHARES_AND_A_VIEW));
    let mut more = Vec::new();
    assert_eq!(normaliser.apply_all(&mut event, &mut more), Ok(true));
    assert_eq!(s(&event, "event.action"), Some("change_user_access"));
    let rest: Vec<_> = more.iter().map(|e| s(e, "event.action")).collect();
    assert_eq!(rest, [Some("change_user_access"), Some("view")]);
}

#[test]
fn failed_login_with_its_reason_and_lowercased_keys() {
    let e = one(
        r#"{"ID":{"Time":"2026-02-03T04:05:06Z","UniqueQualifier":"7","ApplicationName":"login"},
        "Actor":{"Email":"Dee@Acme.Example"},"IPAddress":"203.0.113.4",
        "Events":[{"Type":"login","Name":"login_failure","Parameters":[
            {"Name":"login_type","Value":"google_password"},
            {"Name":"login_failure_type","Value":"login_failure_invalid_password"}]}]}"#,
    );
    assert_eq!(s(&e, "event.action"), Some("login_failure"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(
        s(&e, "event.reason"),
        Some("login_failure_invalid_password")
    );
    assert_eq!(s(&e, "event.provider"), Some("login"));
    assert_eq!(s(&e, "user.email"), Some("dee@acme.example"));
    assert_eq!(s(&e, "source.ip"), Some("203.0.113.4"));
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["authentication"]"#
    );
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["start"]"#);
    let ok = one(
        r#"{"id":{"time":"2026-02-03T04:05:06Z","applicationName":"login"},
        "actor":{"email":"dee@acme.example"},"events":[{"name":"login_success"}]}"#,
    );
    assert_eq!(s(&ok, "event.outcome"), Some("success"));
}

#[test]
fn activities_without_a_time_or_a_name_and_refusals() {
    let received = Received::from_unix_millis(1_800_000_000_000);
    let all = |json: &str| normalise_all(&from_str(json).unwrap(), received);
    // No time, or one that is no time: the time received, tagged.
    for json in [
        r#"{"id":{"applicationName":"login"},"type":"login","name":"login_success"}"#,
        r#"{"id":{"time":"yesterday"},"name":"x"}"#,
    ] {
        let e = all(json).unwrap().remove(0);
        assert_eq!(s(&e, "@timestamp"), Some("2027-01-15T08:00:00Z"), "{json}");
        assert_eq!(
            to_string(get(&e, "tags").unwrap()),
            r#"["time_from_ingest"]"#
        );
    }
    // An activity's events without a name, or an activity of none, are still its
    // events, without an action.
    let events =
        all(r#"{"id":{"time":"2026-01-01T00:00:00Z"},"events":[{"name":"a"},{"type":"b"}]}"#)
            .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(get(&events[1], "event.action"), None);
    assert_ne!(s(&events[0], "event.id"), s(&events[1], "event.id"));
    for json in [
        r#"{"id":{"time":"2026-01-01T00:00:00Z"},"events":[]}"#,
        r#"{"id":{"applicationName":"rules"},"actor":{"email":"a@x.example"}}"#,
    ] {
        let e = all(json).unwrap().remove(0);
        assert_eq!(get(&e, "event.action"), None, "{json}");
    }
    let err = |json: &str| all(json).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"actor":{"email":"a@x.example"},"events":[{"type":"b"}]}"#),
        "google_workspace: no `id` nor event `name`: not a Google Workspace activity record"
    );
    assert_eq!(
        err(r#"{"id":{"time":"2026-01-01T00:00:00Z"},"events":{}}"#),
        "google_workspace: `events` is not a list"
    );
}
