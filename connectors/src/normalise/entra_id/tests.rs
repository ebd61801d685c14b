use super::*;
use crate::normalise::samples::{
    assert_time_from_ingest, entity_keys, get, normalised, run_file, s,
};
use pipectl_core::detect::sigma::hit::document_id;
use pipectl_core::json::{from_str, to_string};

fn sample(line: usize) -> Value {
    normalised("azure_signin.jsonl", line, normalise)
}

fn graph(json: &str) -> Value {
    normalise(from_str(json).unwrap()).unwrap()
}

#[test]
fn every_record_of_the_sample_normalises_with_its_actor() {
    let run = run_file(
        "azure_signin.jsonl",
        |_| {},
        |r| normalise(r).map(|e| vec![e]),
        &["azure.signinlogs", "azure.auditlogs"],
        "azure",
        &[],
    );
    assert!(run.refused.is_empty(), "{:?}", run.refused);
    assert_eq!(run.events.len(), 46);
    for (line, e) in &run.events {
        assert!(!entity_keys(e).is_empty(), "line {line}: no actor");
        let sign_in = s(e, "event.dataset") == Some("azure.signinlogs");
        assert_eq!(sign_in, s(e, "event.action") == Some("Sign-in activity"));
        if sign_in {
            assert!(get(e, "source.ip").is_some(), "line {line}: no address");
        }
    }
    let sign_ins = run
        .events
        .iter()
        .filter(|(_, e)| s(e, "event.dataset") == Some("azure.signinlogs"))
        .count();
    assert_eq!(sign_ins, 25);
}

#[test]
fn failed_sign_in_with_location() {
    let e = sample(9);
    assert_eq!(s(&e, "@timestamp"), Some("2025-01-15T08:15:23.456Z"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "error.code"), Some("50053"));
    assert!(s(&e, "event.reason").is_some_and(|r| r.contains("locked")));
    assert_eq!(s(&e, "user.email"), Some("boromir@lotr.com"));
    assert_eq!(s(&e, "source.ip"), Some("4.4.4.4"));
    assert_eq!(s(&e, "source.geo.country_iso_code"), Some("RU"));
    // Entra writes `Unknown` for what it could not place.
    assert_eq!(get(&e, "source.geo.city_name"), None);
    assert_eq!(
        get(&e, "source.as.number").and_then(Value::as_i64),
        Some(12345)
    );
    assert_eq!(s(&e, "service.name"), Some("Microsoft Office"));
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["authentication"]"#
    );
    assert_eq!(s(&e, "azure.signinlogs.properties.status.errorCode"), None);
    assert!(get(&e, "azure.signinlogs.properties.status").is_some());
}

#[test]
fn lowercased_service_principal_sign_in_takes_the_sign_in_time() {
    let e = sample(12);
    // `properties.createdDateTime`, not the envelope's later `time`.
    assert_eq!(s(&e, "@timestamp"), Some("2023-07-26T22:58:30.983Z"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "error.code"), Some("7000215"));
    assert_eq!(
        s(&e, "cloud.account.id"),
        Some("a2aa49aa-2c0c-49d2-af87-f402c421df0b")
    );
    assert_eq!(get(&e, "user.name"), None);
    assert_eq!(s(&e, "service.name"), Some("some-service-principal"));
    assert_eq!(
        to_string(get(&e, "source.geo.location").unwrap()),
        r#"{"lat":51.35555555555555,"lon":-5.244444444444444}"#
    );
    assert_eq!(
        entity_keys(&e),
        ["service_principal:cfceb902-8fab-4f8c-88ba-374d3c975c3a"]
    );
    assert_eq!(
        s(&e, "event.id"),
        Some(
            document_id(&[
                "event",
                "azure.signinlogs",
                "36658c78-02d9-4d8f-84ee-5ca4a3fdefef"
            ])
            .as_str()
        )
    );
}

#[test]
fn diagnostic_result_type_gives_the_outcome_without_a_status() {
    let e = sample(3);
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(s(&e, "host.id"), Some("device-attacker-456"));
    assert_eq!(s(&e, "user_agent.name"), Some("Chrome 120"));
    assert_eq!(s(&e, "user_agent.os.name"), Some("Windows 10"));
}

#[test]
fn directory_audit_in_the_diagnostic_shape() {
    let e = sample(8);
    assert_eq!(s(&e, "event.dataset"), Some("azure.auditlogs"));
    assert_eq!(s(&e, "event.action"), Some("Remove role assignment"));
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(s(&e, "user.email"), Some("secadmin@company.com"));
    assert_eq!(s(&e, "user.target.email"), Some("former@company.com"));
    assert_eq!(s(&e, "user.target.id"), Some("user-former-888"));
    assert_eq!(
        to_string(get(&e, "related.user").unwrap()),
        r#"["secadmin@company.com","former@company.com"]"#
    );
    // A `Policy` record is a configuration change.
    let policy = sample(1);
    assert_eq!(
        to_string(get(&policy, "event.category").unwrap()),
        r#"["configuration"]"#
    );
    assert_eq!(s(&policy, "event.provider"), Some("Core Directory"));
}

#[test]
fn graph_sign_in() {
    let e = graph(
        r#"{"id":"66ea54eb-6301-4ee5-be62-ff5a759b0100","createdDateTime":"2026-03-04T10:00:00Z",
        "userDisplayName":"Mia Wong","userPrincipalName":"Mia.Wong@Acme.Example","userId":"u-1",
        "appId":"de8bc8b5-d9f9-48b1-a8ad-b748da725064","appDisplayName":"Graph Explorer",
        "ipAddress":"203.0.113.7","clientAppUsed":"Browser","conditionalAccessStatus":"success",
        "riskLevelDuringSignIn":"high","riskEventTypes_v2":["unfamiliarFeatures"],
        "status":{"errorCode":0,"failureReason":"Other."},
        "deviceDetail":{"deviceId":"","operatingSystem":"MacOs","browser":"Rich Client 4.0"},
        "location":{"city":"Cluj-Napoca","state":"Cluj","countryOrRegion":"RO",
                    "geoCoordinates":{"latitude":46.77,"longitude":23.59}}}"#,
    );
    assert_eq!(s(&e, "event.dataset"), Some("azure.signinlogs"));
    assert_eq!(s(&e, "event.action"), Some("Sign-in activity"));
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(get(&e, "event.reason"), None);
    assert_eq!(s(&e, "user.email"), Some("mia.wong@acme.example"));
    assert_eq!(s(&e, "user.full_name"), Some("Mia Wong"));
    assert_eq!(s(&e, "source.geo.country_iso_code"), Some("RO"));
    assert_eq!(s(&e, "source.geo.region_name"), Some("Cluj"));
    assert_eq!(get(&e, "host.id"), None);
    assert_eq!(
        s(&e, "azure.signinlogs.riskLevelDuringSignIn"),
        Some("high")
    );
    assert_eq!(
        entity_keys(&e),
        [
            "user:mia.wong@acme.example",
            "service_principal:de8bc8b5-d9f9-48b1-a8ad-b748da725064"
        ]
    );
    assert_eq!(
        s(&e, "event.id"),
        Some(
            document_id(&[
                "event",
                "azure.signinlogs",
                "66ea54eb-6301-4ee5-be62-ff5a759b0100"
            ])
            .as_str()
        )
    );

    let failed = graph(
        r#"{"createdDateTime":"2026-03-04T10:00:00Z","userPrincipalName":"x@acme.example",
        "status":{"errorCode":"50126","failureReason":"Invalid username or password."}}"#,
    );
    assert_eq!(s(&failed, "event.outcome"), Some("failure"));
    assert_eq!(s(&failed, "error.code"), Some("50126"));
    assert_eq!(
        s(&failed, "event.reason"),
        Some("Invalid username or password.")
    );
}

#[test]
fn graph_directory_audit_by_an_app_with_lowercased_keys() {
    let e = graph(
        r#"{"id":"Directory_abc","activitydatetime":"2026-03-04T11:00:00.1234567Z",
        "activitydisplayname":"Delete user","category":"UserManagement","result":"failure",
        "resultreason":"Insufficient privileges","operationtype":"Delete","loggedbyservice":"Core Directory",
        "initiatedby":{"app":{"appId":"a-1","displayName":"Provisioner","servicePrincipalId":"sp-1"}},
        "targetresources":[{"id":"g-1","displayName":"Finance","type":"Group"},
                           {"id":"u-9","userPrincipalName":"Lee@Acme.Example","type":"User"}]}"#,
    );
    assert_eq!(s(&e, "event.dataset"), Some("azure.auditlogs"));
    assert_eq!(s(&e, "@timestamp"), Some("2026-03-04T11:00:00.123Z"));
    assert_eq!(s(&e, "event.action"), Some("Delete user"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "event.reason"), Some("Insufficient privileges"));
    assert_eq!(s(&e, "service.id"), Some("a-1"));
    assert_eq!(s(&e, "service.name"), Some("Provisioner"));
    assert_eq!(s(&e, "user.target.email"), Some("lee@acme.example"));
    assert_eq!(s(&e, "user.target.id"), Some("u-9"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["iam"]"#);
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["deletion"]"#);
    assert_eq!(entity_keys(&e), ["service_principal:a-1"]);
}

#[test]
fn refusals_say_why() {
    let err = |json: &str| normalise(from_str(json).unwrap()).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"userPrincipalName":"a@b.example","ipAddress":"1.2.3.4"}"#),
        "entra_id: no `properties`, `createdDateTime` or `activityDateTime`: not an Entra ID sign-in or directory audit record"
    );
    for json in [
        r#"{"category":"SignInLogs","properties":{"userId":"u"}}"#,
        r#"{"createdDateTime":"soon"}"#,
    ] {
        assert_time_from_ingest(&normalise(from_str(json).unwrap()).unwrap());
    }
    assert_eq!(
        err(r#"{"activityDateTime":"2026-03-04T11:00:00Z","result":"success"}"#),
        "entra_id: no `activityDisplayName` nor `operationName`: not an Entra ID directory audit record"
    );
    assert_eq!(
        err("[1]"),
        "entra_id: the record is an array, not an object"
    );
}
