use super::*;
use crate::normalise::samples::{entity_keys, get, records, s};
use crate::normalise::Received;
use pipectl_core::json::to_string;

fn one(parser: &mut FlowLogParser, line: &str) -> Value {
    parser.line(line).unwrap().unwrap()
}

fn n(event: &Value, path: &str) -> Option<i64> {
    get(event, path).and_then(Value::as_i64)
}

#[test]
fn default_format_line() {
    let mut p = FlowLogParser::new();
    let line = "2 123456789012 eni-0a1b2c3d 10.0.1.12 10.0.2.40 49152 5432 6 38 12840 1760000000 1760000060 ACCEPT OK";
    let e = one(&mut p, line);
    assert_eq!(s(&e, "@timestamp"), Some("2025-10-09T08:53:20Z"));
    assert_eq!(s(&e, "event.start"), Some("2025-10-09T08:53:20Z"));
    assert_eq!(s(&e, "event.end"), Some("2025-10-09T08:54:20Z"));
    assert_eq!(s(&e, "source.ip"), Some("10.0.1.12"));
    assert_eq!(n(&e, "source.port"), Some(49152));
    assert_eq!(s(&e, "destination.ip"), Some("10.0.2.40"));
    assert_eq!(n(&e, "destination.port"), Some(5432));
    assert_eq!(s(&e, "network.transport"), Some("tcp"));
    assert_eq!(n(&e, "network.packets"), Some(38));
    assert_eq!(n(&e, "network.bytes"), Some(12840));
    assert_eq!(s(&e, "network.direction"), Some("internal"));
    assert_eq!(s(&e, "event.action"), Some("allowed"));
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(
        to_string(get(&e, "event.type").unwrap()),
        r#"["connection","allowed"]"#
    );
    assert_eq!(
        to_string(get(&e, "event.category").unwrap()),
        r#"["network"]"#
    );
    assert_eq!(s(&e, "cloud.account.id"), Some("123456789012"));
    assert_eq!(s(&e, "cloud.provider"), Some("aws"));
    assert_eq!(s(&e, "event.dataset"), Some("aws.vpcflow"));
    assert_eq!(s(&e, "event.original"), Some(line));
    assert_eq!(s(&e, "aws.vpcflow.interface-id"), Some("eni-0a1b2c3d"));
    assert_eq!(entity_keys(&e), ["ip:10.0.1.12", "ip:10.0.2.40"]);
    // The id is over the line: the same line twice is the same event.
    let again = one(&mut p, line);
    assert_eq!(s(&again, "event.id"), s(&e, "event.id"));
}

#[test]
fn rejected_inbound_and_other_protocols() {
    let mut p = FlowLogParser::new();
    let e = one(
        &mut p,
        "2 123456789012 eni-0a1b2c3d 198.51.100.7 10.0.1.12 - - 1 3 252 1760000000 1760000060 REJECT OK",
    );
    assert_eq!(s(&e, "network.transport"), Some("icmp"));
    assert_eq!(get(&e, "source.port"), None);
    assert_eq!(s(&e, "network.direction"), Some("inbound"));
    assert_eq!(s(&e, "event.action"), Some("denied"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(entity_keys(&e), ["ip:10.0.1.12"]);
    let e = one(
        &mut p,
        "2 123456789012 eni-0a1b2c3d 10.0.1.12 203.0.113.9 40000 443 47 3 252 1760000000 1760000060 ACCEPT OK",
    );
    assert_eq!(s(&e, "network.transport"), Some("47"));
    assert_eq!(s(&e, "network.direction"), Some("outbound"));
}

#[test]
fn nodata_skipdata_and_blank_lines_give_no_event() {
    let mut p = FlowLogParser::new();
    for line in [
        "2 123456789012 eni-0a1b2c3d - - - - - - - 1760000000 1760000060 - NODATA",
        "2 123456789012 eni-0a1b2c3d - - - - - - - 1760000000 1760000060 - SKIPDATA",
        "   ",
    ] {
        assert_eq!(p.line(line), Ok(None), "{line}");
    }
}

#[test]
fn a_header_line_sets_a_custom_format() {
    let mut p = FlowLogParser::new();
    let header = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region flow-direction";
    assert_eq!(p.line(header), Ok(None));
    let e = one(
        &mut p,
        "5 vpc-0f1e2d3c subnet-0a9b8c7d i-0123456789abcdef0 eni-0a1b2c3d 123456789012 IPv4 10.0.1.12 52.94.0.10 51234 443 10.0.1.12 52.94.0.10 6 901234 700 1760000100 1760000160 ACCEPT 19 OK eu-west-1 egress",
    );
    assert_eq!(s(&e, "cloud.instance.id"), Some("i-0123456789abcdef0"));
    assert_eq!(s(&e, "host.id"), Some("i-0123456789abcdef0"));
    assert_eq!(s(&e, "cloud.region"), Some("eu-west-1"));
    assert_eq!(n(&e, "network.bytes"), Some(901_234));
    assert_eq!(s(&e, "network.direction"), Some("outbound"));
    assert_eq!(s(&e, "aws.vpcflow.flow-direction"), Some("egress"));
    assert_eq!(
        entity_keys(&e),
        ["host:i-0123456789abcdef0", "ip:10.0.1.12"]
    );

    // The `${field}` form of a format also works as a header.
    assert_eq!(
        p.line("${srcaddr} ${dstaddr} ${bytes} ${start} ${action}"),
        Ok(None)
    );
    let e = one(&mut p, "fd00::5 2001:db8::1 77 1760000200 ACCEPT");
    assert_eq!(s(&e, "destination.ip"), Some("2001:db8::1"));
    assert_eq!(s(&e, "network.type"), Some("ipv6"));
    assert_eq!(s(&e, "network.direction"), Some("outbound"));
}

#[test]
fn malformed_lines_are_errors_that_say_why() {
    let mut p = FlowLogParser::new();
    let err = |p: &mut FlowLogParser, line: &str| p.line(line).unwrap_err().to_string();
    assert!(err(&mut p, "2 123 eni-1 10.0.0.1")
        .starts_with("aws_vpcflow: expected 14 fields (version account-id interface-id srcaddr"));
    assert_eq!(
        err(
            &mut p,
            "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 many 10 1760000000 1760000060 ACCEPT OK"
        ),
        "aws_vpcflow: `packets` `many` is not a number"
    );
    assert_eq!(
        err(
            &mut p,
            "2 123 eni-1 10.0.0.300 10.0.0.2 1 2 6 1 10 1760000000 1760000060 ACCEPT OK"
        ),
        "aws_vpcflow: `srcaddr` `10.0.0.300` is not an IP address"
    );
    // A line without its start time takes the time it was received.
    let e = p
        .line_received(
            "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 10 - 1760000060 ACCEPT OK",
            Received::from_unix_millis(1_760_000_000_000),
        )
        .unwrap()
        .unwrap();
    assert_eq!(s(&e, "@timestamp"), Some("2025-10-09T08:53:20Z"));
    assert_eq!(s(&e, "event.ingested"), Some("2025-10-09T08:53:20Z"));
    assert_eq!(s(&e, "event.end"), Some("2025-10-09T08:54:20Z"));
}

/// The sample file's JSON records: flows without their times take the time received,
/// a `"null"` address is no address, Route 53 resolver records are `aws.route53`
/// events, bare status records (`status`, OCSF `status_code`) are flows that say
/// nothing but their status, and SKIPDATA gives no event.
#[test]
fn the_json_records_of_the_sample() {
    let received = Received::from_unix_millis(1_760_000_000_000);
    let (mut route53, mut flows, mut no_event) = (0, 0, 0);
    for (line, record) in records("aws_vpcflow.jsonl") {
        match normalise_record(&record, received) {
            Ok(None) => no_event += 1,
            Ok(Some(e)) => match s(&e, "event.dataset") {
                Some("aws.route53") => route53 += 1,
                _ => {
                    assert_eq!(s(&e, "@timestamp"), Some("2025-10-09T08:53:20Z"));
                    assert_eq!(get(&e, "event.start"), None, "line {line}");
                    assert_eq!(
                        to_string(get(&e, "tags").unwrap()),
                        r#"["time_from_ingest"]"#
                    );
                    flows += 1;
                }
            },
            Err(e) => panic!("line {line}: {e}"),
        }
    }
    assert_eq!((route53, flows, no_event), (10, 22, 2));
}

#[test]
fn a_record_of_no_flow_field_is_refused() {
    let record = pipectl_core::json::from_str(r#"{"eventName":"x","user":"y"}"#).unwrap();
    let e = normalise_record(&record, Received::now()).unwrap_err();
    assert!(e.reason.ends_with("not a VPC flow log record"), "{e}");
}

#[test]
fn a_camel_case_json_flow() {
    let record = pipectl_core::json::from_str(
        r#"{"srcAddr":"8.8.8.8","dstAddr":"10.0.0.1","srcPort":54321,"dstPort":8080,
        "protocol":"17","bytes":"900","start":1760000000,"action":"REJECT",
        "instanceId":"i-0d4c7318592c6a2c7","accountId":"123456789012"}"#,
    )
    .unwrap();
    let e = normalise_record(&record, Received::now()).unwrap().unwrap();
    assert_eq!(s(&e, "source.ip"), Some("8.8.8.8"));
    assert_eq!(n(&e, "destination.port"), Some(8080));
    assert_eq!(s(&e, "network.transport"), Some("udp"));
    assert_eq!(n(&e, "network.bytes"), Some(900));
    assert_eq!(s(&e, "network.direction"), Some("inbound"));
    assert_eq!(s(&e, "cloud.account.id"), Some("123456789012"));
    assert_eq!(s(&e, "aws.vpcflow.srcAddr"), Some("8.8.8.8"));
    assert_eq!(get(&e, "event.original"), None);
    assert_eq!(entity_keys(&e), ["host:i-0d4c7318592c6a2c7", "ip:10.0.0.1"]);
}
