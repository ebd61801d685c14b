//! Entra ID (Azure AD) sign-ins and directory audits → `event.dataset:
//! azure.signinlogs` / `azure.auditlogs`, in both shapes they are delivered in:
//!
//! - **diagnostic settings** (Event Hub, storage account, Log Analytics export): an
//!   envelope with `time`, `category`, `operationName`, `tenantId`,
//!   `callerIpAddress`, `resultType` around the resource in `properties`;
//! - **Microsoft Graph** (`/auditLogs/signIns`, `/auditLogs/directoryAudits`): the
//!   `signIn` or `directoryAudit` resource itself.
//!
//! A diagnostic record whose `category` ends in `SignInLogs` (interactive,
//! non-interactive, service principal and managed identity sign-ins) is a sign-in;
//! any other category (`AuditLogs`, and the directory categories some exports put
//! there instead: `Policy`, `UserManagement`, `ApplicationManagement`, ...) is a
//! directory audit. A Graph resource with `activityDateTime` is a directory audit,
//! one with `createdDateTime` a sign-in.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | the resource's own time: `createdDateTime` (sign-ins) or `activityDateTime` (audits), else the envelope's `time` (else the time received, tagged `time_from_ingest`) |
//! | `event.action` | audits: `activityDisplayName`, else the envelope's `operationName` (one required); sign-ins: `operationName`, and for Graph sign-ins (which name no action) `Sign-in activity`, as the diagnostic shape names them |
//! | `event.outcome`, `error.code`, `event.reason` | sign-ins: `status.errorCode` 0 → `success`, other codes → `failure` (the code → `error.code`, `status.failureReason` → `event.reason`); without a status the envelope's `resultType` (`0`/`Success`, a code/`Failure`). Audits: `result` `success`/`failure`/`failed`/`timeout` (a failure), `resultReason` |
//! | `user.name`, `user.email`, `user.id`, `user.full_name` | sign-ins: `userPrincipalName` (lowercased), `userId`, `userDisplayName`; audits: `initiatedBy.user` `userPrincipalName`, `id`, `displayName` |
//! | `service.id`, `service.name` | sign-ins: `appId`, `appDisplayName` (else `servicePrincipalName`); audits by an application: `initiatedBy.app` `appId`, `displayName` |
//! | `user.target.*` | audits: the first `targetResources` entry of type `User`: `userPrincipalName` (else `displayName`) lowercased, `id` |
//! | `source.ip` | sign-ins: `ipAddress`; audits: `initiatedBy.user.ipAddress` / `initiatedBy.app.ipAddress` / the `ipaddr` of `additionalDetails` (PIM); else the envelope's `callerIpAddress` |
//! | `source.geo.*`, `source.as.number` | sign-ins: `location` `city`, `state` → `region_name`, `countryOrRegion` (a two-letter code → `country_iso_code`, a name → `country_name`), `geoCoordinates`; `autonomousSystemNumber` |
//! | `user_agent.original`, `user_agent.name`, `user_agent.os.name` | `userAgent`; sign-ins: `deviceDetail.browser`, `deviceDetail.operatingSystem` |
//! | `host.id`, `host.name` | sign-ins from a registered device: `deviceDetail.deviceId`, `deviceDetail.displayName` |
//! | `event.provider`, `cloud.account.id` | audits: `loggedByService`; `tenantId` (envelope, else resource) |
//! | `event.category`, `event.type` | sign-ins `authentication`/`start`; audits of the `Policy` category (the resource's, else the envelope's) `configuration`, other audits `iam`; types from `operationType` (`Add` creation, `Delete` deletion, else change) |
//! | `related.user`, `related.ip` | the users and addresses above |
//! | `event.id` | over the resource's `id`, else over the record |

use super::{
    field, id_text, number, okta::country_iso_code, text, timestamp, Dataset, Doc, Format, Head,
    NormaliseError, Received,
};
use pipectl_core::value::Value;

const SIGN_INS: Dataset = Dataset {
    module: "azure",
    name: "azure.signinlogs",
    cloud_provider: "azure",
};

const AUDITS: Dataset = Dataset {
    module: "azure",
    name: "azure.auditlogs",
    cloud_provider: "azure",
};

/// The action of Graph sign-ins, which carry none: the diagnostic shape's name.
const SIGN_IN_ACTION: &str = "Sign-in activity";

/// Which record it is and where its resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SignIn,
    Audit,
}

/// A record's kind and its resource: `properties` of a diagnostic envelope, else
/// the record itself.
fn shape(record: &Value) -> Option<(Kind, &Value, bool)> {
    let envelope = field(record, "properties").filter(|p| matches!(p, Value::Object(_)));
    match envelope {
        Some(resource) => {
            let sign_in = text(record, "category")
                .is_some_and(|c| c.to_ascii_lowercase().ends_with("signinlogs"));
            let kind = if sign_in { Kind::SignIn } else { Kind::Audit };
            Some((kind, resource, true))
        }
        None if field(record, "activityDateTime").is_some() => Some((Kind::Audit, record, false)),
        None if field(record, "createdDateTime").is_some() => Some((Kind::SignIn, record, false)),
        None => None,
    }
}

/// Normalises one sign-in or directory audit (without a time, at the time it is
/// called); refuses records of neither shape and audits without an activity name.
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    let err = |reason: String| NormaliseError::new(Format::EntraId, reason);
    super::require_object(Format::EntraId, record)?;
    let Some((kind, resource, envelope)) = shape(record) else {
        return Err(err(
            "no `properties`, `createdDateTime` or `activityDateTime`: not an Entra ID sign-in or directory audit record".into(),
        ));
    };
    let own_key = match kind {
        Kind::SignIn => "createdDateTime",
        Kind::Audit => "activityDateTime",
    };
    let own = text(resource, own_key).and_then(timestamp);
    let time = own.or_else(|| {
        envelope
            .then(|| text(record, "time").and_then(timestamp))
            .flatten()
    });
    let action = match kind {
        Kind::Audit => {
            text(resource, "activityDisplayName").or_else(|| text(record, "operationName"))
        }
        Kind::SignIn => text(record, "operationName").or(Some(SIGN_IN_ACTION)),
    };
    let action = action.ok_or_else(|| {
        err(
            "no `activityDisplayName` nor `operationName`: not an Entra ID directory audit record"
                .into(),
        )
    })?;
    Ok(Head {
        time,
        action: action.to_string(),
    })
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    doc.set("event.action", head.action.as_str());
    let (kind, resource, _) = shape(r).unwrap_or((Kind::Audit, r, false));
    doc.set_text(
        "cloud.account.id",
        text(r, "tenantId").or_else(|| text(resource, "tenantId")),
    );
    doc.set_text("user_agent.original", text(resource, "userAgent"));
    let dataset = match kind {
        Kind::SignIn => {
            sign_in(&mut doc, r, resource);
            SIGN_INS
        }
        Kind::Audit => {
            audit(&mut doc, r, resource);
            AUDITS
        }
    };
    if !doc.set_client_ip(source_ip(kind, resource)) {
        doc.set_client_ip(text(r, "callerIpAddress"));
    }
    doc.relate_set_fields();
    let key = text(resource, "id").map(str::to_string);
    doc.finish(dataset, key, record)
}

/// The address the resource names as where the request came from.
fn source_ip(kind: Kind, resource: &Value) -> Option<&str> {
    match kind {
        Kind::SignIn => text(resource, "ipAddress"),
        Kind::Audit => text(resource, "initiatedBy.user.ipAddress")
            .or_else(|| text(resource, "initiatedBy.app.ipAddress"))
            .or_else(|| additional_detail(resource, "ipaddr")),
    }
}

/// The value of an audit's `additionalDetails` item by its key (PIM audits name the
/// caller's address `ipaddr` there).
fn additional_detail<'a>(resource: &'a Value, key: &str) -> Option<&'a str> {
    field(resource, "additionalDetails")?
        .as_array()?
        .iter()
        .find(|d| text(d, "key").is_some_and(|k| k.eq_ignore_ascii_case(key)))
        .and_then(|d| text(d, "value"))
}

fn sign_in(doc: &mut Doc, r: &Value, p: &Value) {
    doc.categorise("authentication", &["start"]);
    match field(p, "status.errorCode").and_then(super::as_number) {
        Some(0) => doc.set("event.outcome", "success"),
        Some(code) => {
            doc.set("event.outcome", "failure");
            doc.set("error.code", code.to_string());
            doc.set_text("event.reason", text(p, "status.failureReason"));
        }
        None => doc.set("event.outcome", result_type_outcome(r)),
    }
    doc.set_login("user", text(p, "userPrincipalName"));
    doc.set_text("user.id", text(p, "userId"));
    doc.set_text("user.full_name", text(p, "userDisplayName"));
    doc.set_text("service.id", text(p, "appId"));
    doc.set_text(
        "service.name",
        text(p, "appDisplayName").or_else(|| text(p, "servicePrincipalName")),
    );
    if let Some(location) = field(p, "location") {
        doc.set_text("source.geo.city_name", known(text(location, "city")));
        doc.set_text("source.geo.region_name", known(text(location, "state")));
        if let Some(country) = known(text(location, "countryOrRegion")) {
            if country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()) {
                doc.set("source.geo.country_iso_code", country.to_ascii_uppercase());
            } else {
                doc.set("source.geo.country_name", country);
                doc.set_text("source.geo.country_iso_code", country_iso_code(country));
            }
        }
        let coordinate =
            |k: &str| field(location, &format!("geoCoordinates.{k}")).and_then(Value::as_f64);
        doc.set_location(coordinate("latitude"), coordinate("longitude"));
    }
    if let Some(asn) = number(p, "autonomousSystemNumber").filter(|n| *n > 0) {
        doc.set("source.as.number", asn);
    }
    doc.set_text("user_agent.name", text(p, "deviceDetail.browser"));
    doc.set_text(
        "user_agent.os.name",
        text(p, "deviceDetail.operatingSystem"),
    );
    doc.set_text("host.id", text(p, "deviceDetail.deviceId"));
    doc.set_text("host.name", text(p, "deviceDetail.displayName"));
}

/// A sign-in's outcome from the envelope when the resource has no status:
/// `resultType` is `0` (or `Success`) on success and the error code on failure.
fn result_type_outcome(r: &Value) -> &'static str {
    let result = field(r, "resultType").and_then(|v| match v {
        Value::String(_) => text(r, "resultType").map(str::to_string),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    });
    match result.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("0" | "success") => "success",
        Some("failure") => "failure",
        Some(code) if code.parse::<i64>().is_ok() => "failure",
        _ => match text(r, "resultSignature")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("SUCCESS") => "success",
            Some("FAILURE") => "failure",
            _ => "unknown",
        },
    }
}

/// Entra writes `Unknown` where it could not place an address.
fn known(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.eq_ignore_ascii_case("unknown"))
}

fn audit(doc: &mut Doc, r: &Value, p: &Value) {
    let outcome = match text(p, "result").map(str::to_ascii_lowercase).as_deref() {
        Some("success") => "success",
        Some("failure" | "failed" | "timeout") => "failure",
        _ => "unknown",
    };
    doc.set("event.outcome", outcome);
    doc.set_text("event.reason", text(p, "resultReason"));
    doc.set_text("event.provider", text(p, "loggedByService"));
    if let Some(user) = field(p, "initiatedBy.user").filter(|u| matches!(u, Value::Object(_))) {
        doc.set_login("user", text(user, "userPrincipalName"));
        doc.set_text("user.id", text(user, "id"));
        doc.set_text("user.full_name", text(user, "displayName"));
    }
    if let Some(app) = field(p, "initiatedBy.app").filter(|a| matches!(a, Value::Object(_))) {
        doc.set_text("service.id", text(app, "appId"));
        doc.set_text(
            "service.name",
            text(app, "displayName").or_else(|| text(app, "servicePrincipalName")),
        );
    }
    let targets = field(p, "targetResources")
        .and_then(Value::as_array)
        .unwrap_or(&[]);
    if let Some(user) = targets
        .iter()
        .find(|t| text(t, "type").is_some_and(|k| k.eq_ignore_ascii_case("user")))
    {
        doc.set_login(
            "user.target",
            text(user, "userPrincipalName").or_else(|| text(user, "displayName")),
        );
        doc.set_text("user.target.id", id_text(user, "id").as_deref());
    }
    let operation = text(p, "operationType").map(str::to_ascii_lowercase);
    let kind = match operation.as_deref() {
        Some("add" | "create") => "creation",
        Some("delete" | "remove") => "deletion",
        _ => "change",
    };
    let category = text(p, "category")
        .or_else(|| text(r, "category"))
        .unwrap_or("");
    if category.eq_ignore_ascii_case("policy") {
        doc.categorise("configuration", &[kind]);
    } else {
        doc.categorise("iam", &[kind]);
    }
}

#[cfg(test)]
mod tests;
