//! AWS VPC Flow Logs → `event.dataset: aws.vpcflow`.
//!
//! Flow logs are space-separated text lines in the default version-2 format
//! (`version account-id interface-id srcaddr dstaddr srcport dstport protocol packets
//! bytes start end action log-status`) or in a custom format, which the first line of
//! every delivered file names (`version vpc-id srcaddr ...`, or the `${field}` form the
//! format is configured with). A line therefore only means something after its header,
//! which is why this normaliser is a small stateful parser. `-` marks an absent value.
//! Records in JSON (the same fields as object keys, in the AWS spelling or in camel
//! case such as `srcAddr`, `flowDirection`; OCSF `src_endpoint`/`dst_endpoint` objects
//! for the addresses and ports) are read by [`normalise_record`].
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp`, `event.start`, `event.end` | `start` (Unix seconds; else the time received, tagged `time_from_ingest`), `end` |
//! | `source.ip`/`.port`, `destination.ip`/`.port` | `srcaddr`, `srcport`, `dstaddr`, `dstport` |
//! | `network.transport` | `protocol`: 6 `tcp`, 17 `udp`, 1 `icmp`, else the number |
//! | `network.packets`, `network.bytes` | `packets`, `bytes` |
//! | `event.action`, `event.outcome`, `event.type` | `ACCEPT`: `allowed`, `success`, `[connection, allowed]`; `REJECT`: `denied`, `failure`, `[connection, denied]` |
//! | `network.direction` | from the addresses: both internal `internal`, into an internal one `inbound`, out of one `outbound`, else `external` ([`pipectl_core::entity::is_internal_ip`]) |
//! | `cloud.account.id`, `cloud.region`, `cloud.instance.id` and `host.id` | `account-id`, `region`, `instance-id` |
//! | `event.category`, `network.type` | `network`; `ipv4`/`ipv6` |
//! | `event.original`, `aws.vpcflow` | the line, and its fields by their AWS names (the JSON record as received) |
//!
//! `NODATA` and `SKIPDATA` records carry no flow and give no event (the transform counts
//! them as dropped); so do header and blank lines.

use super::{
    as_number, aws_route53, shorten, timestamp, Dataset, Doc, Format, NormaliseError, Received,
};
use pipectl_core::detect::sigma::time::format_rfc3339;
use pipectl_core::entity::is_internal_ip;
use pipectl_core::value::{Map, Value};
use std::net::IpAddr;

const DATASET: Dataset = Dataset {
    module: "aws",
    name: "aws.vpcflow",
    cloud_provider: "aws",
};

/// How many of [`KNOWN_FIELDS`], from the first, make the default (version 2) format.
const DEFAULT_FIELDS: usize = 14;

/// Every field a flow log format may name (versions 2 to 8), the default format's
/// first and in its order.
const KNOWN_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
];

/// The AWS name of a field however it is spelt (`srcAddr`, `account_id`, `${srcaddr}`,
/// and `account`/`status`/`status_code`, the names some collectors give
/// `account-id`/`log-status`).
fn canonical(name: &str) -> Option<&'static str> {
    let name = name.trim();
    let name = name
        .strip_prefix("${")
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name);
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = squash(name);
    match wanted.as_str() {
        "account" => return Some("account-id"),
        // `status_code` is the OCSF (Security Lake) name of `log-status`.
        "status" | "statuscode" => return Some("log-status"),
        _ => {}
    }
    KNOWN_FIELDS.iter().copied().find(|k| squash(k) == wanted)
}

/// Reads flow log lines: a header line sets the format of the lines after it; until
/// one comes, lines are read in the default version-2 format.
#[derive(Debug, Clone)]
pub struct FlowLogParser {
    format: Vec<&'static str>,
}

impl Default for FlowLogParser {
    fn default() -> Self {
        FlowLogParser::new()
    }
}

impl FlowLogParser {
    /// A parser expecting the default format.
    pub fn new() -> FlowLogParser {
        FlowLogParser {
            format: KNOWN_FIELDS.iter().take(DEFAULT_FIELDS).copied().collect(),
        }
    }

    /// The event of one line; `None` for a header, blank, NODATA or SKIPDATA line. A
    /// line without a `start` time takes the current time.
    pub fn line(&mut self, line: &str) -> Result<Option<Value>, NormaliseError> {
        self.line_received(line, Received::now())
    }

    /// [`FlowLogParser::line`] for a line received at `received`.
    pub fn line_received(
        &mut self,
        line: &str,
        received: Received,
    ) -> Result<Option<Value>, NormaliseError> {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() {
            return Ok(None);
        }
        let header: Option<Vec<&'static str>> = tokens.iter().map(|t| canonical(t)).collect();
        if let Some(format) = header {
            self.format = format;
            return Ok(None);
        }
        if tokens.len() != self.format.len() {
            return Err(NormaliseError::new(
                Format::AwsVpcflow,
                format!(
                    "expected {} fields ({}), found {}; a custom format needs its header line first",
                    self.format.len(),
                    self.format.join(" "),
                    tokens.len()
                ),
            ));
        }
        let mut fields = Map::with_capacity(tokens.len());
        for (name, token) in self.format.iter().zip(&tokens) {
            if *token != "-" {
                fields.push(*name, Value::from(*token));
            }
        }
        let record = Value::Object(fields);
        Ok(flow(&record, received)?.map(|doc| finish(doc, record, Some(line))))
    }
}

/// The event of a flow record in JSON (keys as [`canonical`] reads them), `None` for
/// NODATA/SKIPDATA; the record stays under `aws.vpcflow` as it came. A Route 53
/// resolver query log record is an [`aws_route53`] event. A record without a `start`
/// time takes the time `received`; one with none of the flow fields is refused.
pub fn normalise_record(
    record: &Value,
    received: Received,
) -> Result<Option<Value>, NormaliseError> {
    let Value::Object(map) = record else {
        return Err(NormaliseError::new(
            Format::AwsVpcflow,
            format!(
                "the record is {}, not an object",
                crate::codecs::a_or_an(record.type_name())
            ),
        ));
    };
    if aws_route53::is_query_log(record) {
        return aws_route53::normalise(record, received).map(Some);
    }
    let mut fields: Map = map
        .iter()
        .filter_map(|(k, v)| Some((canonical(k)?.into(), v.clone())))
        .collect();
    // OCSF network activity (Security Lake) names the two ends as endpoint objects.
    for (endpoint, addr, port) in [
        ("src_endpoint", "srcaddr", "srcport"),
        ("dst_endpoint", "dstaddr", "dstport"),
    ] {
        if let Some(Value::Object(end)) = map.get(endpoint) {
            for (from, to) in [("ip", addr), ("port", port)] {
                if let Some(v) = end.get(from) {
                    fields.insert(to, v.clone());
                }
            }
        }
    }
    if fields.is_empty() {
        return Err(NormaliseError::new(
            Format::AwsVpcflow,
            "none of the flow log fields (`srcaddr`, `start`, `action`, ...): not a VPC flow log record",
        ));
    }
    let fields = Value::Object(fields);
    Ok(flow(&fields, received)?.map(|doc| finish(doc, record.clone(), None)))
}

/// The vendor record under `aws.vpcflow`, the line as `event.original`, the common
/// fields and the entities; the id is over the line (or the JSON record).
fn finish(mut doc: Doc, record: Value, line: Option<&str>) -> Value {
    doc.set_text("event.original", line);
    doc.finish(DATASET, line.map(str::to_string), record)
}

/// Maps the fields (an object keyed by their AWS names); `None` for a record that
/// carries no flow.
fn flow(fields: &Value, received: Received) -> Result<Option<Doc>, NormaliseError> {
    let err = |reason: String| NormaliseError::new(Format::AwsVpcflow, reason);
    let get = |name: &str| fields.as_object().and_then(|m| m.get(name));
    let text = |name: &str| get(name).and_then(Value::as_str).map(str::trim);
    if matches!(text("log-status"), Some("NODATA" | "SKIPDATA")) {
        return Ok(None);
    }
    let number = |name: &str| -> Result<Option<i64>, NormaliseError> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s == "-" => Ok(None),
            Some(v) => as_number(v).map(Some).ok_or_else(|| {
                err(format!(
                    "`{name}` `{}` is not a number",
                    shorten(&display(v))
                ))
            }),
        }
    };
    // A time that is no time (`redacted`) is as good as none: the event then takes
    // the time received, as every vendor's does.
    let time = |name: &str| -> Option<String> {
        let value = get(name).filter(|v| !v.is_null())?;
        match as_number(value) {
            Some(secs) => Some(format_rfc3339(secs.saturating_mul(1000))),
            None => value.as_str().and_then(timestamp),
        }
    };
    let address = |name: &str| -> Result<Option<IpAddr>, NormaliseError> {
        match text(name).filter(|t| *t != "-" && !t.eq_ignore_ascii_case("null")) {
            None => Ok(None),
            Some(t) => t
                .parse()
                .map(Some)
                .map_err(|_| err(format!("`{name}` `{}` is not an IP address", shorten(t)))),
        }
    };

    let start = time("start");
    let mut doc = Doc::new(start.clone(), received);
    doc.set_text("event.start", start.as_deref());
    if let Some(end) = time("end") {
        doc.set("event.end", end);
    }
    let src = address("srcaddr")?;
    let dst = address("dstaddr")?;
    for (side, ip, port) in [("source", src, "srcport"), ("destination", dst, "dstport")] {
        if let Some(ip) = ip {
            doc.set(&format!("{side}.ip"), ip.to_string());
        }
        if let Some(port) = number(port)? {
            doc.set(&format!("{side}.port"), port);
        }
    }
    if let Some(protocol) = number("protocol")? {
        let transport = match protocol {
            6 => "tcp".to_string(),
            17 => "udp".to_string(),
            1 => "icmp".to_string(),
            other => other.to_string(),
        };
        doc.set("network.transport", transport);
    }
    if let Some(ip) = src.or(dst) {
        doc.set("network.type", if ip.is_ipv4() { "ipv4" } else { "ipv6" });
    }
    if let Some(packets) = number("packets")? {
        doc.set("network.packets", packets);
    }
    if let Some(bytes) = number("bytes")? {
        doc.set("network.bytes", bytes);
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
    let verdict = match text("action") {
        Some("ACCEPT") => Some(("allowed", "success")),
        Some("REJECT") => Some(("denied", "failure")),
        _ => None,
    };
    match verdict {
        Some((action, outcome)) => {
            doc.set("event.action", action);
            doc.set("event.outcome", outcome);
            doc.categorise("network", &["connection", action]);
        }
        None => {
            doc.set("event.outcome", "unknown");
            doc.categorise("network", &["connection"]);
        }
    }
    let plain = |name: &str| text(name).filter(|t| !t.is_empty() && *t != "-");
    doc.set_text("cloud.account.id", plain("account-id"));
    doc.set_text("cloud.region", plain("region"));
    if let Some(instance) = plain("instance-id") {
        doc.set("cloud.instance.id", instance);
        doc.set("host.id", instance);
    }
    Ok(Some(doc))
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
