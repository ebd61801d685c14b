//! Amazon Route 53 Resolver query logs → `event.dataset: aws.route53`.
//!
//! Resolver query logs come from the same VPCs and the same deliveries (S3, CloudWatch
//! Logs, Security Lake) as VPC flow logs, often into the same files, so the
//! `aws_vpcflow` format reads them too: a JSON record with `query_name` (the native
//! form) or `query.hostname` (OCSF DNS Activity, as Security Lake writes it) is a
//! resolver query, not a flow.
//!
//! | ECS | native | OCSF |
//! |---|---|---|
//! | `@timestamp` | `query_timestamp` | `time` (text or epoch milliseconds); else the time received, tagged `time_from_ingest` |
//! | `event.action` | `query`, or the firewall's `firewall_rule_action` lowercased (`block`, `alert`, `allow`) when a DNS Firewall rule matched | the same |
//! | `event.outcome` | `rcode`: `NOERROR` → `success`, any other code → `failure` | `rcode` |
//! | `dns.question.name`, `.type`, `.class` | `query_name` (without the root's trailing dot), `query_type`, `query_class` | `query.hostname`, `query.type`, `query.class` |
//! | `dns.response_code` | `rcode` | `rcode` |
//! | `dns.resolved_ip` | the `Rdata` of the `answers` that are addresses | `answers[].rdata` |
//! | `source.ip`, `source.port` | `srcaddr`, `srcport` | `src_endpoint.ip`, `.port` |
//! | `network.transport`, `network.protocol` | `transport` lowercased; `dns` | `connection_info.protocol_name` |
//! | `cloud.account.id`, `cloud.region` | `account_id`, `region` | `cloud.account.uid`, `cloud.region` |
//! | `cloud.instance.id`, `host.id` | `srcids.instance` | `src_endpoint.instance_uid` |
//! | `event.category`, `event.type` | `network`; `protocol`, with `denied` for a blocked query | the same |
//! | `event.id` | over the record: the query log names no record id (schema §1) | the same |

use super::{
    as_number, client_ip, field, require_object, text, timestamp, Dataset, Doc, Format,
    NormaliseError, Received,
};
use pipectl_core::detect::sigma::time::format_rfc3339;
use pipectl_core::value::Value;
use std::net::IpAddr;

const DATASET: Dataset = Dataset {
    module: "aws",
    name: "aws.route53",
    cloud_provider: "aws",
};

/// Whether a JSON record is a resolver query log record (either form).
pub(crate) fn is_query_log(record: &Value) -> bool {
    text(record, "query_name").is_some() || text(record, "query.hostname").is_some()
}

/// The first of the paths with text.
fn first<'a>(record: &'a Value, paths: &[&str]) -> Option<&'a str> {
    paths.iter().find_map(|p| text(record, p))
}

/// Normalises one resolver query log record, native or OCSF.
pub fn normalise(record: &Value, received: Received) -> Result<Value, NormaliseError> {
    require_object(Format::AwsVpcflow, record)?;
    if !is_query_log(record) {
        return Err(NormaliseError::new(
            Format::AwsVpcflow,
            "no `query_name` nor `query.hostname`: not a Route 53 resolver query log record",
        ));
    }
    let r = record;
    let time = match field(r, "query_timestamp").or_else(|| field(r, "time")) {
        Some(Value::String(t)) => timestamp(t),
        Some(other) => as_number(other).map(format_rfc3339),
        None => None,
    };
    let mut doc = Doc::new(time, received);

    let firewall = text(r, "firewall_rule_action").map(str::to_ascii_lowercase);
    doc.set("event.action", firewall.as_deref().unwrap_or("query"));
    let rcode = text(r, "rcode");
    doc.set_text("dns.response_code", rcode);
    let outcome = match rcode {
        Some(code) if code.eq_ignore_ascii_case("noerror") => "success",
        Some(_) => "failure",
        None => "unknown",
    };
    doc.set("event.outcome", outcome);
    let blocked = firewall.as_deref() == Some("block");
    doc.categorise(
        "network",
        if blocked {
            &["protocol", "denied"]
        } else {
            &["protocol"]
        },
    );

    let name = first(r, &["query_name", "query.hostname"]);
    doc.set_text(
        "dns.question.name",
        name.map(|n| n.strip_suffix('.').unwrap_or(n))
            .filter(|n| !n.is_empty()),
    );
    doc.set_text("dns.question.type", first(r, &["query_type", "query.type"]));
    doc.set_text(
        "dns.question.class",
        first(r, &["query_class", "query.class"]),
    );
    let resolved = resolved_ips(r);
    if !resolved.is_empty() {
        doc.set(
            "dns.resolved_ip",
            resolved
                .iter()
                .map(|ip| Value::from(ip.to_string()))
                .collect::<Vec<_>>(),
        );
    }

    doc.set_client_ip(first(r, &["srcaddr", "src_endpoint.ip"]));
    if let Some(port) = ["srcport", "src_endpoint.port"]
        .iter()
        .find_map(|p| field(r, p).and_then(as_number))
    {
        doc.set("source.port", port);
    }
    if let Some(transport) = first(r, &["transport", "connection_info.protocol_name"]) {
        doc.set("network.transport", transport.to_ascii_lowercase());
    }
    doc.set("network.protocol", "dns");
    doc.set_text(
        "cloud.account.id",
        first(r, &["account_id", "cloud.account.uid"]),
    );
    doc.set_text("cloud.region", first(r, &["region", "cloud.region"]));
    if let Some(instance) = first(r, &["srcids.instance", "src_endpoint.instance_uid"]) {
        doc.set("cloud.instance.id", instance);
        doc.set("host.id", instance);
    }
    doc.relate_set_fields();
    for ip in resolved {
        doc.relate("ip", &ip.to_string());
    }
    Ok(doc.finish(DATASET, None, record.clone()))
}

/// The addresses among the answers: one object or a list, `Rdata` or `rdata`.
fn resolved_ips(record: &Value) -> Vec<IpAddr> {
    let answers = match field(record, "answers") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    answers
        .into_iter()
        .filter_map(|a| text(a, "Rdata"))
        .filter_map(|d| client_ip(d).map(|(ip, _)| ip))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::samples::{get, s};
    use pipectl_core::json::{from_str, to_string};

    const RECEIVED: Received = Received::from_unix_millis(1_800_000_000_000);

    #[test]
    fn native_query_log_record() {
        let record = from_str(
            r#"{"version":"1.100000","account_id":"0123456789","region":"us-west-2","vpc_id":"vpc-abc123",
            "query_timestamp":"2022-06-25 00:27:53","query_name":"moneropool.ru.","query_type":"A","query_class":"IN",
            "rcode":"NOERROR","answers":[{"Rdata":"1.2.3.4","Type":"A","Class":"IN"}],"srcaddr":"10.0.0.5",
            "srcport":"8888","transport":"UDP","srcids":{"instance":"i-0abc234"},"firewall_rule_action":"BLOCK"}"#,
        )
        .unwrap();
        let e = normalise(&record, RECEIVED).unwrap();
        assert_eq!(s(&e, "@timestamp"), Some("2022-06-25T00:27:53Z"));
        assert_eq!(get(&e, "tags"), None);
        assert_eq!(s(&e, "event.dataset"), Some("aws.route53"));
        assert_eq!(s(&e, "event.action"), Some("block"));
        assert_eq!(s(&e, "event.outcome"), Some("success"));
        assert_eq!(s(&e, "dns.question.name"), Some("moneropool.ru"));
        assert_eq!(
            to_string(get(&e, "dns.resolved_ip").unwrap()),
            r#"["1.2.3.4"]"#
        );
        assert_eq!(s(&e, "source.ip"), Some("10.0.0.5"));
        assert_eq!(get(&e, "source.port").and_then(Value::as_i64), Some(8888));
        assert_eq!(s(&e, "network.transport"), Some("udp"));
        assert_eq!(s(&e, "host.id"), Some("i-0abc234"));
        assert_eq!(
            to_string(get(&e, "event.type").unwrap()),
            r#"["protocol","denied"]"#
        );
        assert_eq!(s(&e, "aws.route53.vpc_id"), Some("vpc-abc123"));
    }

    #[test]
    fn ocsf_dns_activity_without_a_time_takes_the_time_received() {
        let record = from_str(
            r#"{"class_uid":4003,"query":{"hostname":"example.com.","type":"AAAA","class":"IN"},"rcode":"NXDomain",
            "src_endpoint":{"ip":"5.6.7.8","port":53,"instance_uid":"i-1"},"connection_info":{"protocol_name":"UDP"}}"#,
        )
        .unwrap();
        let e = normalise(&record, RECEIVED).unwrap();
        assert_eq!(s(&e, "@timestamp"), Some("2027-01-15T08:00:00Z"));
        assert_eq!(s(&e, "event.ingested"), Some("2027-01-15T08:00:00Z"));
        assert_eq!(
            to_string(get(&e, "tags").unwrap()),
            r#"["time_from_ingest"]"#
        );
        assert_eq!(s(&e, "event.action"), Some("query"));
        assert_eq!(s(&e, "event.outcome"), Some("failure"));
        assert_eq!(s(&e, "dns.question.name"), Some("example.com"));
        assert_eq!(s(&e, "source.ip"), Some("5.6.7.8"));
        // The id does not depend on the time received.
        let later = normalise(&record, Received::from_unix_millis(0)).unwrap();
        assert_eq!(s(&later, "event.id"), s(&e, "event.id"));
    }
}
