//! The foundation of the SaaS audit-log sources (`okta`, `office365`, `graph`,
//! `google_workspace`, `salesforce`, `box`, `dropbox`): an HTTP client that
//! authenticates, paces, honours rate limits and retries ([`client`]), and a polling loop whose per-stream cursors are checkpointed only
//! once what was read is acknowledged downstream ([`emit`]).
//!
//! Each source implements [`Poller`]: one round reads everything new from the API and
//! emits it page by page, each page with the cursor to resume after it. The loop
//! runs a round every `poll_interval`; a round that fails after its retries is logged
//! and tried again at the next interval (the cursor has not moved, so nothing is
//! lost), while a permanent failure (refused credentials, a missing permission) stops
//! the source with an error that says what to fix. A restart resumes from the last
//! acknowledged cursor: no gap, and no duplicate beyond what was in flight.

pub(crate) mod client;
pub(crate) mod emit;
pub(crate) mod error;
pub(crate) mod google;
pub(crate) mod microsoft;
pub(crate) mod oauth;
pub(crate) mod pacer;
pub(crate) mod recent;
pub(crate) mod retry;
#[cfg(test)]
pub(crate) mod testing;

use super::{Halt, Run};
use crate::io::BatchOutput;
use crate::limits::{InputLimits, MAX_DEPTH_ATTR, MAX_EVENT_SIZE_ATTR, MAX_FIELDS_ATTR};
use crate::settings::{positive, size_limit};
use client::{ApiClient, Auth, ClientSettings, Forbidden, Reply, DEFAULT_MAX_RESPONSE_SIZE};
use emit::Emitter;
use error::ApiError;
use pipectl_core::component::{BuildError, ComponentError};
use pipectl_core::config::Attrs;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use reqwest::Url;
use retry::RetryPolicy;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// `poll_interval`, with the source's default.
pub(crate) const fn poll_interval_attr(default: &'static str) -> AttrSpec {
    AttrSpec::with_default(
        "poll_interval",
        AttrType::Duration,
        default,
        "How long to wait after catching up before asking the API for more.",
    )
}

pub(crate) const REQUEST_TIMEOUT_ATTR: AttrSpec = AttrSpec::with_default(
    "request_timeout",
    AttrType::Duration,
    "30s",
    "How long one HTTP request may take, connecting included, before it is retried.",
);

pub(crate) const MAX_ATTEMPTS_ATTR: AttrSpec = AttrSpec::with_default(
    "max_attempts",
    AttrType::Int,
    "5",
    "Tries per request (connection errors, timeouts, 429, 5xx, unreadable pages) before the poll round fails and waits for the next one.",
);

/// `max_response_size`.
pub(crate) const MAX_RESPONSE_SIZE_ATTR: AttrSpec = AttrSpec::with_default(
    "max_response_size",
    AttrType::Size,
    "64MiB",
    "A response body (a page, a content blob, a download) larger than this is refused unread, and the source stops with an error naming the request, so memory stays bounded.",
);

/// The input-limit attributes every API source takes, after its own: the limits each
/// record is held to (see docs/hostile-input.md) and the bound on a response.
pub(crate) const LIMIT_ATTRS: [AttrSpec; 4] = [
    MAX_EVENT_SIZE_ATTR,
    MAX_DEPTH_ATTR,
    MAX_FIELDS_ATTR,
    MAX_RESPONSE_SIZE_ATTR,
];

/// The polling settings every API source shares.
#[derive(Debug, Clone)]
pub(crate) struct PollSettings {
    pub poll_interval: Duration,
    pub client: ClientSettings,
}

impl PollSettings {
    /// Reads `poll_interval`, `request_timeout`, `max_attempts` and the input limits
    /// (`max_event_size`, `max_depth`, `max_fields`, `max_response_size`, each taking
    /// its default when absent); `pace` is the source's own client-side limit.
    pub fn from_attrs(
        attrs: &Attrs<'_>,
        pace: Option<(usize, Duration)>,
    ) -> Result<PollSettings, BuildError> {
        let poll_interval = attrs.duration("poll_interval")?;
        if poll_interval.is_zero() {
            return Err(attrs.error("attribute `poll_interval` must be longer than zero"));
        }
        let timeout = attrs.duration("request_timeout")?;
        if timeout.is_zero() {
            return Err(attrs.error("attribute `request_timeout` must be longer than zero"));
        }
        let attempts = u32::try_from(positive(attrs, "max_attempts")?)
            .map_err(|_| attrs.error("attribute `max_attempts` is too large"))?;
        Ok(PollSettings {
            poll_interval,
            client: ClientSettings {
                timeout,
                retry: RetryPolicy::new(attempts),
                pace,
                limits: InputLimits::from_attrs(attrs)?,
                max_response_size: match attrs.raw("max_response_size") {
                    None => DEFAULT_MAX_RESPONSE_SIZE,
                    Some(_) => size_limit(attrs, "max_response_size")?,
                },
            },
        })
    }
}

/// A URL attribute: `https://`, or `http://` only to this machine (tests, local
/// proxies) so credentials never cross a network in clear text. A trailing `/` is
/// dropped so paths can be appended.
pub(crate) fn base_url(attrs: &Attrs<'_>, key: &str) -> Result<Url, BuildError> {
    let text = attrs.string(key)?;
    let text = text.trim_end_matches('/');
    let url = Url::parse(text)
        .map_err(|e| attrs.error(format!("attribute `{key}`: `{text}` is not a URL ({e})")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(attrs.error(format!(
                "attribute `{key}`: `{text}` must start with https:// (http:// is accepted only for 127.0.0.1 and localhost)"
            )))
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(attrs.error(format!(
            "attribute `{key}`: `{text}` must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// Whether credentials may be sent to `url`: `https://`, or `http://` only to this
/// machine. For URLs that come from elsewhere than an attribute (a key file's token
/// endpoint, the API host a token response names).
pub(crate) fn is_safe_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    }
}

/// `base` with `path` appended (`path` starts with `/`).
pub(crate) fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

/// A link the API returned (next page, content blob) resolved against the request
/// that returned it, refused unless it stays on `origin`'s scheme, host and port: the
/// credentials go with it.
pub(crate) fn followed_link(origin: &Url, link: &str) -> Result<Url, ApiError> {
    let url = origin.join(link).map_err(|e| {
        ApiError::transient(format!("the API returned a link that is not a URL ({e})"))
    })?;
    if url.origin() != origin.origin() {
        return Err(ApiError::permanent(format!(
            "the API returned a link to {}, outside {}; refusing to send the credentials there",
            error::display_url(&url),
            origin.origin().ascii_serialization()
        )));
    }
    Ok(url)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a space becomes
/// `%20`, which OData filters need and form bodies accept).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Why a poll round ended early.
pub(crate) enum Stop {
    Halt(Halt),
    Api(ApiError),
}

impl From<Halt> for Stop {
    fn from(halt: Halt) -> Stop {
        Stop::Halt(halt)
    }
}

impl From<ApiError> for Stop {
    fn from(error: ApiError) -> Stop {
        Stop::Api(error)
    }
}

/// Lets the other streams of a round be read after one failed transiently: keeps the
/// first such failure in `first` (reported when the round ends); a halt or a
/// permanent failure ends the round at once.
pub(crate) fn defer(result: Result<(), Stop>, first: &mut Option<ApiError>) -> Result<(), Stop> {
    match result {
        Err(Stop::Api(e)) if !e.permanent => {
            first.get_or_insert(e);
            Ok(())
        }
        other => other,
    }
}

/// The end of a round whose streams were all tried.
pub(crate) fn round_result(first: Option<ApiError>) -> Result<(), Stop> {
    first.map_or(Ok(()), |e| Err(Stop::Api(e)))
}

/// One API source's reading logic.
pub(crate) trait Poller: Send {
    /// Reads everything new, emitting page by page through `out`; returns once caught
    /// up.
    fn poll<O: BatchOutput>(
        &mut self,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> impl Future<Output = Result<(), Stop>> + Send;

    /// What a `403` from this API means: by default a missing permission; APIs that
    /// also signal rate limits with it say which answers those are.
    fn forbidden(reply: &Reply) -> Forbidden {
        client::denied(reply)
    }
}

/// Calls the API unless shutdown comes first.
pub(crate) async fn fetch<O: BatchOutput, T>(
    out: &mut Emitter<O>,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, Stop> {
    Ok(out.until_shutdown(call).await??)
}

/// Runs `poller` every poll interval until shutdown, a permanent failure, or every
/// consumer going away.
pub(crate) async fn run_poller<O: BatchOutput, P: Poller>(
    mut poller: P,
    settings: &PollSettings,
    auth: Auth,
    data_dir: &Path,
    run: Run<O>,
) -> Result<(), ComponentError> {
    let mut client = ApiClient::new(&settings.client, auth, run.counters.clone())
        .map_err(|e| run.error(e.message))?;
    client.set_forbidden(P::forbidden);
    let mut out = Emitter::open(run, data_dir).await;
    let halt = loop {
        match poller.poll(&mut client, &mut out).await {
            Ok(()) => {}
            Err(Stop::Halt(halt)) => break halt,
            Err(Stop::Api(e)) if e.permanent => break Halt::Failed(out.error(e.message)),
            Err(Stop::Api(e)) => {
                tracing::error!(source = %out.name(), error = %e, "polling failed; trying again at the next poll interval");
            }
        }
        if let Err(halt) = out.pause(settings.poll_interval).await {
            break halt;
        }
    };
    out.finish(halt).await
}
