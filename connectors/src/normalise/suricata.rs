//! Suricata EVE JSON (`eve.json`, one record per line) → `event.dataset: suricata.eve`.
//!
//! Every record has a `timestamp` (`2024-01-02T03:04:05.678901+0000`: an offset without
//! a colon, which is read too) and an `event_type` (`alert`, `flow`, `dns`, `http`,
//! `tls`, `fileinfo`, `anomaly`, `stats`, ...); network records name the flow's ends.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp`, `event.action` | `timestamp`, `event_type` (both required) |
//! | `source.ip`/`.port`, `destination.ip`/`.port`, `network.transport`, `network.protocol`, `network.community_id` | `src_ip`, `src_port`, `dest_ip`, `dest_port`, `proto` (lowercased), `app_proto` (not `failed`), `community_id` |
//! | `network.type`, `network.direction` | the address family; whether the addresses are internal |
//! | `observer.hostname`, `observer.ingress.interface.name` | `host` (the sensor name), `in_iface` |
//! | alert: `event.kind: alert`, `rule.name`, `rule.id`, `rule.version`, `rule.category`, `event.severity`, `message` | `alert.signature`, `alert.signature_id`, `alert.rev`, `alert.category`, `alert.severity` (1 is the highest), the signature |
//! | alert: `event.type` | `alert.action`: `allowed` → `[allowed]`, `blocked` → `[denied]` |
//! | flow, netflow: `source.bytes`/`.packets`, `destination.bytes`/`.packets`, `network.bytes`/`.packets`, `event.start`, `event.end`, `event.duration` | `bytes_toserver`, `pkts_toserver`, `bytes_toclient`, `pkts_toclient` (netflow: `bytes`, `pkts` one way), their sums, `start`, `end` |
//! | dns: `dns.question.name`/`.type`, `dns.id`, `dns.type`, `dns.response_code`, `dns.answers`, `dns.resolved_ip`, `event.outcome` | `rrname`, `rrtype` (or `queries[0]`), `id`, `type` (`query`/`request` → `query`, else `answer`), `rcode`, `answers` (or `grouped`), the answers that are addresses, `success` for `NOERROR` |
//! | http: `url.domain`, `url.original`, `url.path`, `url.query`, `url.full`, `http.request.method`, `http.response.status_code`, `http.version`, `http.request.referrer`, `http.response.body.bytes`, `http.response.mime_type`, `user_agent.original`, `event.outcome` | `hostname`, `url` (split), `http://` + `hostname` + `url`, `http_method`, `status` (`failure` from 400), `protocol`, `http_refer`, `length`, `http_content_type`, `http_user_agent` |
//! | tls: `tls.client.server_name`, `tls.version`, `tls.version_protocol`, `tls.server.subject`, `tls.server.issuer`, `tls.server.hash.sha1`, `tls.server.not_before`, `tls.server.not_after`, `tls.client.ja3`, `tls.server.ja3s` | `sni`, `version` (`TLS 1.2` → `1.2`, `tls`), `subject`, `issuerdn`, `fingerprint` (without colons, upper case), `notbefore`, `notafter`, `ja3.hash`, `ja3s.hash` |
//! | fileinfo: `file.name`, `file.size`, `file.hash.*` | `fileinfo.filename`, `size`, `md5`, `sha1`, `sha256` (`magic`, libmagic's description, stays in the record) |
//! | anomaly: `message` | `anomaly.event` (`anomaly.type` and `layer` stay in the record) |
//! | `event.category`, `event.type` | alert `[network, intrusion_detection]`; flow `[network]`/`[connection]`; dns, tls and other protocol records `[network]`/`[protocol]`; http `[network, web]`/`[protocol, access]`; fileinfo `[network, file]`/`[info]`; anomaly `[network]`/`[info]`; drop `[network]`/`[denied]`; `stats` is `event.kind: metric` |
//! | `related.ip`, `related.hosts`, `related.hash` | the endpoints and resolved addresses; DNS names, HTTP hosts, SNI; file hashes |
//! | `suricata.eve` | the record as received |
//!
//! `event.id` is over `flow_id`, `event_type` and `timestamp`, with what tells apart the
//! records of one flow at one instant: `tx_id`, an alert's `signature_id`, a file's
//! `file_id`, a DNS record's `type` and `id`. Records without a flow (`stats`) are
//! identified by their content.

use super::{as_number, shorten, timestamp, Doc, Format, Head, NormaliseError, Received};
use pipectl_core::detect::sigma::time::{format_rfc3339, parse_rfc3339};
use pipectl_core::entity::is_internal_ip;
use pipectl_core::value::{Map, Value};
use std::net::IpAddr;

const MODULE: &str = "suricata";
const DATASET: &str = "suricata.eve";

fn err(reason: impl Into<String>) -> NormaliseError {
    NormaliseError::new(Format::Suricata, reason)
}

/// Normalises one EVE record; refuses records without `timestamp` or `event_type`, and
/// records whose addresses are not addresses.
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

/// RFC 3339 UTC of Suricata's time (`+0000` offsets written without a colon).
fn eve_time(text: &str) -> Option<String> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let n = bytes.len();
    let compact_offset = n >= 24
        && matches!(bytes[n - 5], b'+' | b'-')
        && bytes[n - 4..].iter().all(u8::is_ascii_digit);
    if compact_offset {
        let (rest, minutes) = text.split_at(n - 2);
        timestamp(&format!("{rest}:{minutes}"))
    } else {
        timestamp(text)
    }
}

pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    if !matches!(record, Value::Object(_)) {
        return Err(err(format!(
            "the record is {}, not an object",
            crate::codecs::a_or_an(record.type_name())
        )));
    }
    let time = text(record, "timestamp")
        .ok_or_else(|| err("no `timestamp`: not a Suricata EVE record"))?;
    let timestamp = eve_time(time)
        .ok_or_else(|| err(format!("`timestamp` `{}` is not a time", shorten(time))))?;
    let action = text(record, "event_type")
        .ok_or_else(|| err("no `event_type`: not a Suricata EVE record"))?;
    for key in ["src_ip", "dest_ip"] {
        if let Some(ip) = text(record, key) {
            if ip.parse::<IpAddr>().is_err() {
                return Err(err(format!(
                    "`{key}` `{}` is not an IP address",
                    shorten(ip)
                )));
            }
        }
    }
    Ok(Head {
        time: Some(timestamp),
        action: action.to_string(),
    })
}

/// The value at a dotted path, `null` counting as absent.
fn get<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    super::field(record, path).filter(|v| !v.is_null())
}

/// Non-empty text at a path.
fn text<'a>(record: &'a Value, path: &str) -> Option<&'a str> {
    get(record, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A whole number at a path (a number or its digits).
fn number(record: &Value, path: &str) -> Option<i64> {
    get(record, path).and_then(as_number)
}

/// A value as id text: a string as-is, anything else as JSON.
fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => pipectl_core::json::to_string(other),
    }
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time.clone(), received);
    doc.set("event.action", head.action.as_str());
    doc.set("observer.vendor", "OISF");
    doc.set("observer.product", "Suricata");
    doc.set("observer.type", "ids");
    doc.set_text("observer.hostname", text(r, "host"));
    doc.set_text("observer.ingress.interface.name", text(r, "in_iface"));
    endpoints(&mut doc, r);
    match head.action.as_str() {
        "alert" => alert(&mut doc, r),
        "flow" => flow(&mut doc, r, "flow"),
        "netflow" => flow(&mut doc, r, "netflow"),
        "dns" => dns(&mut doc, r),
        "http" => {
            http(&mut doc, r);
        }
        "tls" => tls(&mut doc, r),
        "fileinfo" => {
            fileinfo(&mut doc, r);
            if get(r, "http").is_some() {
                http_fields(&mut doc, r);
            }
        }
        "anomaly" => {
            doc.categorise("network", &["info"]);
            doc.set_text("message", text(r, "anomaly.event"));
        }
        "stats" => doc.set("event.kind", "metric"),
        "drop" => doc.categorise("network", &["denied"]),
        _ => {
            if get(r, "src_ip").is_some() || get(r, "dest_ip").is_some() {
                doc.categorise("network", &["protocol"]);
            }
        }
    }
    doc.relate_set_fields();
    let key = id_key(r, &head.action);
    doc.finish_in(MODULE, DATASET, None, key, record)
}

/// The id's key (see the module documentation); `None` without a `flow_id`.
fn id_key(r: &Value, event_type: &str) -> Option<String> {
    let flow = get(r, "flow_id")?;
    let mut parts = vec![
        id_text(flow),
        event_type.to_string(),
        text(r, "timestamp").unwrap_or_default().to_string(),
    ];
    for path in [
        "tx_id",
        "alert.signature_id",
        "fileinfo.file_id",
        "dns.type",
        "dns.id",
    ] {
        if let Some(value) = get(r, path) {
            parts.push(format!("{path}={}", id_text(value)));
        }
    }
    Some(parts.join("\u{1f}"))
}

fn endpoints(doc: &mut Doc, r: &Value) {
    let ip = |key: &str| text(r, key).and_then(|t| t.parse::<IpAddr>().ok());
    let (src, dst) = (ip("src_ip"), ip("dest_ip"));
    for (side, addr, port) in [
        ("source", src, "src_port"),
        ("destination", dst, "dest_port"),
    ] {
        if let Some(addr) = addr {
            doc.set(&format!("{side}.ip"), addr.to_string());
        }
        if let Some(port) = number(r, port) {
            doc.set(&format!("{side}.port"), port);
        }
    }
    if let Some(addr) = src.or(dst) {
        doc.set("network.type", if addr.is_ipv4() { "ipv4" } else { "ipv6" });
    }
    if let (Some(src), Some(dst)) = (src, dst) {
        let direction = match (is_internal_ip(src), is_internal_ip(dst)) {
            (true, true) => "internal",
            (false, true) => "inbound",
            (true, false) => "outbound",
            (false, false) => "external",
        };
        doc.set("network.direction", direction);
    }
    if let Some(proto) = text(r, "proto") {
        doc.set("network.transport", proto.to_ascii_lowercase());
    }
    if let Some(app) = text(r, "app_proto").filter(|a| *a != "failed") {
        doc.set("network.protocol", app.to_ascii_lowercase());
    }
    doc.set_text("network.community_id", text(r, "community_id"));
}

fn alert(doc: &mut Doc, r: &Value) {
    doc.set("event.kind", "alert");
    let verdict = match text(r, "alert.action") {
        Some("blocked") => "denied",
        _ => "allowed",
    };
    doc.set(
        "event.category",
        vec![Value::from("network"), Value::from("intrusion_detection")],
    );
    doc.set("event.type", vec![Value::from(verdict)]);
    if let Some(signature) = text(r, "alert.signature") {
        doc.set("rule.name", signature);
        doc.set("message", signature);
    }
    if let Some(id) = get(r, "alert.signature_id") {
        doc.set("rule.id", id_text(id));
    }
    if let Some(rev) = get(r, "alert.rev") {
        doc.set("rule.version", id_text(rev));
    }
    doc.set_text("rule.category", text(r, "alert.category"));
    if let Some(severity) = number(r, "alert.severity") {
        doc.set("event.severity", severity);
    }
}

fn flow(doc: &mut Doc, r: &Value, object: &str) {
    doc.categorise("network", &["connection"]);
    let mut bytes = None;
    let mut packets = None;
    let sides: &[(&str, &str, &str)] = if object == "flow" {
        &[
            ("source", "bytes_toserver", "pkts_toserver"),
            ("destination", "bytes_toclient", "pkts_toclient"),
        ]
    } else {
        &[("source", "bytes", "pkts")]
    };
    for (side, b, p) in sides {
        if let Some(n) = number(r, &format!("{object}.{b}")) {
            doc.set(&format!("{side}.bytes"), n);
            bytes = Some(bytes.unwrap_or(0i64).saturating_add(n));
        }
        if let Some(n) = number(r, &format!("{object}.{p}")) {
            doc.set(&format!("{side}.packets"), n);
            packets = Some(packets.unwrap_or(0i64).saturating_add(n));
        }
    }
    if let Some(n) = bytes {
        doc.set("network.bytes", n);
    }
    if let Some(n) = packets {
        doc.set("network.packets", n);
    }
    let at = |key: &str| {
        text(r, &format!("{object}.{key}"))
            .and_then(eve_time)
            .and_then(|t| parse_rfc3339(&t))
    };
    let (start, end) = (at("start"), at("end"));
    if let Some(start) = start {
        doc.set("event.start", format_rfc3339(start));
    }
    if let Some(end) = end {
        doc.set("event.end", format_rfc3339(end));
    }
    if let (Some(start), Some(end)) = (start, end) {
        if end >= start {
            doc.set("event.duration", (end - start).saturating_mul(1_000_000));
        }
    }
}

fn dns(doc: &mut Doc, r: &Value) {
    doc.categorise("network", &["protocol"]);
    let query = get(r, "dns.queries")
        .and_then(Value::as_array)
        .and_then(<[Value]>::first);
    let name = text(r, "dns.rrname").or_else(|| query.and_then(|q| text(q, "rrname")));
    let qtype = text(r, "dns.rrtype").or_else(|| query.and_then(|q| text(q, "rrtype")));
    if let Some(name) = name {
        doc.set("dns.question.name", name);
        doc.relate("hosts", name);
    }
    doc.set_text("dns.question.type", qtype);
    if let Some(id) = get(r, "dns.id") {
        doc.set("dns.id", id_text(id));
    }
    let kind = match text(r, "dns.type") {
        Some("query" | "request") => "query",
        _ => "answer",
    };
    doc.set("dns.type", kind);
    if let Some(rcode) = text(r, "dns.rcode") {
        doc.set("dns.response_code", rcode);
        doc.set(
            "event.outcome",
            if rcode == "NOERROR" {
                "success"
            } else {
                "failure"
            },
        );
    }
    let mut answers = Vec::new();
    let mut resolved = Vec::new();
    if let Some(list) = get(r, "dns.answers").and_then(Value::as_array) {
        for answer in list {
            let Some(data) = text(answer, "rdata") else {
                continue;
            };
            let mut item = Map::with_capacity(4);
            item.push("data", Value::from(data));
            for (from, to) in [("rrname", "name"), ("rrtype", "type")] {
                if let Some(v) = text(answer, from) {
                    item.push(to, Value::from(v));
                }
            }
            if let Some(ttl) = number(answer, "ttl") {
                item.push("ttl", Value::Int(ttl));
            }
            answers.push(Value::Object(item));
            resolved.extend(data.parse::<IpAddr>().ok());
        }
    } else if let Some(Value::Object(grouped)) = get(r, "dns.grouped") {
        for (rrtype, values) in grouped.iter() {
            for data in values
                .as_array()
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
            {
                let mut item = Map::with_capacity(2);
                item.push("data", Value::from(data));
                item.push("type", Value::from(rrtype.as_str()));
                answers.push(Value::Object(item));
                resolved.extend(data.parse::<IpAddr>().ok());
            }
        }
    } else if let (Some(data), Some("A" | "AAAA")) = (text(r, "dns.rdata"), qtype) {
        // EVE version 1: one answer record per line.
        let mut item = Map::with_capacity(1);
        item.push("data", Value::from(data));
        answers.push(Value::Object(item));
        resolved.extend(data.parse::<IpAddr>().ok());
    }
    if !answers.is_empty() {
        doc.set("dns.answers", answers);
    }
    if !resolved.is_empty() {
        for ip in &resolved {
            doc.relate("ip", &ip.to_string());
        }
        let resolved: Vec<Value> = resolved
            .iter()
            .map(|ip| Value::from(ip.to_string()))
            .collect();
        doc.set("dns.resolved_ip", resolved);
    }
}

fn http(doc: &mut Doc, r: &Value) {
    doc.categorise("network", &["protocol", "access"]);
    doc.set(
        "event.category",
        vec![Value::from("network"), Value::from("web")],
    );
    http_fields(doc, r);
    if let Some(status) = number(r, "http.status") {
        doc.set(
            "event.outcome",
            if status >= 400 { "failure" } else { "success" },
        );
    }
}

/// The HTTP transaction's fields (of an `http` record, or a file's `http` object).
fn http_fields(doc: &mut Doc, r: &Value) {
    if let Some(method) = text(r, "http.http_method") {
        doc.set("http.request.method", method);
    }
    if let Some(status) = number(r, "http.status") {
        doc.set("http.response.status_code", status);
    }
    if let Some(version) = text(r, "http.protocol") {
        doc.set("http.version", version.trim_start_matches("HTTP/"));
    }
    doc.set_text("http.request.referrer", text(r, "http.http_refer"));
    doc.set_text("http.response.mime_type", text(r, "http.http_content_type"));
    doc.set_text("user_agent.original", text(r, "http.http_user_agent"));
    if let Some(length) = number(r, "http.length") {
        doc.set("http.response.body.bytes", length);
    }
    let host = text(r, "http.hostname");
    if let Some(host) = host {
        doc.set("url.domain", host);
        doc.relate("hosts", host);
    }
    if let Some(url) = text(r, "http.url") {
        doc.set("url.original", url);
        let (path, query) = match url.split('#').next().unwrap_or(url).split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (url, None),
        };
        if path.starts_with('/') {
            doc.set("url.path", path);
        }
        doc.set_text("url.query", query.filter(|q| !q.is_empty()));
        if let (Some(host), true) = (host, url.starts_with('/')) {
            let port = number(r, "http.http_port")
                .filter(|p| *p != 80)
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            doc.set("url.scheme", "http");
            doc.set("url.full", format!("http://{host}{port}{url}"));
        }
    }
}

fn tls(doc: &mut Doc, r: &Value) {
    doc.categorise("network", &["protocol"]);
    if let Some(sni) = text(r, "tls.sni") {
        doc.set("tls.client.server_name", sni);
        doc.relate("hosts", sni);
    }
    if let Some((protocol, number)) = text(r, "tls.version").and_then(tls_version) {
        doc.set("tls.version_protocol", protocol);
        doc.set("tls.version", number);
    }
    doc.set_text("tls.server.subject", text(r, "tls.subject"));
    doc.set_text("tls.server.issuer", text(r, "tls.issuerdn"));
    if let Some(fingerprint) = text(r, "tls.fingerprint") {
        let hex: String = fingerprint
            .chars()
            .filter(|c| *c != ':')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        doc.set("tls.server.hash.sha1", hex);
    }
    for (from, to) in [
        ("tls.notbefore", "tls.server.not_before"),
        ("tls.notafter", "tls.server.not_after"),
    ] {
        if let Some(at) = text(r, from).and_then(eve_time) {
            doc.set(to, at);
        }
    }
    doc.set_text("tls.client.ja3", text(r, "tls.ja3.hash"));
    doc.set_text("tls.server.ja3s", text(r, "tls.ja3s.hash"));
}

/// ECS `tls.version_protocol` and `tls.version` of Suricata's (`TLS 1.2`, `TLSv1`,
/// `SSLv3`).
fn tls_version(version: &str) -> Option<(&'static str, String)> {
    let (protocol, rest) = if let Some(rest) = version.strip_prefix("TLS") {
        ("tls", rest)
    } else if let Some(rest) = version.strip_prefix("SSL") {
        ("ssl", rest)
    } else {
        return None;
    };
    let number = rest.trim_start_matches([' ', 'v']);
    let valid = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    valid.then(|| {
        let number = if number.contains('.') {
            number.to_string()
        } else {
            format!("{number}.0")
        };
        (protocol, number)
    })
}

fn fileinfo(doc: &mut Doc, r: &Value) {
    doc.categorise("network", &["info"]);
    doc.set(
        "event.category",
        vec![Value::from("network"), Value::from("file")],
    );
    doc.set_text("file.name", text(r, "fileinfo.filename"));
    if let Some(size) = number(r, "fileinfo.size") {
        doc.set("file.size", size);
    }
    for hash in ["md5", "sha1", "sha256"] {
        if let Some(value) = text(r, &format!("fileinfo.{hash}")) {
            doc.set(&format!("file.hash.{hash}"), value);
            doc.relate("hash", value);
        }
    }
}

#[cfg(test)]
mod tests;
