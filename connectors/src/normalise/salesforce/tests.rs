use super::*;
use crate::normalise::samples::{
    assert_time_from_ingest, entity_keys, get, normalised, run_file, s,
};
use pipectl_core::detect::sigma::hit::document_id;
use pipectl_core::json::{from_str, to_string};

fn sample(line: usize) -> Value {
    normalised("salesforce.jsonl", line, normalise)
}

#[test]
fn every_record_of_the_sample_normalises_with_its_user_and_address() {
    let run = run_file(
        "salesforce.jsonl",
        |_| {},
        |r| normalise(r).map(|e| vec![e]),
        &["salesforce.eventlog"],
        "salesforce",
        &[],
    );
    assert!(run.refused.is_empty(), "{:?}", run.refused);
    assert_eq!(run.events.len(), 21);
    for (line, e) in &run.events {
        assert!(get(e, "user.id").is_some(), "line {line}");
        assert!(get(e, "source.ip").is_some(), "line {line}");
        assert_eq!(
            s(e, "event.action"),
            s(e, "salesforce.eventlog.EVENT_TYPE"),
            "line {line}"
        );
    }
}

#[test]
fn event_log_file_login() {
    let e = sample(1);
    assert_eq!(s(&e, "@timestamp"), Some("2023-05-04T21:36:47.569Z"));
    assert_eq!(s(&e, "event.action"), Some("Login"));
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(s(&e, "user.email"), Some("user@yourcompany.io"));
    assert_eq!(s(&e, "user.id"), Some("0055f00000CyENtAAN"));
    // SOURCE_IP, where the login came from, over the CLIENT_IP column.
    assert_eq!(s(&e, "source.ip"), Some("12.12.12.12"));
    assert_eq!(s(&e, "url.path"), Some("/index.jsp"));
    assert!(s(&e, "user_agent.original").is_some_and(|ua| ua.starts_with("Mozilla/5.0")));
    assert_eq!(s(&e, "cloud.account.id"), Some("00D5f000005uVo7"));
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["authentication"]"#
    );
    assert_eq!(
        s(&e, "event.id"),
        Some(
            document_id(&[
                "event",
                "salesforce.eventlog",
                "4pkDPOtDbNNyUOG-mNMVJ-",
                "Login",
                "2023-05-04 21:36:47.569"
            ])
            .as_str()
        )
    );
}

#[test]
fn api_anomaly_with_username_and_failed_token_refresh_with_app() {
    let anomaly = sample(3);
    assert_eq!(
        s(&anomaly, "user.email"),
        Some("suspicious.user@company.com")
    );
    assert_eq!(
        to_string(get(&anomaly, "event.category").unwrap()),
        r#"["intrusion_detection"]"#
    );
    let refresh = sample(13);
    assert_eq!(s(&refresh, "event.outcome"), Some("failure"));
    assert_eq!(s(&refresh, "service.name"), Some("SuspiciousIntegration"));
    assert_eq!(
        entity_keys(&refresh),
        [
            "user:api.user@company.com",
            "service_principal:0H05f000000XzErFFO"
        ]
    );
}

#[test]
fn compact_timestamps_failed_logins_and_real_time_events() {
    let e = normalise(
        from_str(
            r#"{"EVENT_TYPE":"Login","TIMESTAMP":"20260304101112.345","REQUEST_ID":"r1",
            "USER_NAME":"Kim@Acme.Example","LOGIN_STATUS":"LOGIN_ERROR_INVALID_PASSWORD",
            "SOURCE_IP":"Salesforce.com IP","CLIENT_IP":"198.51.100.3","REQUEST_STATUS":"F"}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&e, "@timestamp"), Some("2026-03-04T10:11:12.345Z"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "event.reason"), Some("LOGIN_ERROR_INVALID_PASSWORD"));
    assert_eq!(s(&e, "source.ip"), Some("198.51.100.3"));
    assert_eq!(s(&e, "user.email"), Some("kim@acme.example"));

    let stream = normalise(
        from_str(
            r#"{"attributes":{"type":"LoginEvent"},"EventDate":"2026-03-04T10:11:12.000+0000",
            "EventIdentifier":"ev-1","Username":"kim@acme.example","UserId":"005x","SourceIp":"203.0.113.8",
            "Status":"Success"}"#,
        )
        .unwrap(),
    );
    // `+0000` is no RFC 3339 offset: the real-time API's form must still parse.
    let stream = stream.unwrap();
    assert_eq!(s(&stream, "event.action"), Some("LoginEvent"));
    assert_eq!(s(&stream, "@timestamp"), Some("2026-03-04T10:11:12Z"));
    assert_eq!(s(&stream, "user.id"), Some("005x"));
    assert_eq!(s(&stream, "source.ip"), Some("203.0.113.8"));
    assert_eq!(s(&stream, "event.outcome"), Some("success"));
    assert_eq!(
        s(&stream, "event.id"),
        Some(document_id(&["event", "salesforce.eventlog", "ev-1"]).as_str())
    );
}

#[test]
fn lowercased_columns() {
    let e = normalise(
        from_str(
            r#"{"event_type":"URI","timestamp_derived":"2026-03-04T10:11:12.345Z",
            "user_id_derived":"005000000000001AAA","uri":"/apex/Page?x=1","source_ip":"203.0.113.9"}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&e, "event.action"), Some("URI"));
    assert_eq!(s(&e, "user.id"), Some("005000000000001AAA"));
    assert_eq!(s(&e, "url.path"), Some("/apex/Page"));
    assert_eq!(s(&e, "source.ip"), Some("203.0.113.9"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["web"]"#);
}

#[test]
fn refusals_say_why() {
    for json in [
        r#"{"EVENT_TYPE":"Login","USER_ID":"005"}"#,
        r#"{"TIMESTAMP":"20261304101112","EVENT_TYPE":"Login"}"#,
    ] {
        assert_time_from_ingest(&normalise(from_str(json).unwrap()).unwrap());
    }
    let err = |json: &str| normalise(from_str(json).unwrap()).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"TIMESTAMP":"2026-03-04 10:11:12"}"#),
        "salesforce: no `EVENT_TYPE` nor `attributes.type`: not a Salesforce event log record"
    );
}
