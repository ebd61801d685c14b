//! `source office365`: the Office 365 Management Activity API (Exchange, SharePoint,
//! Entra ID, DLP and general audit records), as Microsoft's own records.
//!
//! At start the source makes sure a subscription exists for each content type (`POST
//! …/subscriptions/start`; "already enabled", `AF20024`, is fine). Then, per content
//! type, it lists the content blobs made available in a time window (`GET
//! …/subscriptions/content?contentType=&startTime=&endTime=`, at most 24 hours, never
//! further back than the API's 7 days; more pages via the `NextPageUri` header) and
//! fetches each blob's `contentUri`, an array of audit records. Each content type has
//! its own checkpoint: the window being read and the blobs of it already read, then,
//! once the window is done, its end as the next start. A blob's records move the
//! checkpoint only once acknowledged, so a restart reads neither a blob twice nor
//! skips one. Behind by more than a day, the source reads window after window until
//! it is caught up.
//!
//! Tokens come from the identity platform with the client credentials grant (scope
//! `https://manage.office.com/.default`, or the government cloud's host); the app
//! needs the Office 365 Management APIs application permissions `ActivityFeed.Read`
//! (and `ActivityFeed.ReadDlp` for `DLP.All`), with admin consent.
//!
//! Records are emitted unchanged; `transform normalise` maps them to the schema.

use super::api::client::{json_body, records_body, unless_gone, ApiClient, Auth, Bad, Reply};
use super::api::emit::Emitter;
use super::api::microsoft::{
    MicrosoftApp, API_URL_ATTR, CLIENT_ID_ATTR, CLIENT_SECRET_ATTR, CLOUD_ATTR, LOGIN_URL_ATTR,
    TENANT_ID_ATTR,
};
use super::api::{
    defer, fetch, followed_link, join, poll_interval_attr, round_result, run_poller, PollSettings,
    Poller, Stop, LIMIT_ATTRS, MAX_ATTEMPTS_ATTR, REQUEST_TIMEOUT_ATTR,
};
use super::Run;
use crate::io::BatchOutput;
use crate::limits::RecordsAt;
use crate::sinks::opensearch::time::{format_rfc3339, now_ms, parse_rfc3339};
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, StatusCode, Url};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// The catalogue entry of `source office365`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "office365",
    summary: "Reads the Office 365 Management Activity API per content type (subscriptions, content listing in windows, content blobs), checkpointed after acknowledgement; emits Microsoft's audit records unchanged.",
    attrs: &[
        TENANT_ID_ATTR,
        CLIENT_ID_ATTR,
        CLIENT_SECRET_ATTR,
        AttrSpec::with_default(
            "content_types",
            AttrType::List(&AttrType::String),
            "[\"Audit.AzureActiveDirectory\", \"Audit.Exchange\", \"Audit.SharePoint\", \"Audit.General\", \"DLP.All\"]",
            "Which content types to read: `Audit.AzureActiveDirectory`, `Audit.Exchange`, `Audit.SharePoint`, `Audit.General`, `DLP.All`.",
        ),
        AttrSpec::with_default(
            "initial_lookback",
            AttrType::Duration,
            "24h",
            "How far back the first run starts (no checkpoint yet); at most 7 days, what the API keeps.",
        ),
        CLOUD_ATTR,
        poll_interval_attr("5m"),
        REQUEST_TIMEOUT_ATTR,
        MAX_ATTEMPTS_ATTR,
        LIMIT_ATTRS[0],
        LIMIT_ATTRS[1],
        LIMIT_ATTRS[2],
        LIMIT_ATTRS[3],
        LOGIN_URL_ATTR,
        API_URL_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source office365`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

const CONTENT_TYPES: &[&str] = &[
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

const HOUR_MS: i64 = 3_600_000;
/// The longest window the content listing accepts.
const MAX_WINDOW_MS: i64 = 24 * HOUR_MS;
/// How far back the content listing reaches.
const RETENTION_MS: i64 = 7 * 24 * HOUR_MS;
/// Kept inside the retention so a request is not refused for starting a moment too
/// early by the time it arrives.
const RETENTION_MARGIN_MS: i64 = 10 * 60_000;

/// The checked settings of one `source office365`.
#[derive(Debug, Clone)]
pub struct Office365Config {
    pub(crate) app: MicrosoftApp,
    pub content_types: Vec<String>,
    pub initial_lookback: Duration,
    pub(crate) poll: PollSettings,
}

impl Office365Config {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<Office365Config, BuildError> {
        let mut content_types: Vec<String> = Vec::new();
        for name in attrs.strings("content_types")? {
            if !CONTENT_TYPES.contains(&name.as_str()) {
                let known: Vec<String> = CONTENT_TYPES.iter().map(|t| format!("\"{t}\"")).collect();
                return Err(attrs.error(format!(
                    "attribute `content_types`: `{name}` is not one of {}",
                    known.join(", ")
                )));
            }
            if !content_types.contains(&name) {
                content_types.push(name);
            }
        }
        if content_types.is_empty() {
            return Err(attrs.error("attribute `content_types` is empty"));
        }
        let initial_lookback = attrs.duration("initial_lookback")?;
        if initial_lookback > Duration::from_secs(7 * 24 * 3600) {
            return Err(attrs.error(
                "attribute `initial_lookback` must be at most 7d: the API keeps content for 7 days",
            ));
        }
        Ok(Office365Config {
            app: MicrosoftApp::from_attrs(attrs, |cloud| cloud.manage())?,
            content_types,
            initial_lookback,
            poll: PollSettings::from_attrs(attrs, None)?,
        })
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = Office365Config::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(Office365Source {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source office365`.
pub struct Office365Source {
    config: Office365Config,
    data_dir: PathBuf,
}

impl Office365Source {
    pub fn new(config: Office365Config, data_dir: PathBuf) -> Office365Source {
        Office365Source { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let auth = Auth::ClientCredentials {
            credentials: self.config.app.credentials.clone(),
            cached: None,
        };
        let poll = self.config.poll.clone();
        let poller = Office365Poller {
            config: self.config,
            subscribed: BTreeSet::new(),
            cursors: BTreeMap::new(),
        };
        run_poller(poller, &poll, auth, &self.data_dir, run).await
    }
}

impl Source for Office365Source {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// Where reading of one content type resumes (times in RFC 3339, whole seconds).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// Content made available before this time is read.
    start: String,
    /// The window being read (its end), and the blobs of it already read.
    end: Option<String>,
    done: Vec<String>,
}

/// The next window from `start_ms`: `(start, end, clamped)`, at most 24 h long, ending
/// no later than `now_ms`, starting no earlier than the API keeps content (`clamped`
/// says the start had to move forward). `None` when there is nothing to read yet.
fn next_window(start_ms: i64, now_ms: i64) -> Option<(i64, i64, bool)> {
    let oldest = now_ms - RETENTION_MS + RETENTION_MARGIN_MS;
    let (start, clamped) = if start_ms < oldest {
        (oldest, true)
    } else {
        (start_ms, false)
    };
    let start = whole_seconds(start);
    let end = whole_seconds((start + MAX_WINDOW_MS).min(now_ms));
    (end > start).then_some((start, end, clamped))
}

fn whole_seconds(ms: i64) -> i64 {
    ms - ms.rem_euclid(1000)
}

/// `YYYY-MM-DDTHH:MM:SS`, the form the listing's `startTime`/`endTime` take (UTC).
fn api_time(ms: i64) -> String {
    let text = format_rfc3339(ms);
    text.get(..19).unwrap_or(&text).to_string()
}

/// One listed content blob.
#[derive(Debug, Clone, PartialEq)]
struct Content {
    id: String,
    uri: String,
    created: String,
}

struct Office365Poller {
    config: Office365Config,
    /// Content types whose subscription is known to be started in this run.
    subscribed: BTreeSet<String>,
    /// Read positions per content type (ahead of the checkpoint while in flight).
    cursors: BTreeMap<String, Cursor>,
}

impl Office365Poller {
    fn feed_url(&self, path: &str, content_type: &str) -> Url {
        let mut url = join(
            &self.config.app.api_url,
            &format!("/api/v1.0/{}/activity/feed/{path}", self.config.app.tenant),
        );
        url.query_pairs_mut()
            .append_pair("contentType", content_type)
            .append_pair("PublisherIdentifier", &self.config.app.tenant);
        url
    }

    /// Starts the content type's subscription (idempotent: "already enabled" is fine).
    async fn subscribe<O: BatchOutput>(
        &mut self,
        content_type: &str,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        if self.subscribed.contains(content_type) {
            return Ok(());
        }
        let url = self.feed_url("subscriptions/start", content_type);
        fetch(out, client.call(Method::POST, &url, started)).await?;
        tracing::info!(source = %out.name(), content_type, "subscription enabled");
        self.subscribed.insert(content_type.to_string());
        Ok(())
    }

    /// Lists the blobs of one window, following `NextPageUri`.
    async fn list<O: BatchOutput>(
        &self,
        content_type: &str,
        (start, end): (&str, &str),
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<Vec<Content>, Stop> {
        let mut url = self.feed_url("subscriptions/content", content_type);
        url.query_pairs_mut()
            .append_pair("startTime", start)
            .append_pair("endTime", end);
        let mut listed = Vec::new();
        loop {
            let (page, next) = fetch(out, client.call(Method::GET, &url, read_listing)).await?;
            listed.extend(page);
            match next {
                Some(next) => url = followed_link(&self.config.app.api_url, &next)?,
                None => break,
            }
        }
        listed.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        listed.dedup_by(|a, b| a.id == b.id);
        Ok(listed)
    }

    /// Reads one content type up to now, window after window.
    async fn poll_type<O: BatchOutput>(
        &self,
        content_type: &str,
        cursor: &mut Cursor,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        loop {
            let now = now_ms();
            let end = match &cursor.end {
                Some(end) => end.clone(),
                None => {
                    let start_ms = parse_rfc3339(&cursor.start).unwrap_or(now);
                    let Some((start, end, clamped)) = next_window(start_ms, now) else {
                        return Ok(());
                    };
                    if clamped {
                        tracing::warn!(source = %out.name(), content_type, from = %cursor.start, "the checkpoint is older than the 7 days the API keeps; content before that is gone, reading from the oldest available");
                    }
                    cursor.start = format_rfc3339(start);
                    cursor.end = Some(format_rfc3339(end));
                    cursor.done.clear();
                    format_rfc3339(end)
                }
            };
            let (start_ms, end_ms) = match (parse_rfc3339(&cursor.start), parse_rfc3339(&end)) {
                (Some(s), Some(e)) => (s, e),
                _ => {
                    return Err(Stop::Halt(super::Halt::Failed(out.error(format!(
                        "the checkpoint of {content_type} holds an unreadable time"
                    )))))
                }
            };
            let window = (api_time(start_ms), api_time(end_ms));
            let listed = self
                .list(content_type, (&window.0, &window.1), client, out)
                .await?;
            for content in listed {
                if cursor.done.contains(&content.id) {
                    continue;
                }
                let uri = followed_link(&self.config.app.api_url, &content.uri)?;
                let read = unless_gone(read_blob);
                let records = match fetch(out, client.call(Method::GET, &uri, read)).await? {
                    Some(records) => records,
                    None => {
                        tracing::error!(source = %out.name(), content_type, content_id = %content.id, "a listed content blob is gone (expired?); its records cannot be read");
                        out.count_errored(1);
                        Vec::new()
                    }
                };
                let mut records = records;
                records.extend(out.rejected(client));
                cursor.done.push(content.id);
                out.emit(content_type, records, cursor).await?;
            }
            cursor.start = end;
            cursor.end = None;
            cursor.done.clear();
            out.emit(content_type, Vec::new(), cursor).await?;
            if end_ms >= now {
                return Ok(());
            }
        }
    }
}

impl Poller for Office365Poller {
    async fn poll<O: BatchOutput>(
        &mut self,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let lookback = i64::try_from(self.config.initial_lookback.as_millis()).unwrap_or(0);
        let mut failed = None;
        for content_type in self.config.content_types.clone() {
            let subscribed = self.subscribe(&content_type, client, out).await;
            if subscribed.is_err() {
                defer(subscribed, &mut failed)?;
                continue;
            }
            let mut cursor = match self.cursors.remove(&content_type) {
                Some(cursor) => cursor,
                None => out
                    .cursor::<Cursor>(&content_type)
                    .unwrap_or_else(|| Cursor {
                        start: format_rfc3339(whole_seconds(now_ms().saturating_sub(lookback))),
                        end: None,
                        done: Vec::new(),
                    }),
            };
            let result = self
                .poll_type(&content_type, &mut cursor, client, out)
                .await;
            self.cursors.insert(content_type, cursor);
            defer(result, &mut failed)?;
        }
        round_result(failed)
    }
}

/// A subscription start answer: `200`, or `400` with `AF20024` (already enabled).
fn started(reply: &Reply) -> Result<(), Bad> {
    let already =
        reply.status == StatusCode::BAD_REQUEST && reply.body.windows(7).any(|w| w == b"AF20024");
    if reply.status.is_success() || already {
        Ok(())
    } else {
        Err(Bad::Refused)
    }
}

/// A listing page: an array of `{contentId, contentUri, contentCreated, …}`, and the
/// `NextPageUri` header.
fn read_listing(reply: &Reply) -> Result<(Vec<Content>, Option<String>), Bad> {
    let Value::Array(items) = json_body(reply)? else {
        return Err(Bad::Page("expected an array of content blobs".into()));
    };
    let mut listed = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let field = |name: &str| {
            item.as_object()
                .and_then(|m| m.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Bad::Page(format!("content entry {index} has no `{name}`")))
        };
        listed.push(Content {
            id: field("contentId")?,
            uri: field("contentUri")?,
            created: field("contentCreated")?,
        });
    }
    let next = reply
        .headers
        .get("NextPageUri")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    Ok((listed, next))
}

/// A content blob: an array of audit records.
fn read_blob(reply: &Reply) -> Result<Vec<Value>, Bad> {
    match records_body(reply, RecordsAt::Document)? {
        Value::Array(records) => Ok(records),
        other => Err(Bad::Page(format!(
            "expected an array of audit records, got {}",
            other.type_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::api::client::ClientSettings;
    use super::super::api::oauth::ClientCredentials;
    use super::super::api::retry::RetryPolicy;
    use super::super::api::testing::{
        expect_hostile_held_back, hostile_records, text, Answer, Harness, MockApi, Seen,
    };
    use super::*;
    use crate::testkit::{build_error, plan, string, TempDir};
    use pipectl_core::secrets::Secret;
    use std::sync::{Arc, Mutex};

    const SECRET: &str = "o365-secret";
    const FEED: &str = "/api/v1.0/contoso/activity/feed";

    fn config(api: &MockApi, content_types: &[&str]) -> Office365Config {
        let mut retry = RetryPolicy::new(4);
        retry.base_backoff = Duration::from_millis(10);
        Office365Config {
            app: MicrosoftApp {
                tenant: "contoso".into(),
                api_url: api.base.clone(),
                credentials: ClientCredentials {
                    token_url: Url::parse(&api.url("/contoso/oauth2/v2.0/token")).unwrap(),
                    client_id: "app-365".into(),
                    client_secret: Secret::new(SECRET),
                    scope: "https://manage.office.com/.default".into(),
                },
            },
            content_types: content_types.iter().map(|t| t.to_string()).collect(),
            initial_lookback: Duration::from_secs(24 * 3600),
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

    struct Blob {
        content_type: String,
        id: String,
        created: i64,
        records: Vec<String>,
    }

    /// A tenant's activity feed: started subscriptions, content blobs, and failures to
    /// answer content requests with first (popped from the end).
    #[derive(Default)]
    struct Feed {
        subscriptions: Mutex<Vec<String>>,
        blobs: Mutex<Vec<Blob>>,
        failures: Mutex<Vec<Answer>>,
        /// Content types whose listing always fails.
        broken: Mutex<Vec<String>>,
    }

    impl Feed {
        fn add(&self, content_type: &str, id: &str, minutes_ago: i64, records: &[&str]) {
            self.blobs.lock().unwrap().push(Blob {
                content_type: content_type.into(),
                id: id.into(),
                created: now_ms() - minutes_ago * 60_000,
                records: records.iter().map(|r| r.to_string()).collect(),
            });
        }

        fn answer(&self, seen: &Seen) -> Answer {
            if seen.path == "/contoso/oauth2/v2.0/token" {
                let valid = seen.form("client_id").as_deref() == Some("app-365")
                    && seen.form("client_secret").as_deref() == Some(SECRET)
                    && seen.form("scope").as_deref() == Some("https://manage.office.com/.default");
                return if valid {
                    Answer::json(
                        r#"{"token_type":"Bearer","expires_in":"3599","access_token":"t365"}"#,
                    )
                } else {
                    Answer::status(400, r#"{"error":"invalid_client"}"#)
                };
            }
            if seen.authorization != "Bearer t365" {
                return Answer::status(401, r#"{"error":{"code":"AF10001"}}"#);
            }
            let content_type = seen.param("contentType").unwrap_or_default();
            if seen.path == format!("{FEED}/subscriptions/start") && seen.method == "POST" {
                let mut subscriptions = self.subscriptions.lock().unwrap();
                if subscriptions.contains(&content_type) {
                    return Answer::status(
                        400,
                        r#"{"error":{"code":"AF20024","message":"The subscription is already enabled. No property change."}}"#,
                    );
                }
                subscriptions.push(content_type.clone());
                return Answer::json(format!(
                    r#"{{"contentType":"{content_type}","status":"enabled"}}"#
                ));
            }
            if let Some(failure) = self.failures.lock().unwrap().pop() {
                return failure;
            }
            if seen.path == format!("{FEED}/subscriptions/content") {
                if self.broken.lock().unwrap().contains(&content_type) {
                    return Answer::status(503, "{}");
                }
                return self.listing(seen, &content_type);
            }
            if let Some(id) = seen.path.strip_prefix("/blob/") {
                let blobs = self.blobs.lock().unwrap();
                if let Some(blob) = blobs.iter().find(|b| b.id == id) {
                    return Answer::json(format!("[{}]", blob.records.join(",")));
                }
            }
            Answer::status(404, "{}")
        }

        /// One blob per page, more pages announced by `NextPageUri`.
        fn listing(&self, seen: &Seen, content_type: &str) -> Answer {
            let time = |key: &str| {
                let text = seen.param(key).unwrap_or_default();
                // The API's own form: no zone, whole seconds.
                assert_eq!(text.len(), 19, "{key}={text}");
                parse_rfc3339(&text).unwrap()
            };
            let (start, end) = (time("startTime"), time("endTime"));
            if end - start > MAX_WINDOW_MS || start < now_ms() - RETENTION_MS {
                return Answer::status(400, r#"{"error":{"code":"AF20055"}}"#);
            }
            let page: usize = seen.param("page").and_then(|p| p.parse().ok()).unwrap_or(0);
            let blobs = self.blobs.lock().unwrap();
            let listed: Vec<&Blob> = blobs
                .iter()
                .filter(|b| b.content_type == content_type && b.created >= start && b.created < end)
                .collect();
            let Some(blob) = listed.get(page) else {
                return Answer::json("[]");
            };
            let entry = format!(
                r#"[{{"contentType":"{content_type}","contentId":"{}","contentUri":"{}/blob/{}","contentCreated":"{}"}}]"#,
                blob.id,
                seen.base,
                blob.id,
                format_rfc3339(blob.created)
            );
            let answer = Answer::json(entry);
            if page + 1 < listed.len() {
                answer.header(
                    "NextPageUri",
                    format!(
                        "{}{}?{}&page={}",
                        seen.base,
                        seen.path,
                        seen.query.split("&page=").next().unwrap_or_default(),
                        page + 1
                    ),
                )
            } else {
                answer
            }
        }
    }

    async fn serve(feed: &Arc<Feed>) -> MockApi {
        let feed = Arc::clone(feed);
        MockApi::start(move |seen| feed.answer(seen)).await
    }

    fn start(config: Office365Config, dir: &TempDir) -> Harness {
        let source = Office365Source::new(config, dir.path().to_path_buf());
        Harness::start(|run| source.run_with(run))
    }

    fn record(id: &str) -> String {
        format!(r#"{{"Id":"{id}","Operation":"MailItemsAccessed","Workload":"Exchange"}}"#)
    }

    #[tokio::test]
    async fn content_is_listed_paged_fetched_and_resumed_per_content_type() {
        let feed = Arc::new(Feed::default());
        feed.subscriptions
            .lock()
            .unwrap()
            .push("Audit.Exchange".into());
        feed.add("Audit.Exchange", "x1", 180, &[&record("e1"), &record("e2")]);
        feed.add("Audit.Exchange", "x2", 120, &[&record("e3")]);
        feed.add("Audit.Exchange", "x3", 60, &[&record("e4"), &record("e5")]);
        feed.add("Audit.SharePoint", "s1", 30, &[&record("s1")]);
        let api = serve(&feed).await;
        let dir = TempDir::new("o365-resume");
        let types = ["Audit.Exchange", "Audit.SharePoint"];
        let mut h = start(config(&api, &types), &dir);
        assert_eq!(
            h.events(6, "Id").await,
            ["e1", "e2", "e3", "e4", "e5", "s1"]
        );
        h.stop().await.unwrap();
        // Both subscriptions are on (the first already was: AF20024 is not an error).
        assert_eq!(*feed.subscriptions.lock().unwrap(), types);
        let stored = crate::checkpoint::stored_text(dir.path()).unwrap();
        assert!(stored.contains("Audit.Exchange") && stored.contains("Audit.SharePoint"));

        // New content after a restart: only it is read.
        feed.add("Audit.Exchange", "x4", 0, &[&record("e6")]);
        let mut h = start(config(&api, &types), &dir);
        assert_eq!(h.events(1, "Id").await, ["e6"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
    }

    /// Hostile records in a content blob: held back as error records, the good ones
    /// emitted once, and the blob checkpointed as read.
    #[tokio::test]
    async fn hostile_records_are_held_back_and_passed() {
        let feed = Arc::new(Feed::default());
        let [deep, wide, big] = hostile_records("Id");
        let (e1, e2, e3) = (record("e1"), record("e2"), record("e3"));
        feed.add(
            "Audit.Exchange",
            "x1",
            60,
            &[&e1, &deep, &e2, &wide, &big, &e3],
        );
        let api = serve(&feed).await;
        let dir = TempDir::new("o365-hostile");
        let types = ["Audit.Exchange"];
        let mut h = start(config(&api, &types), &dir);
        expect_hostile_held_back(&mut h, |e| text(e, "Id"), &["e1", "e2", "e3"]).await;
        h.stop().await.unwrap();

        // After a restart only new content is read.
        feed.add("Audit.Exchange", "x2", 0, &[&record("e4")]);
        let mut h = start(config(&api, &types), &dir);
        assert_eq!(h.events(1, "Id").await, ["e4"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
    }

    #[tokio::test]
    async fn failures_and_bad_pages_are_retried_without_loss() {
        let feed = Arc::new(Feed::default());
        feed.add("Audit.General", "g1", 60, &[&record("g1"), "42"]);
        // Answered in reverse order: a throttled request, a page that is not JSON, a 500.
        *feed.failures.lock().unwrap() = vec![
            Answer::status(500, "{}"),
            Answer::json("not json at all"),
            Answer::status(429, "{}").header("retry-after", "1"),
        ];
        let api = serve(&feed).await;
        let dir = TempDir::new("o365-errors");
        let mut h = start(config(&api, &["Audit.General"]), &dir);
        let batch = h.batch().await;
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].value, crate::testkit::value(&record("g1")));
        // A record that is not an object is kept, flagged, and counted.
        assert_eq!(
            pipectl_core::json::to_string(&batch[1].value),
            r#"{"message":"42","pipectl":{"error":{"component":"api","message":"the API returned integer, not an object"}}}"#
        );
        drop(batch);
        let counters = Arc::clone(&h.counters);
        h.stop().await.unwrap();
        assert_eq!(counters.snapshot().events_errored, 2);
        let content: Vec<Seen> = api
            .seen()
            .into_iter()
            .filter(|s| s.path.ends_with("/subscriptions/content"))
            .collect();
        assert!(content[1].at.duration_since(content[0].at) >= Duration::from_millis(990));
    }

    #[tokio::test]
    async fn a_failing_content_type_does_not_hold_up_the_others() {
        let feed = Arc::new(Feed::default());
        feed.broken.lock().unwrap().push("Audit.General".into());
        feed.add("Audit.General", "g1", 60, &[&record("g1")]);
        feed.add("Audit.Exchange", "x1", 60, &[&record("e1")]);
        let api = serve(&feed).await;
        let dir = TempDir::new("o365-partial");
        let mut h = start(config(&api, &["Audit.General", "Audit.Exchange"]), &dir);
        assert_eq!(h.events(1, "Id").await, ["e1"]);
        h.stop().await.unwrap();
        let stored = crate::checkpoint::stored_text(dir.path()).unwrap();
        assert!(stored.contains("Audit.Exchange") && !stored.contains("Audit.General"));
    }

    #[tokio::test]
    async fn an_expired_blob_is_counted_and_passed() {
        let feed = Arc::new(Feed::default());
        feed.add("Audit.Exchange", "x1", 120, &[&record("e1")]);
        feed.add("Audit.Exchange", "x2", 60, &[&record("e2")]);
        // x1 is listed, but gone when fetched.
        let api = {
            let feed = Arc::clone(&feed);
            MockApi::start(move |seen| {
                if seen.path == "/blob/x1" {
                    return Answer::status(404, r#"{"error":{"code":"AF20051"}}"#);
                }
                feed.answer(seen)
            })
            .await
        };
        let dir = TempDir::new("o365-gone");
        let mut h = start(config(&api, &["Audit.Exchange"]), &dir);
        assert_eq!(h.events(1, "Id").await, ["e2"]);
        let counters = Arc::clone(&h.counters);
        h.stop().await.unwrap();
        assert_eq!(counters.snapshot().events_errored, 1);
    }

    #[test]
    fn windows_are_at_most_a_day_and_within_seven_days() {
        let now = 100 * 24 * HOUR_MS + 1234;
        let (start, end, clamped) = next_window(now - 10 * 24 * HOUR_MS, now).unwrap();
        assert!(clamped);
        assert_eq!(
            start,
            whole_seconds(now - RETENTION_MS + RETENTION_MARGIN_MS)
        );
        assert_eq!(end, start + MAX_WINDOW_MS);
        let (start, end, clamped) = next_window(now - HOUR_MS, now).unwrap();
        assert!(!clamped);
        assert_eq!(
            (start, end),
            (whole_seconds(now - HOUR_MS), whole_seconds(now))
        );
        assert_eq!(next_window(whole_seconds(now), now), None);
        assert_eq!(api_time(start), format_rfc3339(start)[..19]);
    }

    #[test]
    fn configuration_is_checked() {
        let base = || {
            vec![
                ("tenant_id", string("contoso.onmicrosoft.com")),
                ("client_id", string("app")),
                ("client_secret", string("s")),
            ]
        };
        let mut attrs = base();
        attrs.push((
            "content_types",
            pipectl_dsl::plan::PlanValue::List(vec![string("Audit.Teams")]),
        ));
        assert!(
            build_error(&FACTORY, &plan(&SPEC, "m", attrs)).contains("`Audit.Teams` is not one of")
        );
        let mut attrs = base();
        attrs.push((
            "initial_lookback",
            pipectl_dsl::plan::PlanValue::Duration(8 * 86_400_000),
        ));
        assert!(build_error(&FACTORY, &plan(&SPEC, "m", attrs)).contains("at most 7d"));
        let mut attrs = base();
        attrs.push(("cloud", string("gcc_high")));
        let dir = TempDir::new("o365-build");
        let built = crate::testkit::build(&FACTORY, &plan(&SPEC, "m", attrs), dir.path());
        assert!(built.is_ok());
    }

    #[test]
    fn government_clouds_have_their_own_hosts() {
        use super::super::api::microsoft::Cloud;
        assert_eq!(Cloud::Gcc.manage(), "https://manage-gcc.office.com");
        assert_eq!(Cloud::GccHigh.manage(), "https://manage.office365.us");
        assert_eq!(Cloud::GccHigh.login(), "https://login.microsoftonline.us");
        assert_eq!(Cloud::Dod.manage(), "https://manage.protection.apps.mil");
    }
}
