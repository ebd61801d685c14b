//! `source graph`: Microsoft Graph audit logs (Entra ID sign-ins and directory
//! audits), as Graph's own records.
//!
//! Each endpoint (`signIns`, `directoryAudits`) is read in time windows: `GET
//! /v1.0/auditLogs/{endpoint}?$filter=createdDateTime ge {since} and createdDateTime lt
//! {until}` (`activityDateTime` for directory audits), following `@odata.nextLink`
//! until the window is exhausted; the next window starts at `until`. A window ends
//! `lag` before now, because Graph makes records visible minutes after they happen
//! and a window is never read twice. Graph returns the newest records first, so a
//! window's cursor is its `nextLink`: checkpointed after each acknowledged page, a
//! restart resumes mid-window. The ids read in the last second of a window are kept
//! and dropped if the next window returns them again, so a boundary is never read
//! twice even if Graph rounds times differently from us.
//!
//! Graph throttles audit logs hard (about 5 requests per 10 s per app and tenant):
//! requests are paced to `requests_per_10s` (both endpoints share it), and `429` waits
//! what `Retry-After` says. Tokens come from the identity platform with the client
//! credentials grant (scope `https://graph.microsoft.com/.default`); the app needs the
//! `AuditLog.Read.All` application permission, with admin consent.
//!
//! Records are emitted unchanged; `transform normalise` maps them to the schema.

use super::api::client::{records_body, unless_gone, ApiClient, Auth, Bad, Reply};
use super::api::emit::Emitter;
use super::api::microsoft::{
    MicrosoftApp, API_URL_ATTR, CLIENT_ID_ATTR, CLIENT_SECRET_ATTR, CLOUD_ATTR, LOGIN_URL_ATTR,
    TENANT_ID_ATTR,
};
use super::api::{
    defer, fetch, followed_link, join, percent_encode, poll_interval_attr, round_result,
    run_poller, PollSettings, Poller, Stop, LIMIT_ATTRS, MAX_ATTEMPTS_ATTR, REQUEST_TIMEOUT_ATTR,
};
use super::Run;
use crate::io::BatchOutput;
use crate::limits::RecordsAt;
use crate::settings::positive;
use crate::sinks::opensearch::time::{format_rfc3339, now_ms, parse_rfc3339};
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The catalogue entry of `source graph`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "graph",
    summary: "Polls Microsoft Graph audit logs (Entra ID `signIns`, `directoryAudits`) within Graph's throttle, checkpointed after acknowledgement; emits Graph's records unchanged.",
    attrs: &[
        TENANT_ID_ATTR,
        CLIENT_ID_ATTR,
        CLIENT_SECRET_ATTR,
        AttrSpec::with_default(
            "endpoints",
            AttrType::List(&AttrType::String),
            "[\"signIns\", \"directoryAudits\"]",
            "Which `auditLogs` collections to read: `signIns`, `directoryAudits`.",
        ),
        AttrSpec::with_default(
            "initial_lookback",
            AttrType::Duration,
            "1h",
            "How far back the first run starts (no checkpoint yet); Entra ID keeps 30 days (7 without a P1/P2 licence).",
        ),
        AttrSpec::with_default(
            "lag",
            AttrType::Duration,
            "5m",
            "How long before now a window ends: records reach Graph minutes after they happen, and a window is read once.",
        ),
        AttrSpec::with_default(
            "page_size",
            AttrType::Int,
            "999",
            "Records per page (`$top`, at most 999).",
        ),
        AttrSpec::with_default(
            "requests_per_10s",
            AttrType::Int,
            "5",
            "Requests started in any 10 seconds, both endpoints together (Graph's audit-log throttle is about 5).",
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

/// Builds `source graph`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// One `auditLogs` collection and the time field its filter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub name: &'static str,
    pub time_field: &'static str,
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "signIns",
        time_field: "createdDateTime",
    },
    Endpoint {
        name: "directoryAudits",
        time_field: "activityDateTime",
    },
];

/// The checked settings of one `source graph`.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    pub(crate) app: MicrosoftApp,
    pub(crate) endpoints: Vec<Endpoint>,
    pub initial_lookback: Duration,
    pub lag: Duration,
    pub page_size: usize,
    pub(crate) poll: PollSettings,
}

/// The window of Graph's throttle.
const PACE_WINDOW: Duration = Duration::from_secs(10);

impl GraphConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<GraphConfig, BuildError> {
        let mut endpoints = Vec::new();
        for name in attrs.strings("endpoints")? {
            let endpoint = ENDPOINTS.iter().find(|e| e.name == name).ok_or_else(|| {
                attrs.error(format!(
                    "attribute `endpoints`: `{name}` is not one of \"signIns\", \"directoryAudits\""
                ))
            })?;
            if !endpoints.contains(endpoint) {
                endpoints.push(*endpoint);
            }
        }
        if endpoints.is_empty() {
            return Err(attrs.error("attribute `endpoints` is empty"));
        }
        let page_size = positive(attrs, "page_size")?;
        if page_size > 999 {
            return Err(attrs.error(format!(
                "attribute `page_size` must be at most 999, not {page_size}"
            )));
        }
        let pace = positive(attrs, "requests_per_10s")?;
        Ok(GraphConfig {
            app: MicrosoftApp::from_attrs(attrs, |cloud| cloud.graph())?,
            endpoints,
            initial_lookback: attrs.duration("initial_lookback")?,
            lag: attrs.duration("lag")?,
            page_size,
            poll: PollSettings::from_attrs(attrs, Some((pace, PACE_WINDOW)))?,
        })
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = GraphConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(GraphSource {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source graph`.
pub struct GraphSource {
    config: GraphConfig,
    data_dir: PathBuf,
}

impl GraphSource {
    pub fn new(config: GraphConfig, data_dir: PathBuf) -> GraphSource {
        GraphSource { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let auth = Auth::ClientCredentials {
            credentials: self.config.app.credentials.clone(),
            cached: None,
        };
        let poll = self.config.poll.clone();
        let poller = GraphPoller {
            config: self.config,
            cursors: BTreeMap::new(),
        };
        run_poller(poller, &poll, auth, &self.data_dir, run).await
    }
}

impl Source for GraphSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// How close to a window's end a record must be for its id to be remembered.
const BOUNDARY_MS: i64 = 1000;

/// Where reading of one endpoint resumes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// Everything before this time is read.
    since: String,
    /// The window being read: its end, and the `nextLink` after the last page read.
    until: Option<String>,
    next: Option<String>,
    /// Ids read in the last second of the previous window: dropped if seen again.
    boundary_ids: Vec<String>,
    /// Ids read so far in the last second of the current window.
    tail_ids: Vec<String>,
}

impl Cursor {
    fn starting(since_ms: i64) -> Cursor {
        Cursor {
            since: format_rfc3339(since_ms),
            until: None,
            next: None,
            boundary_ids: Vec::new(),
            tail_ids: Vec::new(),
        }
    }

    /// Keeps the records not read before, remembering those near the window's end.
    fn take_new(&mut self, records: Vec<Value>, time_field: &str) -> Vec<Value> {
        let until_ms = self.until.as_deref().and_then(parse_rfc3339);
        let mut fresh = Vec::with_capacity(records.len());
        for record in records {
            let map = record.as_object();
            let id = map.and_then(|m| m.get("id")).and_then(Value::as_str);
            if id.is_some_and(|id| self.boundary_ids.iter().any(|b| b == id)) {
                continue;
            }
            let time = map
                .and_then(|m| m.get(time_field))
                .and_then(Value::as_str)
                .and_then(parse_rfc3339);
            if let (Some(id), Some(time), Some(until)) = (id, time, until_ms) {
                if time >= until - BOUNDARY_MS {
                    self.tail_ids.push(id.to_string());
                }
            }
            fresh.push(record);
        }
        fresh
    }

    /// The window is read: the next one starts at its end.
    fn close_window(&mut self) {
        if let Some(until) = self.until.take() {
            self.since = until;
        }
        self.next = None;
        self.boundary_ids = std::mem::take(&mut self.tail_ids);
    }
}

struct GraphPoller {
    config: GraphConfig,
    /// Read positions per endpoint (ahead of the checkpoint while batches are in flight).
    cursors: BTreeMap<&'static str, Cursor>,
}

impl GraphPoller {
    fn window_url(&self, endpoint: Endpoint, cursor: &Cursor, until: &str) -> Url {
        let mut url = join(
            &self.config.app.api_url,
            &format!("/v1.0/auditLogs/{}", endpoint.name),
        );
        let filter = format!(
            "{field} ge {since} and {field} lt {until}",
            field = endpoint.time_field,
            since = cursor.since
        );
        url.set_query(Some(&format!(
            "$filter={}&$top={}",
            percent_encode(&filter),
            self.config.page_size
        )));
        url
    }

    /// Reads one endpoint up to `lag` before now.
    async fn poll_endpoint<O: BatchOutput>(
        &self,
        endpoint: Endpoint,
        cursor: &mut Cursor,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let until = match &cursor.until {
            Some(until) => until.clone(),
            None => {
                let lag = i64::try_from(self.config.lag.as_millis()).unwrap_or(i64::MAX);
                let until_ms = now_ms().saturating_sub(lag);
                if parse_rfc3339(&cursor.since).is_some_and(|since| until_ms <= since) {
                    return Ok(());
                }
                let until = format_rfc3339(until_ms);
                cursor.until = Some(until.clone());
                until
            }
        };
        loop {
            let (records, next) = match &cursor.next {
                Some(next) => {
                    let url = followed_link(&self.config.app.api_url, next)?;
                    let read = unless_gone(read_page);
                    match fetch(out, client.call(Method::GET, &url, read)).await? {
                        Some(page) => page,
                        None => {
                            tracing::warn!(source = %out.name(), endpoint = endpoint.name, "Graph refused the stored nextLink (expired?); reading the window again from its start, so its pages already read come again");
                            cursor.next = None;
                            continue;
                        }
                    }
                }
                None => {
                    let url = self.window_url(endpoint, cursor, &until);
                    fetch(out, client.call(Method::GET, &url, read_page)).await?
                }
            };
            let mut fresh = cursor.take_new(records, endpoint.time_field);
            fresh.extend(out.rejected(client));
            match next {
                Some(next) => cursor.next = Some(next),
                None => cursor.close_window(),
            }
            out.emit(endpoint.name, fresh, cursor).await?;
            if cursor.until.is_none() {
                return Ok(());
            }
        }
    }
}

impl Poller for GraphPoller {
    async fn poll<O: BatchOutput>(
        &mut self,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let lookback = i64::try_from(self.config.initial_lookback.as_millis()).unwrap_or(0);
        let mut failed = None;
        for endpoint in self.config.endpoints.clone() {
            let mut cursor = match self.cursors.remove(endpoint.name) {
                Some(cursor) => cursor,
                None => out
                    .cursor::<Cursor>(endpoint.name)
                    .unwrap_or_else(|| Cursor::starting(now_ms().saturating_sub(lookback))),
            };
            let result = self.poll_endpoint(endpoint, &mut cursor, client, out).await;
            self.cursors.insert(endpoint.name, cursor);
            defer(result, &mut failed)?;
        }
        round_result(failed)
    }
}

/// A page: `{"value": [...], "@odata.nextLink": "..."}`.
fn read_page(reply: &Reply) -> Result<(Vec<Value>, Option<String>), Bad> {
    let body = records_body(reply, RecordsAt::Member("value"))?;
    let Value::Object(mut map) = body else {
        return Err(Bad::Page(format!(
            "expected an object with `value`, got {}",
            body.type_name()
        )));
    };
    let next = match map.get("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(link)) => Some(link.to_string()),
        Some(other) => {
            return Err(Bad::Page(format!(
                "`@odata.nextLink` is {}, not a string",
                other.type_name()
            )))
        }
    };
    match map.remove("value") {
        Some(Value::Array(records)) => Ok((records, next)),
        Some(other) => Err(Bad::Page(format!(
            "`value` is {}, not an array",
            other.type_name()
        ))),
        None => Err(Bad::Page("the page has no `value`".into())),
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    const SECRET: &str = "graph-client-secret~42";

    fn config(api: &MockApi, pace: Option<(usize, Duration)>) -> GraphConfig {
        let mut retry = RetryPolicy::new(5);
        retry.base_backoff = Duration::from_millis(10);
        GraphConfig {
            app: MicrosoftApp {
                tenant: "contoso".into(),
                api_url: api.base.clone(),
                credentials: ClientCredentials {
                    token_url: Url::parse(&api.url("/contoso/oauth2/v2.0/token")).unwrap(),
                    client_id: "app-1".into(),
                    client_secret: Secret::new(SECRET),
                    scope: "https://graph.microsoft.com/.default".into(),
                },
            },
            endpoints: ENDPOINTS.to_vec(),
            initial_lookback: Duration::from_secs(3600),
            lag: Duration::ZERO,
            page_size: 2,
            poll: PollSettings {
                poll_interval: Duration::from_millis(50),
                client: ClientSettings {
                    timeout: Duration::from_secs(5),
                    retry,
                    pace,
                    limits: crate::limits::InputLimits::default(),
                    max_response_size: crate::sources::api::client::DEFAULT_MAX_RESPONSE_SIZE,
                },
            },
        }
    }

    /// A Graph tenant: sign-ins `(id, time ms)`, tokens `tok-1`, `tok-2`, ... of which
    /// those listed in `expired` are refused, and a script of failures to answer
    /// sign-in requests with first.
    #[derive(Default)]
    struct Tenant {
        sign_ins: Mutex<Vec<(String, i64)>>,
        tokens: AtomicUsize,
        expired: Mutex<Vec<String>>,
        failures: Mutex<Vec<Answer>>,
        /// Records put once into the first sign-in page asked for.
        hostile: Mutex<Vec<String>>,
    }

    impl Tenant {
        fn add(&self, id: &str, minutes_ago: i64) {
            let time = now_ms() - minutes_ago * 60_000;
            self.sign_ins.lock().unwrap().push((id.to_string(), time));
        }

        fn answer(&self, seen: &Seen) -> Answer {
            if seen.path == "/contoso/oauth2/v2.0/token" {
                let valid = seen.method == "POST"
                    && seen.form("grant_type").as_deref() == Some("client_credentials")
                    && seen.form("client_id").as_deref() == Some("app-1")
                    && seen.form("client_secret").as_deref() == Some(SECRET)
                    && seen.form("scope").as_deref()
                        == Some("https://graph.microsoft.com/.default");
                if !valid {
                    return Answer::status(401, r#"{"error":"invalid_client"}"#);
                }
                let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
                return Answer::json(format!(
                    r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"tok-{n}"}}"#
                ));
            }
            let token = seen.authorization.trim_start_matches("Bearer ").to_string();
            if !token.starts_with("tok-") || self.expired.lock().unwrap().contains(&token) {
                return Answer::status(401, r#"{"error":{"code":"InvalidAuthenticationToken"}}"#);
            }
            if seen.path == "/v1.0/auditLogs/directoryAudits" {
                return Answer::json(r#"{"value":[]}"#);
            }
            if let Some(failure) = self.failures.lock().unwrap().pop() {
                return failure;
            }
            let filter = seen.param("$filter").unwrap_or_default();
            let words: Vec<&str> = filter.split(' ').collect();
            let (Some(since), Some(until)) = (
                words.get(2).and_then(|t| parse_rfc3339(t)),
                words.get(6).and_then(|t| parse_rfc3339(t)),
            ) else {
                return Answer::status(400, r#"{"error":{"code":"BadRequest"}}"#);
            };
            // Newest first, as Graph returns them.
            let mut matching: Vec<(String, i64)> = self
                .sign_ins
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, t)| *t >= since && *t < until)
                .cloned()
                .collect();
            matching.sort_by_key(|(_, t)| -t);
            let skip: usize = seen
                .param("$skiptoken")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let mut page: Vec<String> = matching
                .iter()
                .skip(skip)
                .take(2)
                .map(|(id, t)| {
                    format!(
                        r#"{{"id":"{id}","createdDateTime":"{}"}}"#,
                        format_rfc3339(*t)
                    )
                })
                .collect();
            // Between the page's records.
            let hostile = std::mem::take(&mut *self.hostile.lock().unwrap());
            let at = page.len().min(1);
            page.splice(at..at, hostile);
            let next = if skip + 2 < matching.len() {
                let filter = percent_encode(&filter);
                format!(
                    r#","@odata.nextLink":"{}/v1.0/auditLogs/signIns?$filter={filter}&$top=2&$skiptoken={}""#,
                    seen.base,
                    skip + 2
                )
            } else {
                String::new()
            };
            Answer::json(format!(r#"{{"value":[{}]{next}}}"#, page.join(",")))
        }
    }

    async fn serve(tenant: &Arc<Tenant>) -> MockApi {
        let tenant = Arc::clone(tenant);
        MockApi::start(move |seen| tenant.answer(seen)).await
    }

    fn start(config: GraphConfig, dir: &TempDir) -> Harness {
        let source = GraphSource::new(config, dir.path().to_path_buf());
        Harness::start(|run| source.run_with(run))
    }

    fn sign_in_requests(api: &MockApi) -> Vec<Seen> {
        api.seen()
            .into_iter()
            .filter(|s| s.path == "/v1.0/auditLogs/signIns")
            .collect()
    }

    /// Hostile records in a page of the Microsoft Graph API (the shape Office 365 and
    /// Azure pages share): held back as error records, the good ones emitted once,
    /// the window read to its end and checkpointed.
    #[tokio::test]
    async fn hostile_records_are_held_back_and_passed() {
        let tenant = Arc::new(Tenant::default());
        for (id, minutes_ago) in [("a", 30), ("b", 20), ("c", 10)] {
            tenant.add(id, minutes_ago);
        }
        *tenant.hostile.lock().unwrap() = hostile_records("id").to_vec();
        let api = serve(&tenant).await;
        let dir = TempDir::new("graph-hostile");
        let mut h = start(config(&api, None), &dir);
        expect_hostile_held_back(&mut h, |e| text(e, "id"), &["c", "b", "a"]).await;
        h.stop().await.unwrap();

        // Restarted: the checkpoint is past the window, nothing comes again.
        let before = api.seen().len();
        let mut h = start(config(&api, None), &dir);
        api.request_after(before, "/v1.0/auditLogs/signIns").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
    }

    #[tokio::test]
    async fn windows_are_paged_paced_and_resumed_after_restart() {
        let tenant = Arc::new(Tenant::default());
        for (id, minutes_ago) in [("a", 50), ("b", 40), ("c", 30), ("d", 20), ("e", 10)] {
            tenant.add(id, minutes_ago);
        }
        let api = serve(&tenant).await;
        let dir = TempDir::new("graph-resume");
        let pace = Some((2, Duration::from_millis(300)));
        let mut h = start(config(&api, pace), &dir);
        // Newest first within the window, page by page.
        assert_eq!(h.events(5, "id").await, ["e", "d", "c", "b", "a"]);
        // Then the other endpoint, in its turn.
        let audits = |api: &MockApi| {
            api.seen()
                .into_iter()
                .find(|s| s.path == "/v1.0/auditLogs/directoryAudits")
        };
        for _ in 0..100 {
            if audits(&api).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        h.stop().await.unwrap();

        let seen = api.seen();
        assert_eq!(seen[0].path, "/contoso/oauth2/v2.0/token");
        let filter = seen[1].param("$filter").unwrap();
        assert!(filter.starts_with("createdDateTime ge 20"), "{filter}");
        assert!(filter.contains(" and createdDateTime lt 20"), "{filter}");
        assert_eq!(seen[1].param("$top").as_deref(), Some("2"));
        assert_eq!(seen[1].authorization, "Bearer tok-1");
        // At most two requests in any 300 ms: the third waited for the first's window.
        assert!(seen[1].at.duration_since(seen[0].at) < Duration::from_millis(300));
        assert!(seen[2].at.duration_since(seen[0].at) >= Duration::from_millis(290));
        assert!(seen[3].at.duration_since(seen[1].at) >= Duration::from_millis(290));
        let audits = audits(&api).unwrap();
        assert!(audits
            .param("$filter")
            .unwrap()
            .starts_with("activityDateTime ge "));

        // Records that arrive later come once, after a restart, and nothing is repeated.
        tokio::time::sleep(Duration::from_millis(5)).await;
        tenant.add("f", 0);
        tenant.add("g", 0);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut h = start(config(&api, None), &dir);
        let mut got = h.events(2, "id").await;
        got.sort();
        assert_eq!(got, ["f", "g"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
        assert_eq!(tenant.tokens.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn throttling_server_errors_and_a_bad_page_lose_nothing() {
        let tenant = Arc::new(Tenant::default());
        tenant.add("a", 30);
        tenant.add("b", 20);
        tenant.add("c", 10);
        // Answered in reverse order of this list.
        *tenant.failures.lock().unwrap() = vec![
            Answer::status(200, "<html>proxy error</html>"),
            Answer::status(503, r#"{"error":{"code":"ServiceUnavailable"}}"#),
            Answer::status(429, r#"{"error":{"code":"TooManyRequests"}}"#)
                .header("retry-after", "1"),
        ];
        let api = serve(&tenant).await;
        let dir = TempDir::new("graph-errors");
        let mut h = start(config(&api, None), &dir);
        assert_eq!(h.events(3, "id").await, ["c", "b", "a"]);
        let counters = Arc::clone(&h.counters);
        h.stop().await.unwrap();
        let requests = sign_in_requests(&api);
        assert!(requests.len() >= 5, "{}", requests.len());
        // The 429's Retry-After was honoured before the next try.
        assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_millis(990));
        // The unreadable page was counted, then read again.
        assert_eq!(counters.snapshot().events_errored, 1);
    }

    #[tokio::test]
    async fn an_expired_token_is_fetched_again_once() {
        let tenant = Arc::new(Tenant::default());
        tenant.add("a", 10);
        tenant.expired.lock().unwrap().push("tok-1".into());
        let api = serve(&tenant).await;
        let dir = TempDir::new("graph-expired");
        let mut h = start(config(&api, None), &dir);
        assert_eq!(h.events(1, "id").await, ["a"]);
        h.stop().await.unwrap();
        assert_eq!(tenant.tokens.load(Ordering::SeqCst), 2);
        let requests = sign_in_requests(&api);
        assert_eq!(requests[0].authorization, "Bearer tok-1");
        assert_eq!(requests[1].authorization, "Bearer tok-2");
    }

    #[tokio::test]
    async fn refused_credentials_stop_the_source_without_revealing_the_secret() {
        let api = MockApi::start(|_| {
            Answer::status(
                401,
                format!(r#"{{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: {SECRET}"}}"#),
            )
        })
        .await;
        let dir = TempDir::new("graph-refused");
        let h = start(config(&api, None), &dir);
        let err = h.ended().await.unwrap_err();
        assert!(
            err.message.contains("token request POST http://127.0.0.1"),
            "{}",
            err.message
        );
        assert!(err.message.contains("AADSTS7000215"), "{}", err.message);
        assert!(!err.message.contains(SECRET), "{}", err.message);
    }

    #[tokio::test]
    async fn a_failed_batch_does_not_move_the_checkpoint() {
        let tenant = Arc::new(Tenant::default());
        tenant.add("a", 10);
        let api = serve(&tenant).await;
        let dir = TempDir::new("graph-unacked");
        let mut h = start(config(&api, None), &dir);
        let batch = h.batch().await;
        // Held, not acknowledged: the checkpoint does not move past it.
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let stored = crate::checkpoint::stored_text(dir.path()).unwrap_or_default();
        assert!(!stored.contains("signIns"), "{stored}");
        batch.iter().for_each(|e| e.fail_delivery());
        drop(batch);
        h.stop().await.unwrap();
        // The restart reads the record again.
        let mut h = start(config(&api, None), &dir);
        assert_eq!(h.events(1, "id").await, ["a"]);
        h.stop().await.unwrap();
        let stored = crate::checkpoint::stored_text(dir.path()).unwrap();
        assert!(stored.contains("signIns"), "{stored}");
    }

    #[test]
    fn a_window_boundary_is_not_read_twice() {
        let record = |id: &str, time: &str| {
            crate::testkit::value(&format!(r#"{{"id":"{id}","createdDateTime":"{time}"}}"#))
        };
        let mut cursor = Cursor::starting(0);
        cursor.until = Some("2026-11-28T08:00:00.000Z".into());
        let fresh = cursor.take_new(
            vec![
                record("late", "2026-11-28T07:59:59.500Z"),
                record("early", "2026-11-28T07:00:00.000Z"),
            ],
            "createdDateTime",
        );
        assert_eq!(fresh.len(), 2);
        cursor.close_window();
        assert_eq!(cursor.since, "2026-11-28T08:00:00.000Z");
        assert_eq!(cursor.boundary_ids, ["late"]);
        cursor.until = Some("2026-11-28T09:00:00.000Z".into());
        let fresh = cursor.take_new(
            vec![
                record("late", "2026-11-28T07:59:59.500Z"),
                record("new", "2026-11-28T08:30:00.000Z"),
            ],
            "createdDateTime",
        );
        assert_eq!(fresh, vec![record("new", "2026-11-28T08:30:00.000Z")]);
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
            "endpoints",
            pipectl_dsl::plan::PlanValue::List(vec![string("signIn")]),
        ));
        assert!(build_error(&FACTORY, &plan(&SPEC, "g", attrs)).contains("`signIn` is not one of"));
        let mut attrs = base();
        attrs[0] = ("tenant_id", string("../evil"));
        assert!(build_error(&FACTORY, &plan(&SPEC, "g", attrs)).contains("neither a GUID"));
        let mut attrs = base();
        attrs.push(("api_url", string("http://graph.example")));
        assert!(build_error(&FACTORY, &plan(&SPEC, "g", attrs)).contains("https://"));
    }
}
