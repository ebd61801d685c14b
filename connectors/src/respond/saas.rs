//! What the SaaS responders (`salesforce`, `box`, `dropbox`) share: the sources' API
//! client — OAuth tokens cached and renewed, `429` waiting what `Retry-After` says,
//! `5xx` retried with backoff, secrets scrubbed from errors — behind a lock (the
//! framework calls a provider through `&self`, the client keeps its token through
//! `&mut self`), and the wording docs/response.md promises: a refusal (`403`) is never
//! retried and names the permission to grant.

use super::provider::ActError;
use crate::sources::api::client::{ApiClient, Auth, Bad, ClientSettings, Forbidden, Reply};
use crate::sources::api::error::ApiError;
use crate::sources::api::retry::RetryPolicy;
use pipectl_core::metrics::ComponentCounters;
use pipectl_core::value::Value;
use reqwest::{Method, StatusCode, Url};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long one call may take before it is retried.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Tries per call (docs/response.md: 6 at most), throttling and `5xx` included.
const ATTEMPTS: u32 = 6;

/// The client settings of a responder: no pacing (responders call rarely), bounded
/// retries.
pub(crate) fn settings() -> ClientSettings {
    ClientSettings {
        timeout: TIMEOUT,
        retry: RetryPolicy::new(ATTEMPTS),
        pace: None,
    }
}

/// Response headers that carry the provider's request id, for its own audit log.
const REQUEST_ID_HEADERS: &[&str] = &["x-dropbox-request-id", "box-request-id", "x-request-id"];

/// An answer an action reads: a `2xx`, or a status the caller said it handles (a
/// `404` when deleting what may be gone already).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: StatusCode,
    /// The JSON body; `null` when empty (`204`) or, for a handled error, not JSON.
    pub body: serde_json::Value,
    pub request_id: Option<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }
}

/// One provider's authenticated API client.
pub(crate) struct SaasApi {
    client: Mutex<ApiClient>,
}

impl SaasApi {
    /// A client with `auth`; `forbidden` reads the provider's `403`s (some also use
    /// it for rate limits).
    pub fn new(
        settings: &ClientSettings,
        auth: Auth,
        forbidden: fn(&Reply) -> Forbidden,
    ) -> Result<SaasApi, String> {
        let counters = Arc::new(ComponentCounters::default());
        let mut client = ApiClient::new(settings, auth, counters).map_err(|e| e.message)?;
        client.set_forbidden(forbidden);
        Ok(SaasApi {
            client: Mutex::new(client),
        })
    }

    /// The API host named with the current token (Salesforce's `instance_url`).
    pub async fn token_instance_url(&self) -> Result<Option<String>, ApiError> {
        self.client.lock().await.token_instance_url().await
    }

    /// Sends `method url` with an optional JSON `body`. A `2xx` or a status in
    /// `handled` is the answer; any other status fails permanently (the error keeps it,
    /// [`ApiError::status`]); throttling, `5xx` and transport errors are retried.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        handled: &[StatusCode],
    ) -> Result<Answer, ApiError> {
        let decode = |reply: &Reply| {
            let handled = handled.contains(&reply.status);
            if !reply.status.is_success() && !handled {
                return Err(Bad::Refused);
            }
            let body = if reply.body.iter().all(u8::is_ascii_whitespace) {
                serde_json::Value::Null
            } else {
                match serde_json::from_slice(&reply.body) {
                    Ok(body) => body,
                    Err(_) if handled => serde_json::Value::Null,
                    Err(e) => return Err(Bad::Page(format!("not JSON ({e})"))),
                }
            };
            let request_id = REQUEST_ID_HEADERS.iter().find_map(|name| {
                reply
                    .headers
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
            Ok(Answer {
                status: reply.status,
                body,
                request_id,
            })
        };
        let mut client = self.client.lock().await;
        match body {
            Some(body) => client.call_json(method, url, body, decode).await,
            None => client.call(method, url, decode).await,
        }
    }
}

/// A `403` as docs/response.md words it: `missing permission <what to grant>: <the
/// call, the status, the provider's answer>`; other errors as they are.
pub(crate) fn act_error(permission: &str) -> impl Fn(ApiError) -> ActError + '_ {
    move |e| {
        if e.status == Some(StatusCode::FORBIDDEN.as_u16()) {
            ActError(format!("missing permission {permission}: {}", e.message))
        } else {
            ActError(e.message)
        }
    }
}

/// The string at `path` (`entity.id`) of an incident.
pub(crate) fn text<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(doc, |v, k| v.as_object()?.get(k))
        .and_then(Value::as_str)
}

/// The string at `key` of a provider answer or a captured state.
pub(crate) fn field<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(serde_json::Value::as_str)
}

/// The target named by the `target` expression, else the id of a `user` entity.
pub(crate) fn user_named<'a>(
    incident: &'a Value,
    given: Option<&'a str>,
) -> Result<&'a str, String> {
    if let Some(given) = given {
        return Ok(given);
    }
    let kind = text(incident, "entity.kind").unwrap_or("");
    if kind != "user" {
        return Err(format!(
            "the incident is about a `{kind}` entity, not a user"
        ));
    }
    text(incident, "entity.id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| "the incident's user entity has no id".to_string())
}

/// Whether `text` looks like an email address (one `@`, something on both sides,
/// no spaces or control characters): what Salesforce usernames and Dropbox member
/// emails are.
pub(crate) fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && text.len() <= 254
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
pub(crate) mod testing;
