use super::*;
use crate::normalise::samples::{entity_keys, get, s};
use crate::normalise::Normaliser;
use pipectl_core::json::{from_str, to_string};

const EVE: &str = include_str!("eve.json");

fn n(event: &Value, path: &str) -> Option<i64> {
    get(event, path).and_then(Value::as_i64)
}

fn json(event: &Value, path: &str) -> String {
    get(event, path).map(to_string).unwrap_or_default()
}

/// Every record of the fixture, normalised through the transform's entry point.
fn all() -> Vec<Value> {
    let mut normaliser = Normaliser::new(Format::Suricata);
    EVE.lines()
        .map(|line| {
            let mut event = Value::object();
            if let Value::Object(m) = &mut event {
                m.insert("message", Value::from(line));
            }
            assert_eq!(normaliser.apply(&mut event), Ok(true), "{line}");
            event
        })
        .collect()
}

#[test]
fn every_record_of_the_fixture_normalises_with_its_type_as_action() {
    let events = all();
    assert_eq!(events.len(), 10);
    let actions: Vec<&str> = events.iter().filter_map(|e| s(e, "event.action")).collect();
    assert_eq!(
        actions,
        ["alert", "alert", "flow", "dns", "dns", "http", "tls", "fileinfo", "anomaly", "stats"]
    );
    let mut ids: Vec<&str> = events.iter().filter_map(|e| s(e, "event.id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "ids are unique");
    for e in &events {
        assert_eq!(s(e, "event.dataset"), Some("suricata.eve"));
        assert_eq!(s(e, "event.module"), Some("suricata"));
        assert_eq!(get(e, "cloud"), None);
        assert_eq!(get(e, "event.original"), None);
        assert!(get(e, "suricata.eve.event_type").is_some());
    }
}

#[test]
fn alerts_are_alerts_with_their_rule() {
    let events = all();
    let e = &events[0];
    assert_eq!(s(e, "@timestamp"), Some("2024-01-02T03:04:05.678Z"));
    assert_eq!(s(e, "event.kind"), Some("alert"));
    assert_eq!(
        json(e, "event.category"),
        r#"["network","intrusion_detection"]"#
    );
    assert_eq!(json(e, "event.type"), r#"["allowed"]"#);
    assert_eq!(
        s(e, "rule.name"),
        Some("ET POLICY PE EXE or DLL Windows file download HTTP")
    );
    assert_eq!(s(e, "message"), s(e, "rule.name"));
    assert_eq!(s(e, "rule.id"), Some("2027865"));
    assert_eq!(s(e, "rule.version"), Some("3"));
    assert_eq!(
        s(e, "rule.category"),
        Some("Potential Corporate Privacy Violation")
    );
    assert_eq!(n(e, "event.severity"), Some(2));
    assert_eq!(s(e, "source.ip"), Some("10.20.1.15"));
    assert_eq!(n(e, "source.port"), Some(52820));
    assert_eq!(s(e, "destination.ip"), Some("198.51.100.10"));
    assert_eq!(n(e, "destination.port"), Some(8080));
    assert_eq!(s(e, "network.transport"), Some("tcp"));
    assert_eq!(s(e, "network.protocol"), Some("http"));
    assert_eq!(s(e, "network.direction"), Some("outbound"));
    assert_eq!(
        s(e, "network.community_id"),
        Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
    );
    assert_eq!(s(e, "observer.product"), Some("Suricata"));
    assert_eq!(s(e, "observer.hostname"), Some("sensor-dmz-1"));
    assert_eq!(s(e, "observer.ingress.interface.name"), Some("eth1"));
    assert_eq!(entity_keys(e), ["ip:10.20.1.15"]);
    // A second signature on the same packet is another event.
    let blocked = &events[1];
    assert_eq!(json(blocked, "event.type"), r#"["denied"]"#);
    assert_eq!(n(blocked, "event.severity"), Some(3));
    assert_ne!(s(blocked, "event.id"), s(e, "event.id"));
}

#[test]
fn flows_count_both_directions() {
    let e = &all()[2];
    assert_eq!(s(e, "event.kind"), Some("event"));
    assert_eq!(json(e, "event.type"), r#"["connection"]"#);
    assert_eq!(n(e, "source.bytes"), Some(9000));
    assert_eq!(n(e, "source.packets"), Some(120));
    assert_eq!(n(e, "destination.bytes"), Some(1_100_000));
    assert_eq!(n(e, "destination.packets"), Some(800));
    assert_eq!(n(e, "network.bytes"), Some(1_109_000));
    assert_eq!(n(e, "network.packets"), Some(920));
    assert_eq!(s(e, "event.start"), Some("2024-01-02T03:04:05.100Z"));
    assert_eq!(s(e, "event.end"), Some("2024-01-02T03:04:07.600Z"));
    assert_eq!(n(e, "event.duration"), Some(2_500_000_000));
}

#[test]
fn dns_answers_and_queries() {
    let events = all();
    let e = &events[3];
    assert_eq!(json(e, "event.type"), r#"["protocol"]"#);
    assert_eq!(s(e, "dns.type"), Some("answer"));
    assert_eq!(s(e, "dns.question.name"), Some("www.example.com"));
    assert_eq!(s(e, "dns.question.type"), Some("A"));
    assert_eq!(s(e, "dns.response_code"), Some("NOERROR"));
    assert_eq!(s(e, "dns.id"), Some("41872"));
    assert_eq!(s(e, "event.outcome"), Some("success"));
    assert_eq!(
        json(e, "dns.answers"),
        r#"[{"data":"www.example.com.cdn.example.net","name":"www.example.com","type":"CNAME","ttl":300},{"data":"93.184.216.34","name":"www.example.com.cdn.example.net","type":"A","ttl":60}]"#
    );
    assert_eq!(json(e, "dns.resolved_ip"), r#"["93.184.216.34"]"#);
    assert_eq!(json(e, "related.hosts"), r#"["www.example.com"]"#);
    assert_eq!(s(e, "network.direction"), Some("internal"));

    let q = &events[4];
    assert_eq!(s(q, "dns.type"), Some("query"));
    assert_eq!(get(q, "event.outcome"), None);
    assert_ne!(s(q, "event.id"), s(e, "event.id"));

    // EVE version 3 (Suricata 8): the question in `queries`.
    let v3 = r#"{"timestamp":"2024-01-02T03:04:01.000100+0000","flow_id":1,"event_type":"dns","src_ip":"10.0.0.2","dest_ip":"10.0.0.1","proto":"UDP","dns":{"version":3,"type":"response","id":1,"rcode":"SERVFAIL","queries":[{"rrname":"a.example","rrtype":"AAAA"}]}}"#;
    let e = normalise(from_str(v3).unwrap()).unwrap();
    assert_eq!(s(&e, "dns.question.name"), Some("a.example"));
    assert_eq!(s(&e, "dns.question.type"), Some("AAAA"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
}

#[test]
fn http_tls_and_files() {
    let events = all();
    let e = &events[5];
    assert_eq!(json(e, "event.category"), r#"["network","web"]"#);
    assert_eq!(s(e, "http.request.method"), Some("GET"));
    assert_eq!(n(e, "http.response.status_code"), Some(200));
    assert_eq!(s(e, "http.version"), Some("1.1"));
    assert_eq!(s(e, "event.outcome"), Some("success"));
    assert_eq!(s(e, "url.domain"), Some("updates.example.net"));
    assert_eq!(s(e, "url.path"), Some("/download/agent.exe"));
    assert_eq!(s(e, "url.query"), Some("build=42"));
    assert_eq!(
        s(e, "url.full"),
        Some("http://updates.example.net:8080/download/agent.exe?build=42")
    );
    assert_eq!(
        s(e, "user_agent.original"),
        Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
    );
    assert_eq!(
        s(e, "http.response.mime_type"),
        Some("application/x-msdownload")
    );
    assert_eq!(n(e, "http.response.body.bytes"), Some(1_048_576));

    let e = &events[6];
    assert_eq!(s(e, "tls.client.server_name"), Some("www.example.com"));
    assert_eq!(s(e, "tls.version"), Some("1.2"));
    assert_eq!(s(e, "tls.version_protocol"), Some("tls"));
    assert_eq!(s(e, "tls.server.subject"), Some("CN=www.example.com"));
    assert_eq!(
        s(e, "tls.server.issuer"),
        Some("C=US, O=Example CA, CN=Example TLS RSA CA 2023")
    );
    assert_eq!(
        s(e, "tls.server.hash.sha1"),
        Some("3F1A7C0E5A9B2D8E4C6F1B0A9D8E7C6B5A4F3E2D")
    );
    assert_eq!(s(e, "tls.server.not_after"), Some("2024-11-30T23:59:59Z"));
    assert_eq!(
        s(e, "tls.client.ja3"),
        Some("e7d705a3286e19ea42f587b344ee6865")
    );
    assert_eq!(
        s(e, "tls.server.ja3s"),
        Some("f4febc55ea12b31ae17cfb7e614afda8")
    );
    assert_eq!(json(e, "related.hosts"), r#"["www.example.com"]"#);

    let e = &events[7];
    assert_eq!(json(e, "event.category"), r#"["network","file"]"#);
    assert_eq!(s(e, "file.name"), Some("/download/agent.exe"));
    assert_eq!(n(e, "file.size"), Some(1_048_576));
    assert_eq!(
        s(e, "file.hash.sha256"),
        Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert_eq!(s(e, "url.domain"), Some("updates.example.net"));
    assert_eq!(s(e, "network.direction"), Some("inbound"));
    assert_eq!(
        get(e, "related.hash")
            .and_then(Value::as_array)
            .map(<[Value]>::len),
        Some(3)
    );
}

#[test]
fn anomalies_and_stats() {
    let events = all();
    let e = &events[8];
    assert_eq!(s(e, "message"), Some("decoder.ipv4.trunc_pkt"));
    assert_eq!(json(e, "event.type"), r#"["info"]"#);
    assert_eq!(entity_keys(e), ["ip:10.20.3.4"]);
    let e = &events[9];
    assert_eq!(s(e, "event.kind"), Some("metric"));
    assert_eq!(get(e, "event.category"), None);
    assert_eq!(get(e, "source"), None);
    assert_eq!(
        get(e, "suricata.eve.stats.capture.kernel_drops").and_then(Value::as_i64),
        Some(12)
    );
    assert!(entity_keys(e).is_empty());
}

#[test]
fn bad_records_are_refused_with_the_reason() {
    let mut normaliser = Normaliser::new(Format::Suricata);
    for (input, expected) in [
        (r#"{"event_type":"alert"}"#, "no `timestamp`"),
        (
            r#"{"timestamp":"2024-01-02T03:04:05+0000"}"#,
            "no `event_type`",
        ),
        (
            r#"{"timestamp":"yesterday","event_type":"flow"}"#,
            "`timestamp` `yesterday` is not a time",
        ),
        (
            r#"{"timestamp":"2024-01-02T03:04:05.1+0000","event_type":"flow","src_ip":"10.0.0.300"}"#,
            "`src_ip` `10.0.0.300` is not an IP address",
        ),
        (r#"{"message":"{\"timestamp\":"}"#, "`message` is not JSON"),
        (r#"{"message":"plain text"}"#, "not a JSON record"),
    ] {
        let mut event = from_str(input).unwrap();
        let err = normaliser.apply(&mut event).unwrap_err().to_string();
        assert!(err.starts_with("suricata: "), "{err}");
        assert!(err.contains(expected), "{input}: {err}");
        assert_eq!(to_string(&event), input);
    }
}

#[test]
fn offsets_with_and_without_a_colon() {
    assert_eq!(
        eve_time("2024-01-02T03:04:05.678901+0000").as_deref(),
        Some("2024-01-02T03:04:05.678Z")
    );
    assert_eq!(
        eve_time("2024-01-02T04:04:05.678901+0100").as_deref(),
        Some("2024-01-02T03:04:05.678Z")
    );
    assert_eq!(
        eve_time("2024-01-02T03:04:05-02:30").as_deref(),
        Some("2024-01-02T05:34:05Z")
    );
    assert_eq!(eve_time("2024-01-02T03:04:05+00"), None);
    assert_eq!(tls_version("TLSv1").map(|v| v.1).as_deref(), Some("1.0"));
    assert_eq!(tls_version("SSLv3").map(|v| v.0), Some("ssl"));
    assert_eq!(tls_version("UNDETERMINED"), None);
}
