//! The HTTP client every API source shares: authentication, pacing, rate limits and
//! retries in one place, so each source only says which URLs to read and how to read
//! a page.
//!
//! Per request: wait out a vendor rate-limit pause and the pacer, attach the
//! credentials, send with a timeout. Connection failures, timeouts, `408`, `429` and
//! `5xx` are retried (`Retry-After` honoured, otherwise exponential backoff with
//! jitter) up to `max_attempts` tries, then fail with the last reason. A page the
//! caller cannot read (not JSON, unexpected shape) is counted, logged and retried the
//! same way. `401` fetches a new OAuth token once and retries; a second `401`, a `403`
//! or another `4xx` is a permanent error that names what to fix — except a `403` the
//! source recognises as a rate limit ([`Forbidden::Throttled`]), retried like a `429`.
//! Requests carry no body, or a JSON one (Dropbox's RPC endpoints take their arguments
//! so; responders `PATCH`, `PUT`, `POST` and `DELETE` with [`ApiClient::call_json`]).
//! A permanent error keeps the HTTP status that caused it ([`ApiError::status`]).

use super::error::{display_url, excerpt, ApiError};
use super::oauth::{parse_token, CachedToken, ClientCredentials, TokenGrant};
use super::pacer::Pacer;
use super::retry::{rate_limit_pause, retry_after, RetryPolicy};
use crate::limits::{split_records, InputLimits, RecordsAt, Rejected};
use bytes::Bytes;
use pipectl_core::metrics::ComponentCounters;
use pipectl_core::secrets::Secret;
use pipectl_core::value::Value;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE,
};
use reqwest::{Method, StatusCode, Url};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How requests prove who they are.
pub(crate) enum Auth {
    /// A fixed token behind a scheme word: Okta's `Authorization: SSWS <token>`.
    Token { scheme: &'static str, token: Secret },
    /// OAuth2 client credentials, the token cached until shortly before it expires.
    ClientCredentials {
        credentials: ClientCredentials,
        cached: Option<CachedToken>,
    },
    /// Another token request the source shapes itself (a signed JWT assertion, a
    /// vendor's own client credentials), its token cached the same way.
    Grant {
        grant: Arc<dyn TokenGrant>,
        cached: Option<CachedToken>,
    },
}

/// What a `403` means: some APIs also use it for their rate limits and say so only in
/// the body.
pub(crate) enum Forbidden {
    /// A rate limit or quota (Google's `rateLimitExceeded`, Salesforce's
    /// `REQUEST_LIMIT_EXCEEDED`): retried like a `429`.
    Throttled,
    /// A missing permission: the source stops, the error ending with this hint.
    Denied(String),
}

/// The default reading of a `403`: a missing permission.
pub(crate) fn denied(_reply: &Reply) -> Forbidden {
    Forbidden::Denied(
        "the credentials lack a permission this API needs (see docs/sources.md)".into(),
    )
}

/// The hint of a refused client-credentials token request.
const CLIENT_CREDENTIALS_HINT: &str =
    "check tenant, client_id, client_secret and that the secret has not expired";

/// A response, read whole (up to the client's `max_response_size`).
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The limits each record of the body is held to ([`records_body`]).
    pub limits: InputLimits,
    /// Records [`records_body`] held back; the client keeps them once the reply is
    /// accepted, for the source to emit as error records ([`ApiClient::take_rejected`]).
    pub rejected: Mutex<Vec<Rejected>>,
}

impl Reply {
    /// A reply as the client would make it, for tests of page readers.
    #[cfg(test)]
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Reply {
        Reply {
            status,
            headers,
            body,
            limits: InputLimits::default(),
            rejected: Mutex::new(Vec::new()),
        }
    }

    /// How many records [`records_body`] held back from this reply: a page whose
    /// records were all held back is not an empty page.
    pub fn held_back(&self) -> usize {
        self.rejected.lock().map(|held| held.len()).unwrap_or(0)
    }

    fn take_rejected(&self) -> Vec<Rejected> {
        self.rejected
            .lock()
            .map(|mut held| std::mem::take(&mut *held))
            .unwrap_or_default()
    }
}

/// Why the caller did not accept a response.
pub(crate) enum Bad {
    /// The page cannot be read (not JSON, unexpected shape): retried.
    Page(String),
    /// The status is an error the caller does not handle: a permanent failure.
    Refused,
}

/// The settings a client is built from.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// `Some((n, window))`: at most `n` requests per `window`.
    pub pace: Option<(usize, Duration)>,
    /// The limits each record read is held to.
    pub limits: InputLimits,
    /// The largest response body read; a larger one is refused unread.
    pub max_response_size: usize,
}

/// The default of `max_response_size`: far above any page the vendors send (Okta,
/// Graph and Google pages are a few MB at most; an Office 365 content blob tens of MB).
pub(crate) const DEFAULT_MAX_RESPONSE_SIZE: usize = 64 << 20;

/// An authenticated, rate-aware HTTP client for one source.
pub(crate) struct ApiClient {
    http: reqwest::Client,
    auth: Auth,
    policy: RetryPolicy,
    pacer: Option<Pacer>,
    /// Set when the vendor said no request is left in its current window.
    paused_until: Option<Instant>,
    counters: Arc<ComponentCounters>,
    /// Reads a `403` ([`denied`] unless the source says otherwise).
    forbidden: fn(&Reply) -> Forbidden,
    limits: InputLimits,
    max_response_size: usize,
    /// Records held back from accepted replies, with the request they came from.
    rejected: Vec<(String, Rejected)>,
}

impl ApiClient {
    pub fn new(
        settings: &ClientSettings,
        auth: Auth,
        counters: Arc<ComponentCounters>,
    ) -> Result<ApiClient, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("pipectl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::permanent(format!("cannot create the HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            auth,
            policy: settings.retry,
            pacer: settings.pace.map(|(n, window)| Pacer::new(n, window)),
            paused_until: None,
            counters,
            forbidden: denied,
            limits: settings.limits,
            max_response_size: settings.max_response_size,
            rejected: Vec::new(),
        })
    }

    /// The records held back (over a limit, or not JSON) from the replies accepted
    /// since the last call, each with the request it came from: the caller emits them
    /// as error records with the page they were on.
    pub fn take_rejected(&mut self) -> Vec<(String, Rejected)> {
        std::mem::take(&mut self.rejected)
    }

    /// How this API's `403`s are read.
    pub fn set_forbidden(&mut self, forbidden: fn(&Reply) -> Forbidden) {
        self.forbidden = forbidden;
    }

    /// The API host named with the current token (Salesforce's `instance_url`),
    /// fetching a token first if none is fresh; `None` when the token came without
    /// one or the credentials are not OAuth.
    pub async fn token_instance_url(&mut self) -> Result<Option<String>, ApiError> {
        self.authorization().await?;
        Ok(self
            .cached_token()
            .and_then(|slot| slot.as_ref())
            .and_then(|token| token.instance_url.clone()))
    }

    /// Sends `method url` (no body) asking for JSON and hands every response that is
    /// not retried to `decode`; see the module documentation for what is retried.
    pub async fn call<T>(
        &mut self,
        method: Method,
        url: &Url,
        decode: impl FnMut(&Reply) -> Result<T, Bad>,
    ) -> Result<T, ApiError> {
        self.request(method, url, "application/json", None, decode)
            .await
    }

    /// [`ApiClient::call`] with another `Accept` (a CSV download).
    pub async fn call_accepting<T>(
        &mut self,
        method: Method,
        url: &Url,
        accept: &'static str,
        decode: impl FnMut(&Reply) -> Result<T, Bad>,
    ) -> Result<T, ApiError> {
        self.request(method, url, accept, None, decode).await
    }

    /// [`ApiClient::call`] with `body` sent as JSON.
    pub async fn call_json<T>(
        &mut self,
        method: Method,
        url: &Url,
        body: &serde_json::Value,
        decode: impl FnMut(&Reply) -> Result<T, Bad>,
    ) -> Result<T, ApiError> {
        let body = Bytes::from(body.to_string());
        self.request(method, url, "application/json", Some(body), decode)
            .await
    }

    async fn request<T>(
        &mut self,
        method: Method,
        url: &Url,
        accept: &'static str,
        body: Option<Bytes>,
        mut decode: impl FnMut(&Reply) -> Result<T, Bad>,
    ) -> Result<T, ApiError> {
        let target = format!("{method} {}", display_url(url));
        let mut renewed_token = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.before_request().await;
            let authorization = self.authorization().await?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, accept)
                .header(AUTHORIZATION, authorization);
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            } else if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                // Said outright: Google's front end refuses a POST without a length (411).
                request = request.header(CONTENT_LENGTH, "0");
            }
            let (failure, wait) = match self.send(request, &target).await {
                // A response over max_response_size: the same again on a retry.
                Err(failure) if failure.permanent => return Err(failure),
                Err(failure) => (failure, None),
                Ok(reply) => match reply.status {
                    StatusCode::UNAUTHORIZED if !renewed_token && self.can_renew() => {
                        tracing::info!(request = %target, "the API refused the access token (401); fetching a new one");
                        self.forget_token();
                        renewed_token = true;
                        attempt -= 1;
                        continue;
                    }
                    StatusCode::UNAUTHORIZED => {
                        return Err(ApiError::permanent(format!(
                            "{} — {}",
                            self.status_error(&target, &reply),
                            self.api_help().unwrap_or("the credentials were refused; check the token or client secret and that it has not expired")
                        ))
                        .with_status(reply.status))
                    }
                    StatusCode::FORBIDDEN => match (self.forbidden)(&reply) {
                        Forbidden::Throttled => (
                            ApiError::transient(self.status_error(&target, &reply)),
                            retry_after(&reply.headers),
                        ),
                        Forbidden::Denied(hint) => {
                            let hint = self.api_help().map(str::to_string).unwrap_or(hint);
                            return Err(ApiError::permanent(format!(
                                "{} — {hint}",
                                self.status_error(&target, &reply)
                            ))
                            .with_status(reply.status));
                        }
                    },
                    status if is_retryable(status) => (
                        ApiError::transient(self.status_error(&target, &reply)),
                        retry_after(&reply.headers),
                    ),
                    _ => match decode(&reply) {
                        Ok(value) => {
                            let held = reply.take_rejected();
                            if !held.is_empty() {
                                tracing::warn!(request = %target, rejected = held.len(), "records over the input limits (or not JSON) were held back; they are emitted as error records");
                            }
                            self.rejected
                                .extend(held.into_iter().map(|r| (target.clone(), r)));
                            return Ok(value);
                        }
                        Err(Bad::Refused) => {
                            return Err(ApiError::permanent(self.status_error(&target, &reply))
                                .with_status(reply.status))
                        }
                        Err(Bad::Page(reason)) => {
                            self.counters.add_errored(1);
                            let text = format!(
                                "{target}: unreadable page: {reason}: {}",
                                excerpt(&reply.body, &self.secrets())
                            );
                            (ApiError::transient(text), None)
                        }
                    },
                },
            };
            self.retry_or_give_up(attempt, failure, wait).await?;
        }
    }

    /// Sends one request and reads the whole body; notes vendor rate-limit headers.
    async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
        target: &str,
    ) -> Result<Reply, ApiError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| ApiError::transient(format!("{target}: {}", describe(e))))?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(pause) = rate_limit_pause(&headers) {
            let pause = self.policy.cap(pause);
            tracing::info!(request = %target, pause = ?pause, "the API's rate limit is used up; pausing until it resets");
            self.paused_until = Some(Instant::now() + pause);
        }
        let max = self.max_response_size;
        let too_large = |size: String| {
            ApiError::permanent(format!(
                "{target}: the response is {size} bytes, more than max_response_size ({max} bytes); raise max_response_size or ask for smaller pages"
            ))
        };
        if let Some(length) = response.content_length() {
            if length > max as u64 {
                return Err(too_large(length.to_string()));
            }
        }
        // Read chunk by chunk: a body without a length (chunked) is stopped at the
        // bound, never buffered whole.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            ApiError::transient(format!("{target}: reading the response: {}", describe(e)))
        })? {
            if body.len() + chunk.len() > max {
                return Err(too_large(format!("at least {}", body.len() + chunk.len())));
            }
            body.extend_from_slice(&chunk);
        }
        self.counters.add_bytes_in(body.len() as u64);
        Ok(Reply {
            status,
            headers,
            body: Bytes::from(body),
            limits: self.limits,
            rejected: Mutex::new(Vec::new()),
        })
    }

    /// Waits before the next try, or fails once the tries are used up.
    async fn retry_or_give_up(
        &mut self,
        attempt: u32,
        failure: ApiError,
        wait: Option<Duration>,
    ) -> Result<(), ApiError> {
        if attempt >= self.policy.max_attempts {
            return Err(ApiError::transient(format!(
                "{failure} (gave up after {attempt} attempts)"
            )));
        }
        let delay = match wait {
            Some(wait) => self.policy.cap(wait),
            None => self.policy.backoff(attempt),
        };
        tracing::warn!(error = %failure, attempt, retry_in = ?delay, "API request failed; retrying");
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// Honours a vendor rate-limit pause, then the pacer.
    async fn before_request(&mut self) {
        if let Some(until) = self.paused_until.take() {
            tokio::time::sleep_until(until).await;
        }
        if let Some(pacer) = self.pacer.as_mut() {
            pacer.ready().await;
        }
    }

    fn can_renew(&self) -> bool {
        matches!(
            self.auth,
            Auth::ClientCredentials { .. } | Auth::Grant { .. }
        )
    }

    /// Where the OAuth token is kept (`None` for a fixed token).
    fn cached_token(&mut self) -> Option<&mut Option<CachedToken>> {
        match &mut self.auth {
            Auth::Token { .. } => None,
            Auth::ClientCredentials { cached, .. } | Auth::Grant { cached, .. } => Some(cached),
        }
    }

    fn forget_token(&mut self) {
        if let Some(cached) = self.cached_token() {
            *cached = None;
        }
    }

    /// The vendor's own advice when its API refuses the credentials or a permission.
    fn api_help(&self) -> Option<&'static str> {
        match &self.auth {
            Auth::Grant { grant, .. } => grant.api_help(),
            _ => None,
        }
    }

    /// Every secret this client holds, for scrubbing error text.
    fn secrets(&self) -> Vec<&Secret> {
        match &self.auth {
            Auth::Token { token, .. } => vec![token],
            Auth::ClientCredentials {
                credentials,
                cached,
            } => {
                let mut secrets = vec![&credentials.client_secret];
                secrets.extend(cached.as_ref().map(|t| &t.value));
                secrets
            }
            Auth::Grant { grant, cached } => {
                let mut secrets = grant.secrets();
                secrets.extend(cached.as_ref().map(|t| &t.value));
                secrets
            }
        }
    }

    fn status_error(&self, target: &str, reply: &Reply) -> String {
        format!(
            "{target}: HTTP {}: {}",
            reply.status.as_u16(),
            excerpt(&reply.body, &self.secrets())
        )
    }

    /// The `Authorization` header value, fetching an OAuth token when none is fresh.
    async fn authorization(&mut self) -> Result<HeaderValue, ApiError> {
        let (scheme, token) = match &self.auth {
            Auth::Token { scheme, token } => (*scheme, token.clone()),
            Auth::ClientCredentials {
                cached: Some(cached),
                ..
            }
            | Auth::Grant {
                cached: Some(cached),
                ..
            } if Instant::now() < cached.refresh_at => ("Bearer", cached.value.clone()),
            Auth::ClientCredentials { credentials, .. } => {
                let credentials = credentials.clone();
                let body = credentials.form_body();
                let hint = |_: &[u8]| CLIENT_CREDENTIALS_HINT.to_string();
                let fresh = self
                    .fetch_token(&credentials.token_url, body, &hint)
                    .await?;
                ("Bearer", self.keep_token(fresh))
            }
            Auth::Grant { grant, .. } => {
                let grant = Arc::clone(grant);
                let body = grant.form_body()?;
                let hint = |body: &[u8]| grant.refusal_hint(body);
                let fresh = self.fetch_token(grant.token_url(), body, &hint).await?;
                ("Bearer", self.keep_token(fresh))
            }
        };
        let mut header =
            HeaderValue::from_str(&format!("{scheme} {}", token.expose())).map_err(|_| {
                ApiError::permanent("the API token holds characters not allowed in an HTTP header")
            })?;
        header.set_sensitive(true);
        Ok(header)
    }

    /// Caches a fetched token; returns its value.
    fn keep_token(&mut self, fresh: CachedToken) -> Secret {
        let value = fresh.value.clone();
        if let Some(cached) = self.cached_token() {
            *cached = Some(fresh);
        }
        value
    }

    /// Posts the token request `body` to `token_url`, retrying like any call; a refusal
    /// is permanent and ends with what `hint` makes of the answer.
    async fn fetch_token(
        &mut self,
        token_url: &Url,
        body: String,
        hint: &(dyn Fn(&[u8]) -> String + Sync),
    ) -> Result<CachedToken, ApiError> {
        let target = format!("POST {}", display_url(token_url));
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.before_request().await;
            let request = self
                .http
                .post(token_url.clone())
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone());
            let (failure, wait) = match self.send(request, &target).await {
                // A response over max_response_size: the same again on a retry.
                Err(failure) if failure.permanent => return Err(failure),
                Err(failure) => (failure, None),
                Ok(reply) if is_retryable(reply.status) => (
                    ApiError::transient(self.status_error(&target, &reply)),
                    retry_after(&reply.headers),
                ),
                Ok(reply) if !reply.status.is_success() => {
                    return Err(ApiError::permanent(format!(
                        "token request {} — {}",
                        self.status_error(&target, &reply),
                        hint(&reply.body)
                    )));
                }
                Ok(reply) => {
                    let token = pipectl_core::json::from_slice(&reply.body)
                        .ok()
                        .and_then(|body| parse_token(&body, Instant::now()));
                    match token {
                        Some(token) => {
                            tracing::debug!(request = %target, "fetched an access token");
                            return Ok(token);
                        }
                        None => {
                            self.counters.add_errored(1);
                            (
                                ApiError::transient(format!(
                                    "{target}: the token response has no access_token and expires_in"
                                )),
                                None,
                            )
                        }
                    }
                }
            };
            self.retry_or_give_up(attempt, failure, wait).await?;
        }
    }
}

fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// A transport error without its URL (reqwest's text includes the query) but with
/// its causes, e.g. "error sending request: ... Connection refused".
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Wraps a page reader for a stored link (a checkpointed next page, a listed content
/// blob) that may have expired: `400`, `404` and `410` give `Ok(None)`, so the caller
/// can fall back instead of failing for good.
pub(crate) fn unless_gone<T>(
    read: impl Fn(&Reply) -> Result<T, Bad>,
) -> impl Fn(&Reply) -> Result<Option<T>, Bad> {
    move |reply| match reply.status {
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::GONE => Ok(None),
        _ => read(reply).map(Some),
    }
}

/// A `2xx` body of records as JSON, each record decoded on its own within the client's
/// limits (see [`split_records`]): the records at `at` that break a limit are taken out
/// of the document and kept with the reply, to be emitted as error records, so one
/// hostile record neither stops the page from being read nor reaches the pipeline.
/// Other statuses are refused.
pub(crate) fn records_body(reply: &Reply, at: RecordsAt<'_>) -> Result<Value, Bad> {
    if !reply.status.is_success() {
        return Err(Bad::Refused);
    }
    let (value, rejected) = split_records(&reply.body, at, &reply.limits)
        .map_err(|e| Bad::Page(format!("not JSON ({e})")))?;
    if !rejected.is_empty() {
        if let Ok(mut held) = reply.rejected.lock() {
            *held = rejected;
        }
    }
    Ok(value)
}

/// A `2xx` body as JSON; other statuses are refused.
pub(crate) fn json_body(reply: &Reply) -> Result<Value, Bad> {
    if !reply.status.is_success() {
        return Err(Bad::Refused);
    }
    pipectl_core::json::from_slice(&reply.body).map_err(|e| Bad::Page(format!("not JSON ({e})")))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Answer, MockApi};
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn settings(attempts: u32) -> ClientSettings {
        let mut retry = RetryPolicy::new(attempts);
        retry.base_backoff = Duration::from_millis(10);
        ClientSettings {
            timeout: Duration::from_secs(5),
            retry,
            pace: None,
            limits: InputLimits::default(),
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
        }
    }

    fn oauth(api: &MockApi) -> Auth {
        Auth::ClientCredentials {
            credentials: ClientCredentials {
                token_url: Url::parse(&api.url("/token")).unwrap(),
                client_id: "c".into(),
                client_secret: Secret::new("s3cr3t"),
                scope: "api/.default".into(),
            },
            cached: None,
        }
    }

    #[tokio::test]
    async fn tokens_are_cached_and_renewed_before_they_expire() {
        let tokens = Arc::new(AtomicUsize::new(0));
        let api = {
            let tokens = Arc::clone(&tokens);
            MockApi::start(move |seen| {
                if seen.path == "/token" {
                    let n = tokens.fetch_add(1, Ordering::SeqCst);
                    // One second of life: renewed after half of it.
                    return Answer::json(format!(r#"{{"access_token":"t{n}","expires_in":1}}"#));
                }
                Answer::json(format!(r#"{{"auth":"{}"}}"#, seen.authorization))
            })
            .await
        };
        let counters = Arc::new(ComponentCounters::default());
        let mut client = ApiClient::new(&settings(2), oauth(&api), counters).unwrap();
        let url = Url::parse(&api.url("/data")).unwrap();
        let auth = |v: Value| pipectl_core::json::to_string(&v);
        assert_eq!(
            auth(client.call(Method::GET, &url, json_body).await.unwrap()),
            r#"{"auth":"Bearer t0"}"#
        );
        assert_eq!(
            auth(client.call(Method::GET, &url, json_body).await.unwrap()),
            r#"{"auth":"Bearer t0"}"#
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            auth(client.call(Method::GET, &url, json_body).await.unwrap()),
            r#"{"auth":"Bearer t1"}"#
        );
        assert_eq!(tokens.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connection_failures_are_retried_then_reported_plainly() {
        // A port nothing listens on: bind one, then free it.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let counters = Arc::new(ComponentCounters::default());
        let auth = Auth::Token {
            scheme: "SSWS",
            token: Secret::new("tok"),
        };
        let mut client = ApiClient::new(&settings(3), auth, counters).unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/api/v1/logs?after=x")).unwrap();
        let started = Instant::now();
        let err = client.call(Method::GET, &url, json_body).await.unwrap_err();
        assert!(!err.permanent);
        assert!(
            err.message
                .starts_with(&format!("GET http://127.0.0.1:{port}/api/v1/logs?…: ")),
            "{}",
            err.message
        );
        assert!(
            err.message.ends_with("(gave up after 3 attempts)"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("after=x"), "{}", err.message);
        // Two backoffs of at least half their 10 ms and 20 ms steps.
        assert!(started.elapsed() >= Duration::from_millis(15));
    }

    #[tokio::test]
    async fn responses_over_max_response_size_are_refused_unread() {
        let api = MockApi::start(|seen| {
            let answer = Answer::json(format!(r#"{{"pad":"{}"}}"#, "x".repeat(2000)));
            if seen.path == "/chunked" {
                // No length up front: the bound is met while reading.
                answer.header("transfer-encoding", "chunked")
            } else {
                answer
            }
        })
        .await;
        let counters = Arc::new(ComponentCounters::default());
        let auth = Auth::Token {
            scheme: "SSWS",
            token: Secret::new("tok"),
        };
        let mut bounded = settings(3);
        bounded.max_response_size = 1000;
        let mut client = ApiClient::new(&bounded, auth, Arc::clone(&counters)).unwrap();
        for (path, size) in [("/sized", "is 2010 bytes"), ("/chunked", "is at least")] {
            let url = Url::parse(&api.url(path)).unwrap();
            let err = client.call(Method::GET, &url, json_body).await.unwrap_err();
            assert!(err.message.contains(size), "{path}: {}", err.message);
            assert!(err.permanent, "{path}: {}", err.message);
            assert!(
                err.message.contains(
                    "bytes, more than max_response_size (1000 bytes); raise max_response_size"
                ),
                "{path}: {}",
                err.message
            );
        }
        // Refused at once, not retried.
        assert_eq!(api.seen().len(), 2);
        assert_eq!(counters.snapshot().bytes_in, 0);
        bounded.max_response_size = 4000;
        let auth = Auth::Token {
            scheme: "SSWS",
            token: Secret::new("tok"),
        };
        let mut client = ApiClient::new(&bounded, auth, counters).unwrap();
        let url = Url::parse(&api.url("/chunked")).unwrap();
        assert!(client.call(Method::GET, &url, json_body).await.is_ok());
    }
}
