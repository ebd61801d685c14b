//! `transform parse`: decodes a text field with a codec (json, syslog, cef, kv, csv).
//!
//! Without `target`, the decoded object is merged into the event's root and the source
//! field removed: `{"message": "{\"user\":\"alice\"}"}` becomes `{"user": "alice"}`.
//! Decoded fields win over fields already there. With `target`, the decoded value (of
//! any type) is put at that path instead, and the source field is still removed. With
//! `keep_original = true` the source text is kept under `event.original` (ECS).
//!
//! An event whose field is missing, is not text, or does not decode goes unchanged to
//! the `errors` output, with the reason (codec, position, what was expected) under
//! `pipectl.error`. So does a record over the input limits (`max_event_size`,
//! `max_depth`, `max_fields`, see [`crate::limits`]): its text is not decoded when too
//! large, and JSON parsing stops where the depth or field limit is crossed. An event
//! that is already an error record (a source's: a line over `max_line_length`, the
//! damage in a gzip file) goes to `errors` as it is, keeping its first reason.
//!
//! Decoding JSON from `message` is the hot path of most pipelines; it parses straight
//! from the field's text and, when `message` was the only field, the decoded object
//! simply becomes the event, so no allocation happens beyond the parse itself. Setting
//! `target` or `keep_original` costs one copy of the event, kept to restore it if the
//! result cannot be placed.

use crate::codecs::{a_or_an, cef, csv, json, kv, syslog, CodecError};
use crate::limits::InputLimits;
use pipectl_core::component::{
    BuildContext, BuildError, Built, Factory, Transform, TransformOutput,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::Batch;
use pipectl_core::path::{FieldPath, PathSegment};
use pipectl_core::value::{Map, Value};
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};

use crate::settings::choice;

/// The catalogue entry of `transform parse`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "parse",
    summary: "Decodes a text field (json, syslog, cef, kv, csv) into structured fields; what does not decode goes to `errors`.",
    attrs: &[
        AttrSpec::required(
            "codec",
            AttrType::Enum(&["json", "syslog", "cef", "kv", "csv"]),
            "How the field is encoded.",
        ),
        AttrSpec::with_default(
            "field",
            AttrType::Field,
            "message",
            "The text field to decode; it is removed once decoded.",
        ),
        AttrSpec::optional(
            "target",
            AttrType::Field,
            "Where to put the decoded value; by default a decoded object is merged into the event's root.",
        ),
        AttrSpec::with_default(
            "keep_original",
            AttrType::Bool,
            "false",
            "Keep the source text under `event.original`.",
        ),
        AttrSpec::optional(
            "csv_columns",
            AttrType::List(&AttrType::String),
            "Column names, in order (required for `codec = \"csv\"`); a record with another number of fields is an error.",
        ),
        AttrSpec::with_default(
            "kv_field_split",
            AttrType::String,
            "\" \"",
            "For `kv`: what separates pairs.",
        ),
        AttrSpec::with_default(
            "kv_value_split",
            AttrType::String,
            "\"=\"",
            "For `kv`: what separates a key from its value.",
        ),
        crate::limits::MAX_EVENT_SIZE_ATTR,
        crate::limits::MAX_DEPTH_ATTR,
        crate::limits::MAX_FIELDS_ATTR,
    ],
    fixed_outputs: &["errors"],
    outputs_from: None,
};

/// Builds `transform parse`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

#[derive(Debug, Clone, Copy)]
enum CodecName {
    Json,
    Syslog,
    Cef,
    Kv,
    Csv,
}

/// A configured codec.
#[derive(Debug, Clone)]
pub enum Codec {
    Json,
    Syslog,
    Cef,
    Kv(kv::KvFormat),
    Csv(Vec<String>),
}

impl Codec {
    /// Decodes one text.
    pub fn decode(&self, text: &str) -> Result<Value, CodecError> {
        match self {
            Codec::Json => json::decode_str(text),
            Codec::Syslog => syslog::decode(text, syslog::Format::Auto).map(Value::Object),
            Codec::Cef => cef::decode(text).map(Value::Object),
            Codec::Kv(format) => kv::decode(text, format).map(Value::Object),
            Codec::Csv(columns) => csv::decode(text, columns).map(Value::Object),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Syslog => "syslog",
            Codec::Cef => "cef",
            Codec::Kv(_) => "kv",
            Codec::Csv(_) => "csv",
        }
    }

    /// Decodes one text within `limits`: too large a text is not decoded at all, JSON
    /// stops at the first level or field over the limits, and what the other codecs
    /// decode is checked before it is used.
    pub fn decode_within(&self, text: &str, limits: &InputLimits) -> Result<Value, CodecError> {
        let breach = |e: crate::limits::LimitError| CodecError::new(self.name(), e.to_string());
        limits.check_size(text.len()).map_err(breach)?;
        let value = match self {
            Codec::Json => pipectl_core::json::from_str_limited(text, limits.json()).map_err(
                |e| match limits.json_breach(&e) {
                    Some(limit) => CodecError::at("json", e.offset, limit.to_string()),
                    None => CodecError::at("json", e.offset, e.reason),
                },
            )?,
            other => other.decode(text)?,
        };
        if !matches!(self, Codec::Json) {
            limits.check_value(&value).map_err(breach)?;
        }
        Ok(value)
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let name = choice(
        &attrs,
        "codec",
        &[
            ("json", CodecName::Json),
            ("syslog", CodecName::Syslog),
            ("cef", CodecName::Cef),
            ("kv", CodecName::Kv),
            ("csv", CodecName::Csv),
        ],
    )?;
    let columns = attrs.strings("csv_columns")?;
    let codec = match name {
        CodecName::Json => Codec::Json,
        CodecName::Syslog => Codec::Syslog,
        CodecName::Cef => Codec::Cef,
        CodecName::Kv => Codec::Kv(
            kv::KvFormat::new(
                attrs.string("kv_field_split")?,
                attrs.string("kv_value_split")?,
            )
            .map_err(|e| attrs.error(e))?,
        ),
        CodecName::Csv => {
            if columns.is_empty() {
                return Err(attrs.error(
                    "`codec = \"csv\"` needs `csv_columns`, the names of the columns in order",
                ));
            }
            if let Some(dup) = columns
                .iter()
                .enumerate()
                .find_map(|(i, c)| columns.get(..i)?.contains(c).then_some(c))
            {
                return Err(attrs.error(format!("`csv_columns` names `{dup}` twice")));
            }
            Codec::Csv(columns.clone())
        }
    };
    if !matches!(name, CodecName::Csv) && attrs.raw("csv_columns").is_some() {
        return Err(attrs.error("`csv_columns` only applies to `codec = \"csv\"`"));
    }
    Ok(Built::Transform(Box::new(Parse {
        codec,
        field: attrs.field("field")?,
        target: attrs.opt_field("target")?,
        keep_original: attrs.bool("keep_original")?,
        limits: InputLimits::from_attrs(&attrs)?,
        name: format!("{}.{}", ctx.pipeline, plan.name),
    })))
}

/// A built `transform parse`.
pub struct Parse {
    codec: Codec,
    field: FieldPath,
    target: Option<FieldPath>,
    keep_original: bool,
    limits: InputLimits,
    /// `pipeline.component`, for `pipectl.error.component`.
    name: String,
}

fn original_path() -> FieldPath {
    FieldPath::new(vec![
        PathSegment::Key("event".into()),
        PathSegment::Key("original".into()),
    ])
}

impl Parse {
    #[cfg(test)]
    fn new(
        codec: Codec,
        field: FieldPath,
        target: Option<FieldPath>,
        keep_original: bool,
    ) -> Parse {
        Parse {
            codec,
            field,
            target,
            keep_original,
            limits: InputLimits::default(),
            name: "parse".into(),
        }
    }

    /// Decodes the field of `document` in place; on error `document` is unchanged.
    pub fn apply(&self, document: &mut Value) -> Result<(), String> {
        let parsed = match document.get_path(&self.field) {
            None => return Err(format!("field `{}` is missing", self.field)),
            Some(Value::String(text)) => self
                .codec
                .decode_within(text, &self.limits)
                .map_err(|e| e.to_string())?,
            Some(other) => {
                return Err(format!(
                    "field `{}` is {}, not text",
                    self.field,
                    a_or_an(other.type_name())
                ))
            }
        };
        if self.target.is_none() && !matches!(parsed, Value::Object(_)) {
            return Err(format!(
                "decoded {}, not an object; set `target` to keep it",
                a_or_an(parsed.type_name())
            ));
        }
        if !matches!(document, Value::Object(_)) {
            return Err(format!(
                "the event is {}, not an object",
                a_or_an(document.type_name())
            ));
        }
        // Placing the result or the original text can still fail (a scalar in the way),
        // and the event must then leave unchanged: those options work on a copy.
        let backup = (self.target.is_some() || self.keep_original).then(|| document.clone());
        let result = self.place(document, parsed);
        if let (Err(_), Some(backup)) = (&result, backup) {
            *document = backup;
        }
        result
    }

    fn place(&self, document: &mut Value, parsed: Value) -> Result<(), String> {
        let Some(original) = document.remove_path(&self.field) else {
            return Err(format!("field `{}` is missing", self.field));
        };
        match (&self.target, parsed) {
            (Some(target), parsed) => document.insert_path(target, parsed).map_err(|_| {
                format!("cannot write to `{target}`: a parent of it is not an object")
            })?,
            (None, Value::Object(parsed)) => merge_into_root(document, parsed),
            (None, _) => {}
        }
        if self.keep_original {
            document
                .insert_path(&original_path(), original)
                .map_err(|_| {
                    "cannot keep the original text: `event` is not an object".to_string()
                })?;
        }
        Ok(())
    }
}

/// Makes `parsed` the root and moves over the old root's remaining fields it does not
/// have: when the source field was the only one (the common case) nothing moves.
fn merge_into_root(document: &mut Value, mut parsed: Map) {
    let old = std::mem::replace(document, Value::Null);
    if let Value::Object(old) = old {
        for (key, value) in old {
            if parsed.get(&key).is_none() {
                parsed.push(key, value);
            }
        }
    }
    *document = Value::Object(parsed);
}

/// Whether `document` is already an error record (`pipectl.error` set by a source).
fn is_error_record(document: &Value) -> bool {
    match document {
        Value::Object(map) => matches!(
            map.get("pipectl"),
            Some(Value::Object(pipectl)) if pipectl.get("error").is_some()
        ),
        _ => false,
    }
}

impl Transform for Parse {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for mut event in batch {
            if is_error_record(&event.value) {
                out.forward_error(event);
                continue;
            }
            match self.apply(&mut event.value) {
                Ok(()) => out.push(event),
                Err(reason) => out.push_error(&self.name, event, &reason),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{build_error, field, plan, run_transform, string, value};
    use pipectl_core::json::to_string;
    use pipectl_dsl::plan::PlanValue;

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text).unwrap()
    }

    fn apply(parse: &Parse, input: &str) -> String {
        let mut doc = value(input);
        match parse.apply(&mut doc) {
            Ok(()) => to_string(&doc),
            Err(e) => {
                assert_eq!(
                    to_string(&doc),
                    to_string(&value(input)),
                    "unchanged on error"
                );
                format!("error: {e}")
            }
        }
    }

    #[test]
    fn json_message_becomes_the_event() {
        let p = Parse::new(Codec::Json, path("message"), None, false);
        assert_eq!(
            apply(
                &p,
                r#"{"message":"{\"user\":{\"name\":\"alice\"},\"n\":1}"}"#
            ),
            r#"{"user":{"name":"alice"},"n":1}"#
        );
        // Other fields stay; decoded ones win.
        assert_eq!(
            apply(&p, r#"{"host":"a","n":0,"message":"{\"n\":1}"}"#),
            r#"{"n":1,"host":"a"}"#
        );
    }

    #[test]
    fn target_and_keep_original() {
        let p = Parse::new(Codec::Json, path("raw"), Some(path("payload.body")), true);
        assert_eq!(
            apply(&p, r#"{"raw":"[1,2]","a":1}"#),
            r#"{"a":1,"payload":{"body":[1,2]},"event":{"original":"[1,2]"}}"#
        );
        let p = Parse::new(Codec::Json, path("message"), None, true);
        assert_eq!(
            apply(&p, r#"{"message":"{\"event\":{\"action\":\"x\"}}"}"#),
            r#"{"event":{"action":"x","original":"{\"event\":{\"action\":\"x\"}}"}}"#
        );
    }

    #[test]
    fn failures_leave_the_event_unchanged() {
        let p = Parse::new(Codec::Json, path("message"), None, false);
        assert_eq!(
            apply(&p, r#"{"other":1}"#),
            "error: field `message` is missing"
        );
        assert_eq!(
            apply(&p, r#"{"message":5}"#),
            "error: field `message` is an integer, not text"
        );
        let out = apply(&p, r#"{"message":"{\"a\":"}"#);
        assert!(out.starts_with("error: json: "), "{out}");
        assert!(out.ends_with("(at byte 5)"), "{out}");
        assert_eq!(
            apply(&p, r#"{"message":"[1]"}"#),
            "error: decoded an array, not an object; set `target` to keep it"
        );
        let p = Parse::new(Codec::Json, path("message"), None, true);
        assert_eq!(
            apply(&p, r#"{"message":"{\"event\":1}"}"#),
            "error: cannot keep the original text: `event` is not an object"
        );
    }

    #[test]
    fn other_codecs() {
        let kv = Parse::new(
            Codec::Kv(kv::KvFormat::default()),
            path("message"),
            None,
            false,
        );
        assert_eq!(
            apply(&kv, r#"{"message":"user=bob action=\"log in\""}"#),
            r#"{"user":"bob","action":"log in"}"#
        );
        let csv = Parse::new(
            Codec::Csv(vec!["a".into(), "b".into()]),
            path("message"),
            None,
            false,
        );
        assert_eq!(
            apply(&csv, r#"{"message":"1,\"x,y\""}"#),
            r#"{"a":"1","b":"x,y"}"#
        );
        assert_eq!(
            apply(&csv, r#"{"message":"1"}"#),
            "error: csv: expected 2 fields (a, b), found 1"
        );
        let cef = Parse::new(Codec::Cef, path("message"), Some(path("raw")), false);
        let out = apply(&cef, r#"{"message":"CEF:0|V|P|1|sig|Name|5|src=1.2.3.4"}"#);
        assert!(out.starts_with(r#"{"raw":{"cef":{"version":"0""#), "{out}");
        let syslog = Parse::new(Codec::Syslog, path("message"), None, true);
        let out = apply(&syslog, r#"{"message":"<13>1 - host app - - - hi"}"#);
        assert!(out.contains(r#""message":"hi""#), "{out}");
        assert!(
            out.ends_with(r#""event":{"original":"<13>1 - host app - - - hi"}}"#),
            "{out}"
        );
    }

    #[test]
    fn configuration_is_checked() {
        let p = plan(&SPEC, "t", vec![("codec", string("csv"))]);
        assert!(build_error(&FACTORY, &p).contains("needs `csv_columns`"));
        let cols = PlanValue::List(vec![string("a"), string("a")]);
        let p = plan(
            &SPEC,
            "t",
            vec![("codec", string("csv")), ("csv_columns", cols)],
        );
        assert!(build_error(&FACTORY, &p).contains("names `a` twice"));
        let cols = PlanValue::List(vec![string("a")]);
        let p = plan(
            &SPEC,
            "t",
            vec![("codec", string("json")), ("csv_columns", cols)],
        );
        assert!(build_error(&FACTORY, &p).contains("only applies"));
        let p = plan(
            &SPEC,
            "t",
            vec![("codec", string("kv")), ("kv_value_split", string(" "))],
        );
        assert!(build_error(&FACTORY, &p).contains("must differ"));
        let p = plan(
            &SPEC,
            "t",
            vec![
                ("codec", string("json")),
                ("max_depth", PlanValue::Int(129)),
            ],
        );
        assert!(build_error(&FACTORY, &p).contains("`max_depth` must be at most 128"));
        let p = plan(
            &SPEC,
            "t",
            vec![("codec", string("json")), ("max_fields", PlanValue::Int(0))],
        );
        assert!(build_error(&FACTORY, &p).contains("`max_fields` must be at least 1"));
    }

    fn limited(codec: Codec, limits: InputLimits) -> Parse {
        let mut p = Parse::new(codec, path("message"), None, false);
        p.limits = limits;
        p
    }

    #[test]
    fn records_over_the_limits_are_errors_that_name_the_limit() {
        let small = InputLimits {
            max_event_size: 64,
            max_depth: 3,
            max_fields: 4,
        };
        let json = limited(Codec::Json, small);
        let big = format!(r#"{{"message":"{{\"a\":\"{}\"}}"}}"#, "x".repeat(60));
        assert_eq!(
            apply(&json, &big),
            "error: json: the record is 68 bytes, more than max_event_size (64 bytes)"
        );
        assert_eq!(
            apply(&json, r#"{"message":"[[[[1]]]]"}"#),
            "error: json: the record nests deeper than max_depth (3 levels) (at byte 3)"
        );
        assert_eq!(
            apply(
                &json,
                r#"{"message":"{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}"}"#
            ),
            "error: json: the record has more than max_fields (4) fields (at byte 25)"
        );
        let kv = limited(Codec::Kv(kv::KvFormat::default()), small);
        assert_eq!(
            apply(&kv, r#"{"message":"a=1 b=2 c=3 d=4"}"#),
            r#"{"a":"1","b":"2","c":"3","d":"4"}"#
        );
        assert_eq!(
            apply(&kv, r#"{"message":"a=1 b=2 c=3 d=4 e=5"}"#),
            "error: kv: the record has more than max_fields (4) fields"
        );
        // Syslog's own nesting (log.syslog.structured_data.<id>.<param>) counts too.
        let syslog = limited(
            Codec::Syslog,
            InputLimits {
                max_fields: 100,
                ..small
            },
        );
        assert_eq!(
            apply(&syslog, r#"{"message":"<13>1 - h a - - [x@1 k=\"v\"] hi"}"#),
            "error: syslog: the record nests deeper than max_depth (3 levels)"
        );
    }

    #[test]
    fn the_defaults_refuse_hostile_json_quickly() {
        let p = Parse::new(Codec::Json, path("message"), None, false);
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let mut doc = Value::Object(Map::new());
        doc.insert_path(&path("message"), Value::from(deep))
            .unwrap();
        let err = p.apply(&mut doc).unwrap_err();
        assert_eq!(
            err,
            "json: the record nests deeper than max_depth (32 levels) (at byte 32)"
        );
        // Duplicate keys: the last value wins, once.
        assert_eq!(
            apply(
                &p,
                r#"{"message":"{\"user\":\"alice\",\"user\":\"mallory\"}"}"#
            ),
            r#"{"user":"mallory"}"#
        );
    }

    #[tokio::test]
    async fn parses_in_a_pipeline_with_an_errors_output() {
        let p = plan(
            &SPEC,
            "t",
            vec![
                ("codec", string("json")),
                ("field", PlanValue::Field(field("message"))),
            ],
        );
        let outcome = run_transform(
            FACTORY,
            p,
            &[r#"{"message":"{\"a\":1}"}"#, r#"{"message":"nope"}"#],
        )
        .await;
        assert_eq!(outcome.port(""), [r#"{"a":1}"#]);
        let errors = outcome.port("errors");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(
                r#"{"message":"nope","pipectl":{"error":{"component":"test.t","message":"json: "#
            ),
            "{}",
            errors[0]
        );
        assert_eq!(outcome.counters.events_errored, 1);
    }

    #[tokio::test]
    async fn error_records_of_sources_pass_to_errors_with_their_reason() {
        let p = plan(&SPEC, "t", vec![("codec", string("kv"))]);
        let record =
            r#"{"message":"a=1","pipectl":{"error":{"component":"in","message":"line too long"}}}"#;
        let outcome = run_transform(FACTORY, p, &[record, r#"{"message":"b=2"}"#]).await;
        assert_eq!(outcome.port(""), [r#"{"b":"2"}"#]);
        assert_eq!(outcome.port("errors"), [record]);
        assert_eq!(outcome.counters.events_errored, 1);
    }
}
