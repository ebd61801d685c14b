use super::*;
use crate::normalise::samples::{entity_keys, get, s};
use crate::normalise::Normaliser;
use pipectl_core::json::{from_str, to_string};

const CONN_LOG: &str = include_str!("conn.log");
const DNS: &str = include_str!("dns.json");
const HTTP: &str = include_str!("http.json");
const SSL: &str = include_str!("ssl.json");
const FILES: &str = include_str!("files.json");

fn n(event: &Value, path: &str) -> Option<i64> {
    get(event, path).and_then(Value::as_i64)
}

fn json(event: &Value, path: &str) -> String {
    get(event, path).map(to_string).unwrap_or_default()
}

/// Every event of a fixture's lines read in order by one parser; every line must
/// give an event or be a header.
fn events(parser: &mut ZeekParser, text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| parser.line(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

fn reason(result: Result<Option<Value>, NormaliseError>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn conn_tsv_with_a_header_repeated_after_rotation() {
    let mut p = ZeekParser::new(None);
    let all = events(&mut p, CONN_LOG);
    assert_eq!(all.len(), 6);

    let e = &all[0];
    assert_eq!(s(e, "@timestamp"), Some("2024-01-02T03:04:05.123Z"));
    assert_eq!(s(e, "event.start"), Some("2024-01-02T03:04:05.123Z"));
    assert_eq!(s(e, "event.end"), Some("2024-01-02T03:04:17.469Z"));
    assert_eq!(n(e, "event.duration"), Some(12_345_678_000));
    assert_eq!(s(e, "event.dataset"), Some("zeek.conn"));
    assert_eq!(s(e, "event.module"), Some("zeek"));
    assert_eq!(s(e, "event.kind"), Some("event"));
    assert_eq!(s(e, "event.action"), Some("SF"));
    assert_eq!(s(e, "event.outcome"), Some("success"));
    assert_eq!(json(e, "event.category"), r#"["network"]"#);
    assert_eq!(json(e, "event.type"), r#"["connection"]"#);
    assert_eq!(s(e, "source.ip"), Some("10.20.1.15"));
    assert_eq!(n(e, "source.port"), Some(52814));
    assert_eq!(s(e, "destination.ip"), Some("93.184.216.34"));
    assert_eq!(n(e, "destination.port"), Some(443));
    assert_eq!(s(e, "network.transport"), Some("tcp"));
    assert_eq!(s(e, "network.protocol"), Some("ssl"));
    assert_eq!(s(e, "network.type"), Some("ipv4"));
    assert_eq!(s(e, "network.direction"), Some("outbound"));
    assert_eq!(n(e, "source.bytes"), Some(2820));
    assert_eq!(n(e, "source.packets"), Some(24));
    assert_eq!(n(e, "destination.bytes"), Some(54502));
    assert_eq!(n(e, "destination.packets"), Some(42));
    assert_eq!(n(e, "network.bytes"), Some(57322));
    assert_eq!(n(e, "network.packets"), Some(66));
    assert_eq!(s(e, "observer.vendor"), Some("Zeek"));
    assert_eq!(get(e, "cloud"), None);
    assert_eq!(json(e, "related.ip"), r#"["10.20.1.15","93.184.216.34"]"#);
    assert_eq!(entity_keys(e), ["ip:10.20.1.15"]);
    assert_eq!(s(e, "event.id").map(str::len), Some(32));
    // The record as Zeek's JSON writer has it, and the line as read.
    assert_eq!(s(e, "zeek.conn._path"), Some("conn"));
    let record = get(e, "zeek.conn").and_then(Value::as_object).unwrap();
    assert_eq!(
        record.get("ts").map(to_string).as_deref(),
        Some("1704164645.123456")
    );
    assert_eq!(record.get("id.orig_p"), Some(&Value::Int(52814)));
    assert_eq!(record.get("local_orig"), Some(&Value::Bool(true)));
    assert_eq!(
        record.get("tunnel_parents").map(to_string).as_deref(),
        Some("[]")
    );
    let first_row = CONN_LOG.lines().nth(8).unwrap();
    assert_eq!(s(e, "event.original"), Some(first_row));

    // An attempt nobody answered: unset fields are absent.
    let e = &all[2];
    assert_eq!(s(e, "event.action"), Some("S0"));
    assert_eq!(s(e, "event.outcome"), Some("failure"));
    assert_eq!(get(e, "event.duration"), None);
    assert_eq!(get(e, "network.protocol"), None);
    let record = get(e, "zeek.conn").and_then(Value::as_object).unwrap();
    assert!(record.get("service").is_none() && record.get("orig_bytes").is_none());

    // Rejected from outside; a set of two.
    let e = &all[3];
    assert_eq!(s(e, "event.outcome"), Some("failure"));
    assert_eq!(s(e, "network.direction"), Some("inbound"));
    assert_eq!(entity_keys(e), ["ip:10.20.3.4"]);
    assert_eq!(
        json(e, "zeek.conn.tunnel_parents"),
        r#"["CGt1OH4fDCpMwbgGhk","Ck51lg1bScffFj34Ri"]"#
    );

    // After the rotation: the new header's extra field.
    let e = &all[4];
    assert_eq!(s(e, "@timestamp"), Some("2024-01-02T04:00:01Z"));
    assert_eq!(s(e, "event.outcome"), Some("success"));
    assert_eq!(s(e, "network.protocol"), Some("smb"));
    assert_eq!(s(e, "network.direction"), Some("internal"));
    assert_eq!(
        s(e, "network.community_id"),
        Some("1:abcdEFGHijklMNOPqrstUVWxyz0=")
    );
    assert_eq!(entity_keys(e), ["ip:10.20.1.22", "ip:172.16.5.9"]);

    // IPv6 multicast: no entity (not an estate's address).
    let e = &all[5];
    assert_eq!(s(e, "network.type"), Some("ipv6"));
    assert_eq!(s(e, "network.direction"), Some("external"));
    assert!(entity_keys(e).is_empty());
}

#[test]
fn the_tsv_and_json_forms_of_a_record_are_one_event() {
    let mut p = ZeekParser::new(None);
    let tsv = &events(&mut p, CONN_LOG)[1];
    let line = r#"{"ts":1704164646.000001,"uid":"C4J4Th3PJpwUYZZ6gc","id.orig_h":"10.20.1.15","id.orig_p":53211,"id.resp_h":"10.20.0.2","id.resp_p":53,"proto":"udp","service":"dns","duration":0.004211,"orig_bytes":38,"resp_bytes":102,"conn_state":"SF","local_orig":true,"local_resp":true,"missed_bytes":0,"history":"Dd","orig_pkts":1,"orig_ip_bytes":66,"resp_pkts":1,"resp_ip_bytes":130}"#;
    let from_json = ZeekParser::new(None).line(line).unwrap().unwrap();
    assert_eq!(s(&from_json, "event.dataset"), Some("zeek.conn"));
    assert_eq!(s(&from_json, "event.id"), s(tsv, "event.id"));
    assert_eq!(get(&from_json, "event.original"), None);
    for path in [
        "@timestamp",
        "event.duration",
        "network.bytes",
        "network.direction",
    ] {
        assert_eq!(get(&from_json, path), get(tsv, path), "{path}");
    }
    // The ISO 8601 time style names the same instant, to the microsecond.
    let iso = line.replace("1704164646.000001", "\"2024-01-02T03:04:06.000001Z\"");
    let from_iso = ZeekParser::new(None).line(&iso).unwrap().unwrap();
    assert_eq!(s(&from_iso, "event.id"), s(tsv, "event.id"));
}

#[test]
fn dns_queries_answers_and_failures() {
    let all = events(&mut ZeekParser::new(None), DNS);
    let e = &all[0];
    assert_eq!(s(e, "event.dataset"), Some("zeek.dns"));
    assert_eq!(s(e, "@timestamp"), Some("2024-01-02T03:04:06Z"));
    assert_eq!(s(e, "event.action"), Some("dns_query"));
    assert_eq!(s(e, "event.outcome"), Some("success"));
    assert_eq!(json(e, "event.type"), r#"["protocol"]"#);
    assert_eq!(s(e, "network.protocol"), Some("dns"));
    assert_eq!(s(e, "network.transport"), Some("udp"));
    assert_eq!(s(e, "dns.question.name"), Some("www.example.com"));
    assert_eq!(s(e, "dns.question.type"), Some("A"));
    assert_eq!(s(e, "dns.question.class"), Some("C_INTERNET"));
    assert_eq!(s(e, "dns.response_code"), Some("NOERROR"));
    assert_eq!(s(e, "dns.id"), Some("41872"));
    assert_eq!(s(e, "dns.type"), Some("answer"));
    assert_eq!(json(e, "dns.header_flags"), r#"["RD","RA"]"#);
    assert_eq!(
        json(e, "dns.answers"),
        r#"[{"data":"www.example.com.cdn.example.net","ttl":300},{"data":"93.184.216.34","ttl":60}]"#
    );
    assert_eq!(json(e, "dns.resolved_ip"), r#"["93.184.216.34"]"#);
    assert_eq!(
        json(e, "related.ip"),
        r#"["93.184.216.34","10.20.1.15","10.20.0.2"]"#
    );
    assert_eq!(json(e, "related.hosts"), r#"["www.example.com"]"#);
    assert_eq!(entity_keys(e), ["ip:10.20.1.15", "ip:10.20.0.2"]);

    // No `_path`: recognised from the fields.
    let e = &all[1];
    assert_eq!(s(e, "event.dataset"), Some("zeek.dns"));
    assert_eq!(s(e, "event.outcome"), Some("failure"));
    assert_eq!(s(e, "dns.response_code"), Some("NXDOMAIN"));
    assert_eq!(s(e, "dns.question.type"), Some("AAAA"));
    assert_eq!(get(e, "dns.answers"), None);

    // No reply (yet): ISO 8601 time, outcome unknown.
    let e = &all[2];
    assert_eq!(s(e, "@timestamp"), Some("2024-01-02T03:06:00.123Z"));
    assert_eq!(s(e, "event.outcome"), Some("unknown"));
    assert_eq!(s(e, "dns.type"), Some("query"));
}

#[test]
fn http_requests_of_one_connection() {
    let all = events(&mut ZeekParser::new(None), HTTP);
    let e = &all[0];
    assert_eq!(s(e, "event.dataset"), Some("zeek.http"));
    assert_eq!(json(e, "event.category"), r#"["network","web"]"#);
    assert_eq!(json(e, "event.type"), r#"["protocol","access"]"#);
    assert_eq!(s(e, "event.action"), Some("GET"));
    assert_eq!(s(e, "event.outcome"), Some("success"));
    assert_eq!(s(e, "http.request.method"), Some("GET"));
    assert_eq!(n(e, "http.response.status_code"), Some(200));
    assert_eq!(s(e, "http.version"), Some("1.1"));
    assert_eq!(
        s(e, "http.request.referrer"),
        Some("http://portal.example.net/")
    );
    assert_eq!(n(e, "http.response.body.bytes"), Some(1_048_576));
    assert_eq!(
        s(e, "http.response.mime_type"),
        Some("application/x-dosexec")
    );
    assert_eq!(s(e, "url.domain"), Some("updates.example.net"));
    assert_eq!(n(e, "url.port"), Some(8080));
    assert_eq!(
        s(e, "url.original"),
        Some("/download/agent.exe?build=42&arch=x64")
    );
    assert_eq!(s(e, "url.path"), Some("/download/agent.exe"));
    assert_eq!(s(e, "url.query"), Some("build=42&arch=x64"));
    assert_eq!(
        s(e, "url.full"),
        Some("http://updates.example.net:8080/download/agent.exe?build=42&arch=x64")
    );
    assert_eq!(
        s(e, "user_agent.original"),
        Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
    );
    assert_eq!(json(e, "related.hosts"), r#"["updates.example.net"]"#);
    assert_eq!(entity_keys(e), ["ip:10.20.1.15"]);

    let e = &all[1];
    assert_eq!(s(e, "event.action"), Some("POST"));
    assert_eq!(s(e, "event.outcome"), Some("failure"));
    assert_eq!(s(e, "url.username"), Some("svc-updater"));
    assert_eq!(s(e, "http.request.mime_type"), Some("application/json"));
    assert_eq!(get(e, "user.name"), None);
    // Same connection, same time: told apart by `trans_depth`.
    assert_ne!(s(e, "event.id"), s(&all[0], "event.id"));
}

#[test]
fn ssl_handshakes() {
    let all = events(&mut ZeekParser::new(None), SSL);
    let e = &all[0];
    assert_eq!(s(e, "event.dataset"), Some("zeek.ssl"));
    assert_eq!(s(e, "event.action"), Some("tls_handshake"));
    assert_eq!(s(e, "event.outcome"), Some("success"));
    assert_eq!(s(e, "network.protocol"), Some("tls"));
    assert_eq!(s(e, "tls.version"), Some("1.3"));
    assert_eq!(s(e, "tls.version_protocol"), Some("tls"));
    assert_eq!(s(e, "tls.cipher"), Some("TLS_AES_256_GCM_SHA384"));
    assert_eq!(s(e, "tls.curve"), Some("x25519"));
    assert_eq!(s(e, "tls.next_protocol"), Some("h2"));
    assert_eq!(s(e, "tls.client.server_name"), Some("www.example.com"));
    assert_eq!(
        s(e, "tls.client.ja3"),
        Some("771,4865-4866-4867,0-23-65281,29-23-24,0")
    );
    assert_eq!(get(e, "tls.established"), Some(&Value::Bool(true)));
    assert_eq!(get(e, "tls.resumed"), Some(&Value::Bool(false)));
    assert_eq!(json(e, "related.hosts"), r#"["www.example.com"]"#);

    let e = &all[1];
    assert_eq!(s(e, "event.outcome"), Some("failure"));
    assert_eq!(s(e, "tls.version"), Some("3.0"));
    assert_eq!(s(e, "tls.version_protocol"), Some("ssl"));
    assert_eq!(s(e, "zeek.ssl.last_alert"), Some("handshake_failure"));
}

#[test]
fn files_with_hashes_and_the_legacy_host_sets() {
    let all = events(&mut ZeekParser::new(None), FILES);
    let e = &all[0];
    assert_eq!(s(e, "event.dataset"), Some("zeek.files"));
    assert_eq!(json(e, "event.category"), r#"["network","file"]"#);
    assert_eq!(json(e, "event.type"), r#"["info"]"#);
    assert_eq!(s(e, "event.action"), Some("file_transfer"));
    assert_eq!(s(e, "network.protocol"), Some("http"));
    assert_eq!(s(e, "file.name"), Some("agent.exe"));
    assert_eq!(s(e, "file.mime_type"), Some("application/x-dosexec"));
    assert_eq!(n(e, "file.size"), Some(1_048_576));
    assert_eq!(
        s(e, "file.hash.md5"),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!(
        s(e, "file.hash.sha1"),
        Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
    );
    assert_eq!(
        s(e, "file.hash.sha256"),
        Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert_eq!(
        get(e, "related.hash")
            .and_then(Value::as_array)
            .map(<[Value]>::len),
        Some(3)
    );
    assert_eq!(s(e, "source.ip"), Some("10.20.1.15"));

    // Older Zeek: no connection id, the hosts as sets; `seen_bytes` as the size.
    let e = &all[1];
    assert_eq!(s(e, "event.dataset"), Some("zeek.files"));
    assert_eq!(get(e, "source.ip"), None);
    assert_eq!(json(e, "related.ip"), r#"["192.0.2.25","10.20.1.50"]"#);
    assert_eq!(n(e, "file.size"), Some(20480));
    assert_eq!(s(e, "network.protocol"), Some("smtp"));
}

const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tweird\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tname\taddl\tnotice\tpeer\tsource\ttags\n#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool\tstring\tstring\tset[string]\n";

#[test]
fn escapes_unset_and_empty_values_and_other_log_types() {
    let mut p = ZeekParser::new(None);
    for line in HEADER.lines() {
        assert_eq!(p.line(line), Ok(None), "{line}");
    }
    let line = "1704164645.5\tCx1\t10.0.0.1\t1234\t10.0.0.2\t80\tbad\\x09name\\xff\t(empty)\tF\t-\t\\x2d\ta\\x2cb,c";
    let e = p.line(line).unwrap().unwrap();
    // Another log type: its dataset, the generic mapping.
    assert_eq!(s(&e, "event.dataset"), Some("zeek.weird"));
    assert_eq!(json(&e, "event.category"), r#"["network"]"#);
    assert_eq!(json(&e, "event.type"), r#"["info"]"#);
    assert_eq!(get(&e, "event.action"), None);
    assert_eq!(s(&e, "source.ip"), Some("10.0.0.1"));
    assert_eq!(entity_keys(&e), ["ip:10.0.0.1", "ip:10.0.0.2"]);
    // `\x09` is a tab, a byte that is not UTF-8 becomes U+FFFD.
    assert_eq!(s(&e, "zeek.weird.name"), Some("bad\tname\u{fffd}"));
    // `(empty)` is an empty string, `-` unset (absent), `\x2d` a real dash.
    assert_eq!(s(&e, "zeek.weird.addl"), Some(""));
    assert_eq!(get(&e, "zeek.weird.notice"), Some(&Value::Bool(false)));
    assert!(get(&e, "zeek.weird")
        .and_then(Value::as_object)
        .is_some_and(|r| r.get("peer").is_none()));
    assert_eq!(s(&e, "zeek.weird.source"), Some("-"));
    // An escaped set separator stays inside its element.
    assert_eq!(json(&e, "zeek.weird.tags"), r#"["a,b","c"]"#);
    // Records that share a connection and a time are told apart by content.
    let other = p
        .line(&line.replace("bad\\x09name", "other"))
        .unwrap()
        .unwrap();
    assert_ne!(s(&other, "event.id"), s(&e, "event.id"));
    // Zeek escapes non-ASCII bytes unless `LogAscii::enable_utf_8`: escaped UTF-8 is text.
    let escaped_utf8 = p
        .line(&line.replace("bad\\x09name\\xff", "caf\\xc3\\xa9"))
        .unwrap()
        .unwrap();
    assert_eq!(s(&escaped_utf8, "zeek.weird.name"), Some("café"));
    // Text that the file source already repaired passes as it is.
    let repaired = p
        .line(&line.replace("bad\\x09name\\xff", "caf\u{fffd}"))
        .unwrap()
        .unwrap();
    assert_eq!(s(&repaired, "zeek.weird.name"), Some("caf\u{fffd}"));
}

#[test]
fn another_separator() {
    let mut p = ZeekParser::new(None);
    for line in [
        "#separator \\x7c",
        "#set_separator|;",
        "#path|conn",
        "#fields|ts|uid|id.orig_h|id.resp_h|conn_state|tunnel_parents",
        "#types|time|string|addr|addr|string|set[string]",
    ] {
        assert_eq!(p.line(line), Ok(None), "{line}");
    }
    let e = p
        .line("1704164645|Cy|10.0.0.1|10.0.0.2|S0|a;b\\x7cc")
        .unwrap()
        .unwrap();
    assert_eq!(s(&e, "event.action"), Some("S0"));
    assert_eq!(json(&e, "zeek.conn.tunnel_parents"), r#"["a","b|c"]"#);
}

#[test]
fn the_configured_log_type_wins_and_custom_paths_keep_their_mapping() {
    let record = r#"{"_path":"conn_long","ts":1704164645,"uid":"C1","id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","conn_state":"S1"}"#;
    let e = ZeekParser::new(None).line(record).unwrap().unwrap();
    assert_eq!(s(&e, "event.dataset"), Some("zeek.conn_long"));
    assert_eq!(s(&e, "event.action"), Some("S1"));
    assert_eq!(s(&e, "event.outcome"), Some("success"));

    let mut conn = Normaliser::zeek(Some("Conn-Internal")).unwrap();
    let mut event = from_str(record).unwrap();
    assert_eq!(conn.apply(&mut event), Ok(true));
    assert_eq!(s(&event, "event.dataset"), Some("zeek.conn-internal"));
    assert_eq!(s(&event, "zeek.conn-internal._path"), Some("conn_long"));

    // Without any name, fields that fit no mapped type are refused with the way out.
    let unnamed = r#"{"ts":1704164645,"uid":"C1","name":"dns_unmatched_reply"}"#;
    let err = reason(ZeekParser::new(None).line(unnamed));
    assert!(err.contains("name the log type with `log`"), "{err}");
    let mut weird = Normaliser::zeek(Some("weird")).unwrap();
    let mut event = from_str(unnamed).unwrap();
    assert_eq!(weird.apply(&mut event), Ok(true));
    assert_eq!(s(&event, "event.dataset"), Some("zeek.weird"));
    assert_eq!(get(&event, "event.category"), None);

    // Records of other logs that share some fields with a mapped one are not taken for it.
    for other in [
        r#"{"ts":1704164645,"uid":"C1","trans_depth":1,"helo":"mail.example","mailfrom":"a@example.com"}"#,
        r#"{"ts":1704164645,"uid":"C1","trans_depth":1,"method":"INVITE","uri":"sip:b@example.com","call_id":"x1"}"#,
        r#"{"ts":1704164645,"uid":"C1","note":"Scan::Port_Scan","fuid":"F1"}"#,
    ] {
        let err = reason(ZeekParser::new(None).line(other));
        assert!(
            err.contains("name the log type with `log`"),
            "{other}: {err}"
        );
    }

    for bad in ["conn.log", "", "a b", "x/y"] {
        assert!(Normaliser::zeek(Some(bad)).is_err(), "{bad}");
    }
}

#[test]
fn nested_keys_from_collectors_that_split_the_dotted_names() {
    let record = r#"{"_path":"conn","ts":1704164645,"uid":"C1","id":{"orig_h":"10.0.0.1","orig_p":5000,"resp_h":"10.0.0.2","resp_p":22},"conn_state":"SF"}"#;
    let e = ZeekParser::new(None).line(record).unwrap().unwrap();
    assert_eq!(s(&e, "source.ip"), Some("10.0.0.1"));
    assert_eq!(n(&e, "destination.port"), Some(22));
}

#[test]
fn bad_lines_are_refused_with_the_reason() {
    let mut p = ZeekParser::new(None);
    let err = reason(p.line("1704164645.1\tC1\t10.0.0.1"));
    assert!(err.contains("before any `#fields` header"), "{err}");
    for line in HEADER.lines() {
        p.line(line).unwrap();
    }
    let good = "1704164645.5\tCx1\t10.0.0.1\t1234\t10.0.0.2\t80\tname\t-\tF\t-\t-\t(empty)";
    assert!(p.line(good).unwrap().is_some());
    let cases = [
        // Truncated: a line cut short.
        (
            &good[..30],
            "expected 12 fields (the `#fields` header), found 4",
        ),
        (
            &format!("{good}\textra"),
            "expected 12 fields (the `#fields` header), found 13",
        ),
        (
            &good.replacen("1704164645.5", "soon", 1),
            "`ts` (time) `soon` is not a number",
        ),
        (
            &good.replacen("1234", "12x4", 1),
            "`id.orig_p` (port) `12x4` is not a whole number",
        ),
        (
            &good.replacen("\tF\t", "\tyes\t", 1),
            "`notice` (bool) `yes` is not `T` or `F`",
        ),
        (
            &good.replacen("10.0.0.1", "10.0.0.999", 1),
            "`id.orig_h` `10.0.0.999` is not an IP address",
        ),
        ("{\"ts\":17041", "a line that is not JSON"),
        (
            r#"{"uid":"C1","query":"x","qtype":1}"#,
            "no `ts`: not a Zeek log record",
        ),
        (
            r#"{"ts":"yesterday","uid":"C1"}"#,
            "`ts` `yesterday` is not a time",
        ),
        (r#"{"ts":1e300,"uid":"C1"}"#, "is not a time"),
    ];
    for (line, expected) in cases {
        let err = reason(p.line(line));
        assert!(err.starts_with("zeek: "), "{err}");
        assert!(err.contains(expected), "{line}: {err}");
    }
    // The header still holds after refused lines.
    assert!(p.line(good).unwrap().is_some());

    let err = reason(p.line("#types\ttime\tstring"));
    assert!(
        err.contains("`#types` names 2 types for 12 fields"),
        "{err}"
    );
    // Without types the values stay text, and the time still reads.
    let e = p.line(good).unwrap().unwrap();
    let record = get(&e, "zeek.weird").and_then(Value::as_object).unwrap();
    assert_eq!(
        record.get("id.orig_p").and_then(Value::as_str),
        Some("1234")
    );
    assert_eq!(n(&e, "source.port"), Some(1234));
    assert_eq!(s(&e, "@timestamp"), Some("2024-01-02T03:04:05.500Z"));

    assert!(reason(p.line("#separator")).contains("names no separator"));
    assert!(reason(p.line("#path\tno/such")).contains("is not a Zeek log name"));
    assert_eq!(p.line("   "), Ok(None));
    assert_eq!(p.line("#close\t2024-01-02-04-00-00"), Ok(None));
}

#[test]
fn a_parsed_record_and_failures_leave_the_event_as_it_was() {
    let mut zeek = Normaliser::new(Format::Zeek);
    let line = DNS.lines().next().unwrap();
    let mut parsed = from_str(line).unwrap();
    assert_eq!(zeek.apply(&mut parsed), Ok(true));
    let mut wrapped = Value::object();
    if let Value::Object(m) = &mut wrapped {
        m.insert("message", Value::from(line));
    }
    assert_eq!(zeek.apply(&mut wrapped), Ok(true));
    assert_eq!(to_string(&wrapped), to_string(&parsed));

    for input in [r#"{"message":"{\"uid\":\"x\"}"}"#, r#"{"uid":"x"}"#, "[1]"] {
        let mut event = from_str(input).unwrap();
        assert!(zeek.apply(&mut event).is_err(), "{input}");
        assert_eq!(to_string(&event), input);
    }
    let mut header = from_str(r##"{"message":"#separator \\x09"}"##).unwrap();
    assert_eq!(zeek.apply(&mut header), Ok(false));
}
