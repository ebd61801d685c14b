use super::*;
use crate::normalise::samples::{
    assert_time_from_ingest, entity_keys, get, normalised, refused_lines, s,
};
use pipectl_core::json::{from_str, to_string};

/// The sample's lines that are not audit records: Microsoft Graph security alerts
/// (20–23) and Windows security events (24–25), mapped as what they are.
const ALERTS: &[usize] = &[20, 21, 22, 23];
const WINDOWS: &[usize] = &[24, 25];

fn sample(line: usize) -> Value {
    normalised("m365_audit.jsonl", line, normalise)
}

#[test]
fn every_record_of_the_sample_normalises() {
    let refused = refused_lines(
        "m365_audit.jsonl",
        normalise,
        "Operation",
        "o365.audit",
        "m365",
        &[],
        &[ALERTS, WINDOWS].concat(),
    );
    assert!(refused.is_empty(), "{refused:?}");
    for &line in ALERTS {
        let e = sample(line);
        assert_eq!(s(&e, "event.kind"), Some("alert"), "line {line}");
        assert_eq!(s(&e, "event.dataset"), Some("m365_defender.alert"));
        assert!(get(&e, "m365_defender.alert.id").is_some(), "line {line}");
        assert!(s(&e, "rule.name").is_some(), "line {line}");
    }
    for &line in WINDOWS {
        let e = sample(line);
        assert_eq!(
            s(&e, "event.dataset"),
            Some("windows.security"),
            "line {line}"
        );
        assert_eq!(
            s(&e, "event.action"),
            Some("created-process"),
            "line {line}"
        );
    }
}

#[test]
fn a_defender_alert_names_the_user_and_address_of_its_evidence() {
    let e = sample(20);
    assert_eq!(s(&e, "@timestamp"), Some("2026-04-01T14:31:48.438Z"));
    assert_eq!(s(&e, "event.action"), Some("AnonymousLogin"));
    assert_eq!(s(&e, "rule.name"), Some("Anonymous IP address"));
    assert_eq!(
        s(&e, "event.provider"),
        Some("microsoftDefenderForIdentity")
    );
    assert_eq!(get(&e, "event.severity").and_then(Value::as_i64), Some(3));
    assert_eq!(
        s(&e, "user.email"),
        Some("homer.simpson@corporation.onmicrosoft.com")
    );
    assert_eq!(
        s(&e, "user.id"),
        Some("011d5ede-0faa-4946-a25e-b2cd0c47a52c")
    );
    assert_eq!(s(&e, "source.ip"), Some("185.220.103.6"));
    assert_eq!(s(&e, "source.geo.country_iso_code"), Some("US"));
    assert_eq!(get(&e, "event.outcome"), None);
    assert_eq!(
        entity_keys(&e),
        ["user:homer.simpson@corporation.onmicrosoft.com"]
    );
    // An alert without evidence still maps, with no actor.
    let bare = sample(23);
    assert_eq!(s(&bare, "event.action"), Some("Informational"));
    assert_eq!(
        get(&bare, "event.severity").and_then(Value::as_i64),
        Some(1)
    );
    assert_eq!(get(&bare, "user"), None);
}

#[test]
fn a_windows_process_creation_event() {
    let e = sample(24);
    assert_eq!(s(&e, "@timestamp"), Some("2024-01-15T10:30:45Z"));
    assert_eq!(s(&e, "event.code"), Some("4688"));
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(s(&e, "host.name"), Some("WIN-WORKSTATION-01"));
    assert_eq!(s(&e, "user.name"), Some("jdoe"));
    assert_eq!(s(&e, "user.domain"), Some("CORP"));
    assert_eq!(s(&e, "process.name"), Some("mimikatz.exe"));
    assert_eq!(get(&e, "process.pid").and_then(Value::as_i64), Some(0x1234));
    assert_eq!(
        get(&e, "process.parent.pid").and_then(Value::as_i64),
        Some(0x5678)
    );
    assert_eq!(
        s(&e, "process.command_line"),
        Some("mimikatz.exe privilege::debug sekurlsa::logonpasswords")
    );
    assert_eq!(
        s(&e, "process.parent.executable"),
        Some("C:\\Windows\\System32\\cmd.exe")
    );
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["process"]"#
    );
    // Two exports of the same host's log records stay apart by their record number.
    assert_ne!(s(&e, "event.id"), s(&sample(25), "event.id"));
}

#[test]
fn failed_azure_ad_login() {
    let e = sample(1);
    assert_eq!(s(&e, "@timestamp"), Some("2022-12-12T15:57:57Z"));
    assert_eq!(s(&e, "event.action"), Some("UserLoginFailed"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "error.code"), Some("InvalidUserNameOrPassword"));
    assert_eq!(s(&e, "event.provider"), Some("AzureActiveDirectory"));
    assert_eq!(
        s(&e, "user.email"),
        Some("sample.user@yourorg.onmicrosoft.com")
    );
    assert_eq!(s(&e, "source.ip"), Some("1.2.3.4"));
    assert!(s(&e, "user_agent.original").is_some_and(|ua| ua.contains("Chrome/107")));
    assert_eq!(s(&e, "service.id"), Some("123-abc-sfa-321"));
    assert_eq!(s(&e, "cloud.account.id"), Some("11-aa-22-bb"));
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["authentication"]"#
    );
    assert_eq!(
        entity_keys(&e),
        [
            "user:sample.user@yourorg.onmicrosoft.com",
            "service_principal:123-abc-sfa-321"
        ]
    );
    assert_eq!(
        s(&e, "event.id"),
        Some(
            pipectl_core::detect::sigma::hit::document_id(&["event", "o365.audit", "abc-def-123"])
                .as_str()
        )
    );
}

#[test]
fn onedrive_sharing_with_an_outsider() {
    let e = sample(3);
    assert_eq!(
        s(&e, "user.target.email"),
        Some("outsider@alloweddomain.com")
    );
    assert_eq!(
        s(&e, "user.target.name"),
        Some("outsider@alloweddomain.com")
    );
    let url =
        "https://yourorg.sharepoint.com/personal/user_yourorg/Documents/importantsecrets.docx";
    assert_eq!(s(&e, "file.path"), Some(url));
    assert_eq!(s(&e, "url.full"), Some(url));
    assert_eq!(s(&e, "file.name"), Some("importantsecrets.docx"));
    assert_eq!(s(&e, "file.extension"), Some("docx"));
    assert_eq!(
        s(&e, "file.directory"),
        Some("https://yourorg.sharepoint.com/personal/user_yourorg")
    );
    assert_eq!(s(&e, "event.provider"), Some("OneDrive"));
    assert_eq!(to_string(get(&e, "event.category").unwrap()), r#"["file"]"#);
    assert_eq!(entity_keys(&e), ["user:my.user@yourorg.onmicrosoft.com"]);
}

#[test]
fn a_service_principal_acting_on_a_user() {
    let e = sample(9);
    assert_eq!(s(&e, "service.id"), Some("aa-bb-ccc"));
    assert_eq!(get(&e, "user.name"), None);
    assert_eq!(
        s(&e, "user.target.email"),
        Some("sample.user@yourorg.onmicrosoft.com")
    );
    assert_eq!(entity_keys(&e), ["service_principal:aa-bb-ccc"]);
}

#[test]
fn lowercased_exchange_inbox_rule_with_a_client_port() {
    let e = sample(19);
    assert_eq!(s(&e, "event.action"), Some("New-InboxRule"));
    assert_eq!(s(&e, "@timestamp"), Some("2025-07-07T09:11:11Z"));
    assert_eq!(s(&e, "source.ip"), Some("1.2.3.4"));
    assert_eq!(get(&e, "source.port").and_then(Value::as_i64), Some(10736));
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(s(&e, "event.provider"), Some("Exchange"));
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["creation"]"#);
}

#[test]
fn threat_intelligence_url_clicks_and_mail() {
    let click = normalise(
        from_str(
            r#"{"CreationTime":"2026-03-01T10:00:00","Id":"t1","Operation":"TIUrlClickData",
            "Workload":"ThreatIntelligence","RecordType":41,"UserId":"Dana@Acme.Example",
            "Url":"https://Login.Evil.Example:8443/path?q=1","UserIp":"[2001:db8::7]:50000",
            "AppName":"Outlook","SourceId":"5b1c-net-id"}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&click, "@timestamp"), Some("2026-03-01T10:00:00Z"));
    assert_eq!(
        s(&click, "url.original"),
        Some("https://Login.Evil.Example:8443/path?q=1")
    );
    assert_eq!(s(&click, "url.domain"), Some("login.evil.example"));
    assert_eq!(s(&click, "source.ip"), Some("2001:db8::7"));
    assert_eq!(s(&click, "user.email"), Some("dana@acme.example"));
    assert_eq!(s(&click, "email.local_id"), Some("5b1c-net-id"));
    assert_eq!(
        to_string(get(&click, "event.category").unwrap()),
        r#"["web"]"#
    );

    let mail = normalise(
        from_str(
            r#"{"CreationTime":"2026-03-01T10:00:00","Id":"t2","Operation":"TIMailData",
            "Workload":"ThreatIntelligence","P1Sender":"billing@evil.example",
            "Recipients":["dana@acme.example","lee@acme.example"],"Subject":"Invoice",
            "InternetMessageId":"<abc@evil.example>","DeliveryAction":"Blocked",
            "NetworkMessageId":"5b1c-net-id","Directionality":"Inbound"}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&mail, "email.from.address"), Some("billing@evil.example"));
    assert_eq!(
        to_string(get(&mail, "email.to.address").unwrap()),
        r#"["dana@acme.example","lee@acme.example"]"#
    );
    assert_eq!(s(&mail, "email.subject"), Some("Invoice"));
    assert_eq!(s(&mail, "email.message_id"), Some("<abc@evil.example>"));
    assert_eq!(s(&mail, "email.local_id"), Some("5b1c-net-id"));
    assert_eq!(s(&mail, "email.direction"), Some("inbound"));
    assert_eq!(s(&mail, "event.outcome"), Some("unknown"));
    // The sending organisation is an entity of inbound mail.
    assert!(entity_keys(&mail).contains(&"email_domain:evil.example"));

    // A click in Teams carries a Teams message id, not a mail's.
    let teams = normalise(
        from_str(
            r#"{"CreationTime":"2026-03-01T10:00:00","Id":"t3","Operation":"TIUrlClickData",
            "Workload":"ThreatIntelligence","UserId":"dana@acme.example",
            "Url":"https://x.example/","AppName":"Teams","SourceId":"19:abc@thread.v2"}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s(&teams, "email.local_id"), None);
}

#[test]
fn sharepoint_downloads_carry_their_size() {
    let e = normalise(
        from_str(
            r#"{"CreationTime":"2026-03-01T10:00:00Z","Id":"f1","Operation":"FileDownloaded",
            "Workload":"SharePoint","UserId":"lee@acme.example","ClientIP":"198.51.100.4",
            "ObjectId":"https://acme.sharepoint.com/sites/finance/Shared Documents/q3.xlsx",
            "SiteUrl":"https://acme.sharepoint.com/sites/finance/","SourceFileName":"q3.xlsx",
            "FileSizeBytes":73400}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(get(&e, "file.size").and_then(Value::as_i64), Some(73400));
    assert_eq!(
        s(&e, "file.directory"),
        Some("https://acme.sharepoint.com/sites/finance/")
    );
    assert_eq!(to_string(get(&e, "event.type").unwrap()), r#"["access"]"#);
}

#[test]
fn refusals_say_why() {
    assert_time_from_ingest(
        &normalise(from_str(r#"{"Operation":"FileAccessed","Workload":"SharePoint"}"#).unwrap())
            .unwrap(),
    );
    let err = |json: &str| normalise(from_str(json).unwrap()).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"title":"Anonymous IP address","createdDateTime":"2026-04-01T14:31:48Z"}"#),
        "o365: no `Operation`: not an Office 365 audit record"
    );
    assert_eq!(
        err(r#"{"CreationTime":"2026-04-01T14:31:48Z"}"#),
        "o365: no `Operation`: not an Office 365 audit record"
    );
}

#[test]
fn url_domains() {
    assert_eq!(url_domain("http://a.example").as_deref(), Some("a.example"));
    assert_eq!(
        url_domain("https://u:p@B.example:1/x#y").as_deref(),
        Some("b.example")
    );
    assert_eq!(
        url_domain("https://[2001:db8::1]:8/").as_deref(),
        Some("2001:db8::1")
    );
    assert_eq!(url_domain("https:///x"), None);
}
