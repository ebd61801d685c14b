//! Office 365 Management Activity API records (the common schema and the workload
//! schemas on top of it) → `event.dataset: o365.audit`.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `CreationTime` (without a zone it is UTC; else the time received, tagged `time_from_ingest`) |
//! | `event.action` | `Operation` (required) |
//! | `event.provider`, `cloud.account.id` | `Workload`; `OrganizationId` |
//! | `event.outcome` | `ResultStatus` `Success`/`Succeeded`/`PartiallySucceeded`/`True` → `success`, `Failed`/`Failure`/`False` → `failure`, else `unknown`; `UserLoginFailed` is always a failure (its `LogonError` → `error.code`) |
//! | `user.email`, `user.name` | `UserId`, lowercased (`email` only when it is an address). A `ServicePrincipal_<id>` user is an application instead: `service.id` = `<id>` |
//! | `source.ip`, `source.port` | `ClientIP` (bare, `ip:port` or `[v6]:port`), else `ClientIPAddress`, `ActorIpAddress`, `UserIp` |
//! | `user_agent.original` | `UserAgent`, else the `UserAgent` entry of `ExtendedProperties` |
//! | `service.id` | Azure AD: `ApplicationId`, the application signed in to |
//! | `user.target.email`, `user.target.name` | sharing operations: `TargetUserOrGroupName`; other Azure AD operations: `ObjectId` when it is an address; lowercased |
//! | `file.path`, `url.full`, `file.name`, `file.directory`, `file.extension`, `file.size` | SharePoint and OneDrive: `ObjectId` (the item's URL), `SourceFileName`, `SiteUrl`, `SourceFileExtension`, `FileSizeBytes` |
//! | `url.original`, `url.domain` | `TIUrlClickData`: `Url` |
//! | `email.from.address`, `email.to.address`, `email.subject`, `email.message_id`, `email.local_id`, `email.direction` | `TIMailData`: `P1Sender`, `Recipients`, `Subject`, `InternetMessageId`, `NetworkMessageId`, `Directionality` (`inbound`, `outbound`, `internal`) |
//! | `email.local_id` | `TIUrlClickData` from a mail client (`AppName` Outlook, Mail…): `SourceId`, the message's network message id |
//! | `event.category`, `event.type` | Azure AD logins `authentication`/`start`, other Azure AD `iam`; SharePoint/OneDrive `file`; Exchange mailbox access and threat-intelligence mail `email`; inbox rules and mailbox settings `configuration`; URL clicks `web` |
//! | `event.id` | over `Id`, else over the record |

use super::{
    field, number, require_head, text, Dataset, Doc, Format, Head, NormaliseError, Received,
};
use pipectl_core::value::Value;

mod alert;

const DATASET: Dataset = Dataset {
    module: "o365",
    name: "o365.audit",
    cloud_provider: "m365",
};

/// The SharePoint/OneDrive operations that share an item with someone.
const SHARING: &[&str] = &[
    "AnonymousLinkCreated",
    "SharingInvitationCreated",
    "SharingSet",
    "AddedToSecureLink",
    "SecureLinkCreated",
    "CompanyLinkCreated",
];

/// Normalises one audit record (without `CreationTime`, at the time it is called);
/// refuses records without `Operation`.
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

/// Records arrive beside the audit records on the same feeds: Defender security alerts
/// ([`alert`]) and Windows events ([`super::windows`]) are mapped as what they are.
pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    if text(record, "Operation").is_none() {
        if alert::is_alert(record) {
            if let Some(head) = alert::head(record) {
                return Ok(head);
            }
        }
        if super::windows::is_windows_event(record) {
            if let Some(head) = super::windows::head(record) {
                return Ok(head);
            }
        }
    }
    require_head(Format::O365, record, "CreationTime", "Operation")
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    if text(&record, "Operation").is_none() {
        if alert::is_alert(&record) {
            return alert::build(record, head, received);
        }
        if super::windows::is_windows_event(&record) {
            return super::windows::build(record, head, received);
        }
    }
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    let op = head.action.as_str();
    doc.set("event.action", op);
    let workload = text(r, "Workload").unwrap_or("");
    doc.set_text("event.provider", Some(workload).filter(|w| !w.is_empty()));
    doc.set_text("cloud.account.id", text(r, "OrganizationId"));

    let login_failed = op == "UserLoginFailed";
    let outcome = match text(r, "ResultStatus")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        _ if login_failed => "failure",
        Some("success" | "succeeded" | "partiallysucceeded" | "true") => "success",
        Some("failed" | "failure" | "false") => "failure",
        _ => "unknown",
    };
    doc.set("event.outcome", outcome);
    if login_failed {
        doc.set_text("error.code", text(r, "LogonError"));
    }

    match text(r, "UserId") {
        Some(id) if id.starts_with("ServicePrincipal_") => {
            doc.set_text("service.id", id.strip_prefix("ServicePrincipal_"));
        }
        Some(id) => set_user(&mut doc, "user", id),
        None => {}
    }
    let ip = ["ClientIP", "ClientIPAddress", "ActorIpAddress", "UserIp"]
        .iter()
        .find_map(|k| text(r, k).and_then(super::client_ip));
    if let Some((ip, port)) = ip {
        doc.set("source.ip", ip.to_string());
        if let Some(port) = port {
            doc.set("source.port", i64::from(port));
        }
    }
    doc.set_text(
        "user_agent.original",
        text(r, "UserAgent").or_else(|| extended_property(r, "UserAgent")),
    );

    match workload {
        "AzureActiveDirectory" => azure_ad(&mut doc, r, op),
        "SharePoint" | "OneDrive" => sharepoint(&mut doc, r, op),
        "Exchange" => exchange(&mut doc, op),
        "ThreatIntelligence" => threat_intelligence(&mut doc, r, op),
        _ => {}
    }
    let key = text(r, "Id").map(str::to_string);
    doc.finish(DATASET, key, record)
}

/// `<prefix>.name` (and `.email` for an address), lowercased: Microsoft 365 user
/// principal names are case-insensitive.
fn set_user(doc: &mut Doc, prefix: &str, id: &str) {
    let id = id.to_lowercase();
    if id.contains('@') {
        doc.set(&format!("{prefix}.email"), id.as_str());
    }
    doc.set(&format!("{prefix}.name"), id);
}

/// The value of the `ExtendedProperties` entry named `name`.
fn extended_property<'a>(r: &'a Value, name: &str) -> Option<&'a str> {
    field(r, "ExtendedProperties")?
        .as_array()?
        .iter()
        .find(|p| text(p, "Name") == Some(name))
        .and_then(|p| text(p, "Value"))
}

fn azure_ad(doc: &mut Doc, r: &Value, op: &str) {
    if matches!(op, "UserLoggedIn" | "UserLoginFailed") {
        doc.categorise("authentication", &["start"]);
        doc.set_text("service.id", text(r, "ApplicationId"));
        return;
    }
    let verb = op.to_ascii_lowercase();
    let kind = if verb.starts_with("add") {
        "creation"
    } else if verb.starts_with("delete") || verb.starts_with("remove") {
        "deletion"
    } else {
        "change"
    };
    doc.categorise("iam", &[kind]);
    if let Some(target) = text(r, "ObjectId").filter(|t| t.contains('@')) {
        set_user(doc, "user.target", target);
    }
}

fn sharepoint(doc: &mut Doc, r: &Value, op: &str) {
    if let Some(object) = text(r, "ObjectId") {
        doc.set("file.path", object);
        if object.starts_with("https://") || object.starts_with("http://") {
            doc.set("url.full", object);
        }
    }
    doc.set_text("file.name", text(r, "SourceFileName"));
    doc.set_text("file.directory", text(r, "SiteUrl"));
    doc.set_text("file.extension", text(r, "SourceFileExtension"));
    if let Some(size) = number(r, "FileSizeBytes").filter(|s| *s >= 0) {
        doc.set("file.size", size);
    }
    if SHARING.contains(&op) {
        if let Some(target) = text(r, "TargetUserOrGroupName") {
            set_user(doc, "user.target", target);
        }
    }
    let kind = match op {
        _ if SHARING.contains(&op) => "change",
        "FileAccessed" | "FileDownloaded" | "FilePreviewed" | "FileSyncDownloadedFull" => "access",
        "FileUploaded" | "FileSyncUploadedFull" | "FileCopied" => "creation",
        "FileDeleted" | "FileRecycled" | "FileDeletedFirstStageRecycleBin" => "deletion",
        "FileModified" | "FileRenamed" | "FileMoved" => "change",
        _ => "info",
    };
    doc.categorise("file", &[kind]);
}

fn exchange(doc: &mut Doc, op: &str) {
    match op {
        "MailItemsAccessed" => doc.categorise("email", &["access"]),
        "Send" | "SendAs" | "SendOnBehalf" => doc.categorise("email", &["info"]),
        "New-InboxRule" | "New-TransportRule" => doc.categorise("configuration", &["creation"]),
        "Remove-InboxRule" => doc.categorise("configuration", &["deletion"]),
        _ if op.starts_with("Set-") || op.starts_with("Enable-") || op.starts_with("Disable-") => {
            doc.categorise("configuration", &["change"])
        }
        _ => {}
    }
}

fn threat_intelligence(doc: &mut Doc, r: &Value, op: &str) {
    match op {
        "TIUrlClickData" => {
            if let Some(url) = text(r, "Url") {
                doc.set("url.original", url);
                doc.set_text("url.domain", url_domain(url).as_deref());
            }
            // For a link in mail, `SourceId` is the message's Exchange network message
            // id: the key that joins the click to the mail it came in (`transform join`).
            if text(r, "AppName").is_none_or(is_mail_app) {
                doc.set_text("email.local_id", text(r, "SourceId"));
            }
            doc.categorise("web", &["access"]);
        }
        "TIMailData" => {
            doc.set_text("email.from.address", text(r, "P1Sender"));
            let recipients: Vec<Value> = match field(r, "Recipients") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(Value::from)
                    .collect(),
                Some(Value::String(one)) => one
                    .split([';', ','])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Value::from)
                    .collect(),
                _ => Vec::new(),
            };
            if !recipients.is_empty() {
                doc.set("email.to.address", recipients);
            }
            doc.set_text("email.subject", text(r, "Subject"));
            doc.set_text("email.message_id", text(r, "InternetMessageId"));
            doc.set_text("email.local_id", text(r, "NetworkMessageId"));
            doc.set_text(
                "email.direction",
                text(r, "Directionality").and_then(mail_direction),
            );
            doc.categorise("email", &["info"]);
        }
        _ => {}
    }
}

/// Whether a time-of-click record's `AppName` is a mail client, whose `SourceId` is
/// then a network message id (Teams and Office documents have ids of their own).
fn is_mail_app(app: &str) -> bool {
    let app = app.to_ascii_lowercase();
    app.contains("outlook") || app.contains("mail") || app.contains("exchange")
}

/// ECS `email.direction` for Exchange's `Directionality`.
fn mail_direction(directionality: &str) -> Option<&'static str> {
    match directionality.to_ascii_lowercase().as_str() {
        "inbound" => Some("inbound"),
        "outbound" => Some("outbound"),
        "intraorg" | "intra-org" | "internal" => Some("internal"),
        _ => None,
    }
}

/// The host of a URL, lowercased, without user info or port.
pub(crate) fn url_domain(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
