//! `source salesforce`: Salesforce Event Monitoring log files (`EventLogFile`), one
//! event per CSV row.
//!
//! A token comes from the org's My Domain with the OAuth2 client credentials flow
//! (`POST {instance_url}/services/oauth2/token`); its response names the
//! `instance_url` the API is called on. Each poll lists the log files after the
//! checkpoint with SOQL, `GET /services/data/v{version}/query?q=SELECT Id, EventType,
//! LogDate, LogFileLength, Interval, Sequence FROM EventLogFile WHERE Interval = … AND
//! (LogDate > … OR (LogDate = … AND Id > …)) ORDER BY LogDate, Id`, following
//! `nextRecordsUrl`, then downloads each file
//! (`/services/data/v{version}/sobjects/EventLogFile/{Id}/LogFile`), a CSV whose header
//! row names the columns. Each row becomes a flat object of its columns, the values
//! strings as Salesforce writes them (`EVENT_TYPE`, `TIMESTAMP_DERIVED`, `USER_ID`,
//! ...).
//!
//! The checkpoint is the `(LogDate, Id)` of the last file all of whose rows were
//! acknowledged: a file delivered in part is read again whole after a restart
//! (at-least-once). A row whose field count differs from the header's, or that is
//! not valid CSV, is emitted as an error record (`message` the row, `pipectl.error`
//! why) and counted; a file larger than `max_file_size`, or gone from Salesforce, is
//! one such error record and passed. `403 REQUEST_LIMIT_EXCEEDED` (the org's API
//! request allowance) is retried like a `429`.

use super::api::client::{json_body, unless_gone, ApiClient, Auth, Bad, Forbidden, Reply};
use super::api::emit::Emitter;
use super::api::error::ApiError;
use super::api::oauth::{form_encode, TokenGrant};
use super::api::{
    base_url, fetch, followed_link, is_safe_url, join, poll_interval_attr, run_poller,
    PollSettings, Poller, Stop, LIMIT_ATTRS, MAX_ATTEMPTS_ATTR,
};
use super::Run;
use crate::codecs::csv;
use crate::io::BatchOutput;
use crate::limits::{InputLimits, REJECTED_HEAD};
use crate::settings::{choice, size_limit};
use crate::sinks::opensearch::time::{format_rfc3339, now_ms, parse_rfc3339};
use bytes::Bytes;
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::secrets::Secret;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The catalogue entry of `source salesforce`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "salesforce",
    summary: "Reads Salesforce Event Monitoring log files (`EventLogFile`, SOQL then the CSV download) with OAuth2 client credentials, one event per CSV row, checkpointed per file after acknowledgement.",
    attrs: &[
        AttrSpec::required(
            "instance_url",
            AttrType::String,
            "The org's My Domain URL, e.g. \"https://acme.my.salesforce.com\"; tokens are requested there.",
        ),
        AttrSpec::required(
            "client_id",
            AttrType::String,
            "The consumer key of the connected app (or external client app) with the client credentials flow enabled.",
        ),
        AttrSpec::required(
            "client_secret",
            AttrType::String,
            "The consumer secret of that app.",
        )
        .sensitive(),
        AttrSpec::with_default(
            "api_version",
            AttrType::String,
            "\"62.0\"",
            "The REST API version, e.g. \"62.0\".",
        ),
        AttrSpec::with_default(
            "interval",
            AttrType::Enum(&["daily", "hourly"]),
            "\"daily\"",
            "Which log files to read: `daily` (every org with Event Monitoring or the free Login/Logout files) or `hourly` (Event Monitoring only).",
        ),
        AttrSpec::with_default(
            "event_types",
            AttrType::List(&AttrType::String),
            "[]",
            "Only these event types (`Login`, `Logout`, `API`, `Report`, `URI`, ...); empty reads all.",
        ),
        AttrSpec::with_default(
            "initial_lookback",
            AttrType::Duration,
            "2d",
            "How far back the first run starts (no checkpoint yet), by `LogDate`; Salesforce keeps files 30 days (1 day without Event Monitoring).",
        ),
        AttrSpec::with_default(
            "max_file_size",
            AttrType::Size,
            "256MiB",
            "Larger log files are not downloaded: each becomes one error record, so memory stays bounded.",
        ),
        poll_interval_attr("15m"),
        AttrSpec::with_default(
            "request_timeout",
            AttrType::Duration,
            "5m",
            "How long one HTTP request may take, connecting and a log file's download included, before it is retried.",
        ),
        MAX_ATTEMPTS_ATTR,
        LIMIT_ATTRS[0],
        LIMIT_ATTRS[1],
        LIMIT_ATTRS[2],
        LIMIT_ATTRS[3],
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source salesforce`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// The checked settings of one `source salesforce`.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    pub instance_url: Url,
    pub client_id: String,
    /// Printed as `[redacted]`.
    pub client_secret: Secret,
    pub api_version: String,
    /// `Daily` or `Hourly`, as the `Interval` field holds it.
    pub interval: &'static str,
    pub event_types: Vec<String>,
    pub initial_lookback: Duration,
    pub max_file_size: usize,
    pub(crate) poll: PollSettings,
}

impl SalesforceConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<SalesforceConfig, BuildError> {
        let client_id = attrs.string("client_id")?;
        if client_id.is_empty() {
            return Err(attrs.error("attribute `client_id` is empty"));
        }
        let client_secret = attrs
            .opt_secret("client_secret")?
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| attrs.error("attribute `client_secret` is empty"))?;
        let api_version = attrs.string("api_version")?;
        let version_ok = api_version.split_once('.').is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        });
        if !version_ok {
            return Err(attrs.error(format!(
                "attribute `api_version`: `{api_version}` is not a version such as \"62.0\""
            )));
        }
        let mut event_types = Vec::new();
        for name in attrs.strings("event_types")? {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(attrs.error(format!(
                    "attribute `event_types`: `{name}` is not an event type (letters, digits and `_`, e.g. \"Login\")"
                )));
            }
            if !event_types.contains(&name) {
                event_types.push(name);
            }
        }
        let max_file_size = size_limit(attrs, "max_file_size")?;
        let mut poll = PollSettings::from_attrs(attrs, None)?;
        // A log file up to `max_file_size` must be downloadable, whatever the bound on
        // other responses.
        poll.client.max_response_size = poll.client.max_response_size.max(max_file_size);
        Ok(SalesforceConfig {
            instance_url: base_url(attrs, "instance_url")?,
            client_id,
            client_secret,
            api_version,
            interval: choice(
                attrs,
                "interval",
                &[("daily", "Daily"), ("hourly", "Hourly")],
            )?,
            event_types,
            initial_lookback: attrs.duration("initial_lookback")?,
            max_file_size,
            poll,
        })
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = SalesforceConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(SalesforceSource {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source salesforce`.
pub struct SalesforceSource {
    config: SalesforceConfig,
    data_dir: PathBuf,
}

impl SalesforceSource {
    pub fn new(config: SalesforceConfig, data_dir: PathBuf) -> SalesforceSource {
        SalesforceSource { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let grant = ClientCredentialsGrant {
            token_url: join(&self.config.instance_url, "/services/oauth2/token"),
            client_id: self.config.client_id.clone(),
            client_secret: self.config.client_secret.clone(),
        };
        let auth = Auth::Grant {
            grant: Arc::new(grant),
            cached: None,
        };
        let poll = self.config.poll.clone();
        let poller = LogFilePoller {
            config: self.config,
            position: None,
        };
        run_poller(poller, &poll, auth, &self.data_dir, run).await
    }
}

impl Source for SalesforceSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// Salesforce's client credentials flow: like RFC 6749's, without a scope (the
/// connected app's policies decide), against the org's My Domain. `respond salesforce`
/// uses it too.
pub(crate) struct ClientCredentialsGrant {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
}

impl TokenGrant for ClientCredentialsGrant {
    fn token_url(&self) -> &Url {
        &self.token_url
    }

    fn form_body(&self) -> Result<String, ApiError> {
        Ok(form_encode(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose()),
        ]))
    }

    fn refusal_hint(&self, body: &[u8]) -> String {
        let answer = pipectl_core::json::from_slice(body).ok();
        let text = |key: &str| {
            answer
                .as_ref()
                .and_then(Value::as_object)
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let description = text("error_description");
        match text("error").as_str() {
            "invalid_client_id" | "invalid_client" => {
                "check client_id (the app's consumer key) and client_secret (its consumer secret)".into()
            }
            "invalid_grant" if description.contains("client credentials user") => {
                "enable the client credentials flow on the connected app and set its Run As user".into()
            }
            "unsupported_grant_type" => {
                "enable the client credentials flow on the connected app, and use the org's My Domain as instance_url".into()
            }
            _ => "check instance_url (the org's My Domain), client_id, client_secret and that the connected app allows the client credentials flow".into(),
        }
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.client_secret]
    }
}

/// The checkpoint's one stream.
const STREAM: &str = "event_log_files";

/// Rows per emitted part of a file: large files are sent in parts, only the last
/// moving the checkpoint.
const ROWS_PER_PART: usize = 10_000;

/// A log file's place in `ORDER BY LogDate, Id`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct FileKey {
    /// `LogDate` in Unix ms.
    log_date: i64,
    id: String,
}

/// Where reading resumes: after the last log file read whole (none yet: by
/// `initial_lookback`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Position {
    after: Option<FileKey>,
}

/// One row of the SOQL answer.
#[derive(Debug, Clone, PartialEq)]
struct LogFile {
    key: FileKey,
    event_type: String,
    length: u64,
}

/// A page of the SOQL answer.
struct QueryPage {
    files: Vec<LogFile>,
    next: Option<String>,
}

struct LogFilePoller {
    config: SalesforceConfig,
    /// The read position (ahead of the checkpoint while batches are in flight).
    position: Option<Position>,
}

impl LogFilePoller {
    fn api_path(&self, rest: &str) -> String {
        format!("/services/data/v{}{rest}", self.config.api_version)
    }

    /// The SOQL listing the files after `position`.
    fn soql(&self, position: &Position) -> String {
        let mut conditions = vec![format!("Interval = '{}'", self.config.interval)];
        if !self.config.event_types.is_empty() {
            let types: Vec<String> = self
                .config
                .event_types
                .iter()
                .map(|t| format!("'{t}'"))
                .collect();
            conditions.push(format!("EventType IN ({})", types.join(", ")));
        }
        match &position.after {
            Some(after) => {
                let date = soql_datetime(after.log_date);
                conditions.push(format!(
                    "(LogDate > {date} OR (LogDate = {date} AND Id > '{}'))",
                    after.id
                ));
            }
            None => {
                let lookback =
                    i64::try_from(self.config.initial_lookback.as_millis()).unwrap_or(i64::MAX);
                let since = now_ms().saturating_sub(lookback);
                conditions.push(format!("LogDate >= {}", soql_datetime(since)));
            }
        }
        format!(
            "SELECT Id, EventType, LogDate, LogFileLength, Interval, Sequence FROM EventLogFile WHERE {} ORDER BY LogDate, Id",
            conditions.join(" AND ")
        )
    }

    /// Downloads one file and emits its rows; the position moves past it with its
    /// last part.
    async fn read_file<O: BatchOutput>(
        &self,
        base: &Url,
        file: LogFile,
        position: &mut Position,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let before = position.clone();
        let after = Position {
            after: Some(file.key.clone()),
        };
        let describe = format!(
            "EventLogFile {} ({}, LogDate {})",
            file.key.id,
            file.event_type,
            format_rfc3339(file.key.log_date)
        );
        let too_big = |size: u64| {
            format!(
                "{describe} is {size} bytes, more than max_file_size ({} bytes); raise max_file_size to read it",
                self.config.max_file_size
            )
        };
        let limit = u64::try_from(self.config.max_file_size).unwrap_or(u64::MAX);
        if file.length > limit {
            let reason = too_big(file.length);
            tracing::error!(source = %out.name(), "{reason}");
            let record = out.error_record(&describe, &reason);
            *position = after;
            out.emit(STREAM, vec![record], position).await?;
            return Ok(());
        }
        let url = join(
            base,
            &self.api_path(&format!("/sobjects/EventLogFile/{}/LogFile", file.key.id)),
        );
        let read = unless_gone(csv_body);
        let body = fetch(
            out,
            client.call_accepting(Method::GET, &url, "text/csv", read),
        )
        .await?;
        let rows = match body {
            None => {
                let reason = format!("{describe} is gone from Salesforce (past its retention?)");
                tracing::error!(source = %out.name(), "{reason}");
                vec![out.error_record(&describe, &reason)]
            }
            Some(body) if body.len() as u64 > limit => {
                let reason = too_big(body.len() as u64);
                tracing::error!(source = %out.name(), "{reason}");
                vec![out.error_record(&describe, &reason)]
            }
            Some(body) => parse_log_file(&body, &describe, &self.config.poll.client.limits, out),
        };
        *position = after;
        let parts = rows.len().div_ceil(ROWS_PER_PART).max(1);
        let mut rows = rows.into_iter();
        for part in 1..=parts {
            let chunk: Vec<Value> = rows.by_ref().take(ROWS_PER_PART).collect();
            let cursor = if part == parts { &*position } else { &before };
            out.emit(STREAM, chunk, cursor).await?;
        }
        Ok(())
    }
}

impl Poller for LogFilePoller {
    async fn poll<O: BatchOutput>(
        &mut self,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let mut position = match self.position.take() {
            Some(position) => position,
            None => out.cursor::<Position>(STREAM).unwrap_or_default(),
        };
        let result = async {
            let base = match fetch(out, client.token_instance_url()).await? {
                Some(named) => Url::parse(&named)
                    .ok()
                    .filter(is_safe_url)
                    .ok_or_else(|| {
                        ApiError::permanent(
                            "the token response names an instance_url that is not an https:// URL",
                        )
                    })?,
                None => self.config.instance_url.clone(),
            };
            let mut next: Option<String> = None;
            loop {
                let page = match next.take() {
                    Some(link) => {
                        let url = followed_link(&base, &link)?;
                        let read = unless_gone(read_query_page);
                        match fetch(out, client.call(Method::GET, &url, read)).await? {
                            Some(page) => page,
                            None => {
                                tracing::warn!(source = %out.name(), "Salesforce refused the query's nextRecordsUrl (expired?); querying again after the last file read");
                                continue;
                            }
                        }
                    }
                    None => {
                        let mut url = join(&base, &self.api_path("/query"));
                        url.query_pairs_mut()
                            .append_pair("q", &self.soql(&position));
                        fetch(out, client.call(Method::GET, &url, read_query_page)).await?
                    }
                };
                for file in page.files {
                    self.read_file(&base, file, &mut position, client, out)
                        .await?;
                }
                match page.next {
                    Some(link) => next = Some(link),
                    None => return Ok(()),
                }
            }
        }
        .await;
        self.position = Some(position);
        result
    }

    fn forbidden(reply: &Reply) -> Forbidden {
        let codes = error_codes(&reply.body);
        if codes.iter().any(|c| c == "REQUEST_LIMIT_EXCEEDED") {
            Forbidden::Throttled
        } else if codes.iter().any(|c| c == "API_DISABLED_FOR_ORG") {
            Forbidden::Denied("the org's edition has no API access".into())
        } else {
            Forbidden::Denied(
                "the connected app's Run As user needs the API Enabled and View Event Log Files permissions".into(),
            )
        }
    }
}

/// The `errorCode`s of a Salesforce error answer (`[{"errorCode": ..., "message":
/// ...}]`).
pub(crate) fn error_codes(body: &[u8]) -> Vec<String> {
    let Ok(Value::Array(errors)) = pipectl_core::json::from_slice(body) else {
        return Vec::new();
    };
    errors
        .iter()
        .filter_map(|e| e.as_object()?.get("errorCode")?.as_str())
        .map(str::to_string)
        .collect()
}

/// `2026-11-27T00:00:00Z`: SOQL's dateTime literal (whole seconds).
fn soql_datetime(ms: i64) -> String {
    let text = format_rfc3339(ms - ms.rem_euclid(1000));
    text.strip_suffix(".000Z")
        .map(|t| format!("{t}Z"))
        .unwrap_or(text)
}

/// A page of the SOQL answer: `{"records": [...], "done": …, "nextRecordsUrl": …}`.
fn read_query_page(reply: &Reply) -> Result<QueryPage, Bad> {
    let body = json_body(reply)?;
    let map = body.as_object().ok_or_else(|| {
        Bad::Page(format!(
            "expected an object with `records`, got {}",
            body.type_name()
        ))
    })?;
    let records = map
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| Bad::Page("the answer has no `records` array".into()))?;
    let files = records
        .iter()
        .map(log_file)
        .collect::<Result<Vec<_>, _>>()?;
    let done = map.get("done").and_then(Value::as_bool).unwrap_or(true);
    let next = match map.get("nextRecordsUrl").and_then(Value::as_str) {
        Some(link) if !done => Some(link.to_string()),
        _ => None,
    };
    Ok(QueryPage { files, next })
}

/// One `EventLogFile` record of the SOQL answer.
fn log_file(record: &Value) -> Result<LogFile, Bad> {
    let map = record
        .as_object()
        .ok_or_else(|| Bad::Page("a record is not an object".into()))?;
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    let id = text("Id")
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| Bad::Page("a record has no valid `Id`".into()))?;
    let log_date = text("LogDate")
        .and_then(parse_rfc3339)
        .ok_or_else(|| Bad::Page(format!("record {id} has no valid `LogDate`")))?;
    let length = match map.get("LogFileLength") {
        Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Value::Float(n)) if n.is_finite() && *n >= 0.0 => *n as u64,
        _ => 0,
    };
    Ok(LogFile {
        key: FileKey {
            log_date,
            id: id.to_string(),
        },
        event_type: text("EventType").unwrap_or_default().to_string(),
        length,
    })
}

/// A `2xx` body, whatever its type.
fn csv_body(reply: &Reply) -> Result<Bytes, Bad> {
    if reply.status.is_success() {
        Ok(reply.body.clone())
    } else {
        Err(Bad::Refused)
    }
}

/// A log file's rows as objects keyed by its header; rows that cannot be read become
/// error records.
fn parse_log_file<O: BatchOutput>(
    body: &[u8],
    describe: &str,
    limits: &InputLimits,
    out: &Emitter<O>,
) -> Vec<Value> {
    let text = String::from_utf8_lossy(body);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut records = csv_records(text);
    let Some(header) = records.next() else {
        return Vec::new();
    };
    let header = header.strip_suffix('\r').unwrap_or(header);
    let columns = match csv::split_record(header) {
        Ok(columns) if columns.iter().all(|c| !c.is_empty()) => columns,
        Ok(_) => {
            return vec![out.error_record(
                header,
                &format!("{describe}: the header row has an empty column name"),
            )]
        }
        Err(e) => return vec![out.error_record(header, &format!("{describe}: header row: {e}"))],
    };
    records
        .enumerate()
        .map(|(n, row)| (n, row.strip_suffix('\r').unwrap_or(row)))
        .filter(|(_, row)| !row.is_empty())
        .map(|(n, row)| {
            let row_error = |reason: &str| {
                out.error_record(head(row), &format!("{describe}: row {}: {reason}", n + 1))
            };
            // Bounded before decoding: a row over max_event_size is never split.
            if let Err(e) = limits.check_size(row.len()) {
                return row_error(&format!(
                    "{e}; `message` holds its first {} bytes",
                    head(row).len()
                ));
            }
            match csv::decode(row, &columns).map(Value::Object) {
                Ok(record) => match limits.check_value(&record) {
                    Ok(()) => record,
                    Err(e) => row_error(&e.to_string()),
                },
                Err(e) => row_error(&e.to_string()),
            }
        })
        .collect()
}

/// The first [`REJECTED_HEAD`] bytes of a row (at a character boundary), for its error
/// record.
fn head(row: &str) -> &str {
    let mut end = row.len().min(REJECTED_HEAD);
    while !row.is_char_boundary(end) {
        end -= 1;
    }
    &row[..end]
}

/// Splits CSV text into records at line breaks outside quoted fields (RFC 4180: a
/// quoted field may hold line breaks).
fn csv_records(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let mut quoted = false;
        for (i, byte) in current.bytes().enumerate() {
            match byte {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => {
                    rest = current.get(i + 1..).filter(|r| !r.is_empty());
                    return current.get(..i);
                }
                _ => {}
            }
        }
        rest = None;
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::super::api::client::ClientSettings;
    use super::super::api::retry::RetryPolicy;
    use super::super::api::testing::{error_reason, text, Answer, Harness, MockApi, Seen};
    use super::*;
    use crate::testkit::{build_error, plan, string, TempDir};
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    const SECRET: &str = "sf-consumer-secret~7";
    const QUERY: &str = "/services/data/v62.0/query";

    /// A log file of the mock org.
    #[derive(Clone)]
    struct File {
        id: String,
        event_type: String,
        log_date: String,
        csv: String,
        /// `LogFileLength` reported (the CSV's length unless set).
        length: Option<u64>,
        /// Listed, but its download answers `404`.
        gone: bool,
    }

    /// A Salesforce org: log files, tokens `tok-1`, ... (those in `expired` refused as
    /// expired sessions), query cursors for `nextRecordsUrl`, and a script of failures
    /// answered to API requests first (last first).
    #[derive(Default)]
    struct Org {
        files: Mutex<Vec<File>>,
        tokens: AtomicUsize,
        expired: Mutex<Vec<String>>,
        failures: Mutex<Vec<Answer>>,
        cursors: Mutex<BTreeMap<usize, Vec<File>>>,
        token_refusal: Mutex<Option<Answer>>,
        /// Query locators (`nextRecordsUrl`) expire as soon as they are made.
        locators_expire: std::sync::atomic::AtomicBool,
    }

    fn file(id: &str, event_type: &str, day: u32, csv: &str) -> File {
        File {
            id: id.into(),
            event_type: event_type.into(),
            log_date: format!("2026-11-{day:02}T00:00:00.000+0000"),
            csv: csv.into(),
            length: None,
            gone: false,
        }
    }

    fn record(f: &File) -> String {
        format!(
            r#"{{"attributes":{{"type":"EventLogFile","url":"/services/data/v62.0/sobjects/EventLogFile/{id}"}},"Id":"{id}","EventType":"{t}","LogDate":"{d}","LogFileLength":{len}.0,"Interval":"Daily","Sequence":0}}"#,
            id = f.id,
            t = f.event_type,
            d = f.log_date,
            len = f.length.unwrap_or(f.csv.len() as u64)
        )
    }

    impl Org {
        fn add(&self, f: File) {
            self.files.lock().unwrap().push(f);
        }

        fn answer(&self, seen: &Seen) -> Answer {
            if seen.path == "/services/oauth2/token" {
                if let Some(refusal) = self.token_refusal.lock().unwrap().take() {
                    return refusal;
                }
                let valid = seen.method == "POST"
                    && seen.form("grant_type").as_deref() == Some("client_credentials")
                    && seen.form("client_id").as_deref() == Some("consumer-key")
                    && seen.form("client_secret").as_deref() == Some(SECRET)
                    && seen.form("scope").is_none();
                if !valid {
                    return Answer::status(
                        400,
                        r#"{"error":"invalid_client","error_description":"invalid client credentials"}"#,
                    );
                }
                let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
                // No `expires_in`: Salesforce does not say; the session times out.
                return Answer::json(format!(
                    r#"{{"access_token":"tok-{n}","instance_url":"{}","id":"x","token_type":"Bearer","issued_at":"1"}}"#,
                    seen.base
                ));
            }
            let token = seen.authorization.trim_start_matches("Bearer ").to_string();
            if !token.starts_with("tok-") || self.expired.lock().unwrap().contains(&token) {
                return Answer::status(
                    401,
                    r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
                );
            }
            if let Some(failure) = self.failures.lock().unwrap().pop() {
                return failure;
            }
            if seen.path == QUERY {
                return self.query(&seen.param("q").unwrap_or_default());
            }
            if let Some(rest) = seen.path.strip_prefix("/services/data/v62.0/query/01g") {
                let (n, offset) = rest.split_once('-').unwrap();
                let files = self
                    .cursors
                    .lock()
                    .unwrap()
                    .get(&n.parse().unwrap())
                    .cloned()
                    .filter(|_| !self.locators_expire.load(Ordering::SeqCst));
                return match files {
                    Some(files) => self.page(n.parse().unwrap(), &files, offset.parse().unwrap()),
                    None => Answer::status(
                        400,
                        r#"[{"message":"invalid query locator","errorCode":"INVALID_QUERY_LOCATOR"}]"#,
                    ),
                };
            }
            let id = seen
                .path
                .strip_prefix("/services/data/v62.0/sobjects/EventLogFile/")
                .and_then(|p| p.strip_suffix("/LogFile"));
            let files = self.files.lock().unwrap();
            match files.iter().find(|f| Some(f.id.as_str()) == id && !f.gone) {
                Some(f) => Answer::status(200, f.csv.clone()).header("content-type", "text/csv"),
                None => Answer::status(
                    404,
                    r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#,
                ),
            }
        }

        /// Answers the SOQL the source sends: `LogDate >= X`, or `(LogDate > X OR
        /// (LogDate = X AND Id > 'Y'))`.
        fn query(&self, soql: &str) -> Answer {
            let date = |s: &str| parse_rfc3339(s).unwrap();
            let after: Box<dyn Fn(&File) -> bool> =
                if let Some(rest) = soql.split("(LogDate > ").nth(1) {
                    let bound = date(rest.split(' ').next().unwrap());
                    let id = rest
                        .split("Id > '")
                        .nth(1)
                        .unwrap()
                        .split('\'')
                        .next()
                        .unwrap()
                        .to_string();
                    Box::new(move |f| {
                        let d = date(&f.log_date);
                        d > bound || (d == bound && f.id > id)
                    })
                } else {
                    let rest = soql.split("LogDate >= ").nth(1).unwrap();
                    let bound = date(rest.split(' ').next().unwrap());
                    Box::new(move |f| date(&f.log_date) >= bound)
                };
            let mut files: Vec<File> = self
                .files
                .lock()
                .unwrap()
                .iter()
                .filter(|f| after(f))
                .cloned()
                .collect();
            files.sort_by_key(|f| (date(&f.log_date), f.id.clone()));
            let mut cursors = self.cursors.lock().unwrap();
            let n = cursors.len();
            cursors.insert(n, files.clone());
            self.page(n, &files, 0)
        }

        /// Two records per page.
        fn page(&self, n: usize, files: &[File], offset: usize) -> Answer {
            let records: Vec<String> = files.iter().skip(offset).take(2).map(record).collect();
            let done = offset + 2 >= files.len();
            let next = if done {
                String::new()
            } else {
                format!(
                    r#","nextRecordsUrl":"/services/data/v62.0/query/01g{n}-{}""#,
                    offset + 2
                )
            };
            Answer::json(format!(
                r#"{{"totalSize":{},"done":{done},"records":[{}]{next}}}"#,
                files.len(),
                records.join(",")
            ))
        }
    }

    async fn serve(org: &Arc<Org>) -> MockApi {
        let org = Arc::clone(org);
        MockApi::start(move |seen| org.answer(seen)).await
    }

    fn config(api: &MockApi) -> SalesforceConfig {
        let mut retry = RetryPolicy::new(5);
        retry.base_backoff = Duration::from_millis(10);
        SalesforceConfig {
            instance_url: api.base.clone(),
            client_id: "consumer-key".into(),
            client_secret: Secret::new(SECRET),
            api_version: "62.0".into(),
            interval: "Daily",
            event_types: Vec::new(),
            initial_lookback: Duration::from_secs(3 * 365 * 86_400),
            max_file_size: 1 << 20,
            poll: PollSettings {
                poll_interval: Duration::from_millis(50),
                client: ClientSettings {
                    timeout: Duration::from_secs(5),
                    retry,
                    pace: None,
                    limits: crate::limits::InputLimits::default(),
                    max_response_size: crate::sources::api::client::DEFAULT_MAX_RESPONSE_SIZE,
                },
            },
        }
    }

    fn start(config: SalesforceConfig, dir: &TempDir) -> Harness {
        let source = SalesforceSource::new(config, dir.path().to_path_buf());
        Harness::start(|run| source.run_with(run))
    }

    const LOGIN_CSV: &str = "\"EVENT_TYPE\",\"TIMESTAMP_DERIVED\",\"USER_NAME\",\"URI\"\r\n\"Login\",\"2026-11-26T09:00:00.000Z\",\"ann@acme.test\",\"/a, b\"\r\n\"Login\",\"2026-11-26T09:05:00.000Z\",\"bob@acme.test\",\"say \"\"hi\"\"\nthen go\"\r\n";

    fn one_row(event_type: &str, user: &str) -> String {
        format!("\"EVENT_TYPE\",\"USER_NAME\"\n\"{event_type}\",\"{user}\"\n")
    }

    #[tokio::test]
    async fn files_are_listed_downloaded_parsed_and_resumed_without_duplicates() {
        let org = Arc::new(Org::default());
        org.add(file(
            "0AT000000000002",
            "API",
            26,
            &one_row("API", "cat@acme.test"),
        ));
        org.add(file("0AT000000000001", "Login", 26, LOGIN_CSV));
        org.add(file(
            "0AT000000000003",
            "Logout",
            27,
            &one_row("Logout", "dan@acme.test"),
        ));
        let api = serve(&org).await;
        let dir = TempDir::new("sf-resume");
        let mut h = start(config(&api), &dir);
        let mut events = Vec::new();
        while events.len() < 4 {
            events.extend(h.batch().await.iter().map(|e| e.value.clone()));
        }
        let users: Vec<String> = events
            .iter()
            .map(|v| {
                v.as_object()
                    .unwrap()
                    .get("USER_NAME")
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        // In (LogDate, Id) order, rows in file order.
        assert_eq!(
            users,
            [
                "ann@acme.test",
                "bob@acme.test",
                "cat@acme.test",
                "dan@acme.test"
            ]
        );
        let bob = events[1].as_object().unwrap();
        assert_eq!(
            bob.get("URI").unwrap().as_str(),
            Some("say \"hi\"\nthen go")
        );
        assert_eq!(bob.get("EVENT_TYPE").unwrap().as_str(), Some("Login"));
        assert_eq!(
            events[0].as_object().unwrap().get("URI").unwrap().as_str(),
            Some("/a, b")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();

        let seen = api.seen();
        assert_eq!(seen[0].path, "/services/oauth2/token");
        let soql = seen[1].param("q").unwrap();
        assert!(soql.starts_with("SELECT Id, EventType, LogDate, LogFileLength, Interval, Sequence FROM EventLogFile WHERE Interval = 'Daily' AND LogDate >= 20"), "{soql}");
        assert!(soql.ends_with(" ORDER BY LogDate, Id"), "{soql}");
        // Three files over two pages: the second page through nextRecordsUrl.
        assert!(seen
            .iter()
            .any(|s| s.path == "/services/data/v62.0/query/01g0-2"));
        // Later polls ask after the last file.
        let later = seen.iter().rev().find_map(|s| s.param("q")).unwrap();
        assert!(
            later.contains("(LogDate > 2026-11-27T00:00:00Z OR (LogDate = 2026-11-27T00:00:00Z AND Id > '0AT000000000003'))"),
            "{later}"
        );

        // A file of the same LogDate with a later Id: read once after a restart.
        org.add(file(
            "0AT000000000004",
            "API",
            27,
            &one_row("API", "eve@acme.test"),
        ));
        let mut h = start(config(&api), &dir);
        assert_eq!(h.events(1, "USER_NAME").await, ["eve@acme.test"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
    }

    #[tokio::test]
    async fn an_expired_query_locator_queries_again_after_the_last_file() {
        let org = Arc::new(Org::default());
        for (n, user) in ["ann", "bob", "cat"].iter().enumerate() {
            let id = format!("0AT00000000000{n}");
            org.add(file(&id, "API", 26, &one_row("API", user)));
        }
        org.locators_expire.store(true, Ordering::SeqCst);
        let api = serve(&org).await;
        let dir = TempDir::new("sf-locator");
        let mut h = start(config(&api), &dir);
        assert_eq!(h.events(3, "USER_NAME").await, ["ann", "bob", "cat"]);
        h.stop().await.unwrap();
        let queries: Vec<String> = api.seen().iter().filter_map(|s| s.param("q")).collect();
        assert!(
            queries[1].contains("AND Id > '0AT000000000001'"),
            "{}",
            queries[1]
        );
    }

    #[tokio::test]
    async fn ragged_rows_become_counted_error_records() {
        let org = Arc::new(Org::default());
        let csv = "\"EVENT_TYPE\",\"USER_NAME\"\n\"Login\",\"ann\"\n\"Login\",\"bob\",\"extra\"\n\"Login\"\n\"Login\",\"cat\"\n\"Login\",\"unclosed\n";
        org.add(file("0AT000000000001", "Login", 26, csv));
        let api = serve(&org).await;
        let dir = TempDir::new("sf-ragged");
        let mut h = start(config(&api), &dir);
        let batch = h.batch().await;
        let users: Vec<String> = batch.iter().map(|e| text(e, "USER_NAME")).collect();
        assert_eq!(users, ["ann", "", "", "cat", ""]);
        let error = text(&batch[1], "pipectl");
        assert!(
            error.contains(
                "EventLogFile 0AT000000000001 (Login, LogDate 2026-11-26T00:00:00.000Z): row 2: "
            ),
            "{error}"
        );
        assert!(error.contains("expected 2 fields"), "{error}");
        assert_eq!(text(&batch[1], "message"), "\"Login\",\"bob\",\"extra\"");
        assert!(text(&batch[4], "pipectl").contains("unclosed"));
        drop(batch);
        let counters = Arc::clone(&h.counters);
        h.stop().await.unwrap();
        assert_eq!(counters.snapshot().events_errored, 3);
    }

    /// A row over `max_event_size` and a file whose rows are wider than `max_fields`
    /// (CSV cannot nest): error records naming the limit, the good rows once, and the
    /// checkpoint past both files.
    #[tokio::test]
    async fn rows_over_the_limits_are_held_back_and_passed() {
        let org = Arc::new(Org::default());
        let big = "x".repeat(2000);
        let csv = format!(
            "\"EVENT_TYPE\",\"USER_NAME\"\n\"Login\",\"ann\"\n\"Login\",\"{big}\"\n\"Login\",\"bob\"\n"
        );
        org.add(file("0AT000000000001", "Login", 26, &csv));
        let columns: Vec<String> = (0..12).map(|i| format!("C{i}")).collect();
        let values: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        let wide = format!("{}\n{}\n", columns.join(","), values.join(","));
        org.add(file("0AT000000000002", "API", 27, &wide));
        org.add(file(
            "0AT000000000003",
            "Login",
            28,
            &one_row("Login", "cat@acme.test"),
        ));
        let api = serve(&org).await;
        let dir = TempDir::new("sf-limits");
        let limited = || {
            let mut c = config(&api);
            c.poll.client.limits = crate::limits::InputLimits {
                max_event_size: 1024,
                max_fields: 10,
                ..Default::default()
            };
            c
        };
        let mut h = start(limited(), &dir);
        let mut events = Vec::new();
        while events.len() < 5 {
            events.extend(h.batch().await.iter().map(|e| {
                (
                    text(e, "USER_NAME"),
                    error_reason(e).unwrap_or_default(),
                    text(e, "message").len(),
                )
            }));
        }
        assert_eq!(events[0].0, "ann");
        assert!(events[1].1.contains("row 2: the record is 2010 bytes, more than max_event_size (1024 bytes); `message` holds its first 256 bytes"), "{}", events[1].1);
        assert_eq!(events[1].2, 256);
        assert_eq!(events[2].0, "bob");
        assert!(events[3].1.contains("EventLogFile 0AT000000000002 (API, LogDate 2026-11-27T00:00:00.000Z): row 1: the record has more than max_fields (10) fields"), "{}", events[3].1);
        assert_eq!(events[4].0, "cat@acme.test");
        let counters = Arc::clone(&h.counters);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
        assert_eq!(counters.snapshot().events_errored, 2);

        // The checkpoint is past all three files: the query asks for later ones.
        let before = api.seen().len();
        let mut h = start(limited(), &dir);
        let query = api.request_after(before, QUERY).await.param("q").unwrap();
        assert!(
            query.contains("(LogDate > 2026-11-28T00:00:00Z OR (LogDate = 2026-11-28T00:00:00Z AND Id > '0AT000000000003'))"),
            "{query}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
    }

    #[tokio::test]
    async fn limits_throttling_server_errors_and_a_bad_page_lose_nothing() {
        let org = Arc::new(Org::default());
        org.add(file("0AT000000000001", "Login", 26, LOGIN_CSV));
        *org.failures.lock().unwrap() = vec![
            Answer::status(200, "<html>maintenance</html>"),
            Answer::status(
                500,
                r#"[{"errorCode":"UNKNOWN_EXCEPTION","message":"boom"}]"#,
            ),
            Answer::status(
                403,
                r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
            ),
            Answer::status(429, "").header("retry-after", "1"),
        ];
        let api = serve(&org).await;
        let dir = TempDir::new("sf-errors");
        let mut h = start(config(&api), &dir);
        assert_eq!(
            h.events(2, "USER_NAME").await,
            ["ann@acme.test", "bob@acme.test"]
        );
        let counters = Arc::clone(&h.counters);
        h.stop().await.unwrap();
        let queries: Vec<Seen> = api.seen().into_iter().filter(|s| s.path == QUERY).collect();
        assert!(queries.len() >= 5, "{}", queries.len());
        assert!(queries[1].at.duration_since(queries[0].at) >= Duration::from_millis(990));
        assert_eq!(counters.snapshot().events_errored, 1);
    }

    #[tokio::test]
    async fn an_expired_session_is_renewed_once() {
        let org = Arc::new(Org::default());
        org.add(file("0AT000000000001", "API", 26, &one_row("API", "ann")));
        org.expired.lock().unwrap().push("tok-1".into());
        let api = serve(&org).await;
        let dir = TempDir::new("sf-expired");
        let mut h = start(config(&api), &dir);
        assert_eq!(h.events(1, "USER_NAME").await, ["ann"]);
        h.stop().await.unwrap();
        assert_eq!(org.tokens.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unacknowledged_file_is_read_again_whole_after_restart() {
        let org = Arc::new(Org::default());
        org.add(file("0AT000000000001", "Login", 26, LOGIN_CSV));
        let api = serve(&org).await;
        let dir = TempDir::new("sf-unacked");
        let mut h = start(config(&api), &dir);
        let batch = h.batch().await;
        assert_eq!(batch.len(), 2);
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let stored = crate::checkpoint::stored_text(dir.path()).unwrap_or_default();
        assert!(!stored.contains("0AT000000000001"), "{stored}");
        batch.iter().for_each(|e| e.fail_delivery());
        drop(batch);
        h.stop().await.unwrap();
        let mut h = start(config(&api), &dir);
        assert_eq!(
            h.events(2, "USER_NAME").await,
            ["ann@acme.test", "bob@acme.test"]
        );
        h.stop().await.unwrap();
        let stored = crate::checkpoint::stored_text(dir.path()).unwrap();
        assert!(stored.contains("0AT000000000001"), "{stored}");
    }

    #[tokio::test]
    async fn oversized_and_vanished_files_are_error_records_and_passed() {
        let org = Arc::new(Org::default());
        let mut big = file("0AT000000000001", "API", 26, "ignored");
        big.length = Some(2 << 20);
        org.add(big);
        let mut gone = file("0AT000000000002", "URI", 26, "x");
        gone.gone = true;
        org.add(gone);
        org.add(file(
            "0AT000000000003",
            "Login",
            27,
            &one_row("Login", "ann"),
        ));
        let api = serve(&org).await;
        let dir = TempDir::new("sf-big");
        let mut h = start(config(&api), &dir);
        let mut got = Vec::new();
        while got.len() < 3 {
            got.extend(
                h.batch()
                    .await
                    .iter()
                    .map(|e| (text(e, "USER_NAME"), text(e, "pipectl"))),
            );
        }
        let counters = Arc::clone(&h.counters);
        h.stop().await.unwrap();
        assert!(
            got[0]
                .1
                .contains("is 2097152 bytes, more than max_file_size (1048576 bytes)"),
            "{:?}",
            got[0]
        );
        assert!(
            got[1].1.contains("EventLogFile 0AT000000000002 (URI"),
            "{:?}",
            got[1]
        );
        assert!(got[1].1.contains("is gone from Salesforce"), "{:?}", got[1]);
        assert_eq!(got[2].0, "ann");
        assert_eq!(counters.snapshot().events_errored, 2);
        // The oversized file was never downloaded.
        assert!(!api
            .seen()
            .iter()
            .any(|s| s.path.contains("0AT000000000001/LogFile")));
    }

    #[tokio::test]
    async fn refused_credentials_stop_the_source_saying_what_to_fix() {
        let org = Arc::new(Org::default());
        *org.token_refusal.lock().unwrap() = Some(Answer::status(
            400,
            format!(
                r#"{{"error":"invalid_grant","error_description":"no client credentials user enabled ({SECRET})"}}"#
            ),
        ));
        let api = serve(&org).await;
        let dir = TempDir::new("sf-refused");
        let err = start(config(&api), &dir).ended().await.unwrap_err();
        assert!(
            err.message.contains("token request POST http://127.0.0.1"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("set its Run As user"),
            "{}",
            err.message
        );
        assert!(!err.message.contains(SECRET), "{}", err.message);
    }

    #[test]
    fn csv_records_split_outside_quotes_only() {
        let text = "a,\"b\nc\"\r\nd,\"e\"\"\n\"\nf";
        let records: Vec<&str> = csv_records(text).collect();
        assert_eq!(records, ["a,\"b\nc\"\r", "d,\"e\"\"\n\"", "f"]);
        assert_eq!(csv_records("x\n").collect::<Vec<_>>(), ["x"]);
        assert_eq!(csv_records("").count(), 1);
    }

    #[test]
    fn soql_datetimes_are_whole_seconds_in_utc() {
        let ms = parse_rfc3339("2026-11-27T05:00:00.000+0000").unwrap();
        assert_eq!(soql_datetime(ms), "2026-11-27T05:00:00Z");
        assert_eq!(soql_datetime(ms + 1500), "2026-11-27T05:00:01Z");
    }

    #[test]
    fn configuration_is_checked() {
        let base = || {
            vec![
                ("instance_url", string("https://acme.my.salesforce.com")),
                ("client_id", string("key")),
                ("client_secret", string("s")),
            ]
        };
        let mut attrs = base();
        attrs.push((
            "event_types",
            pipectl_dsl::plan::PlanValue::List(vec![string("Login') OR Id != ('")]),
        ));
        assert!(build_error(&FACTORY, &plan(&SPEC, "s", attrs)).contains("is not an event type"));
        let mut attrs = base();
        attrs.push(("api_version", string("v62")));
        assert!(build_error(&FACTORY, &plan(&SPEC, "s", attrs)).contains("not a version"));
        let mut attrs = base();
        attrs[0] = ("instance_url", string("http://acme.my.salesforce.com"));
        assert!(build_error(&FACTORY, &plan(&SPEC, "s", attrs)).contains("https://"));
    }
}
