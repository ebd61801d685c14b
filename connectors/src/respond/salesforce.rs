//! `respond salesforce`: freeze a Salesforce user, or end their sessions, through the
//! REST API (`/services/data/v{version}`) with the OAuth2 client credentials flow the
//! `salesforce` source uses (the token names the `instance_url` to call).
//!
//! - `freeze_user`: `SELECT Id, IsFrozen FROM UserLogin WHERE UserId = '…'`, then
//!   `PATCH …/sobjects/UserLogin/{id}` `{"IsFrozen": true}`; undone by `{"IsFrozen":
//!   false}` only if the user was not frozen before.
//! - `end_sessions`: `SELECT Id FROM AuthSession WHERE UsersId = '…'`, then `DELETE
//!   …/sobjects/AuthSession/{id}` for each (irreversible: a session cannot be given
//!   back; the user signs in again).
//!
//! The target is a user id (`005…`, 15 or 18 characters) or a username (an email
//! address), resolved with `SELECT Id FROM User WHERE Username = '…'`. Only letters,
//! digits and `.@_+-` ever reach a SOQL literal, so nothing can be injected into a
//! query.

use super::engine::Responder;
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use super::saas::{self, is_email, user_target, Answer, SaasApi};
use super::stage;
use crate::sources::api::client::{Auth, ClientSettings, Forbidden, Reply};
use crate::sources::api::error::display_url;
use crate::sources::api::{base_url, followed_link, is_safe_url, join, REQUEST_TIMEOUT_ATTR};
use crate::sources::salesforce::{error_codes, ClientCredentialsGrant};
use futures::future::BoxFuture;
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::config::Attrs;
use pipectl_core::secrets::Secret;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use serde_json::json;
use std::sync::Arc;

/// The permissions both actions need on the connected app's Run As user.
const PERMISSIONS: &[&str] = &["API Enabled", "Manage Users"];

/// Every Salesforce action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "freeze_user",
        target_kind: "salesforce_user",
        revert: Some("unfreeze_user"),
        permissions: PERMISSIONS,
    },
    ActionInfo {
        name: "end_sessions",
        target_kind: "salesforce_user",
        revert: None,
        permissions: PERMISSIONS,
    },
];

/// The catalogue entry of `respond salesforce`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "salesforce",
    summary: "Freezes Salesforce users or ends their sessions when incidents match, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(&["freeze_user", "end_sessions"]),
            "What to do: freeze_user (reverted by unfreezing) or end_sessions (irreversible) (docs/response.md).",
        ),
        stage::WHEN,
        stage::MODE,
        stage::EXPIRE,
        stage::PROTECTED,
        stage::MAX_PER_HOUR,
        stage::DRY_RUN,
        stage::ALLOW_IRREVERSIBLE,
        stage::TARGET,
        stage::CLOCK,
        stage::POLL_INTERVAL,
        AttrSpec::required(
            "instance_url",
            AttrType::String,
            "The org's My Domain URL, e.g. \"https://acme.my.salesforce.com\"; tokens are requested there.",
        ),
        AttrSpec::required(
            "client_id",
            AttrType::String,
            "The consumer key of the connected app with the client credentials flow enabled; its Run As user needs API Enabled and Manage Users.",
        ),
        AttrSpec::required("client_secret", AttrType::String, "The consumer secret of that app.")
            .sensitive(),
        AttrSpec::with_default(
            "api_version",
            AttrType::String,
            "\"62.0\"",
            "The REST API version, e.g. \"62.0\".",
        ),
        REQUEST_TIMEOUT_ATTR,
        saas::MAX_ATTEMPTS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond salesforce`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let (policy, clock) = stage::policy(&attrs, ctx.pipeline)?;
    let poll = attrs.duration("poll_interval")?;
    let client_id = attrs.string("client_id")?;
    if client_id.is_empty() {
        return Err(attrs.error("attribute `client_id` is empty"));
    }
    let client_secret = attrs
        .opt_secret("client_secret")?
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| attrs.error("attribute `client_secret` is empty"))?;
    let api_version = attrs.string("api_version")?;
    let version_ok = api_version.split_once('.').is_some_and(|(major, minor)| {
        [major, minor]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    });
    if !version_ok {
        return Err(attrs.error(format!(
            "attribute `api_version`: `{api_version}` is not a version such as \"62.0\""
        )));
    }
    let provider = SalesforceActions::new(
        &saas::client_settings(&attrs)?,
        base_url(&attrs, "instance_url")?,
        client_id,
        client_secret,
        api_version,
    )
    .map_err(|e| attrs.error(e))?;
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// A Salesforce `403`: the org's request allowance (`REQUEST_LIMIT_EXCEEDED`, waited
/// out like a `429`), or a missing permission.
fn forbidden(reply: &Reply) -> Forbidden {
    if error_codes(&reply.body)
        .iter()
        .any(|c| c == "REQUEST_LIMIT_EXCEEDED")
    {
        Forbidden::Throttled
    } else {
        Forbidden::Denied(
            "the connected app's Run As user needs the API Enabled and Manage Users permissions (docs/response.md)".into(),
        )
    }
}

/// What a refusal names: the permission both actions need.
const MANAGE_USERS: &str = "Manage Users";

/// Salesforce refuses a change the user may not make with `403` (already worded
/// `missing permission ...`), or with `400 INSUFFICIENT_ACCESS_OR_READONLY`: worded
/// the same.
fn sf_error(e: ActError) -> ActError {
    if e.0.contains("INSUFFICIENT_ACCESS") && !e.0.starts_with("missing permission") {
        ActError(format!("missing permission {MANAGE_USERS}: {}", e.0))
    } else {
        e
    }
}

/// The string at `path` (`user.id`) of an incident.
fn text<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(doc, |v, k| v.as_object()?.get(k))
        .and_then(Value::as_str)
}

/// The string at `key` of an answer or a captured state.
fn field<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(serde_json::Value::as_str)
}

/// A Salesforce record id: 15 or 18 letters and digits.
fn is_record_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A user's record id (key prefix `005`).
fn is_user_id(id: &str) -> bool {
    is_record_id(id) && id.starts_with("005")
}

/// A username Salesforce accepts (email-shaped) made only of characters that are
/// inert in a SOQL string literal.
fn is_username(name: &str) -> bool {
    is_email(name)
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '+' | '-'))
}

/// `text` checked for a SOQL literal: letters, digits and `.@_+-` only.
fn soql_literal(text: &str) -> Result<&str, ActError> {
    let inert = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '+' | '-'));
    if inert {
        Ok(text)
    } else {
        Err(ActError(format!(
            "`{text}` is neither a Salesforce id nor a username; refusing to put it in a query"
        )))
    }
}

/// A record id the API returned, checked before it goes into a URL path.
fn record_id(record: &serde_json::Value) -> Result<&str, ActError> {
    field(record, "Id")
        .filter(|id| is_record_id(id))
        .ok_or_else(|| {
            ActError(format!(
                "Salesforce returned a record without a valid Id: {record}"
            ))
        })
}

/// The Salesforce actions over one connected app.
pub struct SalesforceActions {
    api: SaasApi,
    instance_url: Url,
    api_version: String,
}

impl SalesforceActions {
    pub(crate) fn new(
        settings: &ClientSettings,
        instance_url: Url,
        client_id: String,
        client_secret: Secret,
        api_version: String,
    ) -> Result<SalesforceActions, String> {
        let grant = ClientCredentialsGrant {
            token_url: join(&instance_url, "/services/oauth2/token"),
            client_id,
            client_secret,
        };
        let auth = Auth::Grant {
            grant: Arc::new(grant),
            cached: None,
        };
        Ok(SalesforceActions {
            api: SaasApi::new(settings, auth, Some(forbidden))?,
            instance_url,
            api_version,
        })
    }

    /// `{instance}/services/data/v{version}{rest}`, on the host the token names.
    async fn url(&self, rest: &str) -> Result<Url, ActError> {
        let base = match self
            .api
            .token_instance_url()
            .await
            .map_err(|e| ActError(e.message))?
        {
            Some(named) => Url::parse(&named).ok().filter(is_safe_url).ok_or_else(|| {
                ActError(
                    "the token response names an instance_url that is not an https:// URL".into(),
                )
            })?,
            None => self.instance_url.clone(),
        };
        Ok(join(
            &base,
            &format!("/services/data/v{}{rest}", self.api_version),
        ))
    }

    /// Every record of a SOQL query, following `nextRecordsUrl`.
    async fn query(&self, soql: &str) -> Result<Vec<serde_json::Value>, ActError> {
        let mut url = self.url("/query").await?;
        url.query_pairs_mut().append_pair("q", soql);
        let mut records = Vec::new();
        loop {
            let page = self
                .api
                .expect(Method::GET, &url, None, MANAGE_USERS, "the query")
                .await
                .map_err(sf_error)?;
            records.extend(
                page.get("records")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            match field(&page, "nextRecordsUrl") {
                Some(next) if page.get("done") == Some(&json!(false)) => {
                    url = followed_link(&url, next).map_err(|e| ActError(e.message))?;
                }
                _ => return Ok(records),
            }
        }
    }

    /// The target's user id: itself, or the user with that username.
    async fn user_id(&self, target: &Target) -> Result<String, ActError> {
        if is_user_id(&target.id) {
            return Ok(target.id.clone());
        }
        let username = soql_literal(&target.id)?;
        let users = self
            .query(&format!(
                "SELECT Id FROM User WHERE Username = '{username}'"
            ))
            .await?;
        match users.as_slice() {
            [user] => record_id(user).map(str::to_string),
            [] => Err(ActError(format!(
                "no Salesforce user has the username {username}"
            ))),
            _ => Err(ActError(format!(
                "several Salesforce users have the username {username}"
            ))),
        }
    }

    async fn capture_state(
        &self,
        action: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        let user_id = self.user_id(target).await?;
        let user = soql_literal(&user_id)?;
        match action {
            "freeze_user" => {
                let logins = self
                    .query(&format!(
                        "SELECT Id, IsFrozen FROM UserLogin WHERE UserId = '{user}'"
                    ))
                    .await?;
                let login = logins.first().ok_or_else(|| {
                    ActError(format!("Salesforce has no UserLogin for user {user_id}"))
                })?;
                Ok(json!({
                    "user_id": user_id,
                    "user_login_id": record_id(login)?,
                    "was_frozen": login.get("IsFrozen").and_then(serde_json::Value::as_bool).unwrap_or(false),
                }))
            }
            "end_sessions" => {
                let sessions = self
                    .query(&format!(
                        "SELECT Id FROM AuthSession WHERE UsersId = '{user}'"
                    ))
                    .await?;
                let ids = sessions
                    .iter()
                    .map(|s| record_id(s).map(str::to_string))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(json!({ "user_id": user_id, "sessions": ids }))
            }
            other => Err(ActError(format!("`{other}` is not a Salesforce action"))),
        }
    }

    /// `PATCH UserLogin/{id}` `{"IsFrozen": frozen}`.
    async fn set_frozen(&self, state: &serde_json::Value, frozen: bool) -> Result<Done, ActError> {
        let login = field(state, "user_login_id")
            .filter(|id| is_record_id(id))
            .ok_or_else(|| ActError("the captured state has no UserLogin id".into()))?;
        let url = self.url(&format!("/sobjects/UserLogin/{login}")).await?;
        self.api
            .expect(
                Method::PATCH,
                &url,
                Some(&json!({ "IsFrozen": frozen })),
                MANAGE_USERS,
                &format!("UserLogin {login}"),
            )
            .await
            .map_err(sf_error)?;
        Ok(Done::default())
    }

    async fn act(
        &self,
        action: &str,
        _target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            "freeze_user" if state.get("was_frozen") == Some(&json!(true)) => Ok(Done::default()),
            "freeze_user" => self.set_frozen(state, true).await,
            "end_sessions" => {
                for session in state
                    .get("sessions")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(serde_json::Value::as_str)
                    .filter(|id| is_record_id(id))
                {
                    let url = self
                        .url(&format!("/sobjects/AuthSession/{session}"))
                        .await?;
                    // Gone already (signed out, or a retry after a crash): the goal holds.
                    let answer = self
                        .api
                        .call(Method::DELETE, &url, None, MANAGE_USERS)
                        .await
                        .map_err(sf_error)?;
                    if let Answer::Rejected(why) = answer {
                        let text = format!("DELETE {}: {why}", display_url(&url));
                        return Err(sf_error(ActError(text)));
                    }
                }
                Ok(Done::default())
            }
            other => Err(ActError(format!("`{other}` is not a Salesforce action"))),
        }
    }

    async fn undo(&self, action: &str, state: &serde_json::Value) -> Result<Done, ActError> {
        match action {
            "freeze_user" if state.get("was_frozen") == Some(&json!(true)) => Ok(Done::default()),
            "freeze_user" => self.set_frozen(state, false).await,
            other => Err(ActError(format!(
                "`{other}` cannot be undone (an ended session cannot be given back)"
            ))),
        }
    }
}

impl Actions for SalesforceActions {
    fn provider(&self) -> &'static str {
        "salesforce"
    }

    fn actions(&self) -> &'static [ActionInfo] {
        ACTIONS
    }

    /// A user id from `target`, else `user.id` when it is a Salesforce user id, else
    /// the `user` entity's id (a username, or a user id).
    fn target(
        &self,
        action: &str,
        incident: &Value,
        given: Option<&str>,
    ) -> Result<Target, String> {
        if self.info(action).is_none() {
            return Err(format!("`{action}` is not a Salesforce action"));
        }
        let named = match (given, text(incident, "user.id")) {
            (None, Some(id)) if is_user_id(id) => id.to_string(),
            _ => user_target(incident, given, "Salesforce")?.id,
        };
        let named = named.as_str();
        if !is_user_id(named) && !is_username(named) {
            return Err(format!(
                "`{named}` is neither a Salesforce user id (005…) nor a username"
            ));
        }
        Ok(Target {
            kind: "salesforce_user".to_string(),
            id: named.to_string(),
            name: named.to_string(),
            account: None,
        })
    }

    fn capture<'a>(
        &'a self,
        action: &'a str,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<serde_json::Value, ActError>> {
        Box::pin(self.capture_state(action, target))
    }

    fn execute<'a>(
        &'a self,
        action: &'a str,
        target: &'a Target,
        state: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Done, ActError>> {
        Box::pin(self.act(action, target, state))
    }

    fn revert<'a>(
        &'a self,
        action: &'a str,
        _target: &'a Target,
        state: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Done, ActError>> {
        Box::pin(self.undo(action, state))
    }
}

#[cfg(test)]
mod tests;
