use super::*;
use crate::normalise::samples::{
    assert_time_from_ingest, entity_keys, get, normalised, refused_lines, s,
};
use pipectl_core::json::{from_str, to_string};

/// The sample's lines that are not System Log events: per-user anomaly summaries of
/// an analytics job, which name no `eventType`, mapped as what they are.
const SUMMARIES: &[usize] = &[
    3, 4, 5, 6, 7, 8, 57, 58, 59, 60, 61, 62, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
    80,
];

/// Events without their time: cut-down fixtures without `published` (9–16, 63–64,
/// 66, 86) and events whose time was redacted (50–52).
const WITHOUT_TIME: &[usize] = &[9, 10, 11, 12, 13, 14, 15, 16, 50, 51, 52, 63, 64, 66, 86];

fn sample(line: usize) -> Value {
    normalised("okta_system_log.jsonl", line, normalise)
}

#[test]
fn every_record_of_the_sample_normalises() {
    let refused = refused_lines(
        "okta_system_log.jsonl",
        normalise,
        "eventType",
        "okta.system",
        "okta",
        &[],
        SUMMARIES,
    );
    assert!(refused.is_empty(), "{refused:?}");
    for &line in WITHOUT_TIME {
        assert_time_from_ingest(&sample(line));
    }
}

#[test]
fn session_start() {
    let e = sample(2);
    assert_eq!(s(&e, "@timestamp"), Some("2022-03-22T14:21:53.225Z"));
    assert_eq!(s(&e, "event.action"), Some("user.session.start"));
    assert_eq!(s(&e, "user.email"), Some("homer@springfield.gov"));
    assert_eq!(s(&e, "user.name"), Some("homer@springfield.gov"));
    assert_eq!(s(&e, "user.id"), Some("111111"));
    assert_eq!(s(&e, "user.full_name"), Some("Homer Simpson"));
    assert_eq!(s(&e, "source.ip"), Some("1.1.1.1"));
    assert_eq!(s(&e, "event.outcome"), Some("unknown"));
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["start"]"#);
    assert_eq!(entity_keys(&e), ["user:homer@springfield.gov"]);
}

#[test]
fn failed_session_with_geo_and_network_owner() {
    let e = sample(20);
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "event.reason"), Some("INVALID_CREDENTIALS"));
    assert_eq!(s(&e, "source.ip"), Some("1.3.2.4"));
    assert_eq!(s(&e, "source.geo.country_name"), Some("United States"));
    assert_eq!(s(&e, "source.geo.country_iso_code"), Some("US"));
    assert_eq!(s(&e, "source.geo.region_name"), Some("Ohio"));
    assert_eq!(s(&e, "source.geo.city_name"), Some("Springfield"));
    assert_eq!(
        to_string(get(&e, "source.geo.location").unwrap()),
        r#"{"lat":20.0,"lon":-25.0}"#
    );
    assert_eq!(
        get(&e, "source.as.number").and_then(Value::as_i64),
        Some(701)
    );
    assert_eq!(s(&e, "source.as.organization.name"), Some("verizon"));
    assert_eq!(s(&e, "source.domain"), Some("verizon.net"));
    assert_eq!(
        s(&e, "user.target.email"),
        Some("peter.griffin@company.com")
    );
    assert_eq!(s(&e, "user.target.id"), Some("0002222AAAA"));
    assert_eq!(
        s(&e, "event.id"),
        Some(
            pipectl_core::detect::sigma::hit::document_id(&["event", "okta.system", "AbC-123-XyZ"])
                .as_str()
        )
    );
}

#[test]
fn an_app_membership_names_the_app_as_the_service() {
    let e = sample(45);
    assert_eq!(s(&e, "service.name"), Some("Application2"));
    assert_eq!(s(&e, "service.id"), Some("16442ew83428795"));
    assert_eq!(s(&e, "source.geo.country_iso_code"), Some("IS"));
    assert_eq!(get(&e, "source.domain"), None);
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["iam"]"#);
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["info"]"#);
    assert_eq!(
        entity_keys(&e),
        [
            "user:eric.montgomery@email.com",
            "service_principal:16442ew83428795"
        ]
    );
}

#[test]
fn a_public_client_app_acting_is_a_service_not_a_user() {
    let e = sample(24);
    assert_eq!(get(&e, "user.name"), None);
    assert_eq!(s(&e, "service.id"), Some("okta.1234."));
    assert_eq!(s(&e, "user.target.id"), Some("abcd123"));
    assert_eq!(entity_keys(&e), ["service_principal:okta.1234."]);
}

#[test]
fn single_sign_on_to_a_new_app() {
    let e = normalise(
        from_str(
            r#"{"uuid":"u-1","published":"2026-05-04T08:00:00.000Z","eventType":"user.authentication.sso",
            "actor":{"id":"00u1","type":"User","alternateId":"Mia.Wong@Acme.Example","displayName":"Mia Wong"},
            "client":{"ipAddress":"203.0.113.10","geographicalContext":{"country":"Romania","city":"Cluj-Napoca"}},
            "outcome":{"result":"SUCCESS"},
            "target":[{"id":"0oa9","type":"AppInstance","alternateId":"Dropbox Business","displayName":"Dropbox Business"},
                      {"id":"0ua9","type":"AppUser","alternateId":"mia"}]}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&e, "service.name"), Some("Dropbox Business"));
    assert_eq!(s(&e, "user.email"), Some("mia.wong@acme.example"));
    assert_eq!(s(&e, "source.geo.country_iso_code"), Some("RO"));
    assert_eq!(s(&e, "source.geo.city_name"), Some("Cluj-Napoca"));
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(
        entity_keys(&e),
        ["user:mia.wong@acme.example", "service_principal:0oa9"]
    );
}

#[test]
fn refusals_say_why() {
    // A record flattened by a collector, without its time: the time received, and
    // its actor, address and result.
    let e = normalise(
        from_str(
            r#"{"eventType":"system.api_token.create","sourceIP":"203.0.113.50","actorId":"Admin@Company.example","actorName":"Admin User","result":"SUCCESS"}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_time_from_ingest(&e);
    assert_eq!(s(&e, "source.ip"), Some("203.0.113.50"));
    assert_eq!(s(&e, "user.email"), Some("admin@company.example"));
    assert_eq!(s(&e, "user.full_name"), Some("Admin User"));
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_time_from_ingest(
        &normalise(from_str(r#"{"published":"yesterday","eventType":"x"}"#).unwrap()).unwrap(),
    );
    let err = |json: &str| normalise(from_str(json).unwrap()).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"user_email":"a@x.example","score":40.0}"#),
        "okta: no `eventType`: not an Okta System Log record"
    );
}

#[test]
fn anomaly_summaries_are_alerts_on_their_user() {
    for &line in SUMMARIES {
        let e = sample(line);
        assert_eq!(s(&e, "event.dataset"), Some("okta.anomaly"), "line {line}");
        assert!(
            s(&e, "event.action").is_some_and(|a| a.starts_with("okta-anomaly-")),
            "line {line}"
        );
        assert!(
            matches!(s(&e, "event.kind"), Some("alert" | "metric")),
            "line {line}"
        );
    }
    let e = sample(3);
    assert_eq!(s(&e, "event.action"), Some("okta-anomaly-account-activity"));
    assert_eq!(s(&e, "event.kind"), Some("alert"));
    assert_eq!(s(&e, "user.email"), Some("compromised.user@company.com"));
    assert_eq!(entity_keys(&e), ["user:compromised.user@company.com"]);
    assert!(get(&e, "event.risk_score").is_some());
    assert_eq!(
        s(&sample(57), "event.action"),
        Some("okta-anomaly-policy-weakening")
    );
    assert_eq!(
        s(&sample(67), "event.action"),
        Some("okta-anomaly-credential-extraction")
    );
    assert_eq!(
        s(&sample(75), "event.action"),
        Some("okta-anomaly-credential-access-hours")
    );
    // A row with an empty admin address names no one.
    assert_eq!(get(&sample(61), "user"), None);
}

#[test]
fn country_codes() {
    assert_eq!(country_iso_code("united kingdom"), Some("GB"));
    assert_eq!(country_iso_code("Atlantis"), None);
}
