//! Azure Monitor Activity Log (and the resource logs delivered beside it) →
//! `event.dataset: azure.activitylogs`, in both shapes the records come in:
//!
//! - **the REST API** (`/providers/Microsoft.Insights/eventtypes/management/values`,
//!   what `source azure_activity` reads): `EventData` objects with `eventTimestamp`,
//!   `operationName.value`, `status.value`, `caller`, `claims`, `httpRequest`,
//!   `eventDataId`, `subscriptionId`...;
//! - **a diagnostic setting** (the storage account's `PT1H.json` blobs, Event Hub): one
//!   JSON object per line with `time`, `resourceId`, `operationName`, `category`,
//!   `resultType`, `callerIpAddress`, `identity`, `properties`; storage accounts'
//!   resource logs (`StorageRead`, `StorageWrite`, `StorageDelete`, with `statusCode`,
//!   `uri`, `properties.objectKey`) share the layout and normalise the same way.
//!
//! A blob of the older layout, one object `{"records": [...]}`, gives one event per
//! record ([`normalise_all`]).
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `eventTimestamp` (REST), else `time` (else the time received, tagged `time_from_ingest`) |
//! | `event.action` | `operationName` (text, or its `value`); required |
//! | `event.outcome` | REST `status.value`: `Succeeded` → `success`, `Failed` → `failure`; diagnostic `resultType`: `Success`/`Succeeded` → `success`, `Failed`/`Failure` → `failure`; storage `statusCode` (below 400 → `success`) or `properties.metricResponseType` (`Success` or not); others (`Started`, `Accepted`, `Active`) `unknown` |
//! | `event.reason`, `error.code` | `resultDescription` / `description`; a failure's `statusText` / `subStatus.value` / `resultSignature` |
//! | `user.name`, `user.email` | the caller's UPN: `caller`, else the `upn` or `emailaddress` claim (`claims`, or `identity.claims`), else a `name` claim that is an address; lowercased |
//! | `user.id` | the `objectidentifier` claim, else `identity.authorization.evidence.principalId` |
//! | `service.id` | the `appid` claim (the application that called) |
//! | `source.ip`, `source.port` | `callerIpAddress` (`ip` or `ip:port`), else `httpRequest.clientIpAddress`, else the `ipaddr` claim |
//! | `cloud.account.id`, `cloud.region` | `subscriptionId`, else the subscription in `resourceId`; `location` (not `global`) |
//! | `event.provider` | the resource provider: `resourceProviderName.value`, else the operation's first segment (`Microsoft.Compute`) |
//! | `event.category`, `event.type` | role assignments and elevation `iam`; storage `file`; everything else `configuration`. Types from the operation's last word: `write`/`Put*` → `change` (`creation` for storage), `delete` → `deletion`, `read`/`Get*`/`List*` → `access`, `action` → `change`; recommendations `info` |
//! | `user_agent.original`, `file.path`, `url.domain`, `url.path` | storage: `properties.userAgentHeader`, `properties.objectKey`, the `uri`'s host and path (never its query, which holds SAS signatures) |
//! | `cloud.instance.name`, `host.name` | a virtual machine's name, when `resourceId` is one (`.../virtualMachines/<name>`) |
//! | `related.user`, `related.ip` | the users and addresses above |
//! | `event.id` | over `eventDataId`, else over the record |

use super::{field, key, text, timestamp, Dataset, Doc, Format, Head, NormaliseError, Received};
use pipectl_core::value::Value;

const DATASET: Dataset = Dataset {
    module: "azure",
    name: "azure.activitylogs",
    cloud_provider: "azure",
};

const FORMAT: Format = Format::AzureActivity;

/// Claims by their short and their URI names.
const UPN_CLAIMS: &[&str] = &[
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "email",
];
const OBJECT_ID_CLAIMS: &[&str] = &[
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "oid",
];

/// Normalises one record (without a time, at the time it is called).
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

/// Every record of a value: a `{"records": [...]}` blob gives one event per record,
/// anything else is one record.
pub fn normalise_all(record: &Value, received: Received) -> Result<Vec<Value>, NormaliseError> {
    if let Some(records) =
        key(record, "records").filter(|_| field(record, "operationName").is_none())
    {
        let Value::Array(records) = records else {
            return Err(NormaliseError::new(
                FORMAT,
                "`records` is not an array: not an Azure Activity Log blob",
            ));
        };
        let mut events = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let head = check(r).map_err(|e| {
                NormaliseError::new(
                    FORMAT,
                    format!("record {} of the blob: {}", i + 1, e.reason),
                )
            })?;
            events.push(build(r.clone(), head, received));
        }
        return Ok(events);
    }
    let head = check(record)?;
    Ok(vec![build(record.clone(), head, received)])
}

/// Text, or the `value` of Azure's `{"value", "localizedValue"}` pairs.
fn value_text<'a>(record: &'a Value, path: &str) -> Option<&'a str> {
    text(record, path).or_else(|| text(record, &format!("{path}.value")))
}

pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    super::require_object(FORMAT, record)?;
    let action = value_text(record, "operationName").ok_or_else(|| {
        NormaliseError::new(
            FORMAT,
            "no `operationName`: not an Azure Activity Log record",
        )
    })?;
    let time = text(record, "eventTimestamp")
        .or_else(|| text(record, "time"))
        .and_then(timestamp);
    Ok(Head {
        time,
        action: action.to_string(),
    })
}

/// A claim from `claims` (REST) or `identity.claims` (diagnostic), by any of its names.
fn claim<'a>(record: &'a Value, names: &[&str]) -> Option<&'a str> {
    let claims = key(record, "claims")
        .filter(|c| matches!(c, Value::Object(_)))
        .or_else(|| field(record, "identity").and_then(|i| key(i, "claims")))?;
    names.iter().find_map(|n| {
        key(claims, n)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    })
}

/// Whether a record is a storage account's resource log (read, write, delete).
fn is_storage(record: &Value) -> bool {
    text(record, "category").is_some_and(|c| c.to_ascii_lowercase().starts_with("storage"))
        || field(record, "properties.metricResponseType").is_some()
        || (field(record, "statusCode").is_some()
            && field(record, "properties.objectKey").is_some())
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    doc.set("event.action", head.action.as_str());
    let storage = is_storage(r);
    let (outcome, failed) = outcome(r, storage);
    doc.set("event.outcome", outcome);
    doc.set_text(
        "event.reason",
        text(r, "resultDescription").or_else(|| text(r, "description")),
    );
    if failed {
        let code = text(r, "statusText")
            .or_else(|| value_text(r, "subStatus"))
            .or_else(|| text(r, "resultSignature"));
        doc.set_text("error.code", code);
    }
    // The caller.
    let caller = text(r, "caller").filter(|c| c.contains('@'));
    let upn = caller
        .or_else(|| claim(r, UPN_CLAIMS).filter(|c| c.contains('@')))
        .or_else(|| claim(r, &["name"]).filter(|c| c.contains('@')));
    doc.set_login("user", upn);
    let object_id = claim(r, OBJECT_ID_CLAIMS)
        .or_else(|| text(r, "identity.authorization.evidence.principalId"))
        .or_else(|| text(r, "caller").filter(|c| !c.contains('@')));
    doc.set_text("user.id", object_id);
    doc.set_text("service.id", claim(r, &["appid"]));
    if !doc.set_client_ip(text(r, "callerIpAddress"))
        && !doc.set_client_ip(text(r, "httpRequest.clientIpAddress"))
    {
        doc.set_client_ip(claim(r, &["ipaddr"]));
    }
    // Where.
    let resource = text(r, "resourceId").or_else(|| text(r, "resourceUri"));
    let subscription = text(r, "subscriptionId")
        .map(str::to_string)
        .or_else(|| resource.and_then(|id| segment_after(id, "subscriptions")));
    doc.set_text("cloud.account.id", subscription.as_deref());
    doc.set_text(
        "cloud.region",
        text(r, "location").filter(|l| !l.eq_ignore_ascii_case("global")),
    );
    if let Some(vm) = resource.and_then(|id| segment_after(id, "virtualMachines")) {
        doc.set("cloud.instance.name", vm.as_str());
        doc.set("host.name", vm);
    }
    let provider = value_text(r, "resourceProviderName")
        .map(str::to_string)
        .or_else(|| {
            head.action
                .split('/')
                .next()
                .filter(|p| p.contains('.'))
                .map(str::to_string)
        });
    doc.set_text("event.provider", provider.as_deref());
    categorise(&mut doc, r, &head.action, storage);
    if storage {
        doc.set_text("user_agent.original", text(r, "properties.userAgentHeader"));
        doc.set_text("file.path", text(r, "properties.objectKey"));
        if let Some(uri) = text(r, "uri").and_then(|u| reqwest::Url::parse(u).ok()) {
            doc.set_text("url.domain", uri.host_str());
            doc.set("url.path", uri.path());
        }
    }
    doc.relate_set_fields();
    let id = text(r, "eventDataId").map(str::to_string);
    doc.finish(DATASET, id, record)
}

/// The segment of an Azure resource id after `name` (matched ignoring case, as ids
/// come in any case): the subscription id, a VM name.
fn segment_after(resource_id: &str, name: &str) -> Option<String> {
    let mut parts = resource_id.split('/');
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case(name) {
            return parts.next().filter(|s| !s.is_empty()).map(str::to_string);
        }
    }
    None
}

/// The outcome, and whether it is a failure (which names an error code).
fn outcome(r: &Value, storage: bool) -> (&'static str, bool) {
    let status = value_text(r, "status")
        .or_else(|| text(r, "resultType"))
        .map(str::to_ascii_lowercase);
    match status.as_deref() {
        Some("succeeded" | "success") => return ("success", false),
        Some("failed" | "failure") => return ("failure", true),
        _ => {}
    }
    if storage {
        if let Some(code) = super::number(r, "statusCode") {
            return if code < 400 {
                ("success", false)
            } else {
                ("failure", true)
            };
        }
        if let Some(metric) = text(r, "properties.metricResponseType") {
            return if metric.eq_ignore_ascii_case("success") {
                ("success", false)
            } else {
                ("failure", true)
            };
        }
    }
    ("unknown", false)
}

fn categorise(doc: &mut Doc, r: &Value, action: &str, storage: bool) {
    let lower = action.to_ascii_lowercase();
    let last = lower.rsplit('/').next().unwrap_or("");
    if storage {
        let kind = if last.starts_with("delete") {
            "deletion"
        } else if last.starts_with("put") || last.starts_with("create") || last.starts_with("copy")
        {
            "creation"
        } else if last.starts_with("get") || last.starts_with("list") || last.starts_with("read") {
            "access"
        } else {
            "change"
        };
        doc.categorise("file", &[kind]);
        return;
    }
    let category = value_text(r, "category").unwrap_or("").to_ascii_lowercase();
    let kind = if category == "recommendation" {
        "info"
    } else {
        match last {
            "delete" => "deletion",
            "read" => "access",
            _ => "change",
        }
    };
    let iam = lower.starts_with("microsoft.authorization/roleassignments")
        || lower.starts_with("microsoft.authorization/elevateaccess")
        || lower.starts_with("microsoft.authorization/roledefinitions");
    doc.categorise(if iam { "iam" } else { "configuration" }, &[kind]);
}

#[cfg(test)]
mod tests;
