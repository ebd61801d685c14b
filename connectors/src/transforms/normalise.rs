//! `transform normalise`: turns vendor records into the ECS events of docs/schema.md
//! with one of the normalisers of [`crate::normalise`].
//!
//! Input events are the vendor records themselves (a `parse` or a JSON codec upstream),
//! or events whose `message` holds a record's text: a JSON document for the JSON
//! formats, a flow log line for `aws_vpcflow`. A record that is not of the format (no
//! action, a line that does not fit the header) goes unchanged to `errors` with the
//! reason; a record of the format without a time of its own takes the event's ingest
//! time, tagged `time_from_ingest` (docs/schema.md §4); flow log header lines and NODATA/SKIPDATA records are dropped,
//! since they carry no event. A record that carries several events (a Google
//! Workspace activity with several `events[]`) becomes one event each, in the
//! record's order; they share the record's metadata, so its source acknowledges it
//! once all of them are delivered.
//!
//! A flow log header applies to the lines after it in the order they arrive, so one
//! `normalise` reads one stream of flow logs: sources that interleave files of
//! different custom formats need one transform per format. The same holds for Zeek TSV
//! logs and their `#fields` header (one transform per followed log file); Zeek header
//! lines are dropped like flow log headers. `log` names the Zeek log type when the
//! records do not (JSON logs without `_path`) or name it under a custom path.

use crate::normalise::{Format, Normaliser, Received};
use crate::settings::choice;
use pipectl_core::component::{
    BuildContext, BuildError, Built, Factory, Transform, TransformOutput,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::{Batch, Event};
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};

/// The catalogue entry of `transform normalise`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "normalise",
    summary: "Turns vendor records (CloudTrail, VPC flow logs, Azure Activity Log, Azure NSG/VNet flow logs, Office 365, Okta, Entra ID, Google Workspace, Salesforce, Box, Dropbox, Zeek, Suricata, S3 server access logs) into ECS events with their entities; records not of the format go to `errors`.",
    attrs: &[
        AttrSpec::required(
        "format",
        AttrType::Enum(&[
            "aws_cloudtrail",
            "aws_vpcflow",
            "azure_activity",
            "azure_nsg_flow",
            "o365",
            "okta",
            "entra_id",
            "google_workspace",
            "salesforce",
            "box",
            "dropbox",
            "zeek",
            "suricata",
            "aws_s3_access",
        ]),
        "The vendor format of the input: a parsed record, or its text in `message` (a flow log line for `aws_vpcflow`, a JSON or TSV log line for `zeek`). `entra_id` reads sign-ins and directory audits, from diagnostic settings or the Graph API; `azure_activity` reads Activity Log records from the REST API or a diagnostic setting's blobs (JSON lines, or one `{\"records\": [...]}` object, one event per record); `azure_nsg_flow` reads NSG (version 1 and 2) and VNet flow logs, a whole blob, a record or one line of a blob, one event per flow tuple; `aws_vpcflow` also reads Route 53 Resolver query log records (JSON, native or OCSF) as `aws.route53` events; `google_workspace` makes one event of each of an activity's `events[]`; `salesforce` reads EventLogFile rows and real-time event objects; `zeek` reads any Zeek log (mapping conn, dns, http, ssl and files) in JSON or TSV with its `#fields` header; `suricata` reads EVE JSON (`eve.json`). `aws_s3_access` reads S3 server access log lines or their parsed JSON; `o365` also maps the Defender alerts and Windows events that travel in the same feeds, `okta` the behaviour summaries of analytics jobs. A record without a time of its own takes its ingest time, tagged `time_from_ingest`.",
        ),
        AttrSpec::optional(
            "log",
            AttrType::String,
            "`zeek` only: the log type of every record (`conn`, `dns`, `http`, `ssl`, `files`, or another Zeek log such as `weird`), which names the dataset `zeek.<log>`; wins over the records' `_path` or `#path`. Needed for JSON logs written without `_path` whose fields do not tell the type; a custom path that starts with a type (`conn_long`, `dns-internal`) gets that type's mapping.",
        ),
    ],
    fixed_outputs: &["errors"],
    outputs_from: None,
};

/// Builds `transform normalise`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let options: Vec<(&str, Format)> = Format::ALL.iter().map(|f| (f.name(), *f)).collect();
    let format = choice(&attrs, "format", &options)?;
    let normaliser = match (format, attrs.opt_string("log")?) {
        (Format::Zeek, log) => {
            Normaliser::zeek(log.as_deref()).map_err(|e| attrs.error(format!("`log`: {e}")))?
        }
        (_, None) => Normaliser::new(format),
        (_, Some(_)) => {
            return Err(attrs.error("`log` applies to `format = \"zeek\"` only"));
        }
    };
    Ok(Built::Transform(Box::new(Normalise {
        normaliser,
        name: format!("{}.{}", ctx.pipeline, plan.name),
        more: Vec::new(),
    })))
}

/// A built `transform normalise`.
pub struct Normalise {
    normaliser: Normaliser,
    /// `pipeline.component`, for `pipectl.error.component`.
    name: String,
    /// The further events of the record being normalised, reused across records.
    more: Vec<pipectl_core::value::Value>,
}

impl Transform for Normalise {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for mut event in batch {
            let received = Received::from_unix_nanos(event.meta.ingest_time_ns);
            match self
                .normaliser
                .apply_received(&mut event.value, received, &mut self.more)
            {
                Ok(true) => {
                    let meta = (!self.more.is_empty()).then(|| event.meta.clone());
                    out.push(event);
                    if let Some(meta) = meta {
                        for value in self.more.drain(..) {
                            out.push(Event {
                                value,
                                meta: meta.clone(),
                            });
                        }
                    }
                }
                Ok(false) => out.drop_event(event),
                Err(e) => out.push_error(&self.name, event, &e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{build_error, plan, run_transform, string};

    fn normalise_plan(format: &str) -> ComponentPlan {
        plan(&SPEC, "t", vec![("format", string(format))])
    }

    #[test]
    fn the_enum_lists_every_format() {
        let Some(AttrSpec {
            ty: AttrType::Enum(names),
            ..
        }) = SPEC.attrs.first()
        else {
            panic!("format is an enum");
        };
        let formats: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(*names, formats.as_slice());
    }

    #[test]
    fn an_unknown_format_is_refused() {
        assert!(build_error(&FACTORY, &normalise_plan("syslog")).contains("is not one of"));
    }

    #[test]
    fn log_names_a_zeek_log_type_and_only_that() {
        let with_log = |format: &str, log: &str| {
            plan(
                &SPEC,
                "t",
                vec![("format", string(format)), ("log", string(log))],
            )
        };
        assert!(build_error(&FACTORY, &with_log("okta", "conn")).contains("applies to"));
        assert!(
            build_error(&FACTORY, &with_log("zeek", "conn.log")).contains("not a Zeek log name")
        );
    }

    #[tokio::test]
    async fn zeek_tsv_lines_under_their_header_and_json_lines_of_a_named_log() {
        let tsv = run_transform(
            FACTORY,
            normalise_plan("zeek"),
            &[
                r##"{"message":"#separator \\x09"}"##,
                r##"{"message":"#path\tconn"}"##,
                r##"{"message":"#fields\tts\tuid\tid.orig_h\tid.resp_h\tconn_state"}"##,
                r##"{"message":"#types\ttime\tstring\taddr\taddr\tstring"}"##,
                r#"{"message":"1704164645.5\tC1\t10.0.0.1\t10.0.0.2\tREJ"}"#,
                r#"{"message":"1704164645.5\tC1"}"#,
            ],
        )
        .await;
        let events = tsv.port("");
        assert_eq!(events.len(), 1);
        assert!(
            events[0].contains(r#""action":"REJ","outcome":"failure""#),
            "{}",
            events[0]
        );
        let errors = tsv.port("errors");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("zeek: expected 5 fields"),
            "{}",
            errors[0]
        );
        assert_eq!(tsv.counters.events_dropped, 4);

        let json = run_transform(
            FACTORY,
            plan(
                &SPEC,
                "t",
                vec![("format", string("zeek")), ("log", string("weird"))],
            ),
            &[r#"{"message":"{\"ts\":1704164645.5,\"uid\":\"C1\",\"name\":\"bad_TCP_checksum\"}"}"#],
        )
        .await;
        let events = json.port("");
        assert_eq!(events.len(), 1);
        assert!(
            events[0].contains(r#""dataset":"zeek.weird""#),
            "{}",
            events[0]
        );
    }

    #[tokio::test]
    async fn json_records_and_message_text_with_errors_to_their_port() {
        let outcome = run_transform(
            FACTORY,
            normalise_plan("okta"),
            &[
                r#"{"uuid":"a","published":"2026-01-01T00:00:00Z","eventType":"user.session.start","actor":{"type":"User","alternateId":"Ann@X.example"}}"#,
                r#"{"message":"{\"uuid\":\"b\",\"published\":\"2026-01-01T00:00:01Z\",\"eventType\":\"user.session.end\"}"}"#,
                r#"{"total_events":1000,"severity_score":57.0}"#,
                r#"{"uuid":"c","eventType":"user.session.start"}"#,
            ],
        )
        .await;
        let events = outcome.port("");
        assert_eq!(events.len(), 3);
        assert!(
            events[0].starts_with(
                r#"{"@timestamp":"2026-01-01T00:00:00Z","event":{"action":"user.session.start""#
            ),
            "{}",
            events[0]
        );
        assert!(
            events[0].contains(
                r#""entity":{"kind":["user"],"id":["ann@x.example"],"key":["user:ann@x.example"]}"#
            ),
            "{}",
            events[0]
        );
        assert!(
            events[1].contains(r#""action":"user.session.end""#),
            "{}",
            events[1]
        );
        assert_eq!(
            outcome.port("errors"),
            [
                r#"{"total_events":1000,"severity_score":57.0,"pipectl":{"error":{"component":"test.t","message":"okta: no `eventType`: not an Okta System Log record"}}}"#
            ]
        );
        assert_eq!(outcome.counters.events_errored, 1);
        // Without its time, the record takes its ingest time, tagged.
        assert!(
            events[2].contains(r#""tags":["time_from_ingest"],"event":{"ingested":"#),
            "{}",
            events[2]
        );
    }

    #[tokio::test]
    async fn an_activity_of_several_events_becomes_one_event_each_in_order() {
        let outcome = run_transform(
            FACTORY,
            normalise_plan("google_workspace"),
            &[
                r#"{"id":{"time":"2026-01-01T00:00:00Z","uniqueQualifier":"1","applicationName":"drive"},"actor":{"email":"ann@x.example"},"events":[{"name":"edit"},{"name":"download"}]}"#,
                r#"{"id":{"time":"2026-01-01T00:00:01Z","applicationName":"login"},"events":[{"name":"logout"}]}"#,
                r#"{"actor":{"email":"ann@x.example"},"events":[{"type":"b"}]}"#,
            ],
        )
        .await;
        let actions: Vec<bool> = ["edit", "download", "logout"]
            .iter()
            .zip(outcome.port(""))
            .map(|(action, event)| event.contains(&format!(r#""action":"{action}""#)))
            .collect();
        assert_eq!(actions, [true, true, true]);
        assert_eq!(outcome.port("").len(), 3);
        assert_eq!(outcome.port("errors").len(), 1);
    }

    #[tokio::test]
    async fn flow_log_lines_with_a_header_and_nodata() {
        let outcome = run_transform(
            FACTORY,
            normalise_plan("aws_vpcflow"),
            &[
                r#"{"message":"version srcaddr dstaddr bytes start end action log-status"}"#,
                r#"{"message":"5 10.0.0.1 10.0.0.2 500 1760000000 1760000060 ACCEPT OK"}"#,
                r#"{"message":"5 - - - 1760000000 1760000060 - NODATA"}"#,
                r#"{"message":"5 10.0.0.1"}"#,
            ],
        )
        .await;
        let events = outcome.port("");
        assert_eq!(events.len(), 1);
        assert!(
            events[0].contains(r#""network":{"type":"ipv4","bytes":500,"direction":"internal"}"#),
            "{}",
            events[0]
        );
        let errors = outcome.port("errors");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("aws_vpcflow: expected 8 fields"),
            "{}",
            errors[0]
        );
        assert_eq!(outcome.counters.events_dropped, 2);
    }
}
