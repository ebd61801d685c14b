//! `respond dropbox`: suspend a Dropbox team member through the team API, with the
//! refresh-token grant the `dropbox` source uses.
//!
//! - `suspend_member`: `POST /2/team/members/get_info_v2` reads the member's status
//!   first, then `POST /2/team/members/suspend` with `{"user": {".tag":
//!   "team_member_id", …}, "wipe_data": false}`. `wipe_data` is always sent, and always
//!   `false`: Dropbox's default is `true`, which erases the member's files from their
//!   linked devices — not something a reversible containment may do. Undone by `POST
//!   /2/team/members/unsuspend`, only if the member was active before.
//!
//! The target is a team member id (`dbmid:…`) or the member's email, from `target` or
//! the incident's `user` entity (whose id is the user's email, lowercased).
//!
//! Not offered: revoking a shared link (`/2/sharing/revoke_shared_link`) is a user
//! endpoint; a team app must name the link's owner in `Dropbox-API-Select-User`, which
//! an incident does not give.

use super::engine::Responder;
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use super::saas::{self, is_email, user_target, Answer, SaasApi};
use super::stage;
use crate::sources::api::client::{Auth, ClientSettings};
use crate::sources::api::error::display_url;
use crate::sources::api::{base_url, join, REQUEST_TIMEOUT_ATTR};
use crate::sources::dropbox::refresh_token_grant;
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

/// Every Dropbox action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[ActionInfo {
    name: "suspend_member",
    target_kind: "dropbox_member",
    revert: Some("unsuspend_member"),
    permissions: &["members.read", "members.write"],
}];

const DEFAULT_API_URL: &str = "https://api.dropboxapi.com";
const DEFAULT_LOGIN_URL: &str = "https://api.dropbox.com";

/// The catalogue entry of `respond dropbox`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "dropbox",
    summary: "Suspends Dropbox team members (never wiping their devices) when incidents match, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(&["suspend_member"]),
            "What to do: suspend_member, reverted by unsuspending (docs/response.md).",
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
            "client_id",
            AttrType::String,
            "The App key of a scoped Dropbox app with team access and the scopes members.read and members.write.",
        ),
        AttrSpec::required("client_secret", AttrType::String, "The App secret.").sensitive(),
        AttrSpec::required(
            "refresh_token",
            AttrType::String,
            "A refresh token from a team admin authorising the app (OAuth code flow with `token_access_type=offline`).",
        )
        .sensitive(),
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
        REQUEST_TIMEOUT_ATTR,
        saas::MAX_ATTEMPTS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond dropbox`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let (policy, clock) = stage::policy(&attrs, ctx.pipeline)?;
    let poll = attrs.duration("poll_interval")?;
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
    let url_or = |key: &str, default: &str| match attrs.raw(key) {
        Some(_) => base_url(&attrs, key),
        None => Url::parse(default).map_err(|e| attrs.error(format!("{default}: {e}"))),
    };
    let provider = DropboxActions::new(
        &saas::client_settings(&attrs)?,
        url_or("api_url", DEFAULT_API_URL)?,
        &url_or("login_url", DEFAULT_LOGIN_URL)?,
        &client_id,
        &secret("client_secret")?,
        &secret("refresh_token")?,
    )
    .map_err(|e| attrs.error(e))?;
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// What to fix when Dropbox refuses the token or a call.
const API_HELP: &str = "give the app the team scopes members.read and members.write (App Console → Permissions) and have a team admin authorise it again for a new refresh_token; see docs/response.md";

/// A team member id: `dbmid:` and letters, digits, `_` or `-`.
fn is_member_id(id: &str) -> bool {
    id.strip_prefix("dbmid:").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    })
}

/// Dropbox's selector of a member (`UserSelectorArg`).
fn selector(target: &str) -> serde_json::Value {
    if is_member_id(target) {
        json!({ ".tag": "team_member_id", "team_member_id": target })
    } else {
        json!({ ".tag": "email", "email": target })
    }
}

/// A refusal as docs/response.md words it. Dropbox says a missing scope with `401
/// missing_scope` (after which the client has fetched a new token once); a `403` (a
/// missing admin role) is worded so already.
fn scope_error(scope: &'static str) -> impl Fn(ActError) -> ActError {
    move |e| {
        if e.0.contains("HTTP 401") && e.0.contains("missing_scope") {
            ActError(format!("missing permission {scope}: {}", e.0))
        } else {
            e
        }
    }
}

/// The string at `key` of an answer or a captured state.
fn field<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(serde_json::Value::as_str)
}

/// The Dropbox actions over one team app.
pub struct DropboxActions {
    api: SaasApi,
    api_url: Url,
}

impl DropboxActions {
    pub(crate) fn new(
        settings: &ClientSettings,
        api_url: Url,
        login_url: &Url,
        client_id: &str,
        client_secret: &Secret,
        refresh_token: &Secret,
    ) -> Result<DropboxActions, String> {
        let mut grant = refresh_token_grant(login_url, client_id, client_secret, refresh_token);
        grant.api_help = API_HELP;
        let auth = Auth::Grant {
            grant: Arc::new(grant),
            cached: None,
        };
        Ok(DropboxActions {
            api: SaasApi::new(settings, auth, None)?,
            api_url,
        })
    }

    /// Posts `body` to an RPC endpoint: its JSON answer, or the route's own error
    /// (`409`: `suspend_inactive_user/...`) for the caller to read.
    async fn rpc(
        &self,
        route: &str,
        body: &serde_json::Value,
        scope: &'static str,
    ) -> Result<Result<serde_json::Value, String>, ActError> {
        let url = join(&self.api_url, route);
        let answer = self
            .api
            .call(Method::POST, &url, Some(body), scope)
            .await
            .map_err(scope_error(scope))?;
        match answer {
            Answer::Found(value) => Ok(Ok(value)),
            Answer::Rejected(why) => Ok(Err(why)),
            Answer::NotFound => Err(ActError(format!(
                "POST {}: HTTP 404 (no such route: check api_url)",
                display_url(&url)
            ))),
        }
    }

    /// A route's error the caller did not expect, as an error.
    fn rejected(route: &str, target: &Target, why: &str) -> ActError {
        ActError(format!("POST {route} for {}: {why}", target.id))
    }

    async fn capture_state(&self, target: &Target) -> Result<serde_json::Value, ActError> {
        let route = "/2/team/members/get_info_v2";
        let answer = self
            .rpc(
                route,
                &json!({ "members": [selector(&target.id)] }),
                "members.read",
            )
            .await?
            .map_err(|why| Self::rejected(route, target, &why))?;
        let info = answer
            .get("members_info")
            .and_then(serde_json::Value::as_array)
            .and_then(|items| items.first())
            .ok_or_else(|| ActError(format!("{route}: the answer lists no member")))?;
        if field(info, ".tag") != Some("member_info") {
            return Err(ActError(format!(
                "the Dropbox team has no member {}",
                target.id
            )));
        }
        let profile = info.get("profile").cloned().unwrap_or_default();
        let member_id = field(&profile, "team_member_id")
            .filter(|id| is_member_id(id))
            .ok_or_else(|| ActError(format!("{route}: the member has no valid team_member_id")))?;
        Ok(json!({
            "team_member_id": member_id,
            "email": field(&profile, "email"),
            "status": profile.get("status").and_then(|s| field(s, ".tag")),
        }))
    }

    /// The captured member's selector by id (the id never changes; an email can).
    fn member(state: &serde_json::Value) -> Result<serde_json::Value, ActError> {
        field(state, "team_member_id")
            .filter(|id| is_member_id(id))
            .map(selector)
            .ok_or_else(|| ActError("the captured state has no team_member_id".into()))
    }

    async fn act(&self, target: &Target, state: &serde_json::Value) -> Result<Done, ActError> {
        match field(state, "status") {
            Some("active") => {}
            Some("suspended") => return Ok(Done::default()),
            other => {
                return Err(ActError(format!(
                    "member {} is {}, not active: there is nothing to suspend",
                    target.id,
                    other.unwrap_or("of unknown status")
                )))
            }
        }
        let route = "/2/team/members/suspend";
        // wipe_data defaults to true on Dropbox's side: always say false.
        let body = json!({ "user": Self::member(state)?, "wipe_data": false });
        match self.rpc(route, &body, "members.write").await? {
            Ok(_) => Ok(Done::default()),
            // Suspended already (a retry after a crash): the goal holds.
            Err(why) if why.contains("suspend_inactive_user") => Ok(Done::default()),
            Err(why) => Err(Self::rejected(route, target, &why)),
        }
    }

    async fn undo(&self, target: &Target, state: &serde_json::Value) -> Result<Done, ActError> {
        if field(state, "status") != Some("active") {
            return Ok(Done::default());
        }
        let route = "/2/team/members/unsuspend";
        let body = json!({ "user": Self::member(state)? });
        match self.rpc(route, &body, "members.write").await? {
            Ok(_) => Ok(Done::default()),
            // Active again already: the goal holds.
            Err(why) if why.contains("unsuspend_non_suspended_member") => Ok(Done::default()),
            Err(why) => Err(Self::rejected(route, target, &why)),
        }
    }
}

impl Actions for DropboxActions {
    fn provider(&self) -> &'static str {
        "dropbox"
    }

    fn actions(&self) -> &'static [ActionInfo] {
        ACTIONS
    }

    fn target(
        &self,
        action: &str,
        incident: &Value,
        given: Option<&str>,
    ) -> Result<Target, String> {
        if self.info(action).is_none() {
            return Err(format!("`{action}` is not a Dropbox action"));
        }
        let named = user_target(incident, given, "Dropbox")?.id;
        let named = named.as_str();
        if !is_member_id(named) && !is_email(named) {
            return Err(format!(
                "`{named}` is neither a Dropbox team member id (dbmid:…) nor an email"
            ));
        }
        Ok(Target {
            kind: "dropbox_member".to_string(),
            id: named.to_string(),
            name: named.to_string(),
            account: None,
        })
    }

    fn capture<'a>(
        &'a self,
        _action: &'a str,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<serde_json::Value, ActError>> {
        Box::pin(self.capture_state(target))
    }

    fn execute<'a>(
        &'a self,
        _action: &'a str,
        target: &'a Target,
        state: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Done, ActError>> {
        Box::pin(self.act(target, state))
    }

    fn revert<'a>(
        &'a self,
        _action: &'a str,
        target: &'a Target,
        state: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Done, ActError>> {
        Box::pin(self.undo(target, state))
    }
}

#[cfg(test)]
mod tests;
