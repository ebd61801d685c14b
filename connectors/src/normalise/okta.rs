//! Okta System Log events (`/api/v1/logs`) → `event.dataset: okta.system`.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `published` (when it is not there or no time: the time received, tagged `time_from_ingest`) |
//! | `event.action` | `eventType` (required) |
//! | `event.outcome`, `event.reason` | `outcome.result` (else a flattened record's `result`): `SUCCESS`/`ALLOW` → `success`, `FAILURE`/`DENY` → `failure`, else (`CHALLENGE`, `SKIPPED`, `UNKNOWN`, none) `unknown`; `outcome.reason` |
//! | `user.email`, `user.name`, `user.id`, `user.full_name` | a person acting (`actor.type` other than `PublicClientApp`): `actor.alternateId` lowercased (`email` when an address), `actor.id`, `actor.displayName`; records flattened by a collector: `actorId` (the login), `actorName` |
//! | `service.id`, `service.name` | the application: the target of type `AppInstance` (SSO and app events; `service.name` is what models watch for a new SaaS app), else a `PublicClientApp` actor |
//! | `user.target.*` | the first target of type `User`: `alternateId` lowercased as `email`/`name`, `id`, `displayName` as `full_name` |
//! | `source.ip` | `client.ipAddress` (else `sourceIP`, of records flattened by a collector) |
//! | `source.geo.*` | `client.geographicalContext`: `country` → `country_name` (and `country_iso_code` for the countries of [`country_iso_code`]), `state` → `region_name`, `city` → `city_name`, `geolocation` → `location` |
//! | `source.as.*`, `source.domain` | `securityContext.asNumber`, `asOrg`, `domain` |
//! | `user_agent.original` | `client.userAgent.rawUserAgent` |
//! | `event.category`, `event.type` | sessions and authentication `authentication`; users, groups, factors and app memberships `iam`; policies, zones, apps and system settings `configuration`; types from the last word (`create`, `delete`, `update`, ...) |
//! | `event.id` | over `uuid`, else over the record |

use super::{
    field, number, require_head, text, Dataset, Doc, Format, Head, NormaliseError, Received,
};
use pipectl_core::value::{Map, Value};

mod summary;

const DATASET: Dataset = Dataset {
    module: "okta",
    name: "okta.system",
    cloud_provider: "okta",
};

/// Normalises one System Log event (without `published`, at the time it is called);
/// refuses records without `eventType`.
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

/// Behaviour summaries computed over the log ([`summary`]) travel with it; they are
/// mapped as what they are.
pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    if text(record, "eventType").is_none() && summary::is_summary(record) {
        return Ok(summary::head(record));
    }
    require_head(Format::Okta, record, "published", "eventType")
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    if text(&record, "eventType").is_none() && summary::is_summary(&record) {
        return summary::build(record, head, received);
    }
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    let event_type = head.action.as_str();
    doc.set("event.action", event_type);
    let outcome = match text(r, "outcome.result")
        .or_else(|| text(r, "result"))
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("SUCCESS" | "ALLOW") => "success",
        Some("FAILURE" | "DENY") => "failure",
        _ => "unknown",
    };
    doc.set("event.outcome", outcome);
    doc.set_text("event.reason", text(r, "outcome.reason"));
    categorise(&mut doc, event_type);

    if let Some(actor) = field(r, "actor") {
        if text(actor, "type") == Some("PublicClientApp") {
            doc.set_text("service.id", text(actor, "id"));
            doc.set_text("service.name", text(actor, "displayName"));
        } else {
            set_person(&mut doc, "user", actor);
        }
    } else {
        // Flattened by a collector: `actorId` is the actor's login, `actorName` its name.
        doc.set_login("user", text(r, "actorId"));
        doc.set_text("user.full_name", text(r, "actorName"));
    }
    let targets = field(r, "target").and_then(Value::as_array).unwrap_or(&[]);
    if let Some(app) = targets
        .iter()
        .find(|t| text(t, "type") == Some("AppInstance"))
    {
        doc.set_text("service.id", text(app, "id"));
        doc.set_text("service.name", text(app, "displayName"));
    }
    if let Some(user) = targets.iter().find(|t| text(t, "type") == Some("User")) {
        set_person(&mut doc, "user.target", user);
    }

    if !doc.set_client_ip(text(r, "client.ipAddress")) {
        doc.set_client_ip(text(r, "sourceIP"));
    }
    if let Some(geo) = field(r, "client.geographicalContext") {
        if let Some(country) = text(geo, "country") {
            doc.set("source.geo.country_name", country);
            doc.set_text("source.geo.country_iso_code", country_iso_code(country));
        }
        doc.set_text("source.geo.region_name", text(geo, "state"));
        doc.set_text("source.geo.city_name", text(geo, "city"));
        let coordinate = |k: &str| field(geo, &format!("geolocation.{k}")).and_then(Value::as_f64);
        if let (Some(lat), Some(lon)) = (coordinate("lat"), coordinate("lon")) {
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
                let mut location = Map::with_capacity(2);
                location.push("lat", Value::Float(lat));
                location.push("lon", Value::Float(lon));
                doc.set("source.geo.location", location);
            }
        }
    }
    if let Some(number) = number(r, "securityContext.asNumber") {
        doc.set("source.as.number", number);
    }
    doc.set_text(
        "source.as.organization.name",
        text(r, "securityContext.asOrg"),
    );
    doc.set_text(
        "source.domain",
        text(r, "securityContext.domain").filter(|d| super::is_domain(d) && *d != "."),
    );
    doc.set_text(
        "user_agent.original",
        text(r, "client.userAgent.rawUserAgent"),
    );

    let key = text(r, "uuid").map(str::to_string);
    doc.finish(DATASET, key, record)
}

/// `<prefix>.email`/`.name` (lowercased `alternateId`: Okta logins are
/// case-insensitive), `.id` and `.full_name` of an actor or target.
fn set_person(doc: &mut Doc, prefix: &str, person: &Value) {
    if let Some(login) = text(person, "alternateId") {
        let login = login.to_lowercase();
        if login.contains('@') {
            doc.set(&format!("{prefix}.email"), login.as_str());
        }
        doc.set(&format!("{prefix}.name"), login);
    }
    doc.set_text(&format!("{prefix}.id"), text(person, "id"));
    doc.set_text(&format!("{prefix}.full_name"), text(person, "displayName"));
}

/// `event.category` and `event.type` from the event type's namespace and last word.
fn categorise(doc: &mut Doc, event_type: &str) {
    let last = event_type.rsplit('.').next().unwrap_or("");
    let verb = |read: &'static str| -> &'static str {
        const CREATION: &[&str] = &["create", "add", "activate", "enroll", "grant", "assign"];
        const DELETION: &[&str] = &["delete", "remove", "deactivate", "revoke", "unassign"];
        const READ: &[&str] = &["show", "read", "view", "list", "get"];
        let starts = |words: &[&str]| words.iter().any(|w| last.starts_with(w));
        if starts(DELETION) {
            "deletion"
        } else if starts(CREATION) {
            "creation"
        } else if starts(READ) {
            read
        } else {
            "change"
        }
    };
    if event_type.starts_with("user.session.") || event_type.starts_with("user.authentication.") {
        let kind = match event_type {
            "user.session.start" | "user.authentication.sso" => "start",
            "user.session.end" => "end",
            _ => "info",
        };
        doc.categorise("authentication", &[kind]);
    } else if event_type.starts_with("app.oauth2.") {
        doc.categorise("authentication", &["info"]);
    } else if ["user.", "group.", "application.user_membership."]
        .iter()
        .any(|p| event_type.starts_with(p))
    {
        doc.categorise("iam", &[verb("info")]);
    } else if ["policy.", "zone.", "system.", "application."]
        .iter()
        .any(|p| event_type.starts_with(p))
    {
        doc.categorise("configuration", &[verb("access")]);
    }
}

/// The ISO 3166-1 alpha-2 code of a country as Okta names it (its English short
/// name), for the countries most sign-ins come from; `None` for the others, which
/// keep only `source.geo.country_name`.
pub fn country_iso_code(name: &str) -> Option<&'static str> {
    const CODES: &[(&str, &str)] = &[
        ("Argentina", "AR"),
        ("Australia", "AU"),
        ("Austria", "AT"),
        ("Belgium", "BE"),
        ("Brazil", "BR"),
        ("Bulgaria", "BG"),
        ("Canada", "CA"),
        ("Chile", "CL"),
        ("China", "CN"),
        ("Colombia", "CO"),
        ("Czechia", "CZ"),
        ("Czech Republic", "CZ"),
        ("Denmark", "DK"),
        ("Egypt", "EG"),
        ("Finland", "FI"),
        ("France", "FR"),
        ("Germany", "DE"),
        ("Greece", "GR"),
        ("Hong Kong", "HK"),
        ("Hungary", "HU"),
        ("Iceland", "IS"),
        ("India", "IN"),
        ("Indonesia", "ID"),
        ("Iran", "IR"),
        ("Ireland", "IE"),
        ("Israel", "IL"),
        ("Italy", "IT"),
        ("Japan", "JP"),
        ("Kenya", "KE"),
        ("Malaysia", "MY"),
        ("Mexico", "MX"),
        ("Netherlands", "NL"),
        ("New Zealand", "NZ"),
        ("Nigeria", "NG"),
        ("North Korea", "KP"),
        ("Norway", "NO"),
        ("Pakistan", "PK"),
        ("Philippines", "PH"),
        ("Poland", "PL"),
        ("Portugal", "PT"),
        ("Romania", "RO"),
        ("Russia", "RU"),
        ("Russian Federation", "RU"),
        ("Saudi Arabia", "SA"),
        ("Singapore", "SG"),
        ("South Africa", "ZA"),
        ("South Korea", "KR"),
        ("Spain", "ES"),
        ("Sweden", "SE"),
        ("Switzerland", "CH"),
        ("Taiwan", "TW"),
        ("Thailand", "TH"),
        ("Turkey", "TR"),
        ("Türkiye", "TR"),
        ("Ukraine", "UA"),
        ("United Arab Emirates", "AE"),
        ("United Kingdom", "GB"),
        ("United States", "US"),
        ("Vietnam", "VN"),
        ("Viet Nam", "VN"),
    ];
    CODES
        .iter()
        .find(|(country, _)| country.eq_ignore_ascii_case(name))
        .map(|(_, code)| *code)
}

#[cfg(test)]
mod tests;
