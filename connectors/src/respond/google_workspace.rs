//! `respond google_workspace`: contain Google Workspace users (Admin SDK Directory API)
//! and Drive sharing (Drive API v3), with a service account acting for `subject` by
//! domain-wide delegation (as `source google_workspace` does), asking only for the
//! scope its action needs: `admin.directory.user` for user actions, `drive` for
//! `delete_drive_permission`.
//!
//! Targets: user actions act on the incident's `user` entity (its primary email, which
//! the Directory API takes as `userKey`); `delete_drive_permission` needs `target`
//! naming `<file-id>/<permission-id>`, as incidents carry no file entity.

use super::engine::Responder;
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use super::saas::{self, Answer, SaasApi};
use super::stage;
use crate::sources::api::client::{Auth, Forbidden, Reply};
use crate::sources::api::error::display_url;
use crate::sources::api::google::ServiceAccountGrant;
use crate::sources::api::{base_url, join, REQUEST_TIMEOUT_ATTR};
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use serde_json::json;
use std::sync::Arc;

/// The scope of the user actions.
pub const USER_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user";
/// The scope of the Drive action.
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";

/// Every Google Workspace action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "suspend_user",
        target_kind: "user",
        revert: Some("unsuspend_user"),
        permissions: &[USER_SCOPE],
    },
    ActionInfo {
        name: "sign_out",
        target_kind: "user",
        revert: None,
        permissions: &[USER_SCOPE],
    },
    ActionInfo {
        name: "delete_drive_permission",
        target_kind: "drive_permission",
        revert: Some("restore_drive_permission"),
        permissions: &[DRIVE_SCOPE],
    },
];

const ACTION_NAMES: &[&str] = &["suspend_user", "sign_out", "delete_drive_permission"];

/// The catalogue entry of `respond google_workspace`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "google_workspace",
    summary: "Contains Google Workspace users (suspend, sign out) and Drive sharing (delete a permission) with a service account when incidents match, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(ACTION_NAMES),
            "What to do: suspend_user, sign_out, delete_drive_permission (docs/response.md).",
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
            "credentials",
            AttrType::String,
            "The service-account key JSON Google issues (`client_email`, `private_key`, `token_uri`); the account needs domain-wide delegation for the scope of the action: https://www.googleapis.com/auth/admin.directory.user (suspend_user, sign_out) or https://www.googleapis.com/auth/drive (delete_drive_permission).",
        )
        .sensitive(),
        AttrSpec::required(
            "subject",
            AttrType::String,
            "The user the service account acts for: an administrator with the User Management privilege for user actions; for delete_drive_permission someone allowed to change the files' sharing (their owner, or a manager of their shared drive).",
        ),
        AttrSpec::optional(
            "api_url",
            AttrType::String,
            "Overrides the Admin SDK host https://admin.googleapis.com (a proxy, or a local test server).",
        ),
        AttrSpec::optional(
            "drive_url",
            AttrType::String,
            "Overrides the Drive API host https://www.googleapis.com (a proxy, or a local test server).",
        ),
        REQUEST_TIMEOUT_ATTR,
        saas::MAX_ATTEMPTS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond google_workspace`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let (policy, clock) = stage::policy(&attrs, ctx.pipeline)?;
    let poll = attrs.duration("poll_interval")?;
    let key = attrs
        .opt_secret("credentials")?
        .filter(|k| !k.expose().trim().is_empty())
        .ok_or_else(|| attrs.error("attribute `credentials` is empty"))?;
    let subject = attrs.string("subject")?;
    if !subject.contains('@') {
        return Err(attrs.error(format!(
            "attribute `subject`: `{subject}` is not an email address (the user to act for)"
        )));
    }
    let scope = if policy.action == "delete_drive_permission" {
        DRIVE_SCOPE
    } else {
        USER_SCOPE
    };
    let grant = ServiceAccountGrant::from_key_json(&key, scope, &subject)
        .map_err(|e| attrs.error(format!("attribute `credentials` {e}")))?;
    let url_or = |key: &str, default: &str| match attrs.raw(key) {
        Some(_) => base_url(&attrs, key),
        None => Url::parse(default).map_err(|e| attrs.error(format!("{default}: {e}"))),
    };
    let provider = GoogleActions {
        api: SaasApi::new(
            &saas::client_settings(&attrs)?,
            Auth::Grant {
                grant: Arc::new(grant),
                cached: None,
            },
            Some(forbidden),
        )
        .map_err(|e| attrs.error(e))?,
        admin: url_or("api_url", "https://admin.googleapis.com")?,
        drive: url_or("drive_url", "https://www.googleapis.com")?,
    };
    if policy.action == "delete_drive_permission" && policy.target.is_none() {
        return Err(attrs.error(
            "`delete_drive_permission` needs `target`: an expression naming `<file-id>/<permission-id>`, as incidents carry no file entity",
        ));
    }
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// Google's `403`: a rate limit (retried), or what is missing.
fn forbidden(reply: &Reply) -> Forbidden {
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    let error = &body["error"];
    let reasons: Vec<&str> = error["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    let throttled = error["status"].as_str() == Some("RESOURCE_EXHAUSTED")
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
            "enable the API (Admin SDK, or Drive) in the service account's Google Cloud project"
                .into(),
        )
    } else if reasons.contains(&"insufficientFilePermissions") {
        Forbidden::Denied(
            "the user in `subject` may not change this file's sharing; act as its owner, or a manager of its shared drive".into(),
        )
    } else {
        Forbidden::Denied(
            "the user in `subject` lacks the admin privilege (User Management), or the service account's domain-wide delegation lacks the scope (docs/response.md)".into(),
        )
    }
}

/// The Google Workspace actions of one service account.
pub struct GoogleActions {
    api: SaasApi,
    /// `https://admin.googleapis.com`.
    admin: Url,
    /// `https://www.googleapis.com`.
    drive: Url,
}

/// `<file-id>/<permission-id>`.
fn file_permission(text: &str) -> Option<(&str, &str)> {
    let (file, permission) = text.trim().split_once('/')?;
    let valid = |id: &str| {
        !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (valid(file) && valid(permission)).then_some((file, permission))
}

/// The fields a Drive permission is read with, and re-created from.
const PERMISSION_FIELDS: &str =
    "id,type,role,emailAddress,domain,allowFileDiscovery,expirationTime";

impl GoogleActions {
    fn user_url(&self, target: &Target, tail: &str) -> Url {
        join(
            &self.admin,
            &format!(
                "/admin/directory/v1/users/{}{tail}",
                saas::segment(&target.id)
            ),
        )
    }

    fn permissions_url(&self, file: &str, permission: Option<&str>) -> Url {
        let path = match permission {
            Some(p) => format!(
                "/drive/v3/files/{}/permissions/{}",
                saas::segment(file),
                saas::segment(p)
            ),
            None => format!("/drive/v3/files/{}/permissions", saas::segment(file)),
        };
        let mut url = join(&self.drive, &path);
        url.set_query(Some("supportsAllDrives=true"));
        url
    }

    fn file_of(target: &Target) -> Result<(&str, &str), ActError> {
        file_permission(&target.id)
            .ok_or_else(|| ActError(format!("`{}` names no Drive permission", target.id)))
    }

    async fn set_suspended(&self, target: &Target, suspended: bool) -> Result<(), ActError> {
        self.api
            .expect(
                Method::PUT,
                &self.user_url(target, ""),
                Some(&json!({ "suspended": suspended })),
                USER_SCOPE,
                &format!("user {}", target.id),
            )
            .await
            .map(|_| ())
    }

    async fn capture_state(
        &self,
        action: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        match action {
            "suspend_user" => {
                let user = self
                    .api
                    .expect(
                        Method::GET,
                        &self.user_url(target, ""),
                        None,
                        USER_SCOPE,
                        &format!("user {}", target.id),
                    )
                    .await?;
                Ok(json!({
                    // Absent means not suspended.
                    "suspended": user["suspended"].as_bool().unwrap_or(false),
                    "id": user["id"],
                }))
            }
            // Nothing to undo with: a sign-out cannot be taken back.
            "sign_out" => Ok(json!({})),
            "delete_drive_permission" => {
                let (file, permission) = Self::file_of(target)?;
                let mut url = self.permissions_url(file, Some(permission));
                url.query_pairs_mut()
                    .append_pair("fields", PERMISSION_FIELDS);
                let found = self
                    .api
                    .expect(
                        Method::GET,
                        &url,
                        None,
                        DRIVE_SCOPE,
                        &format!("permission {permission} of file {file}"),
                    )
                    .await?;
                if found["role"].as_str() == Some("owner") {
                    return Err(ActError(format!(
                        "permission {permission} is the owner of file {file}, which cannot be deleted"
                    )));
                }
                let mut kept = serde_json::Map::new();
                for field in PERMISSION_FIELDS.split(',') {
                    if let Some(value) = found.get(field).filter(|v| !v.is_null()) {
                        kept.insert(field.to_string(), value.clone());
                    }
                }
                Ok(json!({ "permission": kept }))
            }
            other => Err(ActError(format!(
                "`{other}` is not a Google Workspace action"
            ))),
        }
    }

    async fn act(
        &self,
        action: &str,
        target: &Target,
        _state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            // Setting `true` again is harmless, so a retry after a crash is too.
            "suspend_user" => self.set_suspended(target, true).await?,
            "sign_out" => {
                self.api
                    .expect(
                        Method::POST,
                        &self.user_url(target, "/signOut"),
                        None,
                        USER_SCOPE,
                        &format!("user {}", target.id),
                    )
                    .await?;
            }
            "delete_drive_permission" => {
                let (file, permission) = Self::file_of(target)?;
                let url = self.permissions_url(file, Some(permission));
                match self
                    .api
                    .call(Method::DELETE, &url, None, DRIVE_SCOPE)
                    .await?
                {
                    // 404: already deleted (a retry after a crash).
                    Answer::Found(_) | Answer::NotFound => {}
                    Answer::Rejected(why) => {
                        return Err(ActError(format!("DELETE {}: {why}", display_url(&url))))
                    }
                }
            }
            other => {
                return Err(ActError(format!(
                    "`{other}` is not a Google Workspace action"
                )))
            }
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
                // A user suspended before the incident stays suspended.
                if state["suspended"].as_bool() == Some(false) {
                    self.set_suspended(target, false).await?;
                }
            }
            "delete_drive_permission" => {
                let (file, _) = Self::file_of(target)?;
                let previous = &state["permission"];
                let mut body = serde_json::Map::new();
                for field in [
                    "role",
                    "type",
                    "emailAddress",
                    "domain",
                    "allowFileDiscovery",
                    "expirationTime",
                ] {
                    if let Some(value) = previous.get(field).filter(|v| !v.is_null()) {
                        body.insert(field.to_string(), value.clone());
                    }
                }
                let kind = previous["type"].as_str().unwrap_or_default();
                let mut url = self.permissions_url(file, None);
                // Google allows the parameter only for users and groups.
                if matches!(kind, "user" | "group") {
                    url.query_pairs_mut()
                        .append_pair("sendNotificationEmail", "false");
                }
                self.api
                    .expect(
                        Method::POST,
                        &url,
                        Some(&serde_json::Value::Object(body)),
                        DRIVE_SCOPE,
                        &format!("file {file}"),
                    )
                    .await?;
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

impl Actions for GoogleActions {
    fn provider(&self) -> &'static str {
        "google_workspace"
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
            .ok_or_else(|| format!("`{action}` is not a Google Workspace action"))?;
        if info.target_kind == "user" {
            return saas::user_target(incident, given, "Google Workspace");
        }
        let named = given.filter(|g| !g.is_empty()).ok_or_else(|| {
            "the `target` expression gave no Drive permission for this incident".to_string()
        })?;
        let (file, permission) = file_permission(named)
            .ok_or_else(|| format!("`{named}` is not `<file-id>/<permission-id>`"))?;
        let id = format!("{file}/{permission}");
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
