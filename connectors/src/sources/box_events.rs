//! `source box`: Box enterprise events, as Box's own records. (The file is not
//! `box.rs` because `box` is a Rust keyword; the component type is `box`.)
//!
//! Polls `GET {api_url}/2.0/events?stream_type=…&stream_position=…&limit=…` and pages
//! with each answer's `next_stream_position` until a page comes back empty; the
//! checkpoint is that position, moved once the page before it is acknowledged. Two
//! streams:
//!
//! - `admin_logs`: ordered, without duplicates, up to a year back, but late-arriving
//!   events can be missed by a reader that keeps up in near real time. The first run
//!   starts at `created_after` = now − `initial_lookback`, which every later request
//!   repeats as Box's own SDKs do (the position is relative to that query).
//! - `admin_logs_streaming`: Box's recommendation for live reading — low latency,
//!   late events included, two weeks of history, but unordered and delivered at least
//!   once. The first run starts at the present (`stream_position=now`).
//!
//! Either way events are deduplicated by `event_id` against a bounded set of the
//! latest ids, kept in the checkpoint so a restart does not emit again what Box
//! repeats. An empty page does not move the position (Box answers those with
//! position `0`), except to take the first one a stream is given.
//!
//! Tokens come from Box's Client Credentials Grant for the enterprise
//! (`box_subject_type=enterprise`, `box_subject_id={enterprise_id}`), renewed before
//! they expire; `429` waits what `Retry-After` says. Records are emitted unchanged;
//! `transform normalise` maps them to the schema.

use super::api::client::{records_body, ApiClient, Auth, Bad, Reply};
use super::api::emit::Emitter;
use super::api::oauth::FormGrant;
use super::api::recent::RecentIds;
use super::api::{
    base_url, fetch, join, poll_interval_attr, run_poller, PollSettings, Poller, Stop, LIMIT_ATTRS,
    MAX_ATTEMPTS_ATTR, REQUEST_TIMEOUT_ATTR,
};
use super::Run;
use crate::io::BatchOutput;
use crate::limits::RecordsAt;
use crate::settings::{choice, positive};
use crate::sinks::opensearch::time::{format_rfc3339, now_ms};
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
use std::time::Duration;

/// The catalogue entry of `source box`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "box",
    summary: "Polls the Box Events API for enterprise events (`admin_logs` or `admin_logs_streaming`), deduplicated by `event_id` and checkpointed after acknowledgement; emits Box's records unchanged.",
    attrs: &[
        AttrSpec::required(
            "client_id",
            AttrType::String,
            "The Client ID of a Box Platform app using Server Authentication (Client Credentials Grant).",
        ),
        AttrSpec::required(
            "client_secret",
            AttrType::String,
            "The app's Client Secret.",
        )
        .sensitive(),
        AttrSpec::required(
            "enterprise_id",
            AttrType::String,
            "The Box enterprise ID (Admin Console → Account & Billing): the token acts for the enterprise's service account.",
        ),
        AttrSpec::with_default(
            "stream_type",
            AttrType::Enum(&["admin_logs_streaming", "admin_logs"]),
            "\"admin_logs_streaming\"",
            "`admin_logs_streaming` (low latency, late events included, two weeks of history; starts at the present) or `admin_logs` (ordered, a year of history; starts `initial_lookback` ago).",
        ),
        AttrSpec::optional(
            "event_types",
            AttrType::List(&AttrType::String),
            "Only these event types (`event_type`), e.g. [\"LOGIN\", \"DOWNLOAD\"]; every type when unset.",
        ),
        AttrSpec::with_default(
            "initial_lookback",
            AttrType::Duration,
            "1h",
            "How far back the first run of `admin_logs` starts (`created_after`); `admin_logs_streaming` has no such filter and starts at the present.",
        ),
        AttrSpec::with_default(
            "limit",
            AttrType::Int,
            "500",
            "Events per page (Box allows at most 500).",
        ),
        AttrSpec::with_default(
            "dedup_capacity",
            AttrType::Int,
            "5000",
            "How many of the latest `event_id`s are remembered (and checkpointed) to drop events Box sends again.",
        ),
        poll_interval_attr("1m"),
        REQUEST_TIMEOUT_ATTR,
        MAX_ATTEMPTS_ATTR,
        LIMIT_ATTRS[0],
        LIMIT_ATTRS[1],
        LIMIT_ATTRS[2],
        LIMIT_ATTRS[3],
        AttrSpec::optional(
            "api_url",
            AttrType::String,
            "Overrides https://api.box.com, the host of both the events and the token endpoint (a proxy, or a local test server).",
        ),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source box`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

const DEFAULT_API_URL: &str = "https://api.box.com";
/// Box's page limit.
const MAX_LIMIT: usize = 500;
/// The largest `dedup_capacity`: the ids live in the checkpoint, written every second.
const MAX_DEDUP: usize = 100_000;

/// Which of Box's enterprise event streams is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    AdminLogs,
    AdminLogsStreaming,
}

impl StreamType {
    /// Box's name, also the checkpoint's stream (positions of one mean nothing to
    /// the other).
    pub fn name(self) -> &'static str {
        match self {
            StreamType::AdminLogs => "admin_logs",
            StreamType::AdminLogsStreaming => "admin_logs_streaming",
        }
    }
}

/// The checked settings of one `source box`.
#[derive(Debug, Clone)]
pub struct BoxConfig {
    pub api_url: Url,
    pub client_id: String,
    /// Printed as `[redacted]`.
    pub client_secret: Secret,
    pub enterprise_id: String,
    pub stream_type: StreamType,
    pub event_types: Vec<String>,
    pub initial_lookback: Duration,
    pub limit: usize,
    pub dedup_capacity: usize,
    pub(crate) poll: PollSettings,
}

impl BoxConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<BoxConfig, BuildError> {
        let client_id = attrs.string("client_id")?;
        if client_id.is_empty() {
            return Err(attrs.error("attribute `client_id` is empty"));
        }
        let client_secret = attrs
            .opt_secret("client_secret")?
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| attrs.error("attribute `client_secret` is empty"))?;
        let enterprise_id = attrs.string("enterprise_id")?;
        if enterprise_id.is_empty() || !enterprise_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(attrs.error(format!(
                "attribute `enterprise_id`: `{enterprise_id}` is not a Box enterprise ID (digits, shown in the Admin Console under Account & Billing)"
            )));
        }
        let stream_type = choice(
            attrs,
            "stream_type",
            &[
                ("admin_logs_streaming", StreamType::AdminLogsStreaming),
                ("admin_logs", StreamType::AdminLogs),
            ],
        )?;
        let event_types = match attrs.raw("event_types") {
            Some(_) => attrs.strings("event_types")?,
            None => Vec::new(),
        };
        if let Some(bad) = event_types
            .iter()
            .find(|t| t.is_empty() || t.contains(',') || t.contains(char::is_whitespace))
        {
            return Err(attrs.error(format!(
                "attribute `event_types`: `{bad}` is not a Box event type (one word such as \"LOGIN\")"
            )));
        }
        let limit = positive(attrs, "limit")?;
        if limit > MAX_LIMIT {
            return Err(attrs.error(format!(
                "attribute `limit` must be at most {MAX_LIMIT} (Box's maximum), not {limit}"
            )));
        }
        let dedup_capacity = positive(attrs, "dedup_capacity")?;
        if dedup_capacity > MAX_DEDUP {
            return Err(attrs.error(format!(
                "attribute `dedup_capacity` must be at most {MAX_DEDUP}, not {dedup_capacity}"
            )));
        }
        let api_url = match attrs.raw("api_url") {
            Some(_) => base_url(attrs, "api_url")?,
            None => Url::parse(DEFAULT_API_URL)
                .map_err(|e| attrs.error(format!("{DEFAULT_API_URL}: {e}")))?,
        };
        Ok(BoxConfig {
            api_url,
            client_id,
            client_secret,
            enterprise_id,
            stream_type,
            event_types,
            initial_lookback: attrs.duration("initial_lookback")?,
            limit,
            dedup_capacity,
            poll: PollSettings::from_attrs(attrs, None)?,
        })
    }

    /// Box's Client Credentials Grant for the enterprise.
    fn grant(&self) -> FormGrant {
        enterprise_grant(
            &self.api_url,
            &self.client_id,
            &self.client_secret,
            &self.enterprise_id,
        )
    }
}

/// Box's Client Credentials Grant for an enterprise (the token acts as its service
/// account), with the source's help texts; `respond box` replaces `api_help` with its
/// own.
pub(crate) fn enterprise_grant(
    api_url: &Url,
    client_id: &str,
    client_secret: &Secret,
    enterprise_id: &str,
) -> FormGrant {
    FormGrant {
        token_url: join(api_url, "/oauth2/token"),
        fields: vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", client_id.to_string()),
            ("box_subject_type", "enterprise".into()),
            ("box_subject_id", enterprise_id.to_string()),
        ],
        secrets: vec![("client_secret", client_secret.clone())],
        token_help: "check client_id, client_secret and enterprise_id, that the app uses Server Authentication (Client Credentials Grant), and that an admin has authorised it (Admin Console → Integrations → Platform Apps Manager)",
        api_help: "the app may not read enterprise events: give it the application scope \"Manage enterprise properties\" and App + Enterprise Access, then have an admin re-authorise it (Platform Apps Manager); see docs/sources.md",
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = BoxConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(BoxSource {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source box`.
pub struct BoxSource {
    config: BoxConfig,
    data_dir: PathBuf,
}

impl BoxSource {
    pub fn new(config: BoxConfig, data_dir: PathBuf) -> BoxSource {
        BoxSource { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let auth = Auth::Grant {
            grant: std::sync::Arc::new(self.config.grant()),
            cached: None,
        };
        let poll = self.config.poll.clone();
        let poller = BoxPoller {
            config: self.config,
            cursor: None,
        };
        run_poller(poller, &poll, auth, &self.data_dir, run).await
    }
}

impl Source for BoxSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// Where reading resumes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// `next_stream_position` after the last page read; `None` before the first.
    position: Option<String>,
    /// `admin_logs` only: the first run's start, sent with every request.
    created_after: Option<String>,
    /// `event_id`s of the latest events emitted.
    #[serde(default)]
    recent: RecentIds,
}

/// `2026-11-28T08:00:00+00:00`: Box's date-time, without fractions.
fn box_time(ms: i64) -> String {
    let text = format_rfc3339(ms);
    format!("{}+00:00", text.get(..19).unwrap_or(&text))
}

struct BoxPoller {
    config: BoxConfig,
    /// The read position (ahead of the checkpoint while batches are in flight).
    cursor: Option<Cursor>,
}

impl BoxPoller {
    fn first_cursor(&self) -> Cursor {
        let created_after = (self.config.stream_type == StreamType::AdminLogs).then(|| {
            let lookback = i64::try_from(self.config.initial_lookback.as_millis()).unwrap_or(0);
            box_time(now_ms().saturating_sub(lookback))
        });
        Cursor {
            position: None,
            created_after,
            recent: RecentIds::new(self.config.dedup_capacity),
        }
    }

    fn events_url(&self, cursor: &Cursor) -> Url {
        let stream_type = self.config.stream_type;
        let mut url = join(&self.config.api_url, "/2.0/events");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("stream_type", stream_type.name());
            match (&cursor.position, stream_type) {
                (Some(position), _) => {
                    query.append_pair("stream_position", position);
                }
                (None, StreamType::AdminLogsStreaming) => {
                    query.append_pair("stream_position", "now");
                }
                (None, StreamType::AdminLogs) => {}
            }
            if stream_type == StreamType::AdminLogs {
                if let Some(after) = &cursor.created_after {
                    query.append_pair("created_after", after);
                }
            }
            if !self.config.event_types.is_empty() {
                query.append_pair("event_type", &self.config.event_types.join(","));
            }
            query.append_pair("limit", &self.config.limit.to_string());
        }
        url
    }
}

impl Poller for BoxPoller {
    async fn poll<O: BatchOutput>(
        &mut self,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let stream = self.config.stream_type.name();
        let (mut cursor, first_run) = match self.cursor.take() {
            Some(cursor) => (cursor, false),
            None => match out.cursor::<Cursor>(stream) {
                Some(mut stored) => {
                    stored.recent = stored.recent.limited(self.config.dedup_capacity);
                    (stored, false)
                }
                None => (self.first_cursor(), true),
            },
        };
        let result = async {
            if first_run {
                // Kept at once: a restart before the first event must not move
                // `created_after` later and skip what arrives late.
                out.emit(stream, Vec::new(), &cursor).await?;
            }
            loop {
                let url = self.events_url(&cursor);
                let page = fetch(out, client.call(Method::GET, &url, read_page)).await?;
                let Some(next) = page.next else {
                    // An empty page: caught up. Only a stream's first position is
                    // worth keeping from one (Box may answer `0`).
                    if cursor.position.is_none() {
                        if let Some(first) = page.empty_position.filter(|p| p != "0") {
                            cursor.position = Some(first);
                            out.emit(stream, Vec::new(), &cursor).await?;
                        }
                    }
                    return Ok(());
                };
                let mut fresh = Vec::with_capacity(page.entries.len());
                let mut repeats = 0usize;
                for entry in page.entries {
                    match event_id(&entry) {
                        Some(id) if !cursor.recent.insert(id) => repeats += 1,
                        _ => fresh.push(entry),
                    }
                }
                if repeats > 0 {
                    tracing::debug!(source = %out.name(), repeats, "dropped events Box sent again");
                }
                fresh.extend(out.rejected(client));
                let moved = cursor.position.as_deref() != Some(next.as_str());
                cursor.position = Some(next);
                out.emit(stream, fresh, &cursor).await?;
                if !moved {
                    // A page that leads back to where it started: nothing more now.
                    return Ok(());
                }
            }
        }
        .await;
        self.cursor = Some(cursor);
        result
    }
}

fn event_id(entry: &Value) -> Option<&str> {
    entry.as_object()?.get("event_id")?.as_str()
}

/// One answer of `/2.0/events`.
struct Page {
    entries: Vec<Value>,
    /// The position after the entries; `None` when there were none.
    next: Option<String>,
    /// The position an empty page named.
    empty_position: Option<String>,
}

/// `{"chunk_size": n, "next_stream_position": "…" | n, "entries": [...]}`.
fn read_page(reply: &Reply) -> Result<Page, Bad> {
    let body = records_body(reply, RecordsAt::Member("entries"))?;
    let Value::Object(mut map) = body else {
        return Err(Bad::Page(format!(
            "expected an object with `entries`, got {}",
            body.type_name()
        )));
    };
    let position = match map.get("next_stream_position") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if !text.is_empty() => Some(text.to_string()),
        Some(Value::Int(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(Bad::Page(format!(
                "`next_stream_position` is {}, not a position",
                other.type_name()
            )))
        }
    };
    let entries = match map.remove("entries") {
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(Bad::Page(format!(
                "`entries` is {}, not an array",
                other.type_name()
            )))
        }
        None => return Err(Bad::Page("the page has no `entries`".into())),
    };
    if entries.is_empty() && reply.held_back() == 0 {
        return Ok(Page {
            entries,
            next: None,
            empty_position: position,
        });
    }
    match position {
        Some(next) => Ok(Page {
            entries,
            next: Some(next),
            empty_position: None,
        }),
        None => Err(Bad::Page(
            "events without a `next_stream_position` to continue from".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
