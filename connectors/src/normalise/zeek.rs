//! Zeek logs → `event.dataset: zeek.<log>` (`zeek.conn`, `zeek.dns`, `zeek.http`,
//! `zeek.ssl`, `zeek.files`, and any other log type by its name).
//!
//! Zeek writes each log type to its own file, either as JSON (one object per line, flat
//! dotted keys such as `id.orig_h`) or as TSV under a header:
//!
//! ```text
//! #separator \x09
//! #set_separator  ,
//! #empty_field    (empty)
//! #unset_field    -
//! #path   conn
//! #fields ts  uid id.orig_h ...
//! #types  time    string  addr ...
//! ```
//!
//! A TSV line only means something under its header, so this normaliser is a small
//! stateful parser like the VPC flow one. The header comes again whenever a new file
//! starts (after a rotation a followed file continues with the new file's header): a
//! `#separator` line starts a new header. In values, `\xHH` is an escaped byte (the
//! separator, a non-printable or, unless `LogAscii::enable_utf_8`, a non-ASCII one:
//! escaped UTF-8 decodes to its text); bytes that are not UTF-8 become U+FFFD, as the
//! file source does. Other backslashes are kept as written. The unset marker (`-`) leaves the field out, as Zeek's JSON
//! writer does; the empty marker (`(empty)`) is an empty string or set. Sets and vectors
//! are split on the set separator. The fields take the JSON writer's types (`time`,
//! `interval`, `double`: numbers; `count`, `int`, `port`: whole numbers; `bool`: `T`/`F`),
//! so a record read from TSV is the record Zeek would have written as JSON, and the two
//! forms of one record get the same `event.id`.
//!
//! The log type, which names the dataset and chooses the mapping, is the configured
//! one (`log` of the `normalise` transform: for files written under custom path names),
//! else the record's `_path` (JSON) or the header's `#path` (TSV), else recognised from
//! the fields. A custom path that starts with a mapped type and `_` or `-` (`conn_long`,
//! `http-eth1`) gets that type's mapping under its own dataset. Other log types
//! (`weird`, `notice`, `x509`...) still normalise: time, connection endpoints, vendor
//! record.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `ts` (required: epoch seconds, or ISO 8601 text) |
//! | `source.ip`/`.port`, `destination.ip`/`.port` | `id.orig_h`, `id.orig_p`, `id.resp_h`, `id.resp_p` |
//! | `network.type`, `network.direction` | the address family; `local_orig`/`local_resp` (Zeek's `Site::local_nets`), else whether the addresses are internal |
//! | `network.transport`, `network.community_id` | `proto`, `community_id` |
//! | conn: `event.action`, `event.outcome` | `conn_state` as-is; `success` for an established connection (`SF`, `S1`, `S2`, `S3`, `RSTO`, `RSTR`), `failure` for none (`S0`, `REJ`, `RSTOS0`), else `unknown` |
//! | conn: `network.protocol`, `event.duration`, `event.start`, `event.end` | `service` (its first), `duration`, `ts`, `ts` + `duration` |
//! | conn: `source.bytes`/`.packets`, `destination.bytes`/`.packets`, `network.bytes`/`.packets` | `orig_ip_bytes` (else `orig_bytes`), `orig_pkts`, `resp_ip_bytes` (else `resp_bytes`), `resp_pkts`, their sums |
//! | dns: `dns.question.name`/`.type`/`.class`, `dns.id`, `dns.response_code`, `dns.header_flags`, `dns.answers`, `dns.resolved_ip`, `dns.type` | `query`, `qtype_name`, `qclass_name`, `trans_id`, `rcode_name`, `AA` `TC` `RD` `RA`, `answers` with `TTLs`, the answers that are addresses, `answer` once a reply was seen |
//! | dns: `event.action`, `event.outcome` | `dns_query`; `success` for `NOERROR`, `failure` for another code or `rejected`, else `unknown` |
//! | http: `http.request.method`, `http.response.status_code`, `http.version`, `http.request.referrer`, `http.request.body.bytes`, `http.response.body.bytes`, `http.request.mime_type`, `http.response.mime_type` | `method` (also `event.action`), `status_code` (`failure` from 400), `version`, `referrer`, `request_body_len`, `response_body_len`, `orig_mime_types`, `resp_mime_types` (their first) |
//! | http: `url.original`, `url.path`, `url.query`, `url.domain`, `url.port`, `url.full`, `url.username`, `user_agent.original` | `uri`, its path and query, `host` (without a port), its port, `http://` + `host` + `uri`, `username`, `user_agent` |
//! | ssl: `tls.version`, `tls.version_protocol`, `tls.cipher`, `tls.curve`, `tls.resumed`, `tls.established`, `tls.next_protocol`, `tls.client.server_name`, `tls.client.ja3`, `tls.server.ja3s`, `tls.server.subject`, `tls.server.issuer` | `version` (`TLSv12` → `1.2`, `tls`), `cipher`, `curve`, `resumed`, `established`, `next_protocol`, `server_name`, `ja3`, `ja3s`, `subject`, `issuer` |
//! | ssl: `event.action`, `event.outcome` | `tls_handshake`; `established` |
//! | files: `file.name`, `file.mime_type`, `file.size`, `file.hash.md5`/`.sha1`/`.sha256`, `network.protocol` | `filename`, `mime_type`, `total_bytes` (else `seen_bytes`), `md5`, `sha1`, `sha256`, `source` |
//! | files: `event.action` | `file_transfer` |
//! | `event.category`, `event.type` | conn `[network]`/`[connection]`; dns `[network]`/`[protocol]`; http `[network, web]`/`[protocol, access]`; ssl `[network]`/`[protocol]`; files `[network, file]`/`[info]`; others `[network]`/`[info]` when they name a connection |
//! | `related.ip`, `related.hosts`, `related.hash` | the endpoints, resolved and `tx_hosts`/`rx_hosts` addresses; queried names, HTTP hosts, TLS server names; file hashes |
//! | `observer.vendor`, `observer.product`, `event.original`, `zeek.<log>` | `Zeek`; the TSV line as read; the record (flat keys, as Zeek's JSON writer has them) |
//!
//! `event.id` is over `uid` and `ts` (schema §1), with `trans_depth` for HTTP (one
//! connection carries several requests) and `trans_id` for DNS; a files record's key is
//! its `fuid`. Other log types, whose records may share a connection and a time, are
//! identified by the record's content.

use super::{as_number, shorten, Doc, Format, NormaliseError};
use pipectl_core::detect::sigma::time::{format_rfc3339, parse_rfc3339, MAX_MILLIS, MIN_MILLIS};
use pipectl_core::entity::is_internal_ip;
use pipectl_core::value::{Map, Value};
use std::net::IpAddr;

/// `event.module`, and the root of every `zeek.<log>` dataset.
const MODULE: &str = "zeek";

/// The longest log name accepted: names become a dataset and a field path.
const MAX_LOG_NAME: usize = 64;

fn err(reason: impl Into<String>) -> NormaliseError {
    NormaliseError::new(Format::Zeek, reason)
}

/// A log type's name as a dataset: lowercase letters, digits, `_` and `-` (Zeek's own
/// path names, `conn`, `dns`, `conn_long`, `conn-internal`), since it becomes the field
/// path the record is kept under.
pub fn log_name(name: &str) -> Result<String, NormaliseError> {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.len() <= MAX_LOG_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(err(format!(
            "`{}` is not a Zeek log name (letters, digits, `_` and `-`)",
            shorten(name)
        )))
    }
}

/// Reads Zeek log lines (TSV under the last header, or JSON) and parsed records.
#[derive(Debug, Clone)]
pub struct ZeekParser {
    /// The configured log type, which wins over what records say.
    log: Option<String>,
    header: Header,
}

/// What the TSV header lines read so far say.
#[derive(Debug, Clone)]
struct Header {
    separator: String,
    set_separator: String,
    empty: String,
    unset: String,
    path: Option<String>,
    fields: Vec<String>,
    /// One per field, or empty when no (or an inconsistent) `#types` line came.
    types: Vec<String>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            path: None,
            fields: Vec::new(),
            types: Vec::new(),
        }
    }
}

impl ZeekParser {
    /// A parser for records of the log type `log` (a [`log_name`]), or of the type the
    /// records name when `None`.
    pub fn new(log: Option<String>) -> ZeekParser {
        ZeekParser {
            log,
            header: Header::default(),
        }
    }

    /// The event of one line; `None` for a header or blank line.
    pub fn line(&mut self, line: &str) -> Result<Option<Value>, NormaliseError> {
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.trim().is_empty() {
            return Ok(None);
        }
        if let Some(directive) = trimmed.strip_prefix('#') {
            self.directive(directive)?;
            return Ok(None);
        }
        if trimmed.trim_start().starts_with('{') {
            let record = pipectl_core::json::from_str(trimmed)
                .map_err(|e| err(format!("a line that is not JSON: {e}")))?;
            return self.owned_record(record).map(Some);
        }
        let record = self.tsv_record(trimmed)?;
        let log = self.log.clone().or_else(|| self.header.path.clone());
        normalise(record, log, Some(line)).map(Some)
    }

    /// The event of a parsed (JSON) record, which stays as it was when it is refused.
    pub fn record(&self, record: &Value) -> Result<Value, NormaliseError> {
        self.owned_record(record.clone())
    }

    /// [`ZeekParser::record`] of a record the caller gives away.
    fn owned_record(&self, record: Value) -> Result<Value, NormaliseError> {
        if !matches!(record, Value::Object(_)) {
            return Err(err(format!(
                "the record is {}, not an object",
                crate::codecs::a_or_an(record.type_name())
            )));
        }
        let log = match &self.log {
            Some(log) => Some(log.clone()),
            None => flat(&record, "_path")
                .and_then(Value::as_str)
                .map(log_name)
                .transpose()?,
        };
        normalise(record, log, None)
    }

    /// A header line (without its `#`).
    fn directive(&mut self, directive: &str) -> Result<(), NormaliseError> {
        if let Some(value) = directive.strip_prefix("separator") {
            let separator = unescape(value.trim());
            if separator.is_empty() {
                return Err(err("`#separator` names no separator"));
            }
            // A new header: a new file begins (the first, or the next after rotation).
            self.header = Header {
                separator,
                ..Header::default()
            };
            return Ok(());
        }
        let header = &mut self.header;
        let mut parts = directive.split(header.separator.as_str());
        let name = parts.next().unwrap_or_default().trim();
        let values: Vec<String> = parts.map(unescape).collect();
        let first = || values.first().cloned().unwrap_or_default();
        match name {
            "set_separator" => header.set_separator = first(),
            "empty_field" => header.empty = first(),
            "unset_field" => header.unset = first(),
            "path" => header.path = Some(log_name(&first())?),
            "fields" => {
                header.fields = values;
                header.types.clear();
            }
            "types" => {
                if values.len() != header.fields.len() {
                    header.types.clear();
                    return Err(err(format!(
                        "`#types` names {} types for {} fields; the values are read as text",
                        values.len(),
                        header.fields.len()
                    )));
                }
                header.types = values;
            }
            // `#open`, `#close` and comments say nothing about the records.
            _ => {}
        }
        Ok(())
    }

    /// The record of a TSV line under the current header, keyed as Zeek's JSON writer
    /// keys it.
    fn tsv_record(&self, line: &str) -> Result<Value, NormaliseError> {
        let header = &self.header;
        if header.fields.is_empty() {
            return Err(err(
                "a TSV line before any `#fields` header line: a Zeek TSV log must be read from its first line (or written as JSON)",
            ));
        }
        let values: Vec<&str> = line.split(header.separator.as_str()).collect();
        if values.len() != header.fields.len() {
            return Err(err(format!(
                "expected {} fields (the `#fields` header), found {}",
                header.fields.len(),
                values.len()
            )));
        }
        let mut record = Map::with_capacity(values.len() + 1);
        if let Some(path) = &header.path {
            record.push("_path", Value::from(path.as_str()));
        }
        for (i, (name, raw)) in header.fields.iter().zip(values).enumerate() {
            if raw == header.unset {
                continue;
            }
            let ty = header.types.get(i).map_or("string", String::as_str);
            record.push(name.as_str(), header.typed(name, ty, raw)?);
        }
        Ok(Value::Object(record))
    }
}

impl Header {
    /// A TSV value as its type has it in JSON.
    fn typed(&self, name: &str, ty: &str, raw: &str) -> Result<Value, NormaliseError> {
        let inner = ty
            .strip_prefix("set[")
            .or_else(|| ty.strip_prefix("vector["))
            .or_else(|| ty.strip_prefix("table["))
            .and_then(|t| t.strip_suffix(']'));
        if let Some(inner) = inner {
            if raw == self.empty {
                return Ok(Value::Array(Vec::new()));
            }
            return raw
                .split(self.set_separator.as_str())
                .map(|item| {
                    if item == self.unset {
                        Ok(Value::Null)
                    } else {
                        scalar(name, inner, &unescape(item))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        if raw == self.empty {
            return Ok(Value::from(""));
        }
        scalar(name, ty, &unescape(raw))
    }
}

/// One (unescaped) value of a Zeek type.
fn scalar(name: &str, ty: &str, text: &str) -> Result<Value, NormaliseError> {
    let bad = |what: &str| err(format!("`{name}` ({ty}) `{}` is not {what}", shorten(text)));
    match ty {
        "time" | "interval" | "double" => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float)
            .ok_or_else(|| bad("a number")),
        "count" | "int" | "port" => match text.parse::<i64>() {
            Ok(n) => Ok(Value::Int(n)),
            // A count above i64::MAX is still a count: kept as its digits.
            Err(_) if text.parse::<u64>().is_ok() => Ok(Value::from(text)),
            Err(_) => Err(bad("a whole number")),
        },
        "bool" => match text {
            "T" => Ok(Value::Bool(true)),
            "F" => Ok(Value::Bool(false)),
            _ => Err(bad("`T` or `F`")),
        },
        _ => Ok(Value::from(text)),
    }
}

/// Zeek's `\xHH` escapes decoded; bytes that are not UTF-8 become U+FFFD.
fn unescape(text: &str) -> String {
    if !text.contains("\\x") {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let hex = bytes
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A value of a Zeek record by its JSON key (`id.orig_h`, flat as Zeek writes it), else
/// by the nested path some collectors turn it into.
/// Keys are matched exactly: Zeek's names differ only by case at times (`AA`, `TC`).
fn flat<'a>(record: &'a Value, key: &str) -> Option<&'a Value> {
    let map = record.as_object()?;
    map.get(key)
        .or_else(|| {
            let (first, rest) = key.split_once('.')?;
            rest.split('.')
                .try_fold(map.get(first)?, |cur, k| cur.as_object()?.get(k))
        })
        .filter(|v| !v.is_null())
}

/// Non-empty text at a key (`-` is Zeek's unset marker).
fn text<'a>(record: &'a Value, key: &str) -> Option<&'a str> {
    flat(record, key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "-")
}

/// A whole number at a key, an error when it is something else.
fn count(record: &Value, key: &str) -> Result<Option<i64>, NormaliseError> {
    match flat(record, key) {
        None => Ok(None),
        Some(v) => as_number(v).map(Some).ok_or_else(|| {
            err(format!(
                "`{key}` `{}` is not a whole number",
                shorten(&display(v))
            ))
        }),
    }
}

/// A number of seconds at a key (an `interval`), an error when it is something else.
fn seconds(record: &Value, key: &str) -> Result<Option<f64>, NormaliseError> {
    let value = match flat(record, key) {
        None => return Ok(None),
        Some(Value::Float(f)) => Some(*f),
        Some(Value::Int(n)) => Some(*n as f64),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    value
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map(Some)
        .ok_or_else(|| err(format!("`{key}` is not a number of seconds")))
}

/// A boolean at a key (`true`, or Zeek's `T`/`F` text).
fn flag(record: &Value, key: &str) -> Option<bool> {
    match flat(record, key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "T" | "true" => Some(true),
            "F" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The texts of a set or vector (or a single text).
fn texts<'a>(record: &'a Value, key: &str) -> Vec<&'a str> {
    match flat(record, key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty() && *s != "-")
            .collect(),
        Some(Value::String(s)) if !s.is_empty() && s.as_str() != "-" => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// An address at a key, an error when it is not one.
fn address(record: &Value, key: &str) -> Result<Option<IpAddr>, NormaliseError> {
    match text(record, key) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| err(format!("`{key}` `{}` is not an IP address", shorten(t)))),
    }
}

/// `ts` as milliseconds (for `@timestamp`) and microseconds (for the id, so the JSON and
/// TSV forms of one record, and both JSON time styles, give one id).
fn time(record: &Value) -> Result<(i64, i64), NormaliseError> {
    let value = flat(record, "ts").ok_or_else(|| err("no `ts`: not a Zeek log record"))?;
    let micros = match value {
        Value::Float(f) if f.is_finite() => Some((f * 1e6).round() as i64),
        Value::Int(n) => n.checked_mul(1_000_000),
        Value::String(s) => epoch_micros(s).or_else(|| iso_micros(s)),
        _ => None,
    };
    let bad = || err(format!("`ts` `{}` is not a time", shorten(&display(value))));
    let micros = micros.ok_or_else(bad)?;
    let ms = micros.div_euclid(1000);
    if !(MIN_MILLIS..=MAX_MILLIS).contains(&ms) {
        return Err(bad());
    }
    Ok((ms, micros))
}

/// Microseconds of epoch seconds written as text (`1700000000.123456`).
fn epoch_micros(text: &str) -> Option<i64> {
    let (secs, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut micros: i64 = 0;
    for i in 0..6 {
        let digit = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        micros = micros * 10 + digit;
    }
    secs.parse::<i64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(micros)
}

/// Microseconds of ISO 8601 text (Zeek's `JSON::TS_ISO8601` style), keeping the
/// microseconds that RFC 3339 parsing (to milliseconds) drops.
fn iso_micros(text: &str) -> Option<i64> {
    let ms = parse_rfc3339(text)?;
    let beyond_ms = text
        .trim()
        .get(19..)
        .and_then(|rest| rest.strip_prefix('.'))
        .map(|frac| {
            frac.bytes()
                .take_while(u8::is_ascii_digit)
                .skip(3)
                .take(3)
                .chain(std::iter::repeat(b'0'))
                .take(3)
                .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'))
        })
        .unwrap_or(0);
    ms.checked_mul(1000)?.checked_add(beyond_ms)
}

/// The log type of a record without a configured or written one, from its fields:
/// those only its type has (SIP and SMTP records also have `trans_depth`, a notice may
/// name a `fuid`).
fn detect(record: &Value) -> Option<&'static str> {
    let has = |key: &str| flat(record, key).is_some();
    if has("conn_state") {
        Some("conn")
    } else if has("query") && (has("qtype") || has("qtype_name") || has("trans_id")) {
        Some("dns")
    } else if has("trans_depth")
        && !has("call_id")
        && (has("method") || has("host") || has("uri") || has("status_code"))
    {
        Some("http")
    } else if has("fuid") && !has("note") {
        Some("files")
    } else if has("cipher") || (has("server_name") && has("established")) {
        Some("ssl")
    } else {
        None
    }
}

/// Normalises one record of the log type `log` (found from the fields when `None`).
fn normalise(
    record: Value,
    log: Option<String>,
    line: Option<&str>,
) -> Result<Value, NormaliseError> {
    let (ms, micros) = time(&record)?;
    let log = match log {
        Some(log) => log,
        None => detect(&record).map(str::to_string).ok_or_else(|| {
            err("no `_path`, no `#path` header and the fields are not those of a conn, dns, http, ssl or files record: name the log type with `log` on the `normalise` transform")
        })?,
    };
    let at = format_rfc3339(ms);
    // Zeek records always carry `ts` (checked above), so the ingest time is never used.
    let mut doc = Doc::new(Some(at.clone()), super::Received::now());
    let r = &record;
    let connection = endpoints(&mut doc, r)?;
    doc.set("observer.vendor", "Zeek");
    doc.set("observer.product", "Zeek");
    if let Some(proto) = text(r, "proto") {
        doc.set("network.transport", proto.to_ascii_lowercase());
    }
    doc.set_text("network.community_id", text(r, "community_id"));
    let key = match mapping_of(&log) {
        "conn" => {
            conn(&mut doc, r, &at, ms)?;
            uid_key(r, micros, None)
        }
        "dns" => {
            dns(&mut doc, r)?;
            uid_key(r, micros, Some("trans_id"))
        }
        "http" => {
            http(&mut doc, r)?;
            uid_key(r, micros, Some("trans_depth"))
        }
        "ssl" => {
            ssl(&mut doc, r);
            uid_key(r, micros, None)
        }
        "files" => {
            files(&mut doc, r)?;
            text(r, "fuid").map(|fuid| format!("{fuid}\u{1f}{micros}"))
        }
        _ => {
            if connection {
                doc.categorise("network", &["info"]);
            }
            None
        }
    };
    doc.relate_set_fields();
    for key in ["tx_hosts", "rx_hosts"] {
        for host in texts(r, key) {
            doc.relate("ip", host);
        }
    }
    let key = key.or_else(|| line.map(str::to_string));
    doc.set_text("event.original", line);
    let dataset = format!("{MODULE}.{log}");
    Ok(doc.finish_in(MODULE, &dataset, None, key, record))
}

/// The mapping a log type gets: its own for the five mapped types and for custom
/// paths that start with one (`conn_long`, `dns-internal`), else the generic one (`""`).
fn mapping_of(log: &str) -> &'static str {
    MAPPED
        .iter()
        .copied()
        .find(|m| {
            log.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['_', '-']))
        })
        .unwrap_or("")
}

/// The log types with a mapping of their own.
const MAPPED: [&str; 5] = ["conn", "dns", "http", "ssl", "files"];

/// The id's key: `uid` and the time in microseconds, and a field that tells apart the
/// records of one connection.
fn uid_key(record: &Value, micros: i64, within: Option<&str>) -> Option<String> {
    let uid = text(record, "uid")?;
    let mut key = format!("{uid}\u{1f}{micros}");
    if let Some(n) = within.and_then(|k| flat(record, k)).and_then(as_number) {
        key.push('\u{1f}');
        key.push_str(&n.to_string());
    }
    Some(key)
}

/// `source.*`, `destination.*`, `network.type` and `network.direction` from the
/// connection's `id`; whether the record names a connection.
fn endpoints(doc: &mut Doc, r: &Value) -> Result<bool, NormaliseError> {
    let orig = address(r, "id.orig_h")?;
    let resp = address(r, "id.resp_h")?;
    for (side, ip, port) in [
        ("source", orig, "id.orig_p"),
        ("destination", resp, "id.resp_p"),
    ] {
        if let Some(ip) = ip {
            doc.set(&format!("{side}.ip"), ip.to_string());
        }
        if let Some(port) = count(r, port)? {
            doc.set(&format!("{side}.port"), port);
        }
    }
    if let Some(ip) = orig.or(resp) {
        doc.set("network.type", if ip.is_ipv4() { "ipv4" } else { "ipv6" });
    }
    if let (Some(orig), Some(resp)) = (orig, resp) {
        let local_orig = flag(r, "local_orig").unwrap_or_else(|| is_internal_ip(orig));
        let local_resp = flag(r, "local_resp").unwrap_or_else(|| is_internal_ip(resp));
        let direction = match (local_orig, local_resp) {
            (true, true) => "internal",
            (false, true) => "inbound",
            (true, false) => "outbound",
            (false, false) => "external",
        };
        doc.set("network.direction", direction);
    }
    Ok(orig.is_some() || resp.is_some())
}

/// Nanoseconds of a number of seconds, saturating (a corrupt duration must not wrap).
fn nanos(secs: f64) -> i64 {
    (secs * 1e9).round().min(i64::MAX as f64) as i64
}

fn conn(doc: &mut Doc, r: &Value, at: &str, ms: i64) -> Result<(), NormaliseError> {
    doc.categorise("network", &["connection"]);
    if let Some(state) = text(r, "conn_state") {
        doc.set("event.action", state);
        let outcome = match state {
            "SF" | "S1" | "S2" | "S3" | "RSTO" | "RSTR" => "success",
            "S0" | "REJ" | "RSTOS0" => "failure",
            _ => "unknown",
        };
        doc.set("event.outcome", outcome);
    }
    if let Some(service) = text(r, "service").and_then(|s| s.split(',').next()) {
        doc.set("network.protocol", service.trim().to_ascii_lowercase());
    }
    doc.set("event.start", at);
    if let Some(duration) = seconds(r, "duration")? {
        doc.set("event.duration", nanos(duration));
        let end = ms.saturating_add((duration * 1000.0).round().min(1e15) as i64);
        if end <= MAX_MILLIS {
            doc.set("event.end", format_rfc3339(end));
        }
    }
    let mut total_bytes = None;
    let mut total_packets = None;
    for (side, ip_bytes, bytes, pkts) in [
        ("source", "orig_ip_bytes", "orig_bytes", "orig_pkts"),
        ("destination", "resp_ip_bytes", "resp_bytes", "resp_pkts"),
    ] {
        let b = match count(r, ip_bytes)? {
            Some(b) => Some(b),
            None => count(r, bytes)?,
        };
        if let Some(b) = b {
            doc.set(&format!("{side}.bytes"), b);
            total_bytes = Some(total_bytes.unwrap_or(0i64).saturating_add(b));
        }
        if let Some(p) = count(r, pkts)? {
            doc.set(&format!("{side}.packets"), p);
            total_packets = Some(total_packets.unwrap_or(0i64).saturating_add(p));
        }
    }
    if let Some(b) = total_bytes {
        doc.set("network.bytes", b);
    }
    if let Some(p) = total_packets {
        doc.set("network.packets", p);
    }
    Ok(())
}

fn dns(doc: &mut Doc, r: &Value) -> Result<(), NormaliseError> {
    doc.categorise("network", &["protocol"]);
    doc.set("event.action", "dns_query");
    doc.set("network.protocol", "dns");
    if let Some(query) = text(r, "query") {
        doc.set("dns.question.name", query);
        doc.relate("hosts", query);
    }
    let qtype = text(r, "qtype_name")
        .map(str::to_string)
        .or(count(r, "qtype")?.map(|n| n.to_string()));
    if let Some(qtype) = qtype {
        doc.set("dns.question.type", qtype);
    }
    doc.set_text("dns.question.class", text(r, "qclass_name"));
    if let Some(id) = count(r, "trans_id")? {
        doc.set("dns.id", id.to_string());
    }
    let flags: Vec<Value> = ["AA", "TC", "RD", "RA"]
        .iter()
        .filter(|f| flag(r, f) == Some(true))
        .map(|f| Value::from(*f))
        .collect();
    if !flags.is_empty() {
        doc.set("dns.header_flags", flags);
    }
    let rcode = text(r, "rcode_name")
        .map(str::to_string)
        .or(count(r, "rcode")?.map(|n| n.to_string()));
    let outcome = match rcode.as_deref() {
        _ if flag(r, "rejected") == Some(true) => "failure",
        Some("NOERROR" | "0") => "success",
        Some(_) => "failure",
        None => "unknown",
    };
    doc.set("event.outcome", outcome);
    if let Some(rcode) = rcode {
        doc.set("dns.response_code", rcode);
        doc.set("dns.type", "answer");
    } else {
        doc.set("dns.type", "query");
    }
    let answers = texts(r, "answers");
    let ttls: Vec<f64> = match flat(r, "TTLs") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_f64).collect(),
        _ => Vec::new(),
    };
    if !answers.is_empty() {
        let mut list = Vec::with_capacity(answers.len());
        let mut resolved = Vec::new();
        for (i, answer) in answers.iter().enumerate() {
            let mut item = Map::with_capacity(2);
            item.push("data", Value::from(*answer));
            if let Some(ttl) = ttls.get(i) {
                item.push("ttl", Value::Int(ttl.round() as i64));
            }
            list.push(Value::Object(item));
            if let Ok(ip) = answer.parse::<IpAddr>() {
                resolved.push(Value::from(ip.to_string()));
                doc.relate("ip", &ip.to_string());
            }
        }
        doc.set("dns.answers", list);
        if !resolved.is_empty() {
            doc.set("dns.resolved_ip", resolved);
        }
    }
    Ok(())
}

fn http(doc: &mut Doc, r: &Value) -> Result<(), NormaliseError> {
    doc.categorise("network", &["protocol", "access"]);
    doc.set(
        "event.category",
        vec![Value::from("network"), Value::from("web")],
    );
    doc.set("network.protocol", "http");
    if let Some(method) = text(r, "method") {
        doc.set("http.request.method", method);
        doc.set("event.action", method);
    }
    let status = count(r, "status_code")?;
    if let Some(status) = status {
        doc.set("http.response.status_code", status);
        doc.set(
            "event.outcome",
            if status >= 400 { "failure" } else { "success" },
        );
    }
    doc.set_text("http.version", text(r, "version"));
    doc.set_text("http.request.referrer", text(r, "referrer"));
    doc.set_text("user_agent.original", text(r, "user_agent"));
    doc.set_text("url.username", text(r, "username"));
    if let Some(n) = count(r, "request_body_len")? {
        doc.set("http.request.body.bytes", n);
    }
    if let Some(n) = count(r, "response_body_len")? {
        doc.set("http.response.body.bytes", n);
    }
    doc.set_text(
        "http.request.mime_type",
        texts(r, "orig_mime_types").first().copied(),
    );
    doc.set_text(
        "http.response.mime_type",
        texts(r, "resp_mime_types").first().copied(),
    );
    let host = text(r, "host");
    if let Some(host) = host {
        let (domain, port) = split_host(host);
        doc.set("url.domain", domain);
        doc.relate("hosts", domain);
        if let Some(port) = port {
            doc.set("url.port", port);
        }
    }
    if let Some(uri) = text(r, "uri") {
        doc.set("url.original", uri);
        let path_and_query = uri.split('#').next().unwrap_or(uri);
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        if path.starts_with('/') {
            doc.set("url.path", path);
        }
        doc.set_text("url.query", query.filter(|q| !q.is_empty()));
        if let (Some(host), true) = (host, uri.starts_with('/')) {
            doc.set("url.scheme", "http");
            doc.set("url.full", format!("http://{host}{uri}"));
        }
    }
    Ok(())
}

/// A `Host` header's name and port (`example.com:8080`, `[2001:db8::1]:8080`).
fn split_host(host: &str) -> (&str, Option<i64>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((ip, after)) = rest.split_once(']') {
            return (ip, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (host, None),
        },
        _ => (host, None),
    }
}

fn ssl(doc: &mut Doc, r: &Value) {
    doc.categorise("network", &["protocol"]);
    doc.set("event.action", "tls_handshake");
    doc.set("network.protocol", "tls");
    if let Some(version) = text(r, "version") {
        if let Some((protocol, number)) = tls_version(version) {
            doc.set("tls.version_protocol", protocol);
            doc.set("tls.version", number);
        }
    }
    doc.set_text("tls.cipher", text(r, "cipher"));
    doc.set_text("tls.curve", text(r, "curve"));
    doc.set_text("tls.next_protocol", text(r, "next_protocol"));
    doc.set_text("tls.client.ja3", text(r, "ja3"));
    doc.set_text("tls.server.ja3s", text(r, "ja3s"));
    doc.set_text("tls.server.subject", text(r, "subject"));
    doc.set_text("tls.server.issuer", text(r, "issuer"));
    if let Some(name) = text(r, "server_name") {
        doc.set("tls.client.server_name", name);
        doc.relate("hosts", name);
    }
    if let Some(resumed) = flag(r, "resumed") {
        doc.set("tls.resumed", resumed);
    }
    match flag(r, "established") {
        Some(established) => {
            doc.set("tls.established", established);
            doc.set(
                "event.outcome",
                if established { "success" } else { "failure" },
            );
        }
        None => doc.set("event.outcome", "unknown"),
    }
}

/// ECS `tls.version_protocol` and `tls.version` of Zeek's version name (`TLSv12` →
/// `tls`, `1.2`; `SSLv3` → `ssl`, `3.0`; `DTLSv10` → `dtls`, `1.0`).
fn tls_version(version: &str) -> Option<(&'static str, String)> {
    let (protocol, digits) = if let Some(d) = version.strip_prefix("DTLSv") {
        ("dtls", d)
    } else if let Some(d) = version.strip_prefix("TLSv") {
        ("tls", d)
    } else if let Some(d) = version.strip_prefix("SSLv") {
        ("ssl", d)
    } else {
        return None;
    };
    let mut chars = digits.chars();
    let major = chars.next().filter(char::is_ascii_digit)?;
    let minor = chars.next().unwrap_or('0');
    (minor.is_ascii_digit() && chars.next().is_none())
        .then(|| (protocol, format!("{major}.{minor}")))
}

fn files(doc: &mut Doc, r: &Value) -> Result<(), NormaliseError> {
    doc.categorise("network", &["info"]);
    doc.set(
        "event.category",
        vec![Value::from("network"), Value::from("file")],
    );
    doc.set("event.action", "file_transfer");
    if let Some(source) = text(r, "source") {
        doc.set("network.protocol", source.to_ascii_lowercase());
    }
    doc.set_text("file.name", text(r, "filename"));
    doc.set_text("file.mime_type", text(r, "mime_type"));
    let size = match count(r, "total_bytes")? {
        Some(n) => Some(n),
        None => count(r, "seen_bytes")?,
    };
    if let Some(size) = size {
        doc.set("file.size", size);
    }
    for hash in ["md5", "sha1", "sha256"] {
        if let Some(value) = text(r, hash) {
            doc.set(&format!("file.hash.{hash}"), value);
            doc.relate("hash", value);
        }
    }
    Ok(())
}

/// A value as text for an error message.
fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => pipectl_core::json::to_string(other),
    }
}

#[cfg(test)]
mod tests;
