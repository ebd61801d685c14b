//! Azure network security group (NSG) and virtual network (VNet) flow logs →
//! `event.dataset: azure.nsgflow`, one event per flow tuple.
//!
//! Azure writes flow logs to a storage account as `PT1H.json` blobs holding
//! `{"records": [...]}`; each record names the NSG (`resourceId`), the time and, under
//! `properties.flows[].flows[].flowTuples`, the flows each rule decided, as
//! comma-separated tuples:
//!
//! - NSG version 1: `ts,src,dst,sport,dport,proto,dir,decision` (`ts` in Unix seconds,
//!   `proto` `T`/`U`, `dir` `I`/`O`, `decision` `A`/`D`);
//! - NSG version 2 adds `state,packets_s2d,bytes_s2d,packets_d2s,bytes_d2s` (`state`
//!   `B`egin, `C`ontinuing, `E`nd; the counts are empty on `B`);
//! - VNet flow logs (`properties.flowRecords.flows[].flowGroups[].flowTuples`):
//!   `ts,src,dst,sport,dport,proto,dir,state,encryption,packets_s2d,bytes_s2d,packets_d2s,bytes_d2s`
//!   with `ts` in milliseconds, `proto` an IANA number and `state` `D` for a denied flow.
//!
//! Input is a whole blob, one record, or — for blobs read line by line by the `file`
//! source — one line of a blob: `{"records":[` and `]}` framing lines give no event, a
//! record line's separating comma is ignored. A tuple that cannot be read refuses its
//! record, naming the tuple, rather than dropping it silently.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp`, `event.start` | the tuple's `ts` |
//! | `source.ip`/`.port`, `destination.ip`/`.port` | `src`, `sport`, `dst`, `dport` |
//! | `network.transport` | `T`/6 `tcp`, `U`/17 `udp`, 1 `icmp`, else the number |
//! | `event.action`, `event.outcome`, `event.type` | `A` (or a VNet state other than `D`): `allowed`, `success`, `[connection, allowed]`; `D`: `denied`, `failure`, `[connection, denied]`; plus `start`/`end` for the `B`/`E` states |
//! | `source.packets`/`.bytes`, `destination.packets`/`.bytes`, `network.packets`/`.bytes` | `packets_s2d`, `bytes_s2d`, `packets_d2s`, `bytes_d2s`, and their sums |
//! | `network.direction` | from the addresses, as for VPC flow logs (`internal`, `inbound`, `outbound`, `external`); the tuple's own `I`/`O` (seen from the NIC) stays in `azure.nsgflow.direction` |
//! | `rule.name`, `rule.ruleset` | the rule that decided; the NSG's name |
//! | `cloud.account.id` | the subscription in `resourceId` |
//! | `event.original`, `azure.nsgflow` | the tuple; the record's `time`, `resourceId`, `macAddress`, `category`, the rule, the NIC's `mac`, the version, the tuple and its direction |
//! | `event.id` | over `resourceId`, the NIC's MAC and the tuple |

use super::{field, key, text, Dataset, Doc, Format, NormaliseError, Received};
use pipectl_core::detect::sigma::time::format_rfc3339;
use pipectl_core::entity::is_internal_ip;
use pipectl_core::value::{Map, Value};
use std::net::IpAddr;

const DATASET: Dataset = Dataset {
    module: "azure",
    name: "azure.nsgflow",
    cloud_provider: "azure",
};

const FORMAT: Format = Format::AzureNsgFlow;

fn err(reason: impl Into<String>) -> NormaliseError {
    NormaliseError::new(FORMAT, reason)
}

/// One line of a blob read line by line: a framing line gives nothing, a record or a
/// whole blob its flows.
pub fn line(line: &str, received: Received) -> Result<Vec<Value>, NormaliseError> {
    let trimmed = line.trim().trim_matches(',').trim();
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() || compact == "{\"records\":[" || compact == "]}" || compact == "]" {
        return Ok(Vec::new());
    }
    let trimmed = trimmed
        .strip_prefix("{\"records\":[")
        .map(|rest| rest.trim_start())
        .filter(|rest| rest.starts_with('{') && !rest.ends_with("]}"))
        .unwrap_or(trimmed);
    let value = pipectl_core::json::from_str(trimmed)
        .map_err(|e| err(format!("the line is not a flow log record ({e})")))?;
    normalise_all(&value, received)
}

/// Every flow of a blob (`{"records": [...]}`) or of one record. Flows carry their
/// own time, so `_received` is not needed (the signature is the split normalisers').
pub fn normalise_all(value: &Value, _received: Received) -> Result<Vec<Value>, NormaliseError> {
    super::require_object(FORMAT, value)?;
    if let Some(records) = key(value, "records") {
        let records = records
            .as_array()
            .ok_or_else(|| err("`records` is not an array: not a flow log blob"))?;
        let mut events = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let flows = record_flows(record)
                .map_err(|e| err(format!("record {} of the blob: {}", i + 1, e.reason)))?;
            events.extend(flows);
        }
        return Ok(events);
    }
    record_flows(value)
}

/// The flows one rule decided on one NIC: the rule, the NIC's MAC (none in VNet flow
/// logs) and the tuples.
type Group = (String, String, Vec<String>);

/// The rule-level groups of a record, with its tuples' version, for NSG and VNet
/// layouts.
fn groups(record: &Value) -> Result<(i64, Vec<Group>), NormaliseError> {
    let mut out = Vec::new();
    let tuples_of = |v: &Value| -> Result<Vec<String>, NormaliseError> {
        let list = field(v, "flowTuples")
            .and_then(Value::as_array)
            .ok_or_else(|| err("a flow has no `flowTuples` array"))?;
        list.iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| err("a flow tuple is not text"))
            })
            .collect()
    };
    if let Some(flows) = field(record, "properties.flows") {
        let version = super::number(record, "properties.Version").unwrap_or(0);
        for rule in flows
            .as_array()
            .ok_or_else(|| err("`properties.flows` is not an array"))?
        {
            let name = text(rule, "rule").unwrap_or("").to_string();
            for nic in field(rule, "flows")
                .and_then(Value::as_array)
                .ok_or_else(|| err("a rule's `flows` is not an array"))?
            {
                let mac = text(nic, "mac").unwrap_or("").to_string();
                out.push((name.clone(), mac, tuples_of(nic)?));
            }
        }
        return Ok((version, out));
    }
    if let Some(flows) =
        field(record, "flowRecords.flows").or_else(|| field(record, "properties.flowRecords.flows"))
    {
        for acl in flows
            .as_array()
            .ok_or_else(|| err("`flowRecords.flows` is not an array"))?
        {
            for group in field(acl, "flowGroups")
                .and_then(Value::as_array)
                .ok_or_else(|| err("a flow's `flowGroups` is not an array"))?
            {
                let name = text(group, "rule").unwrap_or("").to_string();
                out.push((name, String::new(), tuples_of(group)?));
            }
        }
        return Ok((VNET, out));
    }
    Err(err(
        "no `properties.flows` nor `flowRecords`: not an NSG or VNet flow log record",
    ))
}

/// The version number VNet flow logs are given here (their tuples differ from NSG's).
const VNET: i64 = 4;

fn record_flows(record: &Value) -> Result<Vec<Value>, NormaliseError> {
    super::require_object(FORMAT, record)?;
    let (version, groups) = groups(record)?;
    let resource = text(record, "resourceId")
        .or_else(|| text(record, "targetResourceID"))
        .unwrap_or("");
    let mut events = Vec::new();
    for (rule, mac, tuples) in groups {
        for (i, tuple) in tuples.iter().enumerate() {
            let event = flow(record, resource, version, &rule, &mac, tuple).map_err(|e| {
                err(format!(
                    "tuple {} of rule `{rule}` (`{}`): {}",
                    i + 1,
                    super::shorten(tuple),
                    e.reason
                ))
            })?;
            events.push(event);
        }
    }
    Ok(events)
}

/// The segment of a resource id after `name` (any case).
fn segment_after<'a>(resource_id: &'a str, name: &str) -> Option<&'a str> {
    let mut parts = resource_id.split('/');
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case(name) {
            return parts.next().filter(|s| !s.is_empty());
        }
    }
    None
}

fn flow(
    record: &Value,
    resource: &str,
    version: i64,
    rule: &str,
    mac: &str,
    tuple: &str,
) -> Result<Value, NormaliseError> {
    let f: Vec<&str> = tuple.split(',').map(str::trim).collect();
    let vnet = version == VNET;
    let version = match (vnet, f.len()) {
        (true, 13) => VNET,
        (true, n) => return Err(err(format!("{n} fields, a VNet flow tuple has 13"))),
        (false, 8) => 1,
        (false, 13) => 2,
        (false, n) => {
            return Err(err(format!(
                "{n} fields, an NSG flow tuple has 8 (version 1) or 13 (version 2)"
            )))
        }
    };
    let ts: i64 = f[0]
        .parse()
        .map_err(|_| err(format!("time `{}` is not a number", f[0])))?;
    let ms = if vnet { ts } else { ts.saturating_mul(1000) };
    let time = format_rfc3339(ms);
    let ip = |i: usize| -> Result<IpAddr, NormaliseError> {
        f[i].parse()
            .map_err(|_| err(format!("`{}` is not an IP address", super::shorten(f[i]))))
    };
    let port = |i: usize| -> Result<Option<i64>, NormaliseError> {
        if f[i].is_empty() {
            return Ok(None);
        }
        f[i].parse::<u16>()
            .map(|p| Some(i64::from(p)))
            .map_err(|_| err(format!("port `{}` is not a number", f[i])))
    };
    let count = |i: usize| -> Result<Option<i64>, NormaliseError> {
        match f.get(i).copied() {
            None | Some("") => Ok(None),
            Some(n) => n
                .parse::<i64>()
                .map(Some)
                .map_err(|_| err(format!("count `{n}` is not a number"))),
        }
    };
    let (src, dst) = (ip(1)?, ip(2)?);
    let mut doc = Doc::new(Some(time.clone()), Received::from_unix_millis(ms));
    doc.set("event.start", time.as_str());
    doc.set("source.ip", src.to_string());
    doc.set("destination.ip", dst.to_string());
    if let Some(p) = port(3)? {
        doc.set("source.port", p);
    }
    if let Some(p) = port(4)? {
        doc.set("destination.port", p);
    }
    let transport = match f[5] {
        "T" | "6" => "tcp".to_string(),
        "U" | "17" => "udp".to_string(),
        "1" => "icmp".to_string(),
        other if !other.is_empty() && other.bytes().all(|b| b.is_ascii_digit()) => {
            other.to_string()
        }
        other => {
            return Err(err(format!(
                "protocol `{other}` is neither T, U nor a number"
            )))
        }
    };
    doc.set("network.transport", transport);
    doc.set("network.type", if src.is_ipv4() { "ipv4" } else { "ipv6" });
    let direction = match (is_internal_ip(src), is_internal_ip(dst)) {
        (true, true) => "internal",
        (false, true) => "inbound",
        (true, false) => "outbound",
        (false, false) => "external",
    };
    doc.set("network.direction", direction);
    if !matches!(f[6], "I" | "O") {
        return Err(err(format!("direction `{}` is neither I nor O", f[6])));
    }
    let (denied, state) = if vnet {
        (f[7] == "D", f[7])
    } else {
        let decision = match f[7] {
            "A" => false,
            "D" => true,
            other => return Err(err(format!("decision `{other}` is neither A nor D"))),
        };
        (decision, f.get(8).copied().unwrap_or(""))
    };
    let (action, outcome) = if denied {
        ("denied", "failure")
    } else {
        ("allowed", "success")
    };
    doc.set("event.action", action);
    doc.set("event.outcome", outcome);
    let mut types = vec!["connection", action];
    match state {
        "B" => types.push("start"),
        "E" => types.push("end"),
        _ => {}
    }
    doc.categorise("network", &types);
    if version >= 2 {
        let (ps, bs, pd, bd) = (count(9)?, count(10)?, count(11)?, count(12)?);
        for (path, n) in [
            ("source.packets", ps),
            ("source.bytes", bs),
            ("destination.packets", pd),
            ("destination.bytes", bd),
        ] {
            if let Some(n) = n {
                doc.set(path, n);
            }
        }
        if ps.is_some() || pd.is_some() {
            doc.set("network.packets", ps.unwrap_or(0) + pd.unwrap_or(0));
        }
        if bs.is_some() || bd.is_some() {
            doc.set("network.bytes", bs.unwrap_or(0) + bd.unwrap_or(0));
        }
    }
    if !rule.is_empty() {
        doc.set("rule.name", rule);
    }
    doc.set_text(
        "rule.ruleset",
        segment_after(resource, "networkSecurityGroups")
            .or_else(|| segment_after(resource, "virtualNetworks")),
    );
    doc.set_text("cloud.account.id", segment_after(resource, "subscriptions"));
    doc.set("event.original", tuple);
    doc.relate_set_fields();
    let mut vendor = Map::with_capacity(10);
    for k in [
        "time",
        "resourceId",
        "targetResourceID",
        "macAddress",
        "category",
        "operationName",
    ] {
        if let Some(v) = key(record, k) {
            vendor.push(k, v.clone());
        }
    }
    vendor.push("version", Value::Int(version));
    vendor.push("rule", Value::from(rule));
    if !mac.is_empty() {
        vendor.push("mac", Value::from(mac));
    }
    vendor.push("direction", Value::from(f[6]));
    vendor.push("tuple", Value::from(tuple));
    let id = format!("{resource}|{mac}|{tuple}");
    Ok(doc.finish(DATASET, Some(id), Value::Object(vendor)))
}

#[cfg(test)]
mod tests;
