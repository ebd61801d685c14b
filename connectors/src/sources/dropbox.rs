//! `source dropbox`: the Dropbox team (Business) activity log, as Dropbox's own
//! records.
//!
//! The first request is `POST {api_url}/2/team_log/get_events` with `{"limit": …,
//! "time": {"start_time": …}, "category": …}`; every later one is
//! `POST …/get_events/continue` with `{"cursor": …}`, the cursor of the answer before.
//! `has_more` may be `true` on a page without events (Dropbox is still scanning): the
//! source keeps going, but ends the round after a bounded run of such pages and goes
//! on at the next one. When `has_more` is `false` the cursor is kept and polled again
//! next round: new events arrive through it. The checkpoint is the cursor after the
//! last acknowledged page.
//!
//! A cursor Dropbox no longer honours (`409` with `reset`, or `bad_cursor`) is
//! replaced by a new `get_events` starting a few minutes before the newest event read,
//! so nothing in between is lost; what comes again is dropped by its digest (team log
//! events carry no id; docs/schema.md §1 derives theirs from the record likewise),
//! against a bounded set of the latest digests kept in the checkpoint.
//!
//! Access tokens come from the refresh token (`grant_type=refresh_token` at
//! `{login_url}/oauth2/token`) and last four hours: renewed before they expire, and
//! once more when the API answers `401` `expired_access_token`. `429`
//! (`too_many_requests`) waits what `Retry-After` says. Records are emitted unchanged;
//! `transform normalise` maps them to the schema.

use super::api::client::{records_body, ApiClient, Auth, Bad, Reply};
use super::api::emit::Emitter;
use super::api::error::ApiError;
use super::api::oauth::FormGrant;
use super::api::recent::RecentIds;
use super::api::{
    base_url, fetch, join, poll_interval_attr, run_poller, PollSettings, Poller, Stop, LIMIT_ATTRS,
    MAX_ATTEMPTS_ATTR, REQUEST_TIMEOUT_ATTR,
};
use super::Run;
use crate::io::BatchOutput;
use crate::limits::RecordsAt;
use crate::settings::positive;
use crate::sinks::opensearch::encode::content_id;
use crate::sinks::opensearch::time::{format_rfc3339, now_ms, parse_rfc3339};
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::secrets::Secret;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, StatusCode, Url};
use std::path::PathBuf;
use std::time::Duration;

/// The catalogue entry of `source dropbox`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "dropbox",
    summary: "Polls the Dropbox team activity log (`team_log/get_events` and `/continue`), recovering from cursor resets without loss or repeats, checkpointed after acknowledgement; emits Dropbox's records unchanged.",
    attrs: &[
        AttrSpec::required(
            "client_id",
            AttrType::String,
            "The App key of a scoped Dropbox app with team access.",
        ),
        AttrSpec::required(
            "client_secret",
            AttrType::String,
            "The App secret.",
        )
        .sensitive(),
        AttrSpec::required(
            "refresh_token",
            AttrType::String,
            "A refresh token from a team admin authorising the app (OAuth code flow with `token_access_type=offline`).",
        )
        .sensitive(),
        AttrSpec::optional(
            "category",
            AttrType::String,
            "Only events of this category, e.g. \"logins\", \"sharing\", \"file_operations\"; every category when unset.",
        ),
        AttrSpec::with_default(
            "initial_lookback",
            AttrType::Duration,
            "1h",
            "How far back the first run starts (no checkpoint yet).",
        ),
        AttrSpec::with_default(
            "limit",
            AttrType::Int,
            "1000",
            "Events per page (Dropbox allows at most 1000).",
        ),
        AttrSpec::with_default(
            "dedup_capacity",
            AttrType::Int,
            "5000",
            "How many digests of the latest events are remembered (and checkpointed) to drop what is read again after a cursor reset.",
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
            "Overrides https://api.dropboxapi.com, the API host (a proxy, or a local test server).",
        ),
        AttrSpec::optional(
            "login_url",
            AttrType::String,
            "Overrides https://api.dropbox.com, the host of the token endpoint (a proxy, or a local test server).",
        ),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source dropbox`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

const DEFAULT_API_URL: &str = "https://api.dropboxapi.com";
const DEFAULT_LOGIN_URL: &str = "https://api.dropbox.com";
/// Dropbox's page limit.
const MAX_LIMIT: usize = 1000;
/// The largest `dedup_capacity`: the digests live in the checkpoint.
const MAX_DEDUP: usize = 100_000;
/// Pages in a row with `has_more` but no events after which a round ends.
const MAX_EMPTY_PAGES: usize = 25;
/// How far before the newest event read a reset cursor is restarted: team log events
/// are not strictly in time order.
const RESET_OVERLAP_MS: i64 = 5 * 60 * 1000;
/// The checkpoint's one stream.
const STREAM: &str = "team_log";

/// The checked settings of one `source dropbox`.
#[derive(Debug, Clone)]
pub struct DropboxConfig {
    pub api_url: Url,
    pub login_url: Url,
    pub client_id: String,
    /// Printed as `[redacted]`.
    pub client_secret: Secret,
    /// Printed as `[redacted]`.
    pub refresh_token: Secret,
    pub category: Option<String>,
    pub initial_lookback: Duration,
    pub limit: usize,
    pub dedup_capacity: usize,
    pub(crate) poll: PollSettings,
}

impl DropboxConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<DropboxConfig, BuildError> {
        let client_id = attrs.string("client_id")?;
        if client_id.is_empty() {
            return Err(attrs.error("attribute `client_id` is empty"));
        }
        let secret = |key: &str| {
            attrs
                .opt_secret(key)?
                .filter(|s| !s.expose().is_empty())
                .ok_or_else(|| attrs.error(format!("attribute `{key}` is empty")))
        };
        let category = attrs.opt_string("category")?;
        if let Some(bad) = category
            .as_ref()
            .filter(|c| c.is_empty() || !c.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        {
            return Err(attrs.error(format!(
                "attribute `category`: `{bad}` is not a Dropbox event category (a word such as \"logins\" or \"sharing\")"
            )));
        }
        let limit = positive(attrs, "limit")?;
        if limit > MAX_LIMIT {
            return Err(attrs.error(format!(
                "attribute `limit` must be at most {MAX_LIMIT} (Dropbox's maximum), not {limit}"
            )));
        }
        let dedup_capacity = positive(attrs, "dedup_capacity")?;
        if dedup_capacity > MAX_DEDUP {
            return Err(attrs.error(format!(
                "attribute `dedup_capacity` must be at most {MAX_DEDUP}, not {dedup_capacity}"
            )));
        }
        let url_or = |key: &str, default: &str| match attrs.raw(key) {
            Some(_) => base_url(attrs, key),
            None => Url::parse(default).map_err(|e| attrs.error(format!("{default}: {e}"))),
        };
        Ok(DropboxConfig {
            api_url: url_or("api_url", DEFAULT_API_URL)?,
            login_url: url_or("login_url", DEFAULT_LOGIN_URL)?,
            client_id,
            client_secret: secret("client_secret")?,
            refresh_token: secret("refresh_token")?,
            category,
            initial_lookback: attrs.duration("initial_lookback")?,
            limit,
            dedup_capacity,
            poll: PollSettings::from_attrs(attrs, None)?,
        })
    }

    /// The refresh-token grant.
    fn grant(&self) -> FormGrant {
        refresh_token_grant(
            &self.login_url,
            &self.client_id,
            &self.client_secret,
            &self.refresh_token,
        )
    }
}

/// Dropbox's refresh-token grant, with the source's help texts; `respond dropbox`
/// replaces `api_help` with its own.
pub(crate) fn refresh_token_grant(
    login_url: &Url,
    client_id: &str,
    client_secret: &Secret,
    refresh_token: &Secret,
) -> FormGrant {
    FormGrant {
        token_url: join(login_url, "/oauth2/token"),
        fields: vec![
            ("grant_type", "refresh_token".into()),
            ("client_id", client_id.to_string()),
        ],
        secrets: vec![
            ("refresh_token", refresh_token.clone()),
            ("client_secret", client_secret.clone()),
        ],
        token_help: "check client_id (the App key), client_secret (the App secret) and refresh_token, and that the app is still linked to the team (Admin Console → Settings → Connected apps)",
        api_help: "Dropbox refused the app's access to the team activity log: give the app the team scope events.read (App Console → Permissions), have a team admin authorise it again for a new refresh_token, and check that the team plan includes the activity log; see docs/sources.md",
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = DropboxConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(DropboxSource {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source dropbox`.
pub struct DropboxSource {
    config: DropboxConfig,
    data_dir: PathBuf,
}

impl DropboxSource {
    pub fn new(config: DropboxConfig, data_dir: PathBuf) -> DropboxSource {
        DropboxSource { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let auth = Auth::Grant {
            grant: std::sync::Arc::new(self.config.grant()),
            cached: None,
        };
        let poll = self.config.poll.clone();
        let poller = DropboxPoller {
            config: self.config,
            cursor: None,
        };
        run_poller(poller, &poll, auth, &self.data_dir, run).await
    }
}

impl Source for DropboxSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// Where reading resumes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// Dropbox's cursor after the last page read; `None` before the first page, or
    /// after a reset.
    cursor: Option<String>,
    /// Where `get_events` starts without a cursor.
    start_time: String,
    /// The `timestamp` of the newest event read.
    newest: Option<String>,
    /// Digests of the latest events emitted.
    #[serde(default)]
    recent: RecentIds,
}

impl Cursor {
    fn starting(start_ms: i64, capacity: usize) -> Cursor {
        Cursor {
            cursor: None,
            start_time: dropbox_time(start_ms),
            newest: None,
            recent: RecentIds::new(capacity),
        }
    }

    /// Keeps the events not emitted before, noting the newest time.
    fn take_new(&mut self, events: Vec<Value>) -> Vec<Value> {
        let mut newest = self.newest.as_deref().and_then(parse_rfc3339);
        let mut fresh = Vec::with_capacity(events.len());
        for event in events {
            if !self.recent.insert(&digest(&event)) {
                continue;
            }
            let time = event
                .as_object()
                .and_then(|m| m.get("timestamp"))
                .and_then(Value::as_str)
                .and_then(|t| parse_rfc3339(t).map(|ms| (ms, t)));
            if let Some((ms, text)) = time {
                if newest.is_none_or(|n| ms > n) {
                    newest = Some(ms);
                    self.newest = Some(text.to_string());
                }
            }
            fresh.push(event);
        }
        fresh
    }

    /// Drops a cursor Dropbox no longer honours: the next `get_events` starts a little
    /// before the newest event read (or where the first one started, if none was).
    fn restart(&mut self) {
        if let Some(newest) = self.newest.as_deref().and_then(parse_rfc3339) {
            self.start_time = dropbox_time(newest.saturating_sub(RESET_OVERLAP_MS));
        }
        self.cursor = None;
    }
}

/// `2026-11-28T08:00:00Z`: Dropbox's timestamps have no fractions.
fn dropbox_time(ms: i64) -> String {
    let text = format_rfc3339(ms);
    format!("{}Z", text.get(..19).unwrap_or(&text))
}

/// The digest of an event, over its canonical JSON (keys sorted), so the same event
/// read twice matches whatever order its keys come in.
fn digest(event: &Value) -> String {
    let mut text = String::new();
    canonical_json(event, &mut text);
    content_id(&[text.as_bytes()]).to_string()
}

fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => out.push_str(&n.to_string()),
            None => out.push_str("null"),
        },
        Value::String(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::from(key.as_str()).to_string());
                out.push(':');
                canonical_json(item, out);
            }
            out.push('}');
        }
    }
}

struct DropboxPoller {
    config: DropboxConfig,
    /// The read position (ahead of the checkpoint while batches are in flight).
    cursor: Option<Cursor>,
}

impl DropboxPoller {
    fn first_request(&self, start_time: &str) -> serde_json::Value {
        let mut body = serde_json::json!({
            "limit": self.config.limit,
            "time": {"start_time": start_time},
        });
        if let (Some(category), Some(map)) = (&self.config.category, body.as_object_mut()) {
            map.insert("category".into(), category.as_str().into());
        }
        body
    }
}

impl Poller for DropboxPoller {
    async fn poll<O: BatchOutput>(
        &mut self,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let capacity = self.config.dedup_capacity;
        let mut cursor = match self.cursor.take() {
            Some(cursor) => cursor,
            None => match out.cursor::<Cursor>(STREAM) {
                Some(mut stored) => {
                    stored.recent = stored.recent.limited(capacity);
                    stored
                }
                None => {
                    let lookback =
                        i64::try_from(self.config.initial_lookback.as_millis()).unwrap_or(0);
                    Cursor::starting(now_ms().saturating_sub(lookback), capacity)
                }
            },
        };
        let get_events = join(&self.config.api_url, "/2/team_log/get_events");
        let get_more = join(&self.config.api_url, "/2/team_log/get_events/continue");
        let result = async {
            let mut reset = false;
            let mut empty_pages = 0;
            loop {
                let page = match cursor.cursor.clone() {
                    Some(position) => {
                        let body = serde_json::json!({ "cursor": position });
                        let call = client.call_json(Method::POST, &get_more, &body, read_continued);
                        match fetch(out, call).await? {
                            Continued::Page(page) => page,
                            Continued::Reset(at) if !reset => {
                                reset = true;
                                cursor.restart();
                                tracing::warn!(source = %out.name(), reset_at = at.as_deref().unwrap_or("?"), start_time = %cursor.start_time, "Dropbox reset the cursor; reading again from a little before the newest event read, dropping what comes twice");
                                continue;
                            }
                            Continued::Reset(_) => {
                                return Err(Stop::Api(ApiError::transient(
                                    "Dropbox reset the cursor again right after a new one was fetched; trying again at the next poll interval",
                                )))
                            }
                        }
                    }
                    None => {
                        let body = self.first_request(&cursor.start_time);
                        fetch(out, client.call_json(Method::POST, &get_events, &body, read_page))
                            .await?
                    }
                };
                let held = out.rejected(client);
                let had_events = !page.events.is_empty() || !held.is_empty();
                let mut fresh = cursor.take_new(page.events);
                fresh.extend(held);
                let moved = cursor.cursor.as_deref() != Some(page.cursor.as_str());
                cursor.cursor = Some(page.cursor);
                if !fresh.is_empty() || moved {
                    out.emit(STREAM, fresh, &cursor).await?;
                }
                if !page.has_more {
                    return Ok(());
                }
                empty_pages = if had_events { 0 } else { empty_pages + 1 };
                if empty_pages >= MAX_EMPTY_PAGES {
                    tracing::debug!(source = %out.name(), "Dropbox has more but sends no events yet; going on at the next poll interval");
                    return Ok(());
                }
            }
        }
        .await;
        self.cursor = Some(cursor);
        result
    }
}

/// One page of the team log.
struct Page {
    events: Vec<Value>,
    cursor: String,
    has_more: bool,
}

/// What `/continue` answered.
enum Continued {
    Page(Page),
    /// The cursor is no longer valid; Dropbox's estimate of where it stood, if given.
    Reset(Option<String>),
}

/// `{"events": [...], "cursor": "…", "has_more": bool}`.
fn read_page(reply: &Reply) -> Result<Page, Bad> {
    let body = records_body(reply, RecordsAt::Member("events"))?;
    let Value::Object(mut map) = body else {
        return Err(Bad::Page(format!(
            "expected an object with `events`, got {}",
            body.type_name()
        )));
    };
    let cursor = match map.get("cursor") {
        Some(Value::String(c)) if !c.is_empty() => c.to_string(),
        _ => return Err(Bad::Page("the page has no `cursor`".into())),
    };
    let Some(has_more) = map.get("has_more").and_then(Value::as_bool) else {
        return Err(Bad::Page("the page has no `has_more`".into()));
    };
    match map.remove("events") {
        Some(Value::Array(events)) => Ok(Page {
            events,
            cursor,
            has_more,
        }),
        Some(other) => Err(Bad::Page(format!(
            "`events` is {}, not an array",
            other.type_name()
        ))),
        None => Err(Bad::Page("the page has no `events`".into())),
    }
}

/// A page, or `409` with `reset` (or `bad_cursor`): the cursor must be replaced.
fn read_continued(reply: &Reply) -> Result<Continued, Bad> {
    if reply.status != StatusCode::CONFLICT {
        return read_page(reply).map(Continued::Page);
    }
    let body = pipectl_core::json::from_slice(&reply.body).map_err(|_| Bad::Refused)?;
    let error = body.as_object().and_then(|m| m.get("error"));
    let tag = error
        .and_then(Value::as_object)
        .and_then(|e| e.get(".tag"))
        .and_then(Value::as_str);
    match tag {
        Some("reset") => {
            let at = error
                .and_then(Value::as_object)
                .and_then(|e| e.get("reset"))
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(Continued::Reset(at))
        }
        Some("bad_cursor") => Ok(Continued::Reset(None)),
        _ => Err(Bad::Refused),
    }
}

#[cfg(test)]
mod tests;
