//! `source google_workspace`: Google Workspace audit activities (Admin SDK Reports
//! API), as Google's own records.
//!
//! Each application (`admin`, `login`, `drive`, ...) is read in time windows: `GET
//! /admin/reports/v1/activity/users/all/applications/{application}?startTime=…&endTime=…&maxResults=…`,
//! following `nextPageToken`, newest first. Google makes activities visible late
//! (minutes to hours after they happen), so each new window starts `lag` before the
//! end of the previous one and that overlap is read again: the activities read in it
//! are remembered by `id.time` and `id.uniqueQualifier` and not emitted twice. The
//! checkpoint of an application is its window, the page token after the last page
//! read and those remembered ids; a page token Google no longer accepts resumes the
//! window below the oldest activity read.
//!
//! Authentication is a service account with domain-wide delegation
//! ([`super::api::google`]) acting for an administrator (`subject`), scope
//! `admin.reports.audit.readonly`. Throttling (`429`, or `403` with reason
//! `rateLimitExceeded`/`userRateLimitExceeded`/`quotaExceeded`) is retried after
//! backoff or `Retry-After`.
//!
//! Activities are emitted unchanged; `transform normalise` splits their `events`.

use super::api::client::{records_body, unless_gone, ApiClient, Auth, Bad, Forbidden, Reply};
use super::api::emit::Emitter;
use super::api::google::ServiceAccountGrant;
use super::api::{
    base_url, defer, fetch, join, poll_interval_attr, round_result, run_poller, PollSettings,
    Poller, Stop, LIMIT_ATTRS, MAX_ATTEMPTS_ATTR, REQUEST_TIMEOUT_ATTR,
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
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The one scope the source asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/admin.reports.audit.readonly";

/// The catalogue entry of `source google_workspace`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "google_workspace",
    summary: "Polls Google Workspace audit activities (Admin SDK Reports API) per application with a service account, re-reading a lag window for late activities without duplicates, checkpointed after acknowledgement; emits Google's activities unchanged.",
    attrs: &[
        AttrSpec::required(
            "credentials",
            AttrType::String,
            "The service-account key JSON Google issues (`client_email`, `private_key`, `token_uri`); the account needs domain-wide delegation for the scope `https://www.googleapis.com/auth/admin.reports.audit.readonly`.",
        )
        .sensitive(),
        AttrSpec::required(
            "subject",
            AttrType::String,
            "The administrator the service account acts for (domain-wide delegation), e.g. \"reports-reader@acme.com\"; needs the Reports privilege.",
        ),
        AttrSpec::with_default(
            "applications",
            AttrType::List(&AttrType::String),
            "[\"admin\", \"login\", \"drive\", \"token\", \"saml\", \"user_accounts\", \"groups\"]",
            "Which applications' activities to read (`applicationName`: admin, login, drive, token, saml, user_accounts, groups, calendar, meet, chat, ...).",
        ),
        AttrSpec::with_default(
            "initial_lookback",
            AttrType::Duration,
            "1h",
            "How far back the first run starts (no checkpoint yet); Google keeps 6 months (at most 180d).",
        ),
        AttrSpec::with_default(
            "lag",
            AttrType::Duration,
            "1h",
            "How much of the previous window each poll reads again, for activities Google makes visible late; each poll re-reads this much, so longer costs requests.",
        ),
        AttrSpec::with_default(
            "max_results",
            AttrType::Int,
            "1000",
            "Activities per page (`maxResults`, at most 1000).",
        ),
        AttrSpec::with_default(
            "max_remembered",
            AttrType::Int,
            "100000",
            "Activity ids remembered per application to deduplicate the lag window; past this the re-read window shrinks to the ids kept.",
        ),
        poll_interval_attr("5m"),
        REQUEST_TIMEOUT_ATTR,
        MAX_ATTEMPTS_ATTR,
        LIMIT_ATTRS[0],
        LIMIT_ATTRS[1],
        LIMIT_ATTRS[2],
        LIMIT_ATTRS[3],
        AttrSpec::optional(
            "api_url",
            AttrType::String,
            "Overrides the Admin SDK host https://admin.googleapis.com (a proxy, or a local test server).",
        ),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source google_workspace`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

const DEFAULT_API_URL: &str = "https://admin.googleapis.com";

/// How far back the Reports API reads (its retention).
const MAX_LOOKBACK: Duration = Duration::from_secs(180 * 86_400);

/// The checked settings of one `source google_workspace`.
#[derive(Clone)]
pub struct GoogleWorkspaceConfig {
    pub(crate) grant: Arc<ServiceAccountGrant>,
    pub applications: Vec<String>,
    pub api_url: Url,
    pub initial_lookback: Duration,
    pub lag: Duration,
    pub max_results: usize,
    pub max_remembered: usize,
    pub(crate) poll: PollSettings,
}

impl GoogleWorkspaceConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<GoogleWorkspaceConfig, BuildError> {
        let key = attrs
            .opt_secret("credentials")?
            .filter(|k| !k.expose().trim().is_empty())
            .ok_or_else(|| attrs.error("attribute `credentials` is empty"))?;
        let subject = attrs.string("subject")?;
        if !subject.contains('@') {
            return Err(attrs.error(format!(
                "attribute `subject`: `{subject}` is not an email address (the administrator to act for)"
            )));
        }
        let grant = ServiceAccountGrant::from_key_json(&key, SCOPE, &subject)
            .map_err(|e| attrs.error(format!("attribute `credentials` {e}")))?;
        let mut applications = Vec::new();
        for name in attrs.strings("applications")? {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(attrs.error(format!(
                    "attribute `applications`: `{name}` is not an application name (lower case, digits and `_`, e.g. \"login\")"
                )));
            }
            if !applications.contains(&name) {
                applications.push(name);
            }
        }
        if applications.is_empty() {
            return Err(attrs.error("attribute `applications` is empty"));
        }
        let max_results = positive(attrs, "max_results")?;
        if max_results > 1000 {
            return Err(attrs.error(format!(
                "attribute `max_results` must be at most 1000 (Google's maximum), not {max_results}"
            )));
        }
        let initial_lookback = attrs.duration("initial_lookback")?;
        if initial_lookback > MAX_LOOKBACK {
            return Err(attrs.error(
                "attribute `initial_lookback` must be at most 180d: Google refuses older start times",
            ));
        }
        let api_url = match attrs.raw("api_url") {
            Some(_) => base_url(attrs, "api_url")?,
            None => Url::parse(DEFAULT_API_URL)
                .map_err(|e| attrs.error(format!("{DEFAULT_API_URL}: {e}")))?,
        };
        Ok(GoogleWorkspaceConfig {
            grant: Arc::new(grant),
            applications,
            api_url,
            initial_lookback,
            lag: attrs.duration("lag")?,
            max_results,
            max_remembered: positive(attrs, "max_remembered")?,
            poll: PollSettings::from_attrs(attrs, None)?,
        })
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = GoogleWorkspaceConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(GoogleWorkspaceSource {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source google_workspace`.
pub struct GoogleWorkspaceSource {
    config: GoogleWorkspaceConfig,
    data_dir: PathBuf,
}

impl GoogleWorkspaceSource {
    pub fn new(config: GoogleWorkspaceConfig, data_dir: PathBuf) -> GoogleWorkspaceSource {
        GoogleWorkspaceSource { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let auth = Auth::Grant {
            grant: self.config.grant.clone(),
            cached: None,
        };
        let poll = self.config.poll.clone();
        let poller = WorkspacePoller {
            config: self.config,
            cursors: BTreeMap::new(),
        };
        run_poller(poller, &poll, auth, &self.data_dir, run).await
    }
}

impl Source for GoogleWorkspaceSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// An activity's identity: `id.time` (Unix ms) and `id.uniqueQualifier`.
type ActivityId = (i64, String);

/// Where reading of one application resumes (times in Unix ms).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// Where the window being read, or the next one, starts.
    since: i64,
    /// The window being read: its end, the `endTime` of its current query (lowered
    /// when a page token is lost) and the page token after the last page read.
    until: Option<i64>,
    query_end: Option<i64>,
    page_token: Option<String>,
    /// The oldest activity time read in this window and the qualifiers read at it:
    /// pages come newest first, so a lost page token resumes there.
    low: Option<i64>,
    low_ids: Vec<String>,
    /// Activities read at or after the start of the next window: the overlap it reads
    /// again, where they are not emitted twice.
    seen: BTreeSet<ActivityId>,
}

impl Cursor {
    fn starting(since: i64) -> Cursor {
        Cursor {
            since,
            until: None,
            query_end: None,
            page_token: None,
            low: None,
            low_ids: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    /// Keeps the activities not read before, remembering those the next window reads
    /// again (at or after `until - lag`).
    fn take_new(&mut self, activities: Vec<Value>, lag_ms: i64) -> Vec<Value> {
        let floor = self.until.map_or(i64::MIN, |u| u.saturating_sub(lag_ms));
        let mut fresh = Vec::with_capacity(activities.len());
        for activity in activities {
            let Some((time, qualifier)) = activity_id(&activity) else {
                fresh.push(activity);
                continue;
            };
            let at_low = self.low == Some(time) && self.low_ids.contains(&qualifier);
            let key = (time, qualifier);
            let already = at_low || self.seen.contains(&key);
            let (time, qualifier) = key;
            match self.low {
                Some(low) if low < time => {}
                Some(low) if low == time => {
                    if !self.low_ids.contains(&qualifier) {
                        self.low_ids.push(qualifier.clone());
                    }
                }
                _ => {
                    self.low = Some(time);
                    self.low_ids = vec![qualifier.clone()];
                }
            }
            if already {
                continue;
            }
            if time >= floor {
                self.seen.insert((time, qualifier));
            }
            fresh.push(activity);
        }
        fresh
    }

    /// The query lost its page token: ask again below the oldest activity read (its
    /// millisecond included, deduplicated by `low_ids`).
    fn resume_below_low(&mut self) {
        self.page_token = None;
        if let Some(low) = self.low {
            self.query_end = Some(low.saturating_add(1));
        }
    }

    /// The window is read: the next starts `lag` before its end (never before this
    /// one's start), and only the ids from there on are kept, at most `max` of them
    /// (whole milliseconds dropped oldest first, the next window starting after them).
    fn close_window(&mut self, lag_ms: i64, max: usize) {
        let Some(until) = self.until.take() else {
            return;
        };
        self.since = self.since.max(until.saturating_sub(lag_ms));
        self.query_end = None;
        self.page_token = None;
        self.low = None;
        self.low_ids.clear();
        let since = self.since;
        self.seen.retain(|(time, _)| *time >= since);
        if self.seen.len() > max {
            let excess = self.seen.len() - max;
            let cut = self
                .seen
                .iter()
                .nth(excess.saturating_sub(1))
                .map_or(since, |(time, _)| *time);
            self.seen.retain(|(time, _)| *time > cut);
            self.since = self.seen.first().map_or(until, |(time, _)| *time);
        }
    }
}

/// `id.time` as Unix ms and `id.uniqueQualifier` of an activity.
fn activity_id(activity: &Value) -> Option<(i64, String)> {
    let id = activity.as_object()?.get("id")?.as_object()?;
    let time = parse_rfc3339(id.get("time")?.as_str()?)?;
    let qualifier = match id.get("uniqueQualifier")? {
        Value::String(q) => q.to_string(),
        other => pipectl_core::json::to_string(other),
    };
    Some((time, qualifier))
}

struct WorkspacePoller {
    config: GoogleWorkspaceConfig,
    /// Read positions per application (ahead of the checkpoint while batches are in
    /// flight).
    cursors: BTreeMap<String, Cursor>,
}

impl WorkspacePoller {
    fn query_url(&self, application: &str, cursor: &Cursor, end: i64) -> Url {
        let mut url = join(
            &self.config.api_url,
            &format!("/admin/reports/v1/activity/users/all/applications/{application}"),
        );
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("startTime", &format_rfc3339(cursor.since))
                .append_pair("endTime", &format_rfc3339(end))
                .append_pair("maxResults", &self.config.max_results.to_string());
            if let Some(token) = &cursor.page_token {
                query.append_pair("pageToken", token);
            }
        }
        url
    }

    fn lag_ms(&self) -> i64 {
        i64::try_from(self.config.lag.as_millis()).unwrap_or(i64::MAX)
    }

    /// Reads one application up to now.
    async fn poll_application<O: BatchOutput>(
        &self,
        application: &str,
        cursor: &mut Cursor,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let until = match cursor.until {
            Some(until) => until,
            None => {
                let now = now_ms();
                if now <= cursor.since {
                    return Ok(());
                }
                cursor.until = Some(now);
                now
            }
        };
        loop {
            let end = cursor.query_end.unwrap_or(until);
            let url = self.query_url(application, cursor, end);
            let (activities, next) = if cursor.page_token.is_some() {
                match fetch(out, client.call(Method::GET, &url, unless_gone(read_page))).await? {
                    Some(page) => page,
                    None => {
                        tracing::warn!(source = %out.name(), application, "Google refused the stored page token (expired?); reading the window again below the oldest activity read");
                        cursor.resume_below_low();
                        continue;
                    }
                }
            } else {
                fetch(out, client.call(Method::GET, &url, read_page)).await?
            };
            let mut fresh = cursor.take_new(activities, self.lag_ms());
            fresh.extend(out.rejected(client));
            match next {
                Some(token) => cursor.page_token = Some(token),
                None => cursor.close_window(self.lag_ms(), self.config.max_remembered),
            }
            out.emit(application, fresh, cursor).await?;
            if cursor.until.is_none() {
                return Ok(());
            }
        }
    }
}

impl Poller for WorkspacePoller {
    async fn poll<O: BatchOutput>(
        &mut self,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let lookback = i64::try_from(self.config.initial_lookback.as_millis()).unwrap_or(0);
        let mut failed = None;
        for application in self.config.applications.clone() {
            let mut cursor = match self.cursors.remove(&application) {
                Some(cursor) => cursor,
                None => out
                    .cursor::<Cursor>(&application)
                    .unwrap_or_else(|| Cursor::starting(now_ms().saturating_sub(lookback))),
            };
            let result = self
                .poll_application(&application, &mut cursor, client, out)
                .await;
            self.cursors.insert(application, cursor);
            defer(result, &mut failed)?;
        }
        round_result(failed)
    }

    fn forbidden(reply: &Reply) -> Forbidden {
        let body = pipectl_core::json::from_slice(&reply.body).ok();
        let error = body
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|m| m.get("error"))
            .and_then(Value::as_object);
        let reasons: Vec<&str> = error
            .and_then(|e| e.get("errors"))
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e.as_object()?.get("reason")?.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let status = error
            .and_then(|e| e.get("status"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let throttled = status == "RESOURCE_EXHAUSTED"
            || reasons.iter().any(|r| {
                matches!(
                    *r,
                    "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded"
                )
            });
        if throttled {
            Forbidden::Throttled
        } else if reasons.contains(&"accessNotConfigured") {
            Forbidden::Denied(
                "enable the Admin SDK API in the service account's Google Cloud project".into(),
            )
        } else {
            Forbidden::Denied(
                "the administrator in `subject` lacks the Reports privilege (a super administrator, or a role with Reports), or the service account's delegation does not include the scope https://www.googleapis.com/auth/admin.reports.audit.readonly".into(),
            )
        }
    }
}

/// A page: `{"items": [...], "nextPageToken": "..."}`; `items` is absent when empty.
fn read_page(reply: &Reply) -> Result<(Vec<Value>, Option<String>), Bad> {
    let body = records_body(reply, RecordsAt::Member("items"))?;
    let Value::Object(mut map) = body else {
        return Err(Bad::Page(format!(
            "expected an object with `items`, got {}",
            body.type_name()
        )));
    };
    let next = match map.get("nextPageToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) if token.is_empty() => None,
        Some(Value::String(token)) => Some(token.to_string()),
        Some(other) => {
            return Err(Bad::Page(format!(
                "`nextPageToken` is {}, not a string",
                other.type_name()
            )))
        }
    };
    match map.remove("items") {
        None | Some(Value::Null) => Ok((Vec::new(), next)),
        Some(Value::Array(items)) => Ok((items, next)),
        Some(other) => Err(Bad::Page(format!(
            "`items` is {}, not an array",
            other.type_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::api::client::ClientSettings;
    use super::super::api::google::testing::{test_key, verified_claims, TestKey};
    use super::super::api::retry::RetryPolicy;
    use super::super::api::testing::{
        expect_hostile_held_back, hostile_records, Answer, Harness, MockApi, Seen,
    };
    use super::*;
    use crate::testkit::{build_error, plan, string, TempDir};
    use pipectl_core::secrets::Secret;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};

    const SUBJECT: &str = "reports@acme.test";
    const LOGIN: &str = "/admin/reports/v1/activity/users/all/applications/login";
    const ADMIN: &str = "/admin/reports/v1/activity/users/all/applications/admin";

    /// A Workspace domain: login activities `(qualifier, time ms)` (visible as soon as
    /// added, whatever their time, as Google's late ones are), a token endpoint that
    /// verifies the assertion with the service account's public key, tokens `tok-1`,
    /// `tok-2`, ... of which those in `expired` are refused, and a script of failures
    /// answered to activity requests first (last first).
    #[derive(Default)]
    struct Domain {
        key: OnceLock<TestKey>,
        token_url: OnceLock<String>,
        logins: Mutex<Vec<(String, i64)>>,
        tokens: AtomicUsize,
        expired: Mutex<Vec<String>>,
        failures: Mutex<Vec<Answer>>,
        token_refusal: Mutex<Option<Answer>>,
        /// Records put once into the first login page asked for.
        hostile: Mutex<Vec<String>>,
    }

    impl Domain {
        fn add(&self, qualifier: &str, minutes_ago: i64) {
            let time = now_ms() - minutes_ago * 60_000;
            self.logins
                .lock()
                .unwrap()
                .push((qualifier.to_string(), time));
        }

        fn token(&self, seen: &Seen) -> Answer {
            if let Some(refusal) = self.token_refusal.lock().unwrap().take() {
                return refusal;
            }
            let key = self.key.get().unwrap();
            let claims = (seen.method == "POST"
                && seen.form("grant_type").as_deref()
                    == Some("urn:ietf:params:oauth:grant-type:jwt-bearer"))
            .then(|| verified_claims(&seen.form("assertion")?, &key.public_key))
            .flatten();
            let Some(claims) = claims else {
                return Answer::status(
                    400,
                    r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
                );
            };
            let iat = claims["iat"].as_u64().unwrap_or(0);
            let exp = claims["exp"].as_u64().unwrap_or(0);
            let valid = claims["iss"] == "reader@pipectl-test.iam.gserviceaccount.com"
                && claims["sub"] == SUBJECT
                && claims["scope"] == SCOPE
                && claims["aud"] == self.token_url.get().unwrap().as_str()
                && exp > iat
                && exp - iat <= 3600;
            if !valid {
                return Answer::status(400, r#"{"error":"invalid_grant"}"#);
            }
            let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
            Answer::json(format!(
                r#"{{"access_token":"tok-{n}","expires_in":3599,"token_type":"Bearer"}}"#
            ))
        }

        fn answer(&self, seen: &Seen) -> Answer {
            if seen.path == "/token" {
                return self.token(seen);
            }
            let token = seen.authorization.trim_start_matches("Bearer ").to_string();
            if !token.starts_with("tok-") || self.expired.lock().unwrap().contains(&token) {
                return Answer::status(
                    401,
                    r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
                );
            }
            if seen.path == ADMIN {
                return Answer::json(r#"{"kind":"admin#reports#activities"}"#);
            }
            if seen.path != LOGIN {
                return Answer::status(404, r#"{"error":{"code":404}}"#);
            }
            if let Some(failure) = self.failures.lock().unwrap().pop() {
                return failure;
            }
            let (Some(start), Some(end), Some(max)) = (
                seen.param("startTime").and_then(|t| parse_rfc3339(&t)),
                seen.param("endTime").and_then(|t| parse_rfc3339(&t)),
                seen.param("maxResults")
                    .and_then(|n| n.parse::<usize>().ok()),
            ) else {
                return Answer::status(400, r#"{"error":{"code":400,"message":"Bad Request"}}"#);
            };
            // Both ends inclusive, newest first.
            let mut matching: Vec<(String, i64)> = self
                .logins
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, t)| *t >= start && *t <= end)
                .cloned()
                .collect();
            matching.sort_by_key(|(_, t)| -t);
            let skip: usize = seen
                .param("pageToken")
                .and_then(|s| s.strip_prefix("p").and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            let mut items: Vec<String> = matching
                .iter()
                .skip(skip)
                .take(max)
                .map(|(q, t)| {
                    format!(
                        r#"{{"kind":"admin#reports#activity","id":{{"time":"{}","uniqueQualifier":"{q}","applicationName":"login","customerId":"C0"}},"actor":{{"email":"u@acme.test"}},"events":[{{"type":"login","name":"login_success"}}]}}"#,
                        format_rfc3339(*t)
                    )
                })
                .collect();
            let hostile = std::mem::take(&mut *self.hostile.lock().unwrap());
            items.splice(1.min(items.len())..1.min(items.len()), hostile);
            let next = if skip + max < matching.len() {
                format!(r#","nextPageToken":"p{}""#, skip + max)
            } else {
                String::new()
            };
            Answer::json(format!(
                r#"{{"kind":"admin#reports#activities","items":[{}]{next}}}"#,
                items.join(",")
            ))
        }
    }

    async fn serve(domain: &Arc<Domain>) -> MockApi {
        let handler = Arc::clone(domain);
        let api = MockApi::start(move |seen| handler.answer(seen)).await;
        let token_url = api.url("/token");
        domain.key.set(test_key(&token_url)).ok().unwrap();
        domain.token_url.set(token_url).unwrap();
        api
    }

    fn config(api: &MockApi, domain: &Domain) -> GoogleWorkspaceConfig {
        let key = Secret::new(&domain.key.get().unwrap().json);
        let mut retry = RetryPolicy::new(5);
        retry.base_backoff = Duration::from_millis(10);
        GoogleWorkspaceConfig {
            grant: Arc::new(ServiceAccountGrant::from_key_json(&key, SCOPE, SUBJECT).unwrap()),
            applications: vec!["login".into(), "admin".into()],
            api_url: api.base.clone(),
            initial_lookback: Duration::from_secs(3600),
            lag: Duration::from_secs(3600),
            max_results: 2,
            max_remembered: 1000,
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

    fn start(config: GoogleWorkspaceConfig, dir: &TempDir) -> Harness {
        let source = GoogleWorkspaceSource::new(config, dir.path().to_path_buf());
        Harness::start(|run| source.run_with(run))
    }

    /// The `uniqueQualifier` of each activity received, acknowledging as it goes.
    async fn qualifiers(h: &mut Harness, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let batch = h.batch().await;
            out.extend(batch.iter().map(|e| {
                activity_id(&e.value)
                    .map(|(_, q)| q)
                    .unwrap_or_else(|| pipectl_core::json::to_string(&e.value))
            }));
        }
        out
    }

    fn login_requests(api: &MockApi) -> Vec<Seen> {
        api.seen().into_iter().filter(|s| s.path == LOGIN).collect()
    }

    #[tokio::test]
    async fn activities_are_paged_and_late_ones_read_once_after_restart() {
        let domain = Arc::new(Domain::default());
        for (q, minutes_ago) in [("a", 50), ("b", 40), ("c", 30), ("d", 20), ("e", 10)] {
            domain.add(q, minutes_ago);
        }
        let api = serve(&domain).await;
        let dir = TempDir::new("gws-resume");
        let mut h = start(config(&api, &domain), &dir);
        assert_eq!(qualifiers(&mut h, 5).await, ["e", "d", "c", "b", "a"]);
        // Later polls re-read the lag window and find nothing new.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();

        let seen = api.seen();
        assert_eq!(seen[0].path, "/token");
        let first = &seen[1];
        assert_eq!(first.path, LOGIN);
        assert_eq!(first.authorization, "Bearer tok-1");
        assert_eq!(first.param("maxResults").as_deref(), Some("2"));
        let start_ms = parse_rfc3339(&first.param("startTime").unwrap()).unwrap();
        assert!((now_ms() - start_ms) > 3_590_000, "one hour back");
        assert!(first.param("pageToken").is_none());
        assert_eq!(seen[2].param("pageToken").as_deref(), Some("p2"));
        assert!(api.seen().iter().any(|s| s.path == ADMIN));
        assert!(login_requests(&api).len() > 3, "the window is read again");

        // A late activity (30 min old, inside the lag) and a new one: each once.
        domain.add("late", 30);
        domain.add("f", 0);
        let mut h = start(config(&api, &domain), &dir);
        let mut got = qualifiers(&mut h, 2).await;
        got.sort();
        assert_eq!(got, ["f", "late"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
        assert_eq!(domain.tokens.load(Ordering::SeqCst), 2);
    }

    /// Hostile records among a page's activities: held back as error records, the
    /// good ones emitted once, the window checkpointed past them.
    #[tokio::test]
    async fn hostile_records_are_held_back_and_passed() {
        let domain = Arc::new(Domain::default());
        for (q, minutes_ago) in [("a", 30), ("b", 20), ("c", 10)] {
            domain.add(q, minutes_ago);
        }
        *domain.hostile.lock().unwrap() = hostile_records("kind").to_vec();
        let api = serve(&domain).await;
        let dir = TempDir::new("gws-hostile");
        let qualifier = |e: &pipectl_core::event::Event| {
            activity_id(&e.value).map(|(_, q)| q).unwrap_or_default()
        };
        let mut h = start(config(&api, &domain), &dir);
        expect_hostile_held_back(&mut h, qualifier, &["c", "b", "a"]).await;
        h.stop().await.unwrap();
        let before = api.seen().len();
        let mut h = start(config(&api, &domain), &dir);
        api.request_after(before, LOGIN).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(h.rx.try_recv().is_err());
        h.stop().await.unwrap();
    }

    #[tokio::test]
    async fn throttling_server_errors_and_a_bad_page_lose_nothing() {
        let domain = Arc::new(Domain::default());
        domain.add("a", 30);
        domain.add("b", 20);
        domain.add("c", 10);
        *domain.failures.lock().unwrap() = vec![
            Answer::status(200, "<html>proxy error</html>"),
            Answer::status(500, r#"{"error":{"code":500,"message":"Backend Error"}}"#),
            Answer::status(
                403,
                r#"{"error":{"code":403,"message":"Quota exceeded","errors":[{"reason":"rateLimitExceeded","domain":"usageLimits"}]}}"#,
            ),
            Answer::status(
                429,
                r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#,
            )
            .header("retry-after", "1"),
        ];
        let api = serve(&domain).await;
        let dir = TempDir::new("gws-errors");
        let mut h = start(config(&api, &domain), &dir);
        assert_eq!(qualifiers(&mut h, 3).await, ["c", "b", "a"]);
        let counters = Arc::clone(&h.counters);
        h.stop().await.unwrap();
        let requests = login_requests(&api);
        assert!(requests.len() >= 6, "{}", requests.len());
        assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_millis(990));
        assert_eq!(counters.snapshot().events_errored, 1);
    }

    #[tokio::test]
    async fn an_expired_token_is_fetched_again_once() {
        let domain = Arc::new(Domain::default());
        domain.add("a", 10);
        domain.expired.lock().unwrap().push("tok-1".into());
        let api = serve(&domain).await;
        let dir = TempDir::new("gws-expired");
        let mut h = start(config(&api, &domain), &dir);
        assert_eq!(qualifiers(&mut h, 1).await, ["a"]);
        h.stop().await.unwrap();
        let requests = login_requests(&api);
        assert_eq!(requests[0].authorization, "Bearer tok-1");
        assert_eq!(requests[1].authorization, "Bearer tok-2");
    }

    #[tokio::test]
    async fn missing_delegation_stops_the_source_saying_what_to_grant() {
        let domain = Arc::new(Domain::default());
        *domain.token_refusal.lock().unwrap() = Some(Answer::status(
            401,
            r#"{"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."}"#,
        ));
        let api = serve(&domain).await;
        let dir = TempDir::new("gws-delegation");
        let err = start(config(&api, &domain), &dir)
            .ended()
            .await
            .unwrap_err();
        assert!(
            err.message
                .contains("lacks domain-wide delegation for scope https://www.googleapis.com/auth/admin.reports.audit.readonly"),
            "{}",
            err.message
        );
        assert!(err.message.contains("HTTP 401"), "{}", err.message);
        assert!(!err.message.contains("PRIVATE KEY"), "{}", err.message);
    }

    #[tokio::test]
    async fn an_admin_without_the_reports_privilege_stops_the_source() {
        let domain = Arc::new(Domain::default());
        domain.failures.lock().unwrap().push(Answer::status(
            403,
            r#"{"error":{"code":403,"message":"Not Authorized to access this resource/api","errors":[{"reason":"forbidden","domain":"global"}]}}"#,
        ));
        let api = serve(&domain).await;
        let dir = TempDir::new("gws-privilege");
        let err = start(config(&api, &domain), &dir)
            .ended()
            .await
            .unwrap_err();
        assert!(err.message.contains("HTTP 403"), "{}", err.message);
        assert!(err.message.contains("Reports privilege"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_failed_batch_does_not_move_the_checkpoint() {
        let domain = Arc::new(Domain::default());
        domain.add("a", 10);
        let api = serve(&domain).await;
        let dir = TempDir::new("gws-unacked");
        let mut h = start(config(&api, &domain), &dir);
        let batch = h.batch().await;
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let stored = crate::checkpoint::stored_text(dir.path()).unwrap_or_default();
        assert!(!stored.contains("\"login\""), "{stored}");
        batch.iter().for_each(|e| e.fail_delivery());
        drop(batch);
        h.stop().await.unwrap();
        let mut h = start(config(&api, &domain), &dir);
        assert_eq!(qualifiers(&mut h, 1).await, ["a"]);
        h.stop().await.unwrap();
        let stored = crate::checkpoint::stored_text(dir.path()).unwrap();
        assert!(stored.contains("\"login\""), "{stored}");
    }

    fn activity(q: &str, ms: i64) -> Value {
        crate::testkit::value(&format!(
            r#"{{"id":{{"time":"{}","uniqueQualifier":"{q}"}}}}"#,
            format_rfc3339(ms)
        ))
    }

    #[test]
    fn a_lost_page_token_resumes_below_the_oldest_activity_read() {
        let mut cursor = Cursor::starting(0);
        cursor.until = Some(100_000);
        cursor.page_token = Some("p2".into());
        let fresh = cursor.take_new(vec![activity("x", 90_000), activity("y", 50_000)], 20_000);
        assert_eq!(fresh.len(), 2);
        cursor.resume_below_low();
        assert_eq!(cursor.page_token, None);
        assert_eq!(cursor.query_end, Some(50_001));
        // The re-query returns `y` again (its millisecond is included): dropped.
        let fresh = cursor.take_new(vec![activity("y", 50_000), activity("z", 40_000)], 20_000);
        assert_eq!(fresh, vec![activity("z", 40_000)]);
        // Only `x` (within the lag before the window's end) is remembered.
        cursor.close_window(20_000, 10);
        assert_eq!(cursor.since, 80_000);
        assert_eq!(cursor.seen.len(), 1);
        assert_eq!(cursor.query_end, None);
    }

    #[test]
    fn remembered_ids_are_bounded_by_whole_milliseconds() {
        let mut cursor = Cursor::starting(0);
        cursor.until = Some(100_000);
        let activities = vec![
            activity("a", 99_000),
            activity("b", 98_000),
            activity("c", 98_000),
            activity("d", 97_000),
        ];
        assert_eq!(cursor.take_new(activities, 10_000).len(), 4);
        cursor.close_window(10_000, 2);
        // Two kept would split 98 000: that millisecond goes too, and the next window
        // starts at the oldest kept.
        assert_eq!(cursor.seen.len(), 1);
        assert_eq!(cursor.since, 99_000);
        cursor.until = Some(200_000);
        assert!(cursor
            .take_new(vec![activity("a", 99_000)], 10_000)
            .is_empty());
    }

    #[test]
    fn configuration_is_checked() {
        let key = test_key("https://oauth2.googleapis.com/token");
        let base = || {
            vec![
                ("credentials", string(&key.json)),
                ("subject", string(SUBJECT)),
            ]
        };
        let mut attrs = base();
        attrs.push((
            "applications",
            pipectl_dsl::plan::PlanValue::List(vec![string("../login")]),
        ));
        assert!(build_error(&FACTORY, &plan(&SPEC, "g", attrs)).contains("not an application name"));
        let mut attrs = base();
        attrs[1] = ("subject", string("admin"));
        assert!(build_error(&FACTORY, &plan(&SPEC, "g", attrs)).contains("not an email address"));
        let mut attrs = base();
        attrs[0] = ("credentials", string(r#"{"client_email":"a@b.c"}"#));
        let err = build_error(&FACTORY, &plan(&SPEC, "g", attrs));
        assert!(
            err.contains("attribute `credentials` has no `private_key`"),
            "{err}"
        );
        let mut attrs = base();
        attrs.push((
            "initial_lookback",
            pipectl_dsl::plan::PlanValue::Duration(200 * 86_400_000),
        ));
        assert!(build_error(&FACTORY, &plan(&SPEC, "g", attrs)).contains("at most 180d"));
        let mut attrs = base();
        attrs.push(("max_results", pipectl_dsl::plan::PlanValue::Int(5000)));
        assert!(build_error(&FACTORY, &plan(&SPEC, "g", attrs)).contains("at most 1000"));
    }
}
