//! `source vpc_flow`: AWS VPC Flow Logs delivered to S3, one `{"message": line}`
//! event per line.
//!
//! Flow logs published to S3 are text objects (gzip, or plain) under
//! `[<prefix>/]AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/`, each starting with
//! a header line naming its fields: the default format's, or the custom format the
//! flow log was created with. Lines are emitted in order, header included, so the
//! `normalise` transform (`format = "aws_vpcflow"`, whose parser takes its format from
//! the last header it saw) reads every object in its own format; parsing stays in one
//! place, and the events are the same as for flow logs read from files with `source
//! file` + `normalise`. Give each `vpc_flow` source its own `normalise`, so that lines
//! of two sources are never read with each other's header.
//!
//! Objects are found as for `cloudtrail` ([`super::s3_logs`]): S3 event notifications
//! on an SQS queue, or a listed prefix. Keys outside `vpcflowlogs/` and Parquet objects
//! (`.parquet`; choose the text format when creating the flow log) are skipped and
//! counted. Blank lines are dropped; invalid UTF-8 is replaced with U+FFFD.

use super::s3_logs::{self, KeyKind, LogFormat, S3LogSource};
use crate::aws;
use crate::limits::{
    InputLimits, Rejected, MAX_DEPTH_ATTR, MAX_EVENT_SIZE_ATTR, MAX_FIELDS_ATTR, REJECTED_HEAD,
};
use crate::lines::decode_line;
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::event::Event;
use pipectl_dsl::catalogue::ComponentSpec;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::sync::Arc;

/// The catalogue entry of `source vpc_flow`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "vpc_flow",
    summary: "Reads AWS VPC Flow Log objects (plain or gzip text) from S3, announced on an SQS queue or by listing a prefix, as `{\"message\": line}` events with each object's header line first (follow with `normalise` `aws_vpcflow`).",
    attrs: &[
        s3_logs::MODE_ATTR,
        s3_logs::QUEUE_URL_ATTR,
        s3_logs::BUCKET_ATTR,
        s3_logs::PREFIX_ATTR,
        s3_logs::POLL_INTERVAL_ATTR,
        aws::REGION_ATTR,
        aws::ENDPOINT_ATTR,
        aws::ACCESS_KEY_ID_ATTR,
        aws::SECRET_ACCESS_KEY_ATTR,
        aws::SESSION_TOKEN_ATTR,
        s3_logs::VISIBILITY_TIMEOUT_ATTR,
        s3_logs::WAIT_TIME_ATTR,
        s3_logs::MAX_MESSAGES_ATTR,
        s3_logs::BATCH_SIZE_ATTR,
        s3_logs::MAX_OBJECT_SIZE_ATTR,
        MAX_EVENT_SIZE_ATTR,
        MAX_DEPTH_ATTR,
        MAX_FIELDS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source vpc_flow`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    Ok(Built::Source(Box::new(S3LogSource::<FlowLogs>::build(
        plan, ctx,
    )?)))
}

/// VPC flow log objects in the text format.
pub struct FlowLogs;

impl LogFormat for FlowLogs {
    const WHAT: &'static str = "VPC flow log object";

    fn classify(key: &str) -> KeyKind {
        let mut segments = key.split('/').skip_while(|s| *s != "AWSLogs");
        let in_flow_logs = segments.next().is_some() && segments.any(|s| s == "vpcflowlogs");
        if in_flow_logs && (key.ends_with(".log.gz") || key.ends_with(".log")) {
            KeyKind::Log
        } else {
            KeyKind::Foreign
        }
    }

    /// One event per line; a line over `max_event_size` is held back (flow log lines
    /// are flat text, so only the size limit can apply).
    fn events(
        content: Vec<u8>,
        source: &Arc<str>,
        limits: &InputLimits,
        rejected: &mut Vec<Rejected>,
    ) -> Result<Vec<Event>, String> {
        let mut events = Vec::new();
        let lines = content
            .split(|b| *b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace));
        for (n, line) in lines.enumerate() {
            match limits.check_size(line.len()) {
                Ok(()) => events.push(Event::from_message(
                    &decode_line(line).0,
                    Arc::clone(source),
                )),
                Err(e) => rejected.push(Rejected {
                    number: n + 1,
                    size: line.len(),
                    head: decode_line(&line[..line.len().min(REJECTED_HEAD)])
                        .0
                        .into_owned(),
                    reason: e.to_string(),
                }),
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::{Format, Normaliser};

    #[test]
    fn keys_of_flow_logs_and_others() {
        assert_eq!(
            FlowLogs::classify("AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/01/02/123456789012_vpcflowlogs_eu-west-1_fl-1_20260102T0000Z_h.log.gz"),
            KeyKind::Log
        );
        assert_eq!(
            FlowLogs::classify("p/AWSLogs/1/vpcflowlogs/r/x.log"),
            KeyKind::Log
        );
        for key in [
            "AWSLogs/1/vpcflowlogs/r/2026/01/02/x.log.parquet",
            "AWSLogs/1/CloudTrail/r/x.json.gz",
            "vpcflowlogs/x.log.gz",
        ] {
            assert_eq!(FlowLogs::classify(key), KeyKind::Foreign, "{key}");
        }
    }

    #[test]
    fn lines_over_max_event_size_are_held_back() {
        let source: Arc<str> = Arc::from("flow");
        let long = format!("2 123456789012 eni-1 {}", "x".repeat(300));
        let object = format!("version account-id interface-id\n{long}\n2 1 eni-2\n");
        let limits = InputLimits {
            max_event_size: 100,
            ..InputLimits::default()
        };
        let mut rejected = Vec::new();
        let events =
            FlowLogs::events(object.into_bytes(), &source, &limits, &mut rejected).unwrap();
        let lines: Vec<String> = events
            .iter()
            .map(|e| pipectl_core::json::to_string(&e.value))
            .collect();
        assert_eq!(
            lines,
            [
                r#"{"message":"version account-id interface-id"}"#,
                r#"{"message":"2 1 eni-2"}"#
            ]
        );
        assert_eq!(rejected.len(), 1);
        assert_eq!((rejected[0].number, rejected[0].size), (2, long.len()));
        assert_eq!(rejected[0].head.len(), REJECTED_HEAD);
        assert_eq!(
            rejected[0].reason,
            "the record is 321 bytes, more than max_event_size (100 bytes)"
        );
    }

    /// Two objects in two formats, read one after the other through one `normalise`.
    #[test]
    fn lines_with_their_header_keep_custom_formats_working() {
        let source: Arc<str> = Arc::from("flow");
        let default = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\r\n2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1760000000 1760000060 ACCEPT OK\n\n".to_vec();
        let custom = b"version vpc-id srcaddr dstaddr start end action\n5 vpc-1 10.0.0.3 198.51.100.7 1760000100 1760000160 REJECT\n".to_vec();
        let mut normaliser = Normaliser::new(Format::AwsVpcflow);
        let mut out = Vec::new();
        for object in [default, custom] {
            for mut event in
                FlowLogs::events(object, &source, &InputLimits::default(), &mut Vec::new()).unwrap()
            {
                if normaliser.apply(&mut event.value).unwrap() {
                    out.push(pipectl_core::json::to_string(&event.value));
                }
            }
        }
        assert_eq!(out.len(), 2);
        assert!(
            out[0].contains(r#""source":{"ip":"10.0.0.1","port":443}"#),
            "{}",
            out[0]
        );
        assert!(out[1].contains(r#""action":"denied""#), "{}", out[1]);
        assert!(out[1].contains(r#""vpc-id":"vpc-1""#), "{}", out[1]);
    }
}
