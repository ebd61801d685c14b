//! `respond graph`: contain Entra ID users and OneDrive/SharePoint sharing through
//! Microsoft Graph (v1.0), with an app registration's client credentials (scope
//! `<graph host>/.default`, the government clouds' hosts from `cloud`).
//!
//! Targets: user actions act on the incident's `user` entity (its UPN or email, which
//! Graph accepts in place of the object id); `remove_sharing_link` needs `target`
//! naming a drive item (`<drive-id>/<item-id>`, optionally `/<permission-id>`), as
//! incidents carry no drive item entity.

use super::engine::Responder;
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use super::saas::{self, Answer, SaasApi};
use super::stage;
use crate::sources::api::client::{Auth, Forbidden, Reply};
use crate::sources::api::error::display_url;
use crate::sources::api::microsoft::{
    Cloud, MicrosoftApp, API_URL_ATTR, CLIENT_ID_ATTR, CLIENT_SECRET_ATTR, CLOUD_ATTR,
    LOGIN_URL_ATTR, TENANT_ID_ATTR,
};
use crate::sources::api::{join, REQUEST_TIMEOUT_ATTR};
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use serde_json::json;

/// Every Graph action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "revoke_sessions",
        target_kind: "user",
        revert: None,
        permissions: &["User.RevokeSessions.All"],
    },
    ActionInfo {
        name: "disable_user",
        target_kind: "user",
        revert: Some("enable_user"),
        permissions: &["User.Read.All", "User.EnableDisableAccount.All"],
    },
    ActionInfo {
        name: "remove_sharing_link",
        target_kind: "sharing_link",
        revert: Some("restore_sharing_link"),
        permissions: &["Files.ReadWrite.All"],
    },
];

const ACTION_NAMES: &[&str] = &["revoke_sessions", "disable_user", "remove_sharing_link"];

/// The catalogue entry of `respond graph`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "graph",
    summary: "Contains Entra ID users (revoke sign-in sessions, disable) and OneDrive/SharePoint sharing (remove a sharing link or permission) through Microsoft Graph when incidents match, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(ACTION_NAMES),
            "What to do: revoke_sessions, disable_user, remove_sharing_link (docs/response.md).",
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
        TENANT_ID_ATTR,
        CLIENT_ID_ATTR,
        CLIENT_SECRET_ATTR,
        CLOUD_ATTR,
        LOGIN_URL_ATTR,
        API_URL_ATTR,
        REQUEST_TIMEOUT_ATTR,
        saas::MAX_ATTEMPTS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond graph`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let (policy, clock) = stage::policy(&attrs, ctx.pipeline)?;
    let poll = attrs.duration("poll_interval")?;
    let app = MicrosoftApp::from_attrs(&attrs, Cloud::graph)?;
    let settings = saas::client_settings(&attrs)?;
    let api = SaasApi::new(
        &settings,
        Auth::ClientCredentials {
            credentials: app.credentials,
            cached: None,
        },
        Some(forbidden),
    )
    .map_err(|e| attrs.error(e))?;
    let provider = GraphActions {
        api,
        base: app.api_url,
    };
    if policy.action == "remove_sharing_link" && policy.target.is_none() {
        return Err(attrs.error(
            "`remove_sharing_link` needs `target`: an expression naming the drive item (`<drive-id>/<item-id>` or `<drive-id>/<item-id>/<permission-id>`), as incidents carry no drive item entity",
        ));
    }
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// Graph's `403`: the app lacks an application permission (or admin consent).
fn forbidden(_reply: &Reply) -> Forbidden {
    Forbidden::Denied(
        "grant the app registration this Microsoft Graph application permission, with admin consent (docs/response.md)".into(),
    )
}

/// The Graph actions of one app registration.
pub struct GraphActions {
    api: SaasApi,
    /// `https://graph.microsoft.com` (or the cloud's host, or `api_url`).
    base: Url,
}

/// A drive item and, optionally, one of its permissions.
struct DriveItem<'a> {
    drive: &'a str,
    item: &'a str,
    permission: Option<&'a str>,
}

/// `<drive>/<item>[/<permission>]`, or Graph's own `drives/<drive>/items/<item>[/permissions/<permission>]`.
fn drive_item(text: &str) -> Option<DriveItem<'_>> {
    let parts: Vec<&str> = text.trim_matches('/').split('/').collect();
    let ids: Vec<&str> = match parts.as_slice() {
        ["drives", drive, "items", item] => vec![*drive, *item],
        ["drives", drive, "items", item, "permissions", permission] => {
            vec![*drive, *item, *permission]
        }
        [drive, item] => vec![*drive, *item],
        [drive, item, permission] => vec![*drive, *item, *permission],
        _ => return None,
    };
    if ids
        .iter()
        .any(|id| id.is_empty() || id.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return None;
    }
    Some(DriveItem {
        drive: ids.first().copied()?,
        item: ids.get(1).copied()?,
        permission: ids.get(2).copied(),
    })
}

/// The part of a drive item permission a revert needs (never the link's URL: a sharing
/// link is a bearer secret, and the audit record keeps this state).
fn kept_permission(p: &serde_json::Value) -> serde_json::Value {
    let mut recipients = Vec::new();
    let mut add = |identity: &serde_json::Value| {
        let user = &identity["user"];
        let recipient = match (user["email"].as_str(), user["id"].as_str()) {
            (Some(email), _) => json!({ "email": email }),
            (None, Some(id)) => json!({ "objectId": id }),
            _ => return,
        };
        if !recipients.contains(&recipient) {
            recipients.push(recipient);
        }
    };
    add(&p["grantedToV2"]);
    add(&p["grantedTo"]);
    for identity in p["grantedToIdentitiesV2"].as_array().into_iter().flatten() {
        add(identity);
    }
    if let Some(email) = p["invitation"]["email"].as_str() {
        let recipient = json!({ "email": email });
        if !recipients.contains(&recipient) {
            recipients.push(recipient);
        }
    }
    json!({
        "id": p["id"],
        "roles": p["roles"],
        "link": p.get("link").filter(|l| l.is_object()).map(|l| json!({ "type": l["type"], "scope": l["scope"] })),
        "expirationDateTime": p["expirationDateTime"],
        "hasPassword": p["hasPassword"],
        "recipients": recipients,
    })
}

impl GraphActions {
    fn url(&self, path: &str) -> Url {
        join(&self.base, path)
    }

    fn user_url(&self, target: &Target, tail: &str) -> Url {
        self.url(&format!("/v1.0/users/{}{tail}", saas::segment(&target.id)))
    }

    fn item_path(item: &DriveItem<'_>) -> String {
        format!(
            "/v1.0/drives/{}/items/{}",
            saas::segment(item.drive),
            saas::segment(item.item)
        )
    }

    fn item_of(target: &Target) -> Result<DriveItem<'_>, ActError> {
        drive_item(&target.id)
            .ok_or_else(|| ActError(format!("`{}` names no drive item", target.id)))
    }

    async fn capture_state(
        &self,
        action: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        match action {
            // Nothing to undo with: signing out cannot be taken back.
            "revoke_sessions" => Ok(json!({})),
            "disable_user" => {
                let mut url = self.user_url(target, "");
                url.set_query(Some("$select=id,userPrincipalName,accountEnabled"));
                let user = self
                    .api
                    .expect(
                        Method::GET,
                        &url,
                        None,
                        "User.Read.All",
                        &format!("user {}", target.id),
                    )
                    .await?;
                let enabled = user["accountEnabled"].as_bool().ok_or_else(|| {
                    ActError(format!(
                        "Graph did not say whether user {} is enabled (`accountEnabled`)",
                        target.id
                    ))
                })?;
                Ok(json!({ "accountEnabled": enabled, "object_id": user["id"] }))
            }
            "remove_sharing_link" => {
                let item = Self::item_of(target)?;
                let url = self.url(&format!("{}/permissions", Self::item_path(&item)));
                let listed = self
                    .api
                    .expect(
                        Method::GET,
                        &url,
                        None,
                        "Files.ReadWrite.All",
                        &format!("drive item {}/{}", item.drive, item.item),
                    )
                    .await?;
                let all = listed["value"].as_array().cloned().unwrap_or_default();
                let chosen: Vec<&serde_json::Value> = match item.permission {
                    Some(id) => {
                        let found = all
                            .iter()
                            .find(|p| p["id"].as_str() == Some(id))
                            .ok_or_else(|| {
                                ActError(format!(
                                    "drive item {}/{} has no permission {id}",
                                    item.drive, item.item
                                ))
                            })?;
                        vec![found]
                    }
                    // Without a permission id: every anonymous ("anyone") link.
                    None => all
                        .iter()
                        .filter(|p| p["link"]["scope"].as_str() == Some("anonymous"))
                        .collect(),
                };
                for p in &chosen {
                    let id = p["id"].as_str().unwrap_or_default();
                    if p["roles"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|r| r == "owner"))
                    {
                        return Err(ActError(format!(
                            "permission {id} is the item's owner, which cannot be removed"
                        )));
                    }
                    if p["inheritedFrom"].is_object() {
                        return Err(ActError(format!(
                            "permission {id} is inherited from a parent folder; remove it there"
                        )));
                    }
                }
                let kept: Vec<serde_json::Value> =
                    chosen.into_iter().map(kept_permission).collect();
                Ok(json!({ "permissions": kept }))
            }
            other => Err(ActError(format!("`{other}` is not a Graph action"))),
        }
    }

    async fn set_enabled(&self, target: &Target, enabled: bool) -> Result<(), ActError> {
        self.api
            .expect(
                Method::PATCH,
                &self.user_url(target, ""),
                Some(&json!({ "accountEnabled": enabled })),
                "User.EnableDisableAccount.All",
                &format!("user {}", target.id),
            )
            .await
            .map(|_| ())
    }

    async fn act(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            "revoke_sessions" => {
                self.api
                    .expect(
                        Method::POST,
                        &self.user_url(target, "/revokeSignInSessions"),
                        None,
                        "User.RevokeSessions.All",
                        &format!("user {}", target.id),
                    )
                    .await?;
            }
            // Setting `false` again is harmless, so a retry after a crash is too.
            "disable_user" => self.set_enabled(target, false).await?,
            "remove_sharing_link" => {
                let item = Self::item_of(target)?;
                for p in state["permissions"].as_array().into_iter().flatten() {
                    let Some(id) = p["id"].as_str() else { continue };
                    let url = self.url(&format!(
                        "{}/permissions/{}",
                        Self::item_path(&item),
                        saas::segment(id)
                    ));
                    match self
                        .api
                        .call(Method::DELETE, &url, None, "Files.ReadWrite.All")
                        .await?
                    {
                        // 404: already removed (a retry after a crash).
                        Answer::Found(_) | Answer::NotFound => {}
                        Answer::Rejected(why) => {
                            return Err(ActError(format!("DELETE {}: {why}", display_url(&url))))
                        }
                    }
                }
            }
            other => return Err(ActError(format!("`{other}` is not a Graph action"))),
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
            "disable_user" => {
                // A user disabled before the incident stays disabled.
                if state["accountEnabled"].as_bool() == Some(true) {
                    self.set_enabled(target, true).await?;
                }
            }
            "remove_sharing_link" => {
                let item = Self::item_of(target)?;
                for p in state["permissions"].as_array().into_iter().flatten() {
                    self.restore_permission(&item, p).await?;
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

    /// A link with the same type and scope (a new URL: the old one is gone for good),
    /// or for a grant to people (or a link for specific people) an invitation of the
    /// same people with the same roles, sent silently.
    async fn restore_permission(
        &self,
        item: &DriveItem<'_>,
        p: &serde_json::Value,
    ) -> Result<(), ActError> {
        let path = Self::item_path(item);
        let id = p["id"].as_str().unwrap_or_default();
        let link = &p["link"];
        let scope = link["scope"].as_str();
        if matches!(scope, Some("anonymous" | "organization")) {
            let mut body = json!({ "type": link["type"], "scope": scope });
            if let Some(expires) = p["expirationDateTime"].as_str() {
                body["expirationDateTime"] = json!(expires);
            }
            self.api
                .expect(
                    Method::POST,
                    &self.url(&format!("{path}/createLink")),
                    Some(&body),
                    "Files.ReadWrite.All",
                    &format!("drive item {}/{}", item.drive, item.item),
                )
                .await?;
            return Ok(());
        }
        let recipients = p["recipients"].as_array().cloned().unwrap_or_default();
        if recipients.is_empty() {
            return Err(ActError(format!(
                "permission {id} named no person to invite again; it cannot be restored"
            )));
        }
        let roles: Vec<&str> = p["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str())
            .filter(|r| matches!(*r, "read" | "write"))
            .collect();
        let roles = if roles.is_empty() {
            vec!["read"]
        } else {
            roles
        };
        let mut body = json!({
            "recipients": recipients,
            "roles": roles,
            "requireSignIn": true,
            "sendInvitation": false,
        });
        if let Some(expires) = p["expirationDateTime"].as_str() {
            body["expirationDateTime"] = json!(expires);
        }
        self.api
            .expect(
                Method::POST,
                &self.url(&format!("{path}/invite")),
                Some(&body),
                "Files.ReadWrite.All",
                &format!("drive item {}/{}", item.drive, item.item),
            )
            .await?;
        Ok(())
    }
}

impl Actions for GraphActions {
    fn provider(&self) -> &'static str {
        "graph"
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
        let info = self
            .info(action)
            .ok_or_else(|| format!("`{action}` is not a Graph action"))?;
        if info.target_kind == "user" {
            return saas::user_target(incident, given, "Entra ID");
        }
        let named = given.filter(|g| !g.is_empty()).ok_or_else(|| {
            "the `target` expression gave no drive item for this incident".to_string()
        })?;
        let item = drive_item(named).ok_or_else(|| {
            format!(
                "`{named}` is not `<drive-id>/<item-id>` or `<drive-id>/<item-id>/<permission-id>`"
            )
        })?;
        let id = match item.permission {
            Some(p) => format!("{}/{}/{p}", item.drive, item.item),
            None => format!("{}/{}", item.drive, item.item),
        };
        Ok(Target {
            kind: info.target_kind.to_string(),
            id: id.clone(),
            name: id,
            account: None,
        })
    }

    super::provider::lifecycle_by_inherent_methods!();
}

#[cfg(test)]
mod tests;
