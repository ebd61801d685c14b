//! `source okta`: the Okta System Log, as Okta's own records.
//!
//! Polls `GET {domain}/api/v1/logs?since=…&limit=…&sortOrder=ASCENDING` with
//! `Authorization: SSWS <api_token>` and follows `Link: <…>; rel="next"`. In ascending
//! order Okta always returns a `next` link, which is the polling cursor: after an empty
//! (or short) page the source waits `poll_interval` and asks the same link again. The
//! checkpoint holds that link plus the `published` time and `uuid`s of the last records
//! read; without a link (first run, or a link lost) the source asks `since` that time
//! and drops the records it already emitted at that instant, so the boundary is not
//! read twice. Okta's `X-Rate-Limit-Remaining` / `X-Rate-Limit-Reset` headers pause
//! requests before the limit is hit; `429` waits until the reset.
//!
//! Records are emitted unchanged; `transform normalise` maps them to the schema.

use super::api::client::{records_body, unless_gone, Auth, Bad};
use super::api::emit::Emitter;
use super::api::{
    base_url, fetch, followed_link, join, poll_interval_attr, run_poller, PollSettings, Poller,
    Stop, LIMIT_ATTRS, MAX_ATTEMPTS_ATTR, REQUEST_TIMEOUT_ATTR,
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
use pipectl_core::secrets::Secret;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, Url};
use std::path::PathBuf;
use std::time::Duration;

/// The catalogue entry of `source okta`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "okta",
    summary: "Polls the Okta System Log API (`/api/v1/logs`), following its `next` links, checkpointed after acknowledgement; emits Okta's records unchanged.",
    attrs: &[
        AttrSpec::required(
            "domain",
            AttrType::String,
            "The Okta org URL, e.g. \"https://acme.okta.com\".",
        ),
        AttrSpec::required(
            "api_token",
            AttrType::String,
            "An API token of an admin with read access to the System Log (a read-only administrator suffices), sent as `Authorization: SSWS <token>`.",
        )
        .sensitive(),
        AttrSpec::with_default(
            "initial_lookback",
            AttrType::Duration,
            "1h",
            "How far back the first run starts (no checkpoint yet); Okta keeps 90 days.",
        ),
        AttrSpec::with_default(
            "limit",
            AttrType::Int,
            "1000",
            "Records per page (Okta allows at most 1000).",
        ),
        poll_interval_attr("30s"),
        REQUEST_TIMEOUT_ATTR,
        MAX_ATTEMPTS_ATTR,
        LIMIT_ATTRS[0],
        LIMIT_ATTRS[1],
        LIMIT_ATTRS[2],
        LIMIT_ATTRS[3],
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source okta`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// The checked settings of one `source okta`.
#[derive(Debug, Clone)]
pub struct OktaConfig {
    pub domain: Url,
    /// Printed as `[redacted]`.
    pub api_token: Secret,
    pub initial_lookback: Duration,
    pub limit: usize,
    pub(crate) poll: PollSettings,
}

impl OktaConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<OktaConfig, BuildError> {
        let api_token = attrs
            .opt_secret("api_token")?
            .filter(|t| !t.expose().is_empty())
            .ok_or_else(|| attrs.error("attribute `api_token` is empty"))?;
        let limit = positive(attrs, "limit")?;
        if limit > 1000 {
            return Err(attrs.error(format!(
                "attribute `limit` must be at most 1000 (Okta's maximum), not {limit}"
            )));
        }
        Ok(OktaConfig {
            domain: base_url(attrs, "domain")?,
            api_token,
            initial_lookback: attrs.duration("initial_lookback")?,
            limit,
            poll: PollSettings::from_attrs(attrs, None)?,
        })
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = OktaConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(OktaSource {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source okta`.
pub struct OktaSource {
    config: OktaConfig,
    data_dir: PathBuf,
}

impl OktaSource {
    pub fn new(config: OktaConfig, data_dir: PathBuf) -> OktaSource {
        OktaSource { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let auth = Auth::Token {
            scheme: "SSWS",
            token: self.config.api_token.clone(),
        };
        let poll = self.config.poll.clone();
        let poller = OktaPoller {
            config: self.config,
            cursor: None,
        };
        run_poller(poller, &poll, auth, &self.data_dir, run).await
    }
}

impl Source for OktaSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// The checkpoint's one stream.
const STREAM: &str = "log";

/// Where reading resumes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// The `next` link of the last page read.
    next: Option<String>,
    /// `published` of the newest record read, and the `uuid`s read at that instant.
    published: Option<String>,
    uuids: Vec<String>,
}

impl Cursor {
    /// Whether `record` was already read (it is at or before the boundary).
    fn already_read(&self, record: &Value) -> bool {
        let Some((published, uuid)) = published_and_uuid(record) else {
            return false;
        };
        let (Some(record_ms), Some(boundary_ms)) = (
            parse_rfc3339(published),
            self.published.as_deref().and_then(parse_rfc3339),
        ) else {
            return false;
        };
        record_ms < boundary_ms
            || (record_ms == boundary_ms && self.uuids.iter().any(|u| u == uuid))
    }

    /// Moves the boundary over `record`.
    fn advance(&mut self, record: &Value) {
        let Some((published, uuid)) = published_and_uuid(record) else {
            return;
        };
        let Some(record_ms) = parse_rfc3339(published) else {
            return;
        };
        match self.published.as_deref().and_then(parse_rfc3339) {
            Some(boundary_ms) if boundary_ms == record_ms => self.uuids.push(uuid.to_string()),
            Some(boundary_ms) if boundary_ms > record_ms => {}
            _ => {
                self.published = Some(published.to_string());
                self.uuids = vec![uuid.to_string()];
            }
        }
    }
}

fn published_and_uuid(record: &Value) -> Option<(&str, &str)> {
    let map = record.as_object()?;
    Some((map.get("published")?.as_str()?, map.get("uuid")?.as_str()?))
}

struct OktaPoller {
    config: OktaConfig,
    /// The read position (ahead of the checkpoint while batches are in flight).
    cursor: Option<Cursor>,
}

impl OktaPoller {
    fn first_url(&self, cursor: &Cursor) -> Url {
        let since = cursor.published.clone().unwrap_or_else(|| {
            let lookback = i64::try_from(self.config.initial_lookback.as_millis()).unwrap_or(0);
            format_rfc3339(now_ms().saturating_sub(lookback))
        });
        let mut url = join(&self.config.domain, "/api/v1/logs");
        url.query_pairs_mut()
            .append_pair("since", &since)
            .append_pair("limit", &self.config.limit.to_string())
            .append_pair("sortOrder", "ASCENDING");
        url
    }
}

impl Poller for OktaPoller {
    async fn poll<O: BatchOutput>(
        &mut self,
        client: &mut super::api::client::ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let mut cursor = match self.cursor.take() {
            Some(cursor) => cursor,
            None => out.cursor::<Cursor>(STREAM).unwrap_or_default(),
        };
        let result = async {
            loop {
                let (records, next) = match &cursor.next {
                    Some(next) => {
                        let url = followed_link(&self.config.domain, next)?;
                        let read = unless_gone(read_page);
                        match fetch(out, client.call(Method::GET, &url, read)).await? {
                            Some(page) => page,
                            None => {
                                tracing::warn!(source = %out.name(), "Okta refused the stored next link (expired?); resuming from the time of the last record read");
                                cursor.next = None;
                                continue;
                            }
                        }
                    }
                    None => {
                        let url = self.first_url(&cursor);
                        fetch(out, client.call(Method::GET, &url, read_page)).await?
                    }
                };
                let held = out.rejected(client);
                let full_page = records.len() + held.len() >= self.config.limit;
                let mut fresh = Vec::with_capacity(records.len() + held.len());
                for record in records {
                    if !cursor.already_read(&record) {
                        cursor.advance(&record);
                        fresh.push(record);
                    }
                }
                fresh.extend(held);
                let moved = next.is_some() && next != cursor.next;
                if let Some(next) = next {
                    cursor.next = Some(next);
                }
                if !fresh.is_empty() || moved {
                    out.emit(STREAM, fresh, &cursor).await?;
                }
                if !full_page {
                    return Ok(());
                }
            }
        }
        .await;
        self.cursor = Some(cursor);
        result
    }
}

/// A page: a JSON array of records, and the `next` link.
fn read_page(reply: &super::api::client::Reply) -> Result<(Vec<Value>, Option<String>), Bad> {
    match records_body(reply, RecordsAt::Document)? {
        Value::Array(records) => Ok((records, next_link(&reply.headers))),
        other => Err(Bad::Page(format!(
            "expected an array of log events, got {}",
            other.type_name()
        ))),
    }
}

/// The target of `Link: <…>; rel="next"` (several `Link` headers, or one with
/// several comma-separated links).
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split('<').skip(1))
        .find_map(|link| {
            let (target, params) = link.split_once('>')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p == "rel=\"next\"" || p == "rel=next"
            });
            is_next.then(|| target.trim().to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::super::api::retry::RetryPolicy;
    use super::super::api::testing::{
        expect_hostile_held_back, hostile_records, text, Answer, Harness, MockApi, Seen,
    };
    use super::*;
    use crate::testkit::{build_error, plan, string, TempDir};
    use reqwest::header::HeaderValue;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const TOKEN: &str = "00aSecretOktaToken";

    fn config(domain: &Url, limit: usize) -> OktaConfig {
        let mut poll = PollSettings {
            poll_interval: Duration::from_millis(50),
            client: super::super::api::client::ClientSettings {
                timeout: Duration::from_secs(5),
                retry: RetryPolicy::new(4),
                pace: None,
                limits: crate::limits::InputLimits::default(),
                max_response_size: crate::sources::api::client::DEFAULT_MAX_RESPONSE_SIZE,
            },
        };
        poll.client.retry.base_backoff = Duration::from_millis(10);
        OktaConfig {
            domain: domain.clone(),
            api_token: Secret::new(TOKEN),
            initial_lookback: Duration::from_secs(3600),
            limit,
            poll,
        }
    }

    fn record(n: usize) -> String {
        format!(
            r#"{{"uuid":"u{n}","published":"2026-11-28T08:00:{n:02}.000Z","eventType":"user.session.start"}}"#
        )
    }

    fn page(range: std::ops::Range<usize>) -> String {
        let records: Vec<String> = range.map(record).collect();
        format!("[{}]", records.join(","))
    }

    fn start(config: OktaConfig, dir: &TempDir) -> Harness {
        let source = OktaSource::new(config, dir.path().to_path_buf());
        Harness::start(|run| source.run_with(run))
    }

    #[test]
    fn next_links_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            LINK,
            HeaderValue::from_static("<https://a/logs?x=1>; rel=\"self\""),
        );
        headers.append(
            LINK,
            HeaderValue::from_static("<https://a/logs?after=2,3>; rel=\"next\""),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://a/logs?after=2,3")
        );
        let mut one = HeaderMap::new();
        one.insert(
            LINK,
            HeaderValue::from_static("<https://a/1>; rel=\"self\", <https://a/2>; rel=next"),
        );
        assert_eq!(next_link(&one).as_deref(), Some("https://a/2"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    /// Pages of two records at `/api/v1/logs` (first page) and `/next/N` (later ones),
    /// with a `next` link on every page; `available` records exist so far.
    fn paged_api(
        available: Arc<AtomicUsize>,
        base: Arc<std::sync::OnceLock<String>>,
    ) -> impl Fn(&Seen) -> Answer {
        move |seen| {
            if seen.authorization != format!("SSWS {TOKEN}") {
                return Answer::status(401, r#"{"errorCode":"E0000011"}"#);
            }
            let start = match seen.path.as_str() {
                "/api/v1/logs" => 0,
                p => p.trim_start_matches("/next/").parse().unwrap_or(0),
            };
            let end = (start + 2).min(available.load(Ordering::SeqCst));
            let next = format!("{}/next/{}", base.get().unwrap(), end.max(start));
            Answer::json(page(start..end.max(start)))
                .header("link", format!("<{next}>; rel=\"next\""))
                .header("x-rate-limit-remaining", "10")
                .header("x-rate-limit-reset", "0")
        }
    }

    #[tokio::test]
    async fn pages_follow_next_links_and_resume_after_restart() {
        let available = Arc::new(AtomicUsize::new(4));
        let base = Arc::new(std::sync::OnceLock::new());
        let api = MockApi::start(paged_api(Arc::clone(&available), Arc::clone(&base))).await;
        base.set(api.url("")).unwrap();
        let dir = TempDir::new("okta-pages");

        let mut h = start(config(&api.base, 2), &dir);
        assert_eq!(h.events(4, "uuid").await, ["u0", "u1", "u2", "u3"]);
        // Caught up: the same next link is polled again and yields nothing new.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
        let first = &api.seen()[0];
        assert_eq!(first.param("sortOrder").as_deref(), Some("ASCENDING"));
        assert_eq!(first.param("limit").as_deref(), Some("2"));
        assert!(first.param("since").is_some());
        assert!(api.seen().iter().skip(3).all(|s| s.path == "/next/4"));

        // The restart resumes at the checkpointed next link: no duplicate, no gap.
        available.store(6, Ordering::SeqCst);
        let before = api.seen().len();
        let mut h = start(config(&api.base, 2), &dir);
        assert_eq!(h.events(2, "uuid").await, ["u4", "u5"]);
        h.stop().await.unwrap();
        assert_eq!(api.seen()[before].path, "/next/4");
    }

    /// One page holds three hostile records among good ones: the good ones arrive
    /// once, the hostile ones as error records naming their limit, and the checkpoint
    /// moves past the page.
    #[tokio::test]
    async fn hostile_records_are_held_back_and_passed() {
        let [deep, wide, big] = hostile_records("uuid");
        let base = Arc::new(std::sync::OnceLock::<String>::new());
        let api = {
            let base = Arc::clone(&base);
            MockApi::start(move |seen| {
                let next = format!("<{}/next/6>; rel=\"next\"", base.get().unwrap());
                let body = match seen.path.as_str() {
                    "/api/v1/logs" => format!(
                        "[{},{deep},{},{wide},{big},{}]",
                        record(0),
                        record(1),
                        record(2)
                    ),
                    _ => "[]".to_string(),
                };
                Answer::json(body).header("link", next)
            })
            .await
        };
        base.set(api.url("")).unwrap();
        let dir = TempDir::new("okta-hostile");
        let mut h = start(config(&api.base, 1000), &dir);
        expect_hostile_held_back(&mut h, |e| text(e, "uuid"), &["u0", "u1", "u2"]).await;
        h.stop().await.unwrap();

        // The checkpoint is past the page: a restart asks for the next one and
        // emits nothing again.
        let before = api.seen().len();
        let mut h = start(config(&api.base, 1000), &dir);
        api.request_after(before, "/next/6").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
        assert_eq!(api.seen()[before].path, "/next/6");
    }

    #[tokio::test]
    async fn an_expired_next_link_falls_back_to_the_last_time_read() {
        // `/next/..` links stop working after the first run; the first page (by
        // `since`) ignores its time and returns everything, boundary included.
        let available = Arc::new(AtomicUsize::new(2));
        let expired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let api = {
            let (available, expired) = (Arc::clone(&available), Arc::clone(&expired));
            MockApi::start(move |seen| {
                let n = available.load(Ordering::SeqCst);
                if seen.path.starts_with("/next/") && expired.load(Ordering::SeqCst) {
                    return Answer::status(400, r#"{"errorCode":"E0000001"}"#);
                }
                let start = seen.path.trim_start_matches("/next/").parse().unwrap_or(0);
                Answer::json(page(start.min(n)..n))
                    .header("link", format!("<{}/next/{n}>; rel=\"next\"", seen.base))
            })
            .await
        };
        let dir = TempDir::new("okta-expired");
        let mut h = start(config(&api.base, 10), &dir);
        assert_eq!(h.events(2, "uuid").await, ["u0", "u1"]);
        h.stop().await.unwrap();

        expired.store(true, Ordering::SeqCst);
        available.store(4, Ordering::SeqCst);
        let mut h = start(config(&api.base, 10), &dir);
        assert_eq!(h.events(2, "uuid").await, ["u2", "u3"]);
        h.stop().await.unwrap();
        let since = api
            .seen()
            .iter()
            .rev()
            .find_map(|s| s.param("since"))
            .unwrap();
        assert_eq!(since, "2026-11-28T08:00:01.000Z");
    }

    #[tokio::test]
    async fn without_a_link_the_boundary_is_deduplicated_by_uuid() {
        // An API that returns no links: the cursor falls back to `since`, which is
        // inclusive, so the last record comes back and must not be emitted twice.
        let api = MockApi::start(|seen| {
            let since = seen.param("since").unwrap_or_default();
            if since.starts_with("2026-11-28T08:00:01") {
                Answer::json(format!("[{},{}]", record(1), record(2)))
            } else {
                Answer::json(page(0..2))
            }
        })
        .await;
        let dir = TempDir::new("okta-since");
        let mut h = start(config(&api.base, 2), &dir);
        assert_eq!(h.events(3, "uuid").await, ["u0", "u1", "u2"]);
        h.stop().await.unwrap();
    }

    #[tokio::test]
    async fn the_rate_limit_pauses_before_it_is_hit() {
        let api = MockApi::start(|seen| {
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 1;
            let answer = if seen.path == "/api/v1/logs" {
                Answer::json(page(0..2))
            } else {
                Answer::json(page(2..3))
            };
            answer
                .header("link", "</next/2>; rel=\"next\"")
                .header("x-rate-limit-remaining", "0")
                .header("x-rate-limit-reset", reset.to_string())
        })
        .await;
        let dir = TempDir::new("okta-rate");
        let mut h = start(config(&api.base, 2), &dir);
        assert_eq!(h.events(3, "uuid").await, ["u0", "u1", "u2"]);
        h.stop().await.unwrap();
        let seen = api.seen();
        // The second request waited for the window to reset (at least a second).
        assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_millis(900));
    }

    #[tokio::test]
    async fn a_refused_token_stops_the_source_without_revealing_it() {
        let api = MockApi::start(|_| {
            Answer::status(
                401,
                format!(r#"{{"errorSummary":"Invalid token provided: {TOKEN}"}}"#),
            )
        })
        .await;
        let dir = TempDir::new("okta-401");
        let h = start(config(&api.base, 2), &dir);
        let err = h.ended().await.unwrap_err();
        assert!(err.message.contains("HTTP 401"), "{}", err.message);
        assert!(
            err.message.contains("credentials were refused"),
            "{}",
            err.message
        );
        assert!(!err.message.contains(TOKEN), "{}", err.message);
        assert!(err.message.contains("[redacted]"), "{}", err.message);
    }

    #[tokio::test]
    async fn links_to_another_host_are_refused() {
        let api = MockApi::start(|_| {
            Answer::json(page(0..2)).header("link", "<https://evil.example/steal>; rel=\"next\"")
        })
        .await;
        let dir = TempDir::new("okta-evil");
        let mut h = start(config(&api.base, 2), &dir);
        assert_eq!(h.events(2, "uuid").await, ["u0", "u1"]);
        let err = h.ended().await.unwrap_err();
        assert!(
            err.message.contains("refusing to send the credentials"),
            "{}",
            err.message
        );
    }

    #[test]
    fn configuration_is_checked() {
        use pipectl_dsl::plan::PlanValue;
        let p = plan(
            &SPEC,
            "o",
            vec![
                ("domain", string("http://acme.okta.com")),
                ("api_token", string("t")),
            ],
        );
        assert!(build_error(&FACTORY, &p).contains("must start with https://"));
        let p = plan(
            &SPEC,
            "o",
            vec![
                ("domain", string("https://acme.okta.com")),
                ("api_token", string("t")),
                ("limit", pipectl_dsl::plan::PlanValue::Int(5000)),
            ],
        );
        assert!(build_error(&FACTORY, &p).contains("at most 1000"));
        for (attr, value, error) in [
            (
                "max_depth",
                PlanValue::Int(200),
                "`max_depth` must be at most 128, not 200",
            ),
            ("max_fields", PlanValue::Int(0), "max_fields"),
            (
                "max_response_size",
                PlanValue::Size(0),
                "`max_response_size` must be at least 1 byte",
            ),
        ] {
            let p = plan(
                &SPEC,
                "o",
                vec![
                    ("domain", string("https://acme.okta.com")),
                    ("api_token", string("t")),
                    (attr, value),
                ],
            );
            let message = build_error(&FACTORY, &p);
            assert!(message.contains(error), "{message}");
        }
    }
}
