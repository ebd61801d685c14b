use super::*;
use crate::normalise::samples::{
    assert_time_from_ingest, entity_keys, get, normalised, records, run_file, s, set_path,
};
use pipectl_core::detect::sigma::hit::document_id;
use pipectl_core::json::{from_str, to_string};

/// The lines of dropbox.jsonl without `timestamp`: fixtures cut down to a few fields.
const WITHOUT_TIME: &[usize] = &[6, 7, 8, 9, 10, 11];

fn sample(line: usize) -> Value {
    normalised("dropbox.jsonl", line, normalise)
}

#[test]
fn every_sample_record_normalises_those_without_a_time_at_the_time_received() {
    {
        let run = run_file(
            "dropbox.jsonl",
            |_| {},
            |r| normalise(r).map(|e| vec![e]),
            &["dropbox.team_log"],
            "dropbox",
            &[],
        );
        assert!(run.refused.is_empty(), "{:?}", run.refused);
        assert_eq!(run.events.len(), 14);
        for (line, e) in &run.events {
            if WITHOUT_TIME.contains(line) {
                assert_time_from_ingest(e);
            } else {
                assert_eq!(get(e, "tags"), None, "line {line}");
            }
            assert!(
                entity_keys(e)
                    .first()
                    .is_some_and(|k| k.starts_with("user:")),
                "line {line}"
            );
            assert!(get(e, "event.category").is_some(), "line {line}");
        }
    }
}

#[test]
fn sharing_with_a_non_team_member() {
    let e = sample(1);
    assert_eq!(s(&e, "@timestamp"), Some("2023-04-18T22:31:03Z"));
    assert_eq!(s(&e, "event.action"), Some("shared_content_add_member"));
    assert_eq!(
        s(&e, "message"),
        Some("Added users and/or groups to shared file/folder")
    );
    assert_eq!(s(&e, "user.email"), Some("alice.bob@company.com"));
    assert_eq!(
        s(&e, "user.id"),
        Some("dbmid:AADSERs2cAsByYt8yQEDU4_qdNQiSdxgCl8")
    );
    // The context is the actor: the participant is the one acted on.
    assert_eq!(s(&e, "user.target.email"), Some("david.davidson@david.co"));
    assert_eq!(s(&e, "source.ip"), Some("1.2.3.4"));
    assert_eq!(s(&e, "source.geo.city_name"), Some("Austin"));
    assert_eq!(s(&e, "source.geo.region_name"), Some("Texas"));
    assert_eq!(s(&e, "source.geo.country_iso_code"), Some("US"));
    assert_eq!(s(&e, "file.path"), Some("/pathtest/paper1.paper"));
    assert_eq!(s(&e, "file.name"), Some("paper1.paper"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["file"]"#);
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["creation"]"#);
}

#[test]
fn admin_signing_in_as_a_member() {
    let e = sample(2);
    assert_eq!(s(&e, "user.email"), Some("adminuser@company.com"));
    assert_eq!(s(&e, "user.target.email"), Some("alice.bob@company.com"));
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["authentication"]"#
    );
    assert_eq!(
        to_string(get(&e, "related.user").unwrap()),
        r#"["adminuser@company.com","alice.bob@company.com"]"#
    );
}

#[test]
fn linked_app_is_the_service() {
    let e = sample(3);
    assert_eq!(s(&e, "service.name"), Some("dropbox-app-name"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["iam"]"#);
}

#[test]
fn cut_down_records_take_the_category_and_name_from_the_tag_and_path() {
    let (_, mut record) = records("dropbox.jsonl").remove(7);
    set_path(&mut record, "timestamp", Value::from("2026-03-04 10:11:12"));
    let e = normalise(record).unwrap();
    assert_eq!(s(&e, "event.action"), Some("file_download"));
    assert_eq!(s(&e, "file.name"), Some("report.pdf"));
    assert_eq!(s(&e, "file.extension"), Some("pdf"));
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["access"]"#);
}

#[test]
fn api_spelling_failed_login_app_actor_and_the_id() {
    let record = r#"{"timestamp":"2026-03-04T10:11:12Z",
        "event_category":{".tag":"logins"},
        "event_type":{".tag":"login_fail","description":"Failed to sign in"},
        "actor":{".tag":"app","app":{".tag":"team_linked_app","app_id":"dbaid:1","display_name":"Sync Tool"}},
        "origin":{"geo_location":{"ip_address":"203.0.113.5","country":"ro"}},
        "details":{".tag":"login_fail_details","login_method":{".tag":"password"}}}"#;
    let e = normalise(from_str(record).unwrap()).unwrap();
    assert_eq!(s(&e, "event.action"), Some("login_fail"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "service.id"), Some("dbaid:1"));
    assert_eq!(s(&e, "source.geo.country_iso_code"), Some("RO"));
    assert_eq!(entity_keys(&e), ["service_principal:dbaid:1"]);
    let again = normalise(from_str(record).unwrap()).unwrap();
    assert_eq!(s(&e, "event.id"), s(&again, "event.id"));
    assert_eq!(
        s(&e, "event.id"),
        Some(
            document_id(&[
                "event",
                "dropbox.team_log",
                &to_string(&from_str(record).unwrap())
            ])
            .as_str()
        )
    );
}

#[test]
fn keys_in_another_case() {
    let e = normalise(
        from_str(
            r#"{"Timestamp":"2026-03-04 10:11:12","Event_Type":{"_TAG":"file_download"},
            "Actor":{"User":{"Email":"Zed@Acme.Example"}},
            "Context":{"_tag":"team_member","email":"zed@acme.example"},
            "Origin":{"Geo_Location":{"Ip_Address":"203.0.113.6"}}}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&e, "@timestamp"), Some("2026-03-04T10:11:12Z"));
    assert_eq!(s(&e, "event.action"), Some("file_download"));
    assert_eq!(s(&e, "user.email"), Some("zed@acme.example"));
    // The context is the actor, in another case: no target.
    assert_eq!(get(&e, "user.target"), None);
    assert_eq!(s(&e, "source.ip"), Some("203.0.113.6"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["file"]"#);
}

#[test]
fn refusals_say_why() {
    assert_time_from_ingest(
        &normalise(from_str(r#"{"event_type":{"_tag":"file_delete"}}"#).unwrap()).unwrap(),
    );
    let err = |json: &str| normalise(from_str(json).unwrap()).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"timestamp":"2026-03-04 10:11:12","event_type":{"description":"x"}}"#),
        "dropbox: no `event_type` tag (`.tag`/`_tag`): not a Dropbox team log record"
    );
}
