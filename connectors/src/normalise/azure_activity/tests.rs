use super::*;
use crate::normalise::samples::{entity_keys, get, normalised, records, s};
use pipectl_core::json::{from_str, to_string};

const SAMPLE: &str = "azure_activity.jsonl";

fn sample(line: usize) -> Value {
    normalised(SAMPLE, line, normalise)
}

#[test]
fn every_record_of_the_sample_normalises_with_its_action_and_time() {
    let all = records(SAMPLE);
    assert_eq!(all.len(), 212);
    for (line, record) in all {
        let action = value_text(&record, "operationName").map(str::to_string);
        let e = normalise(record).unwrap_or_else(|err| panic!("line {line}: {err}"));
        assert_eq!(s(&e, "event.action"), action.as_deref(), "line {line}");
        assert_eq!(s(&e, "event.dataset"), Some("azure.activitylogs"));
        assert_eq!(s(&e, "cloud.provider"), Some("azure"));
        assert!(get(&e, "tags").is_none(), "line {line}: no vendor time");
        assert!(get(&e, "azure.activitylogs").is_some());
    }
}

#[test]
fn an_administrative_write_names_subscription_region_and_caller_address() {
    let e = sample(1);
    assert_eq!(s(&e, "@timestamp"), Some("2024-12-17T10:30:00Z"));
    assert_eq!(
        s(&e, "event.action"),
        Some("Microsoft.Insights/actionGroups/delete")
    );
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(
        s(&e, "cloud.account.id"),
        Some("12345678-1234-1234-1234-123456789abc")
    );
    assert_eq!(s(&e, "cloud.region"), Some("eastus"));
    assert_eq!(s(&e, "source.ip"), Some("1.1.1.1"));
    assert_eq!(s(&e, "event.provider"), Some("Microsoft.Insights"));
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["configuration"]"#
    );
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["deletion"]"#);
}

#[test]
fn elevation_of_access_is_iam_by_the_user_of_its_claims() {
    let e = sample(122);
    assert_eq!(
        s(&e, "event.action"),
        Some("Microsoft.Authorization/elevateAccess/action")
    );
    assert_eq!(s(&e, "user.name"), Some("attacker@example.com"));
    assert_eq!(s(&e, "user.email"), Some("attacker@example.com"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["iam"]"#);
    assert_eq!(s(&e, "source.ip"), Some("203.0.113.42"));
    assert!(entity_keys(&e).contains(&"user:attacker@example.com"));
    // A role assignment names the principal that made it.
    let e = sample(119);
    assert_eq!(
        s(&e, "user.id"),
        Some("6b6d44f0-b13a-46a0-bfde-161324d4c34d")
    );
    assert_eq!(s(&e, "cloud.region"), None);
}

#[test]
fn storage_logs_give_the_object_and_never_the_signature() {
    let e = sample(190);
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "error.code"), Some("AuthenticationFailed"));
    assert_eq!(
        s(&e, "url.domain"),
        Some("securedata.blob.core.windows.net")
    );
    assert_eq!(s(&e, "url.path"), Some("/secrets/key.txt"));
    assert_eq!(s(&e, "file.path"), Some("/securedata/secrets/key.txt"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["file"]"#);
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["access"]"#);
    let text = to_string(get(&e, "url").unwrap());
    assert!(!text.contains("EXPIRED_SIG"), "{text}");
    // `ip:port` callers, an outcome from the metric without a status code.
    let e = sample(161);
    assert_eq!(s(&e, "source.ip"), Some("9.9.9.9"));
    assert_eq!(get(&e, "source.port").and_then(Value::as_i64), Some(33333));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    let e = sample(155);
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["deletion"]"#);
    assert!(s(&e, "user_agent.original")
        .unwrap()
        .starts_with("AZURECLI/2.79.0"));
}

#[test]
fn a_virtual_machine_is_named_as_the_host() {
    let e = sample(194);
    assert_eq!(s(&e, "host.name"), Some("prod-vm-01"));
    assert_eq!(s(&e, "cloud.instance.name"), Some("prod-vm-01"));
    assert!(entity_keys(&e).contains(&"host:prod-vm-01"));
}

/// An `EventData` object as the REST API returns it.
const REST: &str = r#"{
  "authorization": {"action": "Microsoft.Network/networkSecurityGroups/securityRules/write", "scope": "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg/securityRules/allow-rdp"},
  "caller": "Mallory@Contoso.com",
  "channels": "Operation",
  "claims": {"appid": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "ipaddr": "198.51.100.7", "http://schemas.microsoft.com/identity/claims/objectidentifier": "0b7a0bd6-0000-4000-8000-000000000001"},
  "correlationId": "c1", "eventDataId": "ed-1",
  "eventName": {"value": "EndRequest", "localizedValue": "End request"},
  "category": {"value": "Administrative", "localizedValue": "Administrative"},
  "httpRequest": {"clientRequestId": "r1", "clientIpAddress": "198.51.100.7", "method": "PUT"},
  "level": "Informational",
  "resourceGroupName": "rg",
  "resourceProviderName": {"value": "Microsoft.Network", "localizedValue": "Microsoft.Network"},
  "resourceId": "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg/securityRules/allow-rdp",
  "operationName": {"value": "Microsoft.Network/networkSecurityGroups/securityRules/write", "localizedValue": "Create or Update Security Rule"},
  "status": {"value": "Failed", "localizedValue": "Failed"},
  "subStatus": {"value": "Forbidden", "localizedValue": "Forbidden"},
  "eventTimestamp": "2026-11-28T08:00:01.1234567Z",
  "submissionTimestamp": "2026-11-28T08:02:00Z",
  "subscriptionId": "sub-1",
  "tenantId": "tenant-1"
}"#;

#[test]
fn rest_event_data() {
    let e = normalise(from_str(REST).unwrap()).unwrap();
    assert_eq!(s(&e, "@timestamp"), Some("2026-11-28T08:00:01.123Z"));
    assert_eq!(
        s(&e, "event.action"),
        Some("Microsoft.Network/networkSecurityGroups/securityRules/write")
    );
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "error.code"), Some("Forbidden"));
    assert_eq!(s(&e, "user.name"), Some("mallory@contoso.com"));
    assert_eq!(
        s(&e, "user.id"),
        Some("0b7a0bd6-0000-4000-8000-000000000001")
    );
    assert_eq!(
        s(&e, "service.id"),
        Some("c44b4083-3bb0-49c1-b47d-974e53cbdf3c")
    );
    assert_eq!(s(&e, "source.ip"), Some("198.51.100.7"));
    assert_eq!(s(&e, "cloud.account.id"), Some("sub-1"));
    assert_eq!(s(&e, "event.provider"), Some("Microsoft.Network"));
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["change"]"#);
    // The id is over `eventDataId`: the same record in other clothes is the same event.
    let mut again: Value = from_str(REST).unwrap();
    if let Value::Object(m) = &mut again {
        m.insert("level", Value::from("Warning"));
    }
    let again = normalise(again).unwrap();
    assert_eq!(s(&again, "event.id"), s(&e, "event.id"));
}

#[test]
fn a_records_blob_gives_one_event_per_record() {
    let line1 = records(SAMPLE)[0].1.clone();
    let line2 = records(SAMPLE)[1].1.clone();
    let mut blob = Value::object();
    if let Value::Object(m) = &mut blob {
        m.insert("records", Value::Array(vec![line1.clone(), line2]));
    }
    let received = Received::from_unix_millis(0);
    let events = normalise_all(&blob, received).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        to_string(&events[0]),
        to_string(&normalise_all(&line1, received).unwrap()[0])
    );
    let bad = from_str(r#"{"records":[{"time":"2026-01-01T00:00:00Z"}]}"#).unwrap();
    let err = normalise_all(&bad, received).unwrap_err();
    assert!(err.reason.contains("record 1 of the blob"), "{err}");
}

#[test]
fn refusals_say_why() {
    let err = normalise(from_str(r#"{"time":"2026-01-01T00:00:00Z"}"#).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "azure_activity: no `operationName`: not an Azure Activity Log record"
    );
    let err = normalise(from_str("[1]").unwrap()).unwrap_err();
    assert!(err.reason.contains("not an object"), "{err}");
}
