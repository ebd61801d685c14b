use super::*;
use crate::normalise::samples::{entity_keys, get, s};
use crate::normalise::Normaliser;
use pipectl_core::json::{from_str, to_string};

const NSG: &str = "/SUBSCRIPTIONS/11111111-2222-3333-4444-555555555555/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB-NSG";

/// A version 2 record: a denied inbound probe, then an allowed connection's begin and
/// continuation on the NIC of a web server.
fn record_v2(time: &str) -> String {
    format!(
        r#"{{"time":"{time}","systemId":"5f4d0a1e-0000-4000-8000-000000000001","macAddress":"000D3AF87856","category":"NetworkSecurityGroupFlowEvent","resourceId":"{NSG}","operationName":"NetworkSecurityGroupFlowEvents","properties":{{"Version":2,"flows":[{{"rule":"DefaultRule_DenyAllInBound","flows":[{{"mac":"000D3AF87856","flowTuples":["1732780800,185.220.101.4,10.1.0.4,44321,3389,T,I,D,B,,,,"]}}]}},{{"rule":"UserRule_AllowHttps","flows":[{{"mac":"000D3AF87856","flowTuples":["1732780801,10.1.0.4,52.239.1.10,50001,443,T,O,A,B,,,,","1732780861,10.1.0.4,52.239.1.10,50001,443,T,O,A,C,12,1400,10,52000"]}}]}}]}}}}"#
    )
}

fn blob() -> String {
    format!(
        r#"{{"records":[{},{}]}}"#,
        record_v2("2024-11-28T08:00:00.0000000Z"),
        record_v2("2024-11-28T08:01:00.0000000Z").replace("1732780", "1732790")
    )
}

const RECEIVED: Received = Received::from_unix_millis(0);

#[test]
fn a_version_2_blob_gives_one_event_per_tuple() {
    let events = normalise_all(&from_str(&blob()).unwrap(), RECEIVED).unwrap();
    assert_eq!(events.len(), 6);
    let probe = &events[0];
    assert_eq!(s(probe, "@timestamp"), Some("2024-11-28T08:00:00Z"));
    assert_eq!(s(probe, "event.dataset"), Some("azure.nsgflow"));
    assert_eq!(s(probe, "cloud.provider"), Some("azure"));
    assert_eq!(s(probe, "source.ip"), Some("185.220.101.4"));
    assert_eq!(
        get(probe, "destination.port").and_then(Value::as_i64),
        Some(3389)
    );
    assert_eq!(s(probe, "network.transport"), Some("tcp"));
    assert_eq!(s(probe, "network.direction"), Some("inbound"));
    assert_eq!(s(probe, "event.action"), Some("denied"));
    assert_eq!(s(probe, "event.outcome"), Some("failure"));
    assert_eq!(
        to_string(get(probe, "event.type").unwrap()),
        r#"["connection","denied","start"]"#
    );
    assert_eq!(s(probe, "rule.name"), Some("DefaultRule_DenyAllInBound"));
    assert_eq!(s(probe, "rule.ruleset"), Some("WEB-NSG"));
    assert_eq!(
        s(probe, "cloud.account.id"),
        Some("11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(s(probe, "azure.nsgflow.direction"), Some("I"));
    assert_eq!(s(probe, "azure.nsgflow.mac"), Some("000D3AF87856"));
    assert_eq!(get(probe, "network.bytes"), None);
    assert!(entity_keys(probe).contains(&"ip:10.1.0.4"));
    assert_eq!(
        s(probe, "event.original"),
        Some("1732780800,185.220.101.4,10.1.0.4,44321,3389,T,I,D,B,,,,")
    );

    let continuing = &events[2];
    assert_eq!(s(continuing, "event.action"), Some("allowed"));
    assert_eq!(s(continuing, "network.direction"), Some("outbound"));
    assert_eq!(
        to_string(get(continuing, "event.type").unwrap()),
        r#"["connection","allowed"]"#
    );
    let n = |p: &str| get(continuing, p).and_then(Value::as_i64);
    assert_eq!(n("source.packets"), Some(12));
    assert_eq!(n("source.bytes"), Some(1400));
    assert_eq!(n("destination.bytes"), Some(52000));
    assert_eq!(n("network.packets"), Some(22));
    assert_eq!(n("network.bytes"), Some(53400));
    // Every event its own id, the same on a second reading.
    let ids: std::collections::HashSet<&str> =
        events.iter().filter_map(|e| s(e, "event.id")).collect();
    assert_eq!(ids.len(), 6);
    let again = normalise_all(&from_str(&blob()).unwrap(), RECEIVED).unwrap();
    assert_eq!(s(&again[5], "event.id"), s(&events[5], "event.id"));
}

#[test]
fn version_1_tuples_have_no_counts() {
    let record = r#"{"time":"2018-11-13T12:00:35.3899262Z","resourceId":"/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/networkSecurityGroups/nsg","properties":{"Version":1,"flows":[{"rule":"DefaultRule_AllowInternetOutBound","flows":[{"mac":"000D3AF8801A","flowTuples":["1542110402,10.0.0.4,13.67.143.118,44931,443,T,O,A"]}]}]}}"#;
    let events = normalise_all(&from_str(record).unwrap(), RECEIVED).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(s(&events[0], "@timestamp"), Some("2018-11-13T12:00:02Z"));
    assert_eq!(s(&events[0], "event.action"), Some("allowed"));
    assert_eq!(
        get(&events[0], "azure.nsgflow.version").and_then(Value::as_i64),
        Some(1)
    );
    assert_eq!(get(&events[0], "network.packets"), None);
}

#[test]
fn vnet_flow_logs_are_read_too() {
    let record = r#"{"time":"2024-11-28T08:00:00Z","flowLogVersion":4,"flowLogResourceID":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/NW/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NW/FLOWLOGS/VNETFL","targetResourceID":"/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/prod-vnet","category":"FlowLogFlowEvent","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"acl-1","flowGroups":[{"rule":"DefaultRule_AllowInternetOutBound","flowTuples":["1732780800123,10.1.0.5,93.184.216.34,40000,80,6,O,E,NX,5,600,4,9000","1732780800456,198.51.100.9,10.1.0.5,40001,22,6,I,D,NX,0,0,0,0"]}]}]}}"#;
    let events = normalise_all(&from_str(record).unwrap(), RECEIVED).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        s(&events[0], "@timestamp"),
        Some("2024-11-28T08:00:00.123Z")
    );
    assert_eq!(
        to_string(get(&events[0], "event.type").unwrap()),
        r#"["connection","allowed","end"]"#
    );
    assert_eq!(
        get(&events[0], "network.bytes").and_then(Value::as_i64),
        Some(9600)
    );
    assert_eq!(s(&events[0], "rule.ruleset"), Some("prod-vnet"));
    assert_eq!(s(&events[1], "event.action"), Some("denied"));
    assert_eq!(s(&events[1], "network.direction"), Some("inbound"));
}

#[test]
fn a_blob_read_line_by_line_loses_nothing() {
    // The layout of a blob written record by record: framing lines, and a comma
    // before every record after the first.
    let lines = [
        "{\"records\":[".to_string(),
        record_v2("2024-11-28T08:00:00.0000000Z"),
        format!(
            ",{}",
            record_v2("2024-11-28T08:01:00.0000000Z").replace("1732780", "1732790")
        ),
        "]}".to_string(),
    ];
    let mut normaliser = Normaliser::new(Format::AzureNsgFlow);
    let mut events = Vec::new();
    let mut dropped = 0;
    for line in &lines {
        let mut event = Value::object();
        if let Value::Object(m) = &mut event {
            m.insert("message", Value::from(line.as_str()));
        }
        let mut more = Vec::new();
        match normaliser.apply_received(&mut event, RECEIVED, &mut more) {
            Ok(true) => {
                events.push(event);
                events.extend(more);
            }
            Ok(false) => dropped += 1,
            Err(e) => panic!("{line}: {e}"),
        }
    }
    assert_eq!(dropped, 2);
    assert_eq!(events.len(), 6);
    // The whole blob on one line gives the same events.
    let whole = line(&blob(), RECEIVED).unwrap();
    let texts = |events: &[Value]| events.iter().map(to_string).collect::<Vec<_>>();
    assert!(
        texts(&whole) == texts(&events),
        "the blob and its lines differ"
    );
}

#[test]
fn a_bad_tuple_refuses_its_record_and_names_it() {
    let bad = record_v2("2024-11-28T08:00:00Z").replace("T,I,D,B,,,,", "T,I,X,B,,,,");
    let e = normalise_all(&from_str(&bad).unwrap(), RECEIVED).unwrap_err();
    assert!(
        e.reason
            .starts_with("tuple 1 of rule `DefaultRule_DenyAllInBound` (`1732780800,185.220.101.4"),
        "{e}"
    );
    assert!(e.reason.ends_with("decision `X` is neither A nor D"), "{e}");
    let short = record_v2("t").replace("T,I,D,B,,,,", "T,I");
    let e = normalise_all(&from_str(&short).unwrap(), RECEIVED).unwrap_err();
    assert!(e.reason.contains("7 fields"), "{e}");
    let e = normalise_all(&from_str(r#"{"time":"x"}"#).unwrap(), RECEIVED).unwrap_err();
    assert!(
        e.reason.contains("not an NSG or VNet flow log record"),
        "{e}"
    );
    let e = line("{not json", RECEIVED).unwrap_err();
    assert!(
        e.reason.starts_with("the line is not a flow log record"),
        "{e}"
    );
}
