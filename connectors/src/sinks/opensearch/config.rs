//! The catalogue entry of `sink opensearch` and its settings, read from the checked plan.

use super::client::ConnectOptions;
use super::routing::{IndexPattern, Router};
use super::run::Batching;
use crate::settings::{choice, positive, size_limit};
use pipectl_core::component::BuildError;
use pipectl_core::config::Attrs;
use pipectl_core::path::FieldPath;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::ComponentKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The catalogue entry of `sink opensearch`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "opensearch",
    summary: "Indexes events into OpenSearch with the bulk API: batched, compressed, retried with backoff, deterministic `_id`s, refused documents to a dead-letter index.",
    attrs: &[
        AttrSpec::with_default(
            "endpoint",
            AttrType::String,
            "env(\"OPENSEARCH_URL\", \"http://127.0.0.1:9200\")",
            "The OpenSearch URL (`http(s)://host:port`); `$OPENSEARCH_URL` when not set, else the local node.",
        ),
        AttrSpec::with_default(
            "index",
            AttrType::String,
            "\"auto\"",
            "`auto` sends each document to its type's index by `event.dataset` (`pipectl-events-%Y.%m.%d`, `pipectl-incidents-%Y.%m`, ... as docs/schema.md defines); or a pattern such as `pipectl-events-lab-%Y.%m.%d` whose `%Y %m %d %H` (UTC) come from `timestamp_field`. Documents whose time is missing, not a date or over a day ahead go to the dead-letter index.",
        ),
        AttrSpec::optional(
            "timestamp_field",
            AttrType::Field,
            "With an `index` pattern: the date field that names the index (default `@timestamp`).",
        ),
        AttrSpec::with_default(
            "id_field",
            AttrType::Field,
            "event.id",
            "The field copied to `_id`. When it is missing, the id is a SHA-256 of the source name and the document, so a retry or a replay never duplicates.",
        ),
        AttrSpec::with_default(
            "batch_max_events",
            AttrType::Int,
            "2000",
            "Documents per bulk request at most.",
        ),
        AttrSpec::with_default(
            "batch_max_bytes",
            AttrType::Size,
            "8MiB",
            "A bulk request is sent once its body (before compression) reaches this size.",
        ),
        AttrSpec::with_default(
            "batch_timeout",
            AttrType::Duration,
            "1s",
            "A request that is not full is sent this long after its first document.",
        ),
        AttrSpec::with_default(
            "compression",
            AttrType::Enum(&["gzip", "none"]),
            "\"gzip\"",
            "Compression of bulk bodies.",
        ),
        AttrSpec::with_default(
            "concurrency",
            AttrType::Int,
            "4",
            "Bulk requests in flight at once; when all are busy (or retrying) the sink stops reading and its sources wait.",
        ),
        AttrSpec::with_default(
            "request_timeout",
            AttrType::Duration,
            "60s",
            "How long one request may take before it counts as failed and is retried.",
        ),
        AttrSpec::with_default(
            "retry_initial_backoff",
            AttrType::Duration,
            "200ms",
            "The first wait after a connection error, 429 or 5xx; it doubles (with jitter) on each further failure.",
        ),
        AttrSpec::with_default(
            "retry_max_backoff",
            AttrType::Duration,
            "30s",
            "The longest wait between retries. While the input is open the sink retries for ever: nothing is dropped.",
        ),
        AttrSpec::with_default(
            "drain_timeout",
            AttrType::Duration,
            "5m",
            "Once the input has ended (a finite run finished, or shutdown was requested), how long documents OpenSearch keeps refusing or cannot take are retried before they are written to `deadletter_file`.",
        ),
        AttrSpec::optional("username", AttrType::String, "Basic-auth user."),
        AttrSpec::optional(
            "password",
            AttrType::String,
            "Basic-auth password; use `secret(\"name\")`.",
        )
        .sensitive(),
        AttrSpec::optional(
            "ca_file",
            AttrType::Path,
            "PEM file of the CA that signed the cluster's certificate (https endpoints).",
        ),
        AttrSpec::with_default(
            "insecure_skip_verify",
            AttrType::Bool,
            "false",
            "Accept any TLS certificate. For labs only: anyone on the path can read and alter the traffic.",
        ),
        AttrSpec::with_default(
            "deadletter_index",
            AttrType::String,
            "\"pipectl-deadletter-%Y.%m.%d\"",
            "Where refused documents go, with the reason and the document as a string; named by the time of failure.",
        ),
        AttrSpec::optional(
            "deadletter_file",
            AttrType::Path,
            "The local NDJSON file for what the dead-letter index refuses or cannot take after `drain_timeout` (default: `deadletter.ndjson` in the component's data directory).",
        ),
        AttrSpec::with_default(
            "setup_templates",
            AttrType::Bool,
            "true",
            "Install pipectl's index templates at start (idempotent; as `pipectl opensearch setup`).",
        ),
        crate::buffer::ATTR_BUFFER_ON,
        crate::buffer::ATTR_MAX_SIZE,
        crate::buffer::ATTR_WHEN_FULL,
        crate::buffer::ATTR_FSYNC,
        crate::buffer::ATTR_FSYNC_INTERVAL,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// The checked settings of one `sink opensearch`.
#[derive(Clone)]
pub struct OpenSearchConfig {
    pub connect: ConnectOptions,
    pub router: Router,
    pub id_field: FieldPath,
    pub batching: Batching,
    pub compress: bool,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub drain_timeout: Duration,
    pub deadletter_index: IndexPattern,
    pub deadletter_file: PathBuf,
    pub setup_templates: bool,
    /// The disk buffer, unless `buffer = "none"`.
    pub buffer: Option<crate::buffer::BufferConfig>,
}

impl OpenSearchConfig {
    pub fn from_attrs(attrs: &Attrs<'_>, data_dir: &Path) -> Result<OpenSearchConfig, BuildError> {
        let index = attrs.string("index")?;
        let timestamp_field = attrs.opt_field("timestamp_field")?;
        let router = if index == "auto" {
            if timestamp_field.is_some() {
                return Err(attrs.error(
                    "`timestamp_field` applies to an `index` pattern; `index = \"auto\"` names each type's index from its own field (docs/schema.md)",
                ));
            }
            Router::auto()
        } else {
            let pattern = IndexPattern::parse(&index)
                .map_err(|e| attrs.error(format!("attribute `index`: {e}")))?;
            let timestamp = match timestamp_field {
                Some(field) => field,
                None => FieldPath::parse("@timestamp").map_err(|e| attrs.error(e.to_string()))?,
            };
            Router::pattern(pattern, timestamp)
        };
        let deadletter_index = IndexPattern::parse(&attrs.string("deadletter_index")?)
            .map_err(|e| attrs.error(format!("attribute `deadletter_index`: {e}")))?;

        let mut connect = ConnectOptions::new(attrs.string("endpoint")?);
        connect.username = attrs.opt_string("username")?;
        connect.password = attrs.opt_secret("password")?;
        connect.ca_file = attrs.opt_string("ca_file")?.map(PathBuf::from);
        connect.insecure_skip_verify = attrs.bool("insecure_skip_verify")?;
        connect.timeout = positive_duration(attrs, "request_timeout")?;
        if connect.password.is_some() && connect.username.is_none() {
            return Err(attrs.error("`password` is set without `username`"));
        }

        let initial_backoff = positive_duration(attrs, "retry_initial_backoff")?;
        let max_backoff = positive_duration(attrs, "retry_max_backoff")?;
        if max_backoff < initial_backoff {
            return Err(attrs.error("`retry_max_backoff` is shorter than `retry_initial_backoff`"));
        }
        let config = OpenSearchConfig {
            connect,
            router,
            id_field: attrs.field("id_field")?,
            batching: Batching {
                max_events: positive(attrs, "batch_max_events")?,
                max_bytes: size_limit(attrs, "batch_max_bytes")?,
                timeout: attrs.duration("batch_timeout")?,
                concurrency: positive(attrs, "concurrency")?,
            },
            compress: choice(attrs, "compression", &[("gzip", true), ("none", false)])?,
            initial_backoff,
            max_backoff,
            drain_timeout: attrs.duration("drain_timeout")?,
            deadletter_index,
            deadletter_file: attrs
                .opt_string("deadletter_file")?
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("deadletter.ndjson")),
            setup_templates: attrs.bool("setup_templates")?,
            buffer: crate::buffer::BufferConfig::from_attrs(attrs, data_dir, true)?,
        };
        Ok(config)
    }
}

fn positive_duration(attrs: &Attrs<'_>, key: &str) -> Result<Duration, BuildError> {
    let d = attrs.duration(key)?;
    if d.is_zero() {
        return Err(attrs.error(format!("attribute `{key}` must be longer than 0")));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::opensearch::FACTORY;
    use crate::testkit::{build_error, field, plan, string, TempDir};
    use pipectl_core::component::BuildContext;
    use pipectl_core::secrets::SecretStore;
    use pipectl_dsl::catalogue::Catalogue;
    use pipectl_dsl::plan::PlanValue;

    #[test]
    fn the_catalogue_entry_checks() {
        let errors = pipectl_dsl::catalogue_errors(&Catalogue::new(vec![&SPEC]));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn defaults_build_and_the_dead_letter_file_lives_in_the_data_directory() {
        let dir = TempDir::new("os-config");
        let p = plan(
            &SPEC,
            "search",
            vec![("endpoint", string("http://127.0.0.1:9"))],
        );
        let secrets = SecretStore::default();
        let ctx = BuildContext {
            pipeline: "test",
            data_dir: dir.path().to_path_buf(),
            secrets: &secrets,
        };
        let config = OpenSearchConfig::from_attrs(&Attrs::new(&p, &ctx), dir.path()).unwrap();
        assert_eq!(config.deadletter_file, dir.path().join("deadletter.ndjson"));
        assert!(config.compress && config.setup_templates);
        assert_eq!(config.batching.concurrency, 4);
        assert_eq!(
            config.deadletter_index.as_str(),
            "pipectl-deadletter-%Y.%m.%d"
        );
    }

    #[test]
    fn bad_settings_are_build_errors() {
        let cases: Vec<(Vec<(&str, PlanValue)>, &str)> = vec![
            (
                vec![("index", string("Events-%Y"))],
                "attribute `index`: index names must be lowercase",
            ),
            (vec![("index", string("x-%Q"))], "`%Q` is not a token"),
            (
                vec![("timestamp_field", PlanValue::Field(field("t")))],
                "`timestamp_field` applies to an `index` pattern",
            ),
            (
                vec![("password", string("p"))],
                "`password` is set without `username`",
            ),
            (vec![("endpoint", string("localhost:9200"))], "invalid URL"),
            (
                vec![("deadletter_index", string("dead letters"))],
                "attribute `deadletter_index`",
            ),
            (
                vec![
                    ("retry_initial_backoff", PlanValue::Duration(5000)),
                    ("retry_max_backoff", PlanValue::Duration(1000)),
                ],
                "shorter than",
            ),
            (
                vec![("concurrency", PlanValue::Int(0))],
                "`concurrency` must be at least 1",
            ),
            (
                vec![("request_timeout", PlanValue::Duration(0))],
                "`request_timeout` must be longer than 0",
            ),
        ];
        for (attrs, expected) in cases {
            let message = build_error(&FACTORY, &plan(&SPEC, "search", attrs));
            assert!(
                message.contains(expected),
                "expected `{expected}` in `{message}`"
            );
        }
    }
}
