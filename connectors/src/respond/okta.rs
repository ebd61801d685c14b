//! `respond okta`: contain Okta users through the Users API, with an API token sent as
//! `Authorization: SSWS <token>` (as `source okta` does).
//!
//! Targets: the incident's `user` entity (its login or email, which Okta accepts in
//! place of the user id), or the `target` expression.

use super::engine::Responder;
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use super::saas::{self, Answer, SaasApi};
use super::stage;
use crate::sources::api::client::{Auth, Forbidden, Reply};
use crate::sources::api::error::display_url;
use crate::sources::api::{base_url, join, REQUEST_TIMEOUT_ATTR};
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use serde_json::json;

/// Every Okta action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "suspend_user",
        target_kind: "user",
        revert: Some("unsuspend_user"),
        permissions: &["okta.users.read", "okta.users.manage"],
    },
    ActionInfo {
        name: "clear_sessions",
        target_kind: "user",
        revert: None,
        permissions: &["okta.users.manage"],
    },
];

const ACTION_NAMES: &[&str] = &["suspend_user", "clear_sessions"];

/// The catalogue entry of `respond okta`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "okta",
    summary: "Contains Okta users (suspend, clear sessions) through the Okta Users API when incidents match, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(ACTION_NAMES),
            "What to do: suspend_user, clear_sessions (docs/response.md).",
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
            "domain",
            AttrType::String,
            "The Okta org URL, e.g. \"https://acme.okta.com\".",
        ),
        AttrSpec::required(
            "api_token",
            AttrType::String,
            "An API token of an administrator allowed to manage users' lifecycle and sessions (docs/response.md), sent as `Authorization: SSWS <token>`.",
        )
        .sensitive(),
        REQUEST_TIMEOUT_ATTR,
        saas::MAX_ATTEMPTS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond okta`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let (policy, clock) = stage::policy(&attrs, ctx.pipeline)?;
    let poll = attrs.duration("poll_interval")?;
    let token = attrs
        .opt_secret("api_token")?
        .filter(|t| !t.expose().is_empty())
        .ok_or_else(|| attrs.error("attribute `api_token` is empty"))?;
    let api = SaasApi::new(
        &saas::client_settings(&attrs)?,
        Auth::Token {
            scheme: "SSWS",
            token,
        },
        Some(forbidden),
    )
    .map_err(|e| attrs.error(e))?;
    let provider = OktaActions {
        api,
        domain: base_url(&attrs, "domain")?,
    };
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// Okta's `403` (`E0000006`): the token's administrator may not do this.
fn forbidden(_reply: &Reply) -> Forbidden {
    Forbidden::Denied(
        "the API token's administrator may not manage this user (a super or org administrator, or a custom role with the user lifecycle and session permissions; docs/response.md)".into(),
    )
}

/// The Okta actions of one org and token.
pub struct OktaActions {
    api: SaasApi,
    domain: Url,
}

impl OktaActions {
    fn user_url(&self, target: &Target, tail: &str) -> Url {
        join(
            &self.domain,
            &format!("/api/v1/users/{}{tail}", saas::segment(&target.id)),
        )
    }

    /// The user's `status` (`ACTIVE`, `SUSPENDED`, `DEPROVISIONED`...).
    async fn status(&self, target: &Target) -> Result<String, ActError> {
        let user = self
            .api
            .expect(
                Method::GET,
                &self.user_url(target, ""),
                None,
                "okta.users.read",
                &format!("user {}", target.id),
            )
            .await?;
        user["status"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ActError(format!("Okta gave no status for user {}", target.id)))
    }

    /// A lifecycle operation, taken as done when the user already is in `goal` (Okta
    /// refuses to suspend a suspended user: a retry after a crash).
    async fn lifecycle(
        &self,
        target: &Target,
        operation: &str,
        goal: &str,
    ) -> Result<(), ActError> {
        let url = self.user_url(target, &format!("/lifecycle/{operation}"));
        let request = format!("POST {}", display_url(&url));
        match self
            .api
            .call(Method::POST, &url, None, "okta.users.manage")
            .await?
        {
            Answer::Found(_) => Ok(()),
            Answer::NotFound => Err(ActError(format!(
                "{request}: user {} not found (HTTP 404)",
                target.id
            ))),
            Answer::Rejected(why) => {
                let status = self.status(target).await?;
                if status == goal {
                    Ok(())
                } else {
                    Err(ActError(format!("{request}: {why} (the user is {status})")))
                }
            }
        }
    }

    async fn capture_state(
        &self,
        action: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        match action {
            "suspend_user" => Ok(json!({ "status": self.status(target).await? })),
            // Nothing to undo with: cleared sessions cannot be restored.
            "clear_sessions" => Ok(json!({})),
            other => Err(ActError(format!("`{other}` is not an Okta action"))),
        }
    }

    async fn act(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            "suspend_user" => match state["status"].as_str() {
                Some("ACTIVE") => self.lifecycle(target, "suspend", "SUSPENDED").await?,
                // Already suspended before the incident: nothing to do, nothing to undo.
                Some("SUSPENDED") => {}
                other => {
                    return Err(ActError(format!(
                        "user {} is {}; Okta suspends only ACTIVE users",
                        target.id,
                        other.unwrap_or("of unknown status")
                    )))
                }
            },
            "clear_sessions" => {
                self.api
                    .expect(
                        Method::DELETE,
                        &self.user_url(target, "/sessions"),
                        None,
                        "okta.users.manage",
                        &format!("user {}", target.id),
                    )
                    .await?;
            }
            other => return Err(ActError(format!("`{other}` is not an Okta action"))),
        }
        Ok(Done::default())
    }

    async fn undo(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            "suspend_user" => {
                // Only a user we suspended is unsuspended.
                if state["status"].as_str() == Some("ACTIVE") {
                    self.lifecycle(target, "unsuspend", "ACTIVE").await?;
                }
            }
            other => {
                return Err(ActError(format!(
                    "`{other}` cannot be undone (the provider offers no way back)"
                )))
            }
        }
        Ok(Done::default())
    }
}

impl Actions for OktaActions {
    fn provider(&self) -> &'static str {
        "okta"
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
        self.info(action)
            .ok_or_else(|| format!("`{action}` is not an Okta action"))?;
        saas::user_target(incident, given, "Okta")
    }

    super::provider::lifecycle_by_inherent_methods!();
}

#[cfg(test)]
mod tests;
