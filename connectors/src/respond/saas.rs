//! What the SaaS responders (Graph, Okta, Google Workspace) share: calls through the
//! sources' API client (authentication, `Retry-After`, backoff, secret scrubbing) with
//! the errors worded for an action — a refusal (`403`) names the permission to grant
//! and is never retried — and the attributes that tune the client.

use super::provider::ActError;
use crate::settings::positive;
use crate::sources::api::client::{ApiClient, Auth, Bad, ClientSettings, Forbidden, Reply};
use crate::sources::api::error::{display_url, excerpt, ApiError};
use crate::sources::api::retry::RetryPolicy;
use pipectl_core::component::BuildError;
use pipectl_core::config::Attrs;
use pipectl_core::metrics::ComponentCounters;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use reqwest::{Method, StatusCode, Url};
use std::sync::Arc;
use tokio::sync::Mutex;

pub(crate) const MAX_ATTEMPTS_ATTR: AttrSpec = AttrSpec::with_default(
    "max_attempts",
    AttrType::Int,
    "5",
    "Tries per call on connection errors, timeouts, 429 (waiting what `Retry-After` says) and 5xx before the action fails; a refusal (403) is never retried.",
);

/// `request_timeout` and `max_attempts` as client settings.
pub(crate) fn client_settings(attrs: &Attrs<'_>) -> Result<ClientSettings, BuildError> {
    let timeout = attrs.duration("request_timeout")?;
    if timeout.is_zero() {
        return Err(attrs.error("attribute `request_timeout` must be longer than zero"));
    }
    let attempts = u32::try_from(positive(attrs, "max_attempts")?)
        .map_err(|_| attrs.error("attribute `max_attempts` is too large"))?;
    Ok(ClientSettings {
        timeout,
        retry: RetryPolicy::new(attempts),
        pace: None,
        limits: crate::limits::InputLimits::default(),
        max_response_size: crate::sources::api::client::DEFAULT_MAX_RESPONSE_SIZE,
    })
}

/// What a call answered: a JSON body (`Null` when empty), `404`, or a request the
/// API rejects in the state the target is in (`400`, `409`: suspending a suspended
/// user), with an excerpt of the answer.
pub(crate) enum Answer {
    Found(serde_json::Value),
    NotFound,
    Rejected(String),
}

/// One provider's API client, shared by the responder's calls (one at a time: a
/// responder acts on one incident after another anyway).
pub(crate) struct SaasApi {
    client: Mutex<ApiClient>,
}

/// A `2xx` body as JSON (empty → `Null`), `404` as [`Answer::NotFound`]; any other
/// status is a refusal.
fn answer(reply: &Reply) -> Result<Answer, Bad> {
    if reply.status == StatusCode::NOT_FOUND {
        return Ok(Answer::NotFound);
    }
    if matches!(reply.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) {
        return Ok(Answer::Rejected(format!(
            "HTTP {}: {}",
            reply.status.as_u16(),
            excerpt(&reply.body, &[])
        )));
    }
    if !reply.status.is_success() {
        return Err(Bad::Refused);
    }
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Answer::Found(serde_json::Value::Null));
    }
    serde_json::from_slice(&reply.body)
        .map(Answer::Found)
        .map_err(|e| Bad::Page(format!("not JSON ({e})")))
}

/// An API error as a person reads it: a refusal names what to grant.
pub(crate) fn act_error(permission: &str, error: ApiError) -> ActError {
    if error.status == Some(403) {
        ActError(format!("missing permission {permission}: {error}"))
    } else {
        ActError(error.message)
    }
}

impl SaasApi {
    /// A client with `auth`; `forbidden` reads the provider's `403`s (some say a rate
    /// limit with it) when the default (a missing permission) is not enough.
    pub fn new(
        settings: &ClientSettings,
        auth: Auth,
        forbidden: Option<fn(&Reply) -> Forbidden>,
    ) -> Result<SaasApi, String> {
        let counters = Arc::new(ComponentCounters::default());
        let mut client = ApiClient::new(settings, auth, counters).map_err(|e| e.message)?;
        if let Some(forbidden) = forbidden {
            client.set_forbidden(forbidden);
        }
        Ok(SaasApi {
            client: Mutex::new(client),
        })
    }

    /// `method url` with an optional JSON body; `permission` is what a refusal names.
    pub async fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        permission: &str,
    ) -> Result<Answer, ActError> {
        let mut client = self.client.lock().await;
        let result = match body {
            Some(body) => client.call_json(method, url, body, answer).await,
            None => client.call(method, url, answer).await,
        };
        result.map_err(|e| act_error(permission, e))
    }

    /// `method url` with an optional JSON body, read by the caller's `decode` (which
    /// sees the status and headers: Azure's `202` and its operation links).
    pub async fn call_with<T>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        permission: &str,
        decode: impl FnMut(&Reply) -> Result<T, Bad>,
    ) -> Result<T, ActError> {
        let mut client = self.client.lock().await;
        let result = match body {
            Some(body) => client.call_json(method, url, body, decode).await,
            None => client.call(method, url, decode).await,
        };
        result.map_err(|e| act_error(permission, e))
    }

    /// The API host named with the current token (Salesforce's `instance_url`),
    /// fetching a token first if none is fresh.
    pub async fn token_instance_url(&self) -> Result<Option<String>, ApiError> {
        self.client.lock().await.token_instance_url().await
    }

    /// [`SaasApi::call`] where `404` is an error naming `what` was not found.
    pub async fn expect(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        permission: &str,
        what: &str,
    ) -> Result<serde_json::Value, ActError> {
        let request = format!("{method} {}", display_url(url));
        match self.call(method, url, body, permission).await? {
            Answer::Found(value) => Ok(value),
            Answer::NotFound => Err(ActError(format!("{request}: {what} not found (HTTP 404)"))),
            Answer::Rejected(why) => Err(ActError(format!("{request}: {why}"))),
        }
    }
}

/// A path segment of a provider id (`alice@acme.com`, an id with `#EXT#`),
/// percent-encoded — except `!`, which is allowed in a path and which Graph's drive
/// ids (`b!...`) are written with everywhere.
pub(crate) fn segment(id: &str) -> String {
    id.split('!')
        .map(crate::sources::api::percent_encode)
        .collect::<Vec<_>>()
        .join("!")
}

/// Whether `text` looks like an email address (one `@`, something on both sides, no
/// spaces or control characters): Salesforce usernames and Dropbox members' emails.
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

/// The user a user action targets: `given` (the `target` expression), else the
/// incident's `user` entity (its id is the user's email or name).
pub(crate) fn user_target(
    incident: &pipectl_core::value::Value,
    given: Option<&str>,
    what: &str,
) -> Result<super::provider::Target, String> {
    let text = |path: &str| {
        path.split('.')
            .try_fold(incident, |v, k| v.as_object()?.get(k))
            .and_then(pipectl_core::value::Value::as_str)
    };
    let named = match given {
        Some(g) => g.trim(),
        None => match text("entity.kind") {
            Some("user") => text("entity.id").unwrap_or("").trim(),
            other => {
                return Err(format!(
                    "the incident is about a `{}` entity, not a user",
                    other.unwrap_or("")
                ))
            }
        },
    };
    if named.is_empty() || named.contains('/') || named.chars().any(char::is_control) {
        return Err(format!("`{named}` does not name a {what} user"));
    }
    Ok(super::provider::Target {
        kind: "user".to_string(),
        id: named.to_string(),
        name: named.to_string(),
        account: None,
    })
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the SaaS responders' tests share: a responder on a manual clock, a client
    //! that retries quickly, audit statuses, and the check that docs/response.md
    //! describes every action.

    use super::super::engine::{Policy, Responder};
    use super::super::journal::{Decision, Journal};
    use super::super::policy::Clock;
    use super::super::provider::{ActionInfo, Actions};
    use super::*;
    use crate::testkit::TempDir;
    use pipectl_core::expr::CompiledExpr;
    use pipectl_core::value::Value;
    use std::sync::atomic::AtomicI64;
    use std::time::Duration;

    pub const T0: i64 = 1_790_000_000_000;

    /// Three attempts, 10 ms backoff: a refusal must still be one request.
    pub fn quick_settings() -> ClientSettings {
        let mut retry = RetryPolicy::new(3);
        retry.base_backoff = Duration::from_millis(10);
        ClientSettings {
            timeout: Duration::from_secs(5),
            retry,
            pace: None,
            limits: crate::limits::InputLimits::default(),
            max_response_size: crate::sources::api::client::DEFAULT_MAX_RESPONSE_SIZE,
        }
    }

    pub fn responder<P: Actions>(
        provider: P,
        dir: &TempDir,
        policy: Policy,
    ) -> (Responder<P>, Arc<AtomicI64>) {
        let (clock, handle) = Clock::manual(T0);
        (
            Responder::open(policy, provider, dir.path(), clock).unwrap(),
            handle,
        )
    }

    /// A constant `target` expression.
    pub fn constant(text: &str) -> CompiledExpr {
        use pipectl_dsl::plan::{Expr, Literal};
        CompiledExpr::compile(&Expr::Literal(Literal::String(text.to_string()))).unwrap()
    }

    pub fn statuses(docs: &[Value]) -> Vec<String> {
        docs.iter()
            .map(|d| {
                ["pipectl", "action", "status"]
                    .iter()
                    .try_fold(d, |v, k| v.as_object()?.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// A person's decision, as `pipectl actions` leaves it.
    pub fn submit(dir: &TempDir, id: &str, verb: &str) {
        Journal::open(dir.path())
            .unwrap()
            .submit(&Decision {
                action_id: id.to_string(),
                verb: verb.to_string(),
                by: "soc.analyst".to_string(),
                at: T0,
                comment: None,
            })
            .unwrap();
    }

    /// docs/response.md has, in the section of `respond <provider>` (two providers
    /// may name an action alike), a row per action naming its permissions and its
    /// revert (or saying plainly that there is none).
    pub fn assert_documented(provider: &str, actions: &[ActionInfo]) {
        let doc = include_str!("../../../docs/response.md");
        let heading = format!("(`respond {provider}`)");
        let section: Vec<&str> = doc
            .lines()
            .skip_while(|l| !(l.starts_with("## ") && l.contains(&heading)))
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !l.starts_with("## "))
            .map(|(_, l)| l)
            .collect();
        assert!(
            !section.is_empty(),
            "docs/response.md has no section {heading}"
        );
        for action in actions {
            let row = section
                .iter()
                .find(|l| l.starts_with(&format!("| `{}` |", action.name)))
                .unwrap_or_else(|| panic!("docs/response.md has no row for {}", action.name));
            for permission in action.permissions {
                assert!(
                    row.contains(permission),
                    "{}: {permission} missing from its row",
                    action.name
                );
            }
            match action.revert {
                Some(revert) => assert!(row.contains(revert), "{}: revert {revert}", action.name),
                None => assert!(
                    row.contains("**none**"),
                    "{}: say it cannot be undone",
                    action.name
                ),
            }
        }
    }
}
