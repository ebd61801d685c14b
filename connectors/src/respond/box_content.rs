//! `respond box`: take a file's or folder's shared link away, or remove a
//! collaboration, through the Box API with the Client Credentials Grant the `box`
//! source uses (the token acts as the enterprise's service account). (The file is not
//! `box.rs` because `box` is a Rust keyword; the component type is `box`.)
//!
//! - `remove_shared_link`: `GET /2.0/{files|folders}/{id}?fields=shared_link`, then
//!   `PUT` the same with `{"shared_link": null}`. Undone by `PUT` with `{"shared_link":
//!   {"access", "permissions", "unshared_at"}}` as captured: a new link with the same
//!   reach, but a new URL (Box never reuses one). A password cannot be read back, so a
//!   link that had one is not recreated (the revert fails and says so) rather than
//!   recreated without it.
//! - `remove_collaboration`: `GET`, then `DELETE /2.0/collaborations/{id}`; undone by
//!   `POST /2.0/collaborations?notify=false` with the same item, person or group and
//!   role (a new collaboration id; a pending invitation is sent again).
//!
//! Incidents carry no Box item, so `target` names it: `file:123`, `folder:456`, or a
//! bare id (a file; for `remove_collaboration`, the collaboration id).

use super::engine::Responder;
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use super::saas::{self, Answer, SaasApi};
use super::stage;
use crate::sources::api::client::{Auth, ClientSettings};
use crate::sources::api::error::display_url;
use crate::sources::api::{base_url, join, REQUEST_TIMEOUT_ATTR};
use crate::sources::box_events::enterprise_grant;
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::config::Attrs;
use pipectl_core::secrets::Secret;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use serde_json::json;
use std::sync::Arc;

/// The application scope both actions need: "Read and write all files and folders
/// stored in Box".
const SCOPE: &str = "root_readwrite";

/// Every Box action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "remove_shared_link",
        target_kind: "box_item",
        revert: Some("restore_shared_link"),
        permissions: &[SCOPE],
    },
    ActionInfo {
        name: "remove_collaboration",
        target_kind: "box_collaboration",
        revert: Some("restore_collaboration"),
        permissions: &[SCOPE],
    },
];

const DEFAULT_API_URL: &str = "https://api.box.com";

/// The catalogue entry of `respond box`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "box",
    summary: "Removes Box shared links and collaborations when incidents match, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(&["remove_shared_link", "remove_collaboration"]),
            "What to do: remove_shared_link (a file's or folder's) or remove_collaboration (docs/response.md).",
        ),
        stage::WHEN,
        stage::MODE,
        stage::EXPIRE,
        stage::PROTECTED,
        stage::MAX_PER_HOUR,
        stage::DRY_RUN,
        stage::ALLOW_IRREVERSIBLE,
        AttrSpec::required(
            "target",
            AttrType::Expr,
            "An expression over the incident naming the item: `file:123`, `folder:456` or a bare file id for remove_shared_link, the collaboration id for remove_collaboration (incidents carry no Box item; set it with a script, e.g. `labels.box_item`).",
        ),
        stage::CLOCK,
        stage::POLL_INTERVAL,
        AttrSpec::required(
            "client_id",
            AttrType::String,
            "The Client ID of a Box Platform app using Server Authentication (Client Credentials Grant), with the scope \"Read and write all files and folders stored in Box\".",
        ),
        AttrSpec::required("client_secret", AttrType::String, "The app's Client Secret.")
            .sensitive(),
        AttrSpec::required(
            "enterprise_id",
            AttrType::String,
            "The Box enterprise ID: the token acts for the enterprise's service account, which must be able to see the items acted on.",
        ),
        AttrSpec::optional(
            "api_url",
            AttrType::String,
            "Overrides https://api.box.com, the host of both the API and the token endpoint (a proxy, or a local test server).",
        ),
        REQUEST_TIMEOUT_ATTR,
        saas::MAX_ATTEMPTS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond box`.
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
    let enterprise_id = attrs.string("enterprise_id")?;
    if enterprise_id.is_empty() || !enterprise_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(attrs.error(format!(
            "attribute `enterprise_id`: `{enterprise_id}` is not a Box enterprise ID (digits)"
        )));
    }
    let api_url = match attrs.raw("api_url") {
        Some(_) => base_url(&attrs, "api_url")?,
        None => Url::parse(DEFAULT_API_URL)
            .map_err(|e| attrs.error(format!("{DEFAULT_API_URL}: {e}")))?,
    };
    let provider = BoxActions::new(
        &saas::client_settings(&attrs)?,
        api_url,
        &client_id,
        &client_secret,
        &enterprise_id,
    )
    .map_err(|e| attrs.error(e))?;
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// What to fix when Box refuses the token or a call.
const API_HELP: &str = "give the app the scope \"Read and write all files and folders stored in Box\" (root_readwrite) and App + Enterprise Access, have an admin re-authorise it (Platform Apps Manager), and make sure the service account can see the item (a collaborator on it, or co-admin); see docs/response.md";

/// A Box id: digits only (it goes into a URL path).
fn is_box_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_digit())
}

/// `(files|folders, id)` of a `box_item` target id (`file:123`, `folder:456`).
fn item_of(target: &Target) -> Result<(&'static str, &str), ActError> {
    match target.id.split_once(':') {
        Some(("file", id)) if is_box_id(id) => Ok(("files", id)),
        Some(("folder", id)) if is_box_id(id) => Ok(("folders", id)),
        _ => Err(ActError(format!(
            "`{}` names no Box file or folder",
            target.id
        ))),
    }
}

/// The fields of a shared link that recreate one with the same reach. The URL is left
/// out (it stops working when the link is removed); the password cannot be read.
fn link_settings(link: &serde_json::Value) -> serde_json::Value {
    if link.is_null() {
        return serde_json::Value::Null;
    }
    let permissions = link
        .get("permissions")
        .cloned()
        .unwrap_or_else(|| json!({}));
    json!({
        "access": link.get("access").cloned().unwrap_or(serde_json::Value::Null),
        "permissions": {
            "can_download": permissions.get("can_download").and_then(serde_json::Value::as_bool).unwrap_or(false),
            "can_edit": permissions.get("can_edit").and_then(serde_json::Value::as_bool).unwrap_or(false),
        },
        "unshared_at": link.get("unshared_at").cloned().unwrap_or(serde_json::Value::Null),
        "is_password_enabled": link.get("is_password_enabled").and_then(serde_json::Value::as_bool).unwrap_or(false),
    })
}

/// The body that recreates a removed link with the captured settings.
fn recreated_link(settings: &serde_json::Value) -> serde_json::Value {
    let mut link = json!({
        "access": settings.get("access").cloned().unwrap_or(serde_json::Value::Null),
        "permissions": { "can_download": settings["permissions"]["can_download"].as_bool().unwrap_or(false) },
    });
    // Box accepts can_edit only set to true, and only on files.
    if settings["permissions"]["can_edit"].as_bool() == Some(true) {
        link["permissions"]["can_edit"] = json!(true);
    }
    if let Some(at) = settings.get("unshared_at").filter(|v| !v.is_null()) {
        link["unshared_at"] = at.clone();
    }
    json!({ "shared_link": link })
}

/// The Box actions over one app.
pub struct BoxActions {
    api: SaasApi,
    api_url: Url,
}

impl BoxActions {
    pub(crate) fn new(
        settings: &ClientSettings,
        api_url: Url,
        client_id: &str,
        client_secret: &Secret,
        enterprise_id: &str,
    ) -> Result<BoxActions, String> {
        let mut grant = enterprise_grant(&api_url, client_id, client_secret, enterprise_id);
        grant.api_help = API_HELP;
        let auth = Auth::Grant {
            grant: Arc::new(grant),
            cached: None,
        };
        Ok(BoxActions {
            api: SaasApi::new(settings, auth, None)?,
            api_url,
        })
    }

    fn url(&self, path: &str) -> Url {
        join(&self.api_url, path)
    }

    /// `/2.0/{files|folders}/{id}?fields=shared_link`.
    fn item_url(&self, target: &Target) -> Result<Url, ActError> {
        let (collection, id) = item_of(target)?;
        let mut url = self.url(&format!("/2.0/{collection}/{id}"));
        url.query_pairs_mut().append_pair("fields", "shared_link");
        Ok(url)
    }

    fn collaboration_url(&self, target: &Target) -> Result<Url, ActError> {
        if !is_box_id(&target.id) {
            return Err(ActError(format!(
                "`{}` is not a Box collaboration id",
                target.id
            )));
        }
        Ok(self.url(&format!("/2.0/collaborations/{}", target.id)))
    }

    /// A `404` from Box: the item does not exist, or the service account cannot see it.
    fn not_found(what: &str, target: &Target) -> ActError {
        ActError(format!(
            "Box has no {what} {} that the app's service account can see (make it a collaborator on the item, or co-admin)",
            target.id
        ))
    }

    /// `method url [body]` whose answer the action needs: a `404` is an item the
    /// service account cannot see, a `400`/`409` a request Box rejects.
    async fn found(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        what: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        let request = format!("{method} {}", display_url(url));
        match self.api.call(method, url, body, SCOPE).await? {
            Answer::Found(value) => Ok(value),
            Answer::NotFound => Err(Self::not_found(what, target)),
            Answer::Rejected(why) => Err(ActError(format!("{request}: {why}"))),
        }
    }

    async fn capture_state(
        &self,
        action: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        match action {
            "remove_shared_link" => {
                let url = self.item_url(target)?;
                let item = self.found(Method::GET, &url, None, "item", target).await?;
                let link = item.get("shared_link").unwrap_or(&serde_json::Value::Null);
                Ok(json!({ "shared_link": link_settings(link) }))
            }
            "remove_collaboration" => {
                let url = self.collaboration_url(target)?;
                let body = self
                    .found(Method::GET, &url, None, "collaboration", target)
                    .await?;
                let accessible_by = body.get("accessible_by").cloned().unwrap_or_default();
                Ok(json!({
                    "item": {
                        "type": body["item"]["type"].clone(),
                        "id": body["item"]["id"].clone(),
                    },
                    "accessible_by": {
                        "type": accessible_by.get("type").cloned().unwrap_or_default(),
                        "id": accessible_by.get("id").cloned().unwrap_or_default(),
                        "login": accessible_by.get("login").cloned().unwrap_or_default(),
                    },
                    "role": body.get("role").cloned().unwrap_or_default(),
                    "status": body.get("status").cloned().unwrap_or_default(),
                }))
            }
            other => Err(ActError(format!("`{other}` is not a Box action"))),
        }
    }

    async fn act(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            "remove_shared_link" => {
                if state["shared_link"].is_null() {
                    return Ok(Done::default());
                }
                let url = self.item_url(target)?;
                let unshare = json!({ "shared_link": null });
                self.found(Method::PUT, &url, Some(&unshare), "item", target)
                    .await?;
                Ok(Done::default())
            }
            "remove_collaboration" => {
                let url = self.collaboration_url(target)?;
                // Gone already (404: a retry after a crash): the goal holds.
                if let Answer::Rejected(why) =
                    self.api.call(Method::DELETE, &url, None, SCOPE).await?
                {
                    return Err(ActError(format!("DELETE {}: {why}", display_url(&url))));
                }
                Ok(Done::default())
            }
            other => Err(ActError(format!("`{other}` is not a Box action"))),
        }
    }

    async fn undo(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            "remove_shared_link" => {
                let settings = &state["shared_link"];
                if settings.is_null() {
                    return Ok(Done::default());
                }
                if settings["is_password_enabled"].as_bool() == Some(true) {
                    return Err(ActError(format!(
                        "the shared link of {} had a password, which Box never reveals: recreate it by hand (a link without its password would reach more people than before)",
                        target.id
                    )));
                }
                let url = self.item_url(target)?;
                let link = recreated_link(settings);
                self.found(Method::PUT, &url, Some(&link), "item", target)
                    .await?;
                Ok(Done::default())
            }
            "remove_collaboration" => {
                let mut url = self.url("/2.0/collaborations");
                url.query_pairs_mut().append_pair("notify", "false");
                let who = &state["accessible_by"];
                let accessible_by = match who.get("id").and_then(serde_json::Value::as_str) {
                    Some(id) if !id.is_empty() => json!({ "type": who["type"], "id": id }),
                    _ => json!({ "type": who["type"], "login": who["login"] }),
                };
                let body = json!({
                    "item": state["item"],
                    "accessible_by": accessible_by,
                    "role": state["role"],
                });
                match self
                    .api
                    .call(Method::POST, &url, Some(&body), SCOPE)
                    .await?
                {
                    Answer::Found(_) => Ok(Done::default()),
                    // Collaborating already (a retry, or put back by hand): done.
                    Answer::Rejected(why) if why.contains("user_already_collaborator") => {
                        Ok(Done::default())
                    }
                    Answer::Rejected(why) => {
                        Err(ActError(format!("POST {}: {why}", display_url(&url))))
                    }
                    Answer::NotFound => Err(Self::not_found("item", target)),
                }
            }
            other => Err(ActError(format!("`{other}` is not a Box action"))),
        }
    }
}

impl Actions for BoxActions {
    fn provider(&self) -> &'static str {
        "box"
    }

    fn actions(&self) -> &'static [ActionInfo] {
        ACTIONS
    }

    fn target(
        &self,
        action: &str,
        _incident: &Value,
        given: Option<&str>,
    ) -> Result<Target, String> {
        let info = self
            .info(action)
            .ok_or_else(|| format!("`{action}` is not a Box action"))?;
        let named = given
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .ok_or_else(|| {
                "the `target` expression gave no Box id for this incident".to_string()
            })?;
        let (kind, id) = match info.target_kind {
            "box_item" => match named.split_once(':') {
                Some((kind @ ("file" | "folder"), id)) => (kind, id),
                None => ("file", named),
                Some(_) => {
                    return Err(format!(
                        "`{named}` is not `file:ID`, `folder:ID` or a file id"
                    ))
                }
            },
            _ => (
                "collaboration",
                named.strip_prefix("collaboration:").unwrap_or(named),
            ),
        };
        if !is_box_id(id) {
            return Err(format!("`{named}` is not a Box {kind} id (digits)"));
        }
        let id = if kind == "collaboration" {
            id.to_string()
        } else {
            format!("{kind}:{id}")
        };
        Ok(Target {
            kind: info.target_kind.to_string(),
            name: id.clone(),
            id,
            account: None,
        })
    }

    super::provider::lifecycle_by_inherent_methods!();
}

#[cfg(test)]
mod tests;
