//! `source cloudtrail`: AWS CloudTrail log files from S3, one event per record.
//!
//! A trail delivers gzip JSON files `{"Records": [...]}` under
//! `[<prefix>/]AWSLogs/[<org id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/`, every
//! few minutes. They are found through the bucket's S3 event notifications on an SQS
//! queue (`mode = "sqs"`, the recommended way: nothing is missed whatever order keys
//! arrive in) or by listing a prefix (`mode = "scan"`); see [`super::s3_logs`] for
//! acknowledgements, checkpoints and what happens to bad objects.
//!
//! Each record is emitted unchanged (the vendor's own record); the `normalise`
//! transform with `format = "aws_cloudtrail"` turns it into an ECS event. Digest files
//! (`CloudTrail-Digest/`), Insights files (`CloudTrail-Insight/`) and any other key are
//! skipped and counted.

use super::s3_logs::{self, KeyKind, LogFormat, S3LogSource};
use crate::aws;
use crate::limits::{
    split_records, InputLimits, RecordsAt, Rejected, MAX_DEPTH_ATTR, MAX_EVENT_SIZE_ATTR,
    MAX_FIELDS_ATTR,
};
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::event::Event;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::ComponentSpec;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::sync::Arc;

/// The catalogue entry of `source cloudtrail`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "cloudtrail",
    summary: "Reads AWS CloudTrail log files from S3, announced on an SQS queue or by listing a prefix, as one event per record (the record unchanged: follow with `normalise` `aws_cloudtrail`); a message is deleted, or the position advanced, only once its records are acknowledged.",
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

/// Builds `source cloudtrail`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    Ok(Built::Source(Box::new(
        S3LogSource::<CloudTrailLogs>::build(plan, ctx)?,
    )))
}

/// CloudTrail log files.
pub struct CloudTrailLogs;

impl LogFormat for CloudTrailLogs {
    const WHAT: &'static str = "CloudTrail log file";

    fn classify(key: &str) -> KeyKind {
        let mut segments = key.split('/').skip_while(|s| *s != "AWSLogs");
        if segments.next().is_none() {
            return KeyKind::Foreign;
        }
        let mut kind = KeyKind::Foreign;
        for segment in segments {
            match segment {
                "CloudTrail-Digest" => return KeyKind::Digest,
                "CloudTrail" => kind = KeyKind::Log,
                _ => {}
            }
        }
        if kind == KeyKind::Log && !key.ends_with(".json.gz") {
            return KeyKind::Foreign;
        }
        kind
    }

    fn events(
        content: Vec<u8>,
        source: &Arc<str>,
        limits: &InputLimits,
        rejected: &mut Vec<Rejected>,
    ) -> Result<Vec<Event>, String> {
        let (document, held) = split_records(&content, RecordsAt::Member("Records"), limits)
            .map_err(|e| format!("not JSON: {e}"))?;
        *rejected = held;
        let Value::Object(mut map) = document else {
            return Err("not a JSON object: not a CloudTrail log file".to_string());
        };
        match map.remove("Records") {
            Some(Value::Array(records)) => Ok(records
                .into_iter()
                .map(|record| Event::new(record, Arc::clone(source)))
                .collect()),
            _ => Err("no `Records` array: not a CloudTrail log file".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{build_error, plan, string};

    #[test]
    fn keys_of_trails_digests_and_others() {
        for key in [
            "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/01/02/123456789012_CloudTrail_eu-west-1_20260102T0000Z_abc.json.gz",
            "my-prefix/AWSLogs/o-abc123/123456789012/CloudTrail/us-east-1/2026/01/02/x.json.gz",
        ] {
            assert_eq!(CloudTrailLogs::classify(key), KeyKind::Log, "{key}");
        }
        assert_eq!(
            CloudTrailLogs::classify("AWSLogs/123456789012/CloudTrail-Digest/eu-west-1/2026/01/02/123456789012_CloudTrail-Digest_eu-west-1_t_eu-west-1_20260102T000000Z.json.gz"),
            KeyKind::Digest
        );
        for key in [
            "AWSLogs/123456789012/CloudTrail-Insight/eu-west-1/2026/01/02/x.json.gz",
            "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/01/02/x.log.gz",
            "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/01/02/x.txt",
            "CloudTrail/x.json.gz",
            "",
        ] {
            assert_eq!(CloudTrailLogs::classify(key), KeyKind::Foreign, "{key}");
        }
    }

    #[test]
    fn records_become_events_unchanged() {
        let source: Arc<str> = Arc::from("ct");
        let events = CloudTrailLogs::events(
            br#"{"Records":[{"eventName":"A","x":{"y":1}},{"eventName":"B"}]}"#.to_vec(),
            &source,
            &InputLimits::default(),
            &mut Vec::new(),
        )
        .unwrap();
        let texts: Vec<String> = events
            .iter()
            .map(|e| pipectl_core::json::to_string(&e.value))
            .collect();
        assert_eq!(
            texts,
            [r#"{"eventName":"A","x":{"y":1}}"#, r#"{"eventName":"B"}"#]
        );
        let events = CloudTrailLogs::events(
            br#"{"Records":[]}"#.to_vec(),
            &source,
            &InputLimits::default(),
            &mut Vec::new(),
        )
        .unwrap();
        assert!(events.is_empty());
        for (bad, reason) in [
            (&b"{\"Records\":[{"[..], "not JSON"),
            (b"[1]", "not a JSON object"),
            (b"{\"records\":[]}", "no `Records`"),
            (b"{\"Records\":{}}", "no `Records`"),
        ] {
            let err = CloudTrailLogs::events(
                bad.to_vec(),
                &source,
                &InputLimits::default(),
                &mut Vec::new(),
            )
            .unwrap_err();
            assert!(err.contains(reason), "{err}");
        }
    }

    #[test]
    fn configuration_is_checked() {
        let aws = |mut attrs: Vec<(&'static str, pipectl_dsl::plan::PlanValue)>| {
            attrs.push(("region", string("eu-west-1")));
            attrs.push(("access_key_id", string("AKIDEXAMPLE")));
            attrs.push(("secret_access_key", string("s")));
            plan(&SPEC, "ct", attrs)
        };
        assert!(build_error(&FACTORY, &aws(vec![])).contains("needs `queue_url`"));
        assert!(
            build_error(&FACTORY, &aws(vec![("mode", string("scan"))])).contains("needs `bucket`")
        );
        assert!(build_error(
            &FACTORY,
            &aws(vec![
                ("queue_url", string("https://q")),
                ("bucket", string("b"))
            ])
        )
        .contains("is for `mode = \"scan\"`"));
        assert!(build_error(
            &FACTORY,
            &aws(vec![
                ("queue_url", string("https://q")),
                ("max_messages", pipectl_dsl::plan::PlanValue::Int(11))
            ])
        )
        .contains("between 1 and 10"));
        assert!(build_error(
            &FACTORY,
            &aws(vec![
                ("queue_url", string("https://q")),
                ("endpoint", string("http://127.0.0.1:1/path"))
            ])
        )
        .contains("only a scheme, host and port"));
        let p = plan(
            &SPEC,
            "ct",
            vec![
                ("queue_url", string("https://q")),
                ("region", string("eu-west-1")),
                ("access_key_id", string("AKIDEXAMPLE")),
            ],
        );
        let err = build_error(&FACTORY, &p);
        assert!(err.contains("go together"), "{err}");
        let p = plan(
            &SPEC,
            "ct",
            vec![
                ("queue_url", string("https://q")),
                ("region", string("eu-west-1")),
                ("access_key_id", string("AKIDEXAMPLE")),
                ("secret_access_key", string("hunter2-secret")),
                ("wait_time", pipectl_dsl::plan::PlanValue::Duration(21_000)),
            ],
        );
        let err = build_error(&FACTORY, &p);
        assert!(
            err.contains("at most 20s") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
