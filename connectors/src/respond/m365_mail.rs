//! `respond m365_mail`: neutralise a malicious mail and a mailbox's forwarding rules
//! through Microsoft Graph (v1.0), with an app registration's client credentials.
//!
//! - `quarantine_message` finds a message by its `internetMessageId` in every mailbox
//!   it reached (`mailboxes`, or every user with a mailbox) and moves each copy to
//!   Deleted Items or to a quarantine folder (`quarantine_folder`, created in each
//!   mailbox when missing). Graph gives a moved message a new id: the action keeps,
//!   per mailbox, the folder the copy was in and its new id, and the revert moves
//!   each copy back there.
//! - `remove_forwarding_rules` deletes the inbox rules of a user that forward or
//!   redirect mail to addresses outside `internal_domains`, keeping a copy of each;
//!   the revert creates them again.
//!
//! Targets: `quarantine_message` needs `target` naming the message's
//! `internetMessageId` (incidents carry no message entity); `remove_forwarding_rules`
//! acts on the incident's `user` entity (a UPN or email).

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
use crate::sources::api::{followed_link, join, percent_encode, REQUEST_TIMEOUT_ATTR};
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use serde_json::json;

const MAIL: &str = "Mail.ReadWrite";
const USERS: &str = "User.Read.All";
const RULES: &str = "MailboxSettings.ReadWrite";

/// Every mail action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "quarantine_message",
        target_kind: "email_message",
        revert: Some("restore_message"),
        permissions: &[MAIL, USERS],
    },
    ActionInfo {
        name: "remove_forwarding_rules",
        target_kind: "user",
        revert: Some("restore_inbox_rules"),
        permissions: &[RULES],
    },
];

const ACTION_NAMES: &[&str] = &["quarantine_message", "remove_forwarding_rules"];

/// The catalogue entry of `respond m365_mail`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "m365_mail",
    summary: "Neutralises malicious mail in Microsoft 365 through Microsoft Graph (move a message out of every mailbox it reached; delete inbox rules forwarding outside) when incidents match, reversibly, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(ACTION_NAMES),
            "What to do: quarantine_message, remove_forwarding_rules (docs/response.md).",
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
        AttrSpec::with_default(
            "mailboxes",
            AttrType::List(&AttrType::String),
            "[]",
            "`quarantine_message`: the mailboxes (UPNs or ids) to search; empty searches every user with a mailbox (which needs `User.Read.All` and one request per mailbox).",
        ),
        AttrSpec::optional(
            "quarantine_folder",
            AttrType::String,
            "`quarantine_message`: the display name of a top-level folder to move messages to, created in each mailbox when missing; without it, Deleted Items.",
        ),
        AttrSpec::with_default(
            "internal_domains",
            AttrType::List(&AttrType::String),
            "[]",
            "`remove_forwarding_rules`: the organisation's mail domains (`acme.com`; subdomains count); a rule forwarding or redirecting to any other address is removed. Required for that action.",
        ),
        REQUEST_TIMEOUT_ATTR,
        saas::MAX_ATTEMPTS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond m365_mail`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let (policy, clock) = stage::policy(&attrs, ctx.pipeline)?;
    let poll = attrs.duration("poll_interval")?;
    let app = MicrosoftApp::from_attrs(&attrs, Cloud::graph)?;
    let settings = saas::client_settings(&attrs)?;
    let mailboxes: Vec<String> = attrs
        .strings("mailboxes")?
        .into_iter()
        .map(|m| m.trim().to_string())
        .collect();
    if let Some(bad) = mailboxes
        .iter()
        .find(|m| m.is_empty() || m.contains('/') || m.chars().any(char::is_control))
    {
        return Err(attrs.error(format!(
            "attribute `mailboxes`: `{bad}` is not a user principal name or id"
        )));
    }
    let quarantine = attrs.opt_string("quarantine_folder")?;
    if let Some(name) = &quarantine {
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(attrs.error("attribute `quarantine_folder` is empty"));
        }
    }
    let internal: Vec<String> = attrs
        .strings("internal_domains")?
        .into_iter()
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    if policy.action == "remove_forwarding_rules" && internal.is_empty() {
        return Err(attrs.error(
            "`remove_forwarding_rules` needs `internal_domains`: the domains forwarding may go to",
        ));
    }
    if policy.action == "quarantine_message" && policy.target.is_none() {
        return Err(attrs.error(
            "`quarantine_message` needs `target`: an expression giving the message's internetMessageId, as incidents carry no message entity",
        ));
    }
    let api = SaasApi::new(
        &settings,
        Auth::ClientCredentials {
            credentials: app.credentials,
            cached: None,
        },
        Some(forbidden),
    )
    .map_err(|e| attrs.error(e))?;
    let provider = MailActions {
        api,
        base: app.api_url,
        mailboxes,
        quarantine,
        internal,
    };
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// Graph's `403`: the app lacks an application permission, or an Exchange application
/// access policy keeps it out of this mailbox.
fn forbidden(_reply: &Reply) -> Forbidden {
    Forbidden::Denied(
        "grant the app registration this Microsoft Graph application permission with admin consent, and check that no Exchange application access policy excludes the mailbox (docs/response.md)".into(),
    )
}

/// The mail actions of one app registration.
pub struct MailActions {
    api: SaasApi,
    /// `https://graph.microsoft.com` (or the cloud's host, or `api_url`).
    base: Url,
    /// Mailboxes to search; empty: every user with a mailbox.
    mailboxes: Vec<String>,
    /// A folder's display name; `None`: Deleted Items.
    quarantine: Option<String>,
    /// Mail domains that forwarding may go to.
    internal: Vec<String>,
}

/// A string literal of an OData filter: quoted, its quotes doubled.
fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Whether an address is outside the organisation's domains (subdomains are inside).
fn is_external(address: &str, internal: &[String]) -> bool {
    let Some((_, domain)) = address.trim().rsplit_once('@') else {
        // Not an address (an Exchange legacy DN...): not provably internal.
        return true;
    };
    let domain = domain.to_ascii_lowercase();
    !internal
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
}

/// The external addresses a rule forwards or redirects to.
fn external_recipients(rule: &serde_json::Value, internal: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["forwardTo", "forwardAsAttachmentTo", "redirectTo"] {
        for r in rule["actions"][key].as_array().into_iter().flatten() {
            if let Some(address) = r["emailAddress"]["address"].as_str() {
                if is_external(address, internal) && !out.iter().any(|a| a == address) {
                    out.push(address.to_string());
                }
            }
        }
    }
    out
}

/// The part of a rule that creates it again: Graph refuses read-only properties.
fn recreatable(rule: &serde_json::Value) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    for key in [
        "displayName",
        "sequence",
        "isEnabled",
        "conditions",
        "exceptions",
        "actions",
    ] {
        if let Some(v) = rule.get(key).filter(|v| !v.is_null()) {
            body.insert(key.to_string(), v.clone());
        }
    }
    serde_json::Value::Object(body)
}

impl MailActions {
    fn url(&self, path: &str) -> Url {
        join(&self.base, path)
    }

    fn user_path(user: &str) -> String {
        format!("/v1.0/users/{}", saas::segment(user))
    }

    /// Every mailbox to search: `mailboxes`, or each user that has a mail address.
    async fn mailboxes(&self) -> Result<Vec<String>, ActError> {
        if !self.mailboxes.is_empty() {
            return Ok(self.mailboxes.clone());
        }
        let mut url = self.url("/v1.0/users");
        url.set_query(Some("$select=id,userPrincipalName,mail&$top=999"));
        let mut out = Vec::new();
        loop {
            let page = self
                .api
                .expect(Method::GET, &url, None, USERS, "the users")
                .await?;
            for user in page["value"].as_array().into_iter().flatten() {
                if user["mail"].as_str().is_some_and(|m| !m.is_empty()) {
                    if let Some(id) = user["userPrincipalName"].as_str().or(user["id"].as_str()) {
                        out.push(id.to_string());
                    }
                }
            }
            match page["@odata.nextLink"].as_str() {
                Some(next) => {
                    url = followed_link(&self.base, next).map_err(|e| ActError(e.message))?
                }
                None => return Ok(out),
            }
        }
    }

    /// The copies of the message in one mailbox: `(id, parentFolderId)`. A user
    /// without a mailbox (`404`) has none.
    async fn find(
        &self,
        mailbox: &str,
        message_id: &str,
    ) -> Result<Vec<(String, String)>, ActError> {
        let mut url = self.url(&format!("{}/messages", Self::user_path(mailbox)));
        url.set_query(Some(&format!(
            "$filter={}&$select=id,parentFolderId,internetMessageId",
            percent_encode(&format!(
                "internetMessageId eq {}",
                odata_string(message_id)
            ))
        )));
        let page = match self.api.call(Method::GET, &url, None, MAIL).await? {
            Answer::Found(page) => page,
            Answer::NotFound => return Ok(Vec::new()),
            Answer::Rejected(why) => {
                return Err(ActError(format!("GET {}: {why}", display_url(&url))))
            }
        };
        Ok(page["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some((
                    m["id"].as_str()?.to_string(),
                    m["parentFolderId"].as_str()?.to_string(),
                ))
            })
            .collect())
    }

    /// Where messages go in `mailbox`: the quarantine folder's id (created when
    /// missing) or Deleted Items' well-known name.
    async fn destination(&self, mailbox: &str) -> Result<String, ActError> {
        let Some(name) = &self.quarantine else {
            return Ok("deleteditems".to_string());
        };
        let folders = self.url(&format!("{}/mailFolders", Self::user_path(mailbox)));
        let mut url = folders.clone();
        url.set_query(Some(&format!(
            "$filter={}&$select=id,displayName",
            percent_encode(&format!("displayName eq {}", odata_string(name)))
        )));
        let found = self
            .api
            .expect(Method::GET, &url, None, MAIL, &format!("mailbox {mailbox}"))
            .await?;
        if let Some(id) = found["value"][0]["id"].as_str() {
            return Ok(id.to_string());
        }
        let created = self
            .api
            .expect(
                Method::POST,
                &folders,
                Some(&json!({ "displayName": name, "isHidden": false })),
                MAIL,
                &format!("mailbox {mailbox}"),
            )
            .await?;
        created["id"].as_str().map(str::to_string).ok_or_else(|| {
            ActError(format!(
                "Graph created folder `{name}` in {mailbox} without an id"
            ))
        })
    }

    /// Moves a message; its new id.
    async fn move_message(
        &self,
        mailbox: &str,
        message: &str,
        folder: &str,
    ) -> Result<Option<String>, ActError> {
        let url = self.url(&format!(
            "{}/messages/{}/move",
            Self::user_path(mailbox),
            saas::segment(message)
        ));
        match self
            .api
            .call(
                Method::POST,
                &url,
                Some(&json!({ "destinationId": folder })),
                MAIL,
            )
            .await?
        {
            Answer::Found(moved) => Ok(moved["id"].as_str().map(str::to_string)),
            Answer::NotFound => Ok(None),
            Answer::Rejected(why) => Err(ActError(format!("POST {}: {why}", display_url(&url)))),
        }
    }

    fn rules_url(user: &str) -> String {
        format!("{}/mailFolders/inbox/messageRules", Self::user_path(user))
    }

    async fn capture_state(
        &self,
        action: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        match action {
            "quarantine_message" => {
                let mut found = Vec::new();
                for mailbox in self.mailboxes().await? {
                    for (id, folder) in self.find(&mailbox, &target.id).await? {
                        found.push(json!({ "mailbox": mailbox, "message_id": id, "original_folder": folder }));
                    }
                }
                if found.is_empty() {
                    return Err(ActError(format!(
                        "no mailbox searched holds a message with internetMessageId {}",
                        target.id
                    )));
                }
                Ok(json!({ "internet_message_id": target.id, "copies": found }))
            }
            "remove_forwarding_rules" => {
                let url = self.url(&Self::rules_url(&target.id));
                let listed = self
                    .api
                    .expect(
                        Method::GET,
                        &url,
                        None,
                        RULES,
                        &format!("the inbox of {}", target.id),
                    )
                    .await?;
                let mut rules = Vec::new();
                for rule in listed["value"].as_array().into_iter().flatten() {
                    let external = external_recipients(rule, &self.internal);
                    if external.is_empty() {
                        continue;
                    }
                    rules.push(json!({
                        "id": rule["id"],
                        "external": external,
                        "rule": recreatable(rule),
                    }));
                }
                Ok(json!({ "rules": rules }))
            }
            other => Err(ActError(format!("`{other}` is not a mail action"))),
        }
    }

    async fn act(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            "quarantine_message" => {
                let mut moved = Vec::new();
                for copy in state["copies"].as_array().into_iter().flatten() {
                    let (Some(mailbox), Some(id), Some(original)) = (
                        copy["mailbox"].as_str(),
                        copy["message_id"].as_str(),
                        copy["original_folder"].as_str(),
                    ) else {
                        continue;
                    };
                    let folder = self.destination(mailbox).await?;
                    let new_id = match self.move_message(mailbox, id, &folder).await? {
                        Some(new_id) => new_id,
                        // Moved already (a retry after a crash) or by someone else:
                        // found again by its internet id.
                        None => match self.find(mailbox, &target.id).await?.into_iter().next() {
                            Some((id, _)) => {
                                match self.move_message(mailbox, &id, &folder).await? {
                                    Some(new_id) => new_id,
                                    None => id,
                                }
                            }
                            None => continue,
                        },
                    };
                    moved.push(json!({
                        "mailbox": mailbox,
                        "original_folder": original,
                        "message_id_before": id,
                        "message_id": new_id,
                        "folder": folder,
                    }));
                }
                let mut kept = state.clone();
                kept["copies"] = serde_json::Value::Array(moved);
                Ok(Done {
                    request_id: None,
                    state: Some(kept),
                })
            }
            "remove_forwarding_rules" => {
                for rule in state["rules"].as_array().into_iter().flatten() {
                    let Some(id) = rule["id"].as_str() else {
                        continue;
                    };
                    let url = self.url(&format!(
                        "{}/{}",
                        Self::rules_url(&target.id),
                        saas::segment(id)
                    ));
                    match self.api.call(Method::DELETE, &url, None, RULES).await? {
                        // 404: already gone (a retry after a crash).
                        Answer::Found(_) | Answer::NotFound => {}
                        Answer::Rejected(why) => {
                            return Err(ActError(format!("DELETE {}: {why}", display_url(&url))))
                        }
                    }
                }
                Ok(Done::default())
            }
            other => Err(ActError(format!("`{other}` is not a mail action"))),
        }
    }

    async fn undo(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        match action {
            "quarantine_message" => {
                let mut missing = Vec::new();
                for copy in state["copies"].as_array().into_iter().flatten() {
                    let (Some(mailbox), Some(id), Some(original)) = (
                        copy["mailbox"].as_str(),
                        copy["message_id"].as_str(),
                        copy["original_folder"].as_str(),
                    ) else {
                        continue;
                    };
                    if self.move_message(mailbox, id, original).await?.is_some() {
                        continue;
                    }
                    // Its id changed again (someone moved it): back from wherever it
                    // is, unless it is home already.
                    match self.find(mailbox, &target.id).await?.into_iter().next() {
                        Some((_, folder)) if folder == original => {}
                        Some((id, _)) => {
                            self.move_message(mailbox, &id, original).await?;
                        }
                        None => missing.push(mailbox.to_string()),
                    }
                }
                if !missing.is_empty() {
                    return Err(ActError(format!(
                        "the message is no longer in these mailboxes (deleted for good?): {}",
                        missing.join(", ")
                    )));
                }
            }
            "remove_forwarding_rules" => {
                let url = self.url(&Self::rules_url(&target.id));
                for rule in state["rules"].as_array().into_iter().flatten() {
                    self.api
                        .expect(
                            Method::POST,
                            &url,
                            Some(&rule["rule"]),
                            RULES,
                            &format!("the inbox of {}", target.id),
                        )
                        .await?;
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

impl Actions for MailActions {
    fn provider(&self) -> &'static str {
        "m365_mail"
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
            .ok_or_else(|| format!("`{action}` is not a mail action"))?;
        if info.target_kind == "user" {
            return saas::user_target(incident, given, "Microsoft 365");
        }
        let id = given
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .ok_or_else(|| {
                "the `target` expression gave no internetMessageId for this incident".to_string()
            })?;
        if id.len() > 998 || id.chars().any(|c| c.is_control()) {
            return Err(format!("`{id}` is not an internetMessageId"));
        }
        Ok(Target {
            kind: info.target_kind.to_string(),
            id: id.to_string(),
            name: id.to_string(),
            account: None,
        })
    }

    super::provider::lifecycle_by_inherent_methods!();
}

#[cfg(test)]
mod tests;
