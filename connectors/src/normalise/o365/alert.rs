//! Microsoft 365 Defender / Graph security alerts (`/security/alerts_v2`, as the Graph
//! and Sentinel connectors deliver them next to the audit records) →
//! `event.dataset: m365_defender.alert`, `event.kind: alert`.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `createdDateTime` (else `firstActivityDateTime`) |
//! | `event.action` | `category` (`AnonymousLogin`, `PasswordSpray`, ...), else `title` |
//! | `rule.name`, `rule.description`, `event.provider` | `title`, `description`, `serviceSource` |
//! | `event.severity`, `event.risk_score` | `severity`: informational 1/0, low 2/25, medium 3/50, high 4/75 |
//! | `user.email`, `user.name`, `user.id`, `user.domain` | the first `userEvidence`: `userAccount.userPrincipalName` lowercased, `azureAdUserId`, `domainName` |
//! | `source.ip`, `source.geo.country_iso_code` | the first `ipEvidence`: `ipAddress`, `countryLetterCode` |
//! | `cloud.account.id`, `event.start`, `event.end` | `tenantId`; `firstActivityDateTime`, `lastActivityDateTime` |
//! | `event.id` | over `id` |
//!
//! An alert has no outcome: it is a finding, not an attempt that succeeded or failed.

use super::super::{field, text, timestamp, Dataset, Doc, Head, Received};
use pipectl_core::value::Value;

const DATASET: Dataset = Dataset {
    module: "m365_defender",
    name: "m365_defender.alert",
    cloud_provider: "m365",
};

/// Whether a record is a security alert: a title and a creation time, and the alert's
/// own keys (`serviceSource` or `category` with `severity`).
pub(crate) fn is_alert(record: &Value) -> bool {
    text(record, "title").is_some()
        && text(record, "createdDateTime").is_some()
        && (text(record, "serviceSource").is_some()
            || (text(record, "category").is_some() && text(record, "severity").is_some()))
}

pub(crate) fn head(record: &Value) -> Option<Head> {
    let action = text(record, "category").or_else(|| text(record, "title"))?;
    Some(Head {
        time: text(record, "createdDateTime")
            .or_else(|| text(record, "firstActivityDateTime"))
            .and_then(timestamp),
        action: action.to_string(),
    })
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    doc.set("event.kind", "alert");
    doc.set("event.action", head.action.as_str());
    doc.set_text("rule.name", text(r, "title"));
    doc.set_text("rule.description", text(r, "description"));
    doc.set_text("event.provider", text(r, "serviceSource"));
    doc.set_text("cloud.account.id", text(r, "tenantId"));
    doc.set_text(
        "event.start",
        text(r, "firstActivityDateTime")
            .and_then(timestamp)
            .as_deref(),
    );
    doc.set_text(
        "event.end",
        text(r, "lastActivityDateTime")
            .and_then(timestamp)
            .as_deref(),
    );
    let (severity, risk) = match text(r, "severity").map(str::to_ascii_lowercase).as_deref() {
        Some("informational") => (1, 0),
        Some("low") => (2, 25),
        Some("medium") => (3, 50),
        Some("high") => (4, 75),
        _ => (0, -1),
    };
    if severity > 0 {
        doc.set("event.severity", i64::from(severity));
        doc.set("event.risk_score", i64::from(risk));
    }
    let evidence = field(r, "evidence")
        .and_then(Value::as_array)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let of_type = |suffix: &str| {
        evidence.iter().find(|e| {
            ["@odata.type", "at_sign_odata_type"]
                .iter()
                .any(|k| text(e, k).is_some_and(|t| t.ends_with(suffix)))
        })
    };
    if let Some(user) = of_type("userEvidence") {
        doc.set_login(
            "user",
            text(user, "userAccount.userPrincipalName")
                .or_else(|| text(user, "userAccount.accountName")),
        );
        doc.set_text("user.id", text(user, "userAccount.azureAdUserId"));
        doc.set_text("user.domain", text(user, "userAccount.domainName"));
    }
    if let Some(ip) = of_type("ipEvidence") {
        if doc.set_client_ip(text(ip, "ipAddress")) {
            doc.set_text("source.geo.country_iso_code", text(ip, "countryLetterCode"));
        }
    }
    doc.categorise("intrusion_detection", &["info"]);
    let key = text(r, "id").map(str::to_string);
    doc.finish(DATASET, key, record)
}
