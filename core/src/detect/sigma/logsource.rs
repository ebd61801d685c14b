//! Log sources: which events a rule applies to.
//!
//! A rule's `logsource` (product, category, service) is matched against configured
//! entries, each a selector (`product:aws service:cloudtrail`) with an event predicate
//! and the namespaces its vendor fields may live under. A rule applies to an event
//! when the predicate of any entry selecting the rule holds for it. Rules no entry
//! selects follow the `unmapped` policy (every event, or none). The built-in entries
//! cover the cloud and SaaS sources pipectl reads, recognising both normalised events
//! (`event.dataset`) and raw vendor records by their shape.

use super::fieldmap::{key_path, KeyPath};
use super::rule::Logsource;
use crate::expr::CompiledExpr;
use crate::path::FieldPath;
use crate::value::Value;

/// A test on an event.
#[derive(Debug, Clone)]
pub enum Predicate {
    /// The field holds this string.
    Equals(FieldPath, String),
    /// The field is present.
    Exists(FieldPath),
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    /// A pipeline expression (from the `logsources` attribute).
    Expr(CompiledExpr),
}

impl Predicate {
    pub fn holds(&self, event: &Value) -> bool {
        match self {
            Predicate::Equals(p, v) => {
                event.get_path(p).and_then(Value::as_str) == Some(v.as_str())
            }
            Predicate::Exists(p) => event.get_path(p).is_some(),
            Predicate::All(items) => items.iter().all(|i| i.holds(event)),
            Predicate::Any(items) => items.iter().any(|i| i.holds(event)),
            Predicate::Expr(e) => e.matches(event),
        }
    }
}

/// One configured log source.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The terms a rule's logsource must have (unset terms match anything).
    pub selector: Logsource,
    pub predicate: Predicate,
    /// Where the source's vendor fields live besides the root.
    pub namespaces: Vec<KeyPath>,
}

/// What happens to rules no entry selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmapped {
    /// They apply to every event (their fields decide).
    AllEvents,
    /// They never apply.
    NoEvents,
}

/// The most entries a map may hold (event classes are a 64-bit mask).
pub const MAX_ENTRIES: usize = 64;

/// The configured log sources.
#[derive(Debug, Clone)]
pub struct LogsourceMap {
    entries: Vec<Entry>,
    pub unmapped: Unmapped,
}

/// How a rule's logsource resolved.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// The entries selecting the rule; 0 when none does.
    pub mask: u64,
    pub namespaces: Vec<KeyPath>,
}

/// Parses a selector: space-separated `product:x`, `category:y`, `service:z` terms.
pub fn parse_selector(text: &str) -> Result<Logsource, String> {
    let mut ls = Logsource::default();
    for term in text.split_whitespace() {
        let (k, v) = term.split_once(':').ok_or_else(|| {
            format!("`{term}` is not `product:`, `category:` or `service:` followed by a value")
        })?;
        let slot = match k {
            "product" => &mut ls.product,
            "category" => &mut ls.category,
            "service" => &mut ls.service,
            other => return Err(format!("`{other}` is not product, category or service")),
        };
        *slot = Some(v.to_ascii_lowercase());
    }
    if ls == Logsource::default() {
        return Err(format!(
            "selector `{text}` names no product, category or service"
        ));
    }
    Ok(ls)
}

fn field(p: &str) -> FieldPath {
    FieldPath::parse(p).unwrap_or_else(|_| FieldPath::root())
}

fn dataset(name: &str) -> Predicate {
    Predicate::Equals(field("event.dataset"), name.to_string())
}

fn exists_all(fields: &[&str]) -> Predicate {
    Predicate::All(fields.iter().map(|f| Predicate::Exists(field(f))).collect())
}

fn any_exists(fields: &[&str]) -> Predicate {
    Predicate::Any(fields.iter().map(|f| Predicate::Exists(field(f))).collect())
}

fn entry(selector: &str, predicate: Predicate, namespaces: &[&str]) -> Entry {
    Entry {
        selector: parse_selector(selector).unwrap_or_default(),
        predicate,
        namespaces: namespaces.iter().filter_map(|n| key_path(n).ok()).collect(),
    }
}

/// The built-in entries: normalised datasets (docs/schema.md) and raw record shapes.
pub fn default_entries() -> Vec<Entry> {
    vec![
        entry(
            "product:aws service:cloudtrail",
            Predicate::Any(vec![
                dataset("aws.cloudtrail"),
                // Raw records: an API call name plus any of the envelope's keys
                // (sample records lack one or another of them).
                Predicate::All(vec![
                    Predicate::Exists(field("eventName")),
                    Predicate::Any(
                        ["eventSource", "awsRegion", "eventVersion", "userIdentity"]
                            .iter()
                            .map(|f| Predicate::Exists(field(f)))
                            .collect(),
                    ),
                ]),
            ]),
            &["aws.cloudtrail"],
        ),
        entry(
            "product:azure service:signinlogs",
            Predicate::Any(vec![
                dataset("azure.signinlogs"),
                // Diagnostic settings export: the sign-in under `properties`.
                Predicate::Equals(field("category"), "SignInLogs".into()),
                Predicate::Equals(field("category"), "NonInteractiveUserSignInLogs".into()),
                // Microsoft Graph `signIn` resource, flat.
                exists_all(&["createdDateTime", "appId", "correlationId", "status"]),
            ]),
            &[
                "azure.signinlogs",
                "properties",
                "azure.signinlogs.properties",
            ],
        ),
        entry(
            "product:azure service:auditlogs",
            Predicate::Any(vec![
                dataset("azure.auditlogs"),
                Predicate::Equals(field("category"), "AuditLogs".into()),
                // Microsoft Graph `directoryAudit` resource, flat.
                exists_all(&[
                    "activityDisplayName",
                    "activityDateTime",
                    "loggedByService",
                    "initiatedBy",
                ]),
            ]),
            &[
                "azure.auditlogs",
                "properties",
                "azure.auditlogs.properties",
            ],
        ),
        entry(
            "product:azure service:activitylogs",
            Predicate::Any(vec![
                dataset("azure.activitylogs"),
                Predicate::All(vec![
                    Predicate::Exists(field("operationName")),
                    Predicate::Exists(field("resourceId")),
                    Predicate::Exists(field("correlationId")),
                ]),
            ]),
            &["azure.activitylogs"],
        ),
        entry(
            "product:azure service:riskdetection",
            dataset("azure.identityprotection"),
            &["azure.identityprotection"],
        ),
        entry(
            "product:azure service:pim",
            dataset("azure.auditlogs"),
            &["azure.auditlogs"],
        ),
        entry(
            "product:m365",
            Predicate::Any(vec![
                dataset("o365.audit"),
                exists_all(&["Workload", "Operation", "RecordType"]),
            ]),
            &["o365.audit"],
        ),
        entry(
            "product:okta",
            Predicate::Any(vec![
                dataset("okta.system"),
                exists_all(&["eventType", "published", "actor"]),
            ]),
            &["okta.system"],
        ),
        entry(
            "product:gcp service:google_workspace.admin",
            Predicate::Any(vec![
                dataset("google_workspace.activity"),
                Predicate::Equals(field("kind"), "admin#reports#activity".into()),
            ]),
            &["google_workspace.activity"],
        ),
        entry(
            "product:gcp service:google_workspace.login",
            Predicate::Any(vec![
                dataset("google_workspace.activity"),
                Predicate::Equals(field("kind"), "admin#reports#activity".into()),
            ]),
            &["google_workspace.activity"],
        ),
        entry(
            "product:gcp service:gcp.audit",
            dataset("gcp.audit"),
            &["gcp.audit"],
        ),
        entry(
            "product:github service:audit",
            dataset("github.audit"),
            &["github.audit"],
        ),
        entry(
            "product:salesforce",
            Predicate::Any(vec![
                dataset("salesforce.eventlog"),
                // EventLogFile rows: upper-case CSV columns every event type has.
                Predicate::All(vec![
                    exists_all(&["EVENT_TYPE", "TIMESTAMP", "ORGANIZATION_ID"]),
                    any_exists(&["REQUEST_ID", "USER_ID", "TIMESTAMP_DERIVED"]),
                ]),
            ]),
            &["salesforce.eventlog"],
        ),
        entry(
            "product:box",
            Predicate::Any(vec![
                dataset("box.events"),
                // `GET /events` entries: `type` is always `event`.
                Predicate::All(vec![
                    Predicate::Equals(field("type"), "event".into()),
                    Predicate::Exists(field("event_type")),
                    any_exists(&[
                        "created_by",
                        "created_at",
                        "event_id",
                        "source",
                        "ip_address",
                    ]),
                ]),
            ]),
            &["box.events"],
        ),
        entry(
            "product:dropbox",
            Predicate::Any(vec![
                dataset("dropbox.team_log"),
                // `team_log/get_events` entries.
                exists_all(&["event_type", "involve_non_team_member", "actor"]),
            ]),
            &["dropbox.team_log"],
        ),
        entry(
            "product:aws service:vpcflow",
            Predicate::Any(vec![
                dataset("aws.vpcflow"),
                // Flow records by their AWS field names; resolver query logs have a
                // source address but no destination.
                Predicate::All(vec![
                    exists_all(&["srcaddr", "dstaddr"]),
                    any_exists(&["action", "log-status", "interface-id", "protocol"]),
                ]),
            ]),
            &["aws.vpcflow"],
        ),
        entry(
            "product:aws service:route53",
            Predicate::Any(vec![
                dataset("aws.route53"),
                // Route 53 Resolver query logs.
                Predicate::All(vec![
                    exists_all(&["query_name", "query_type", "query_timestamp"]),
                    any_exists(&["vpc_id", "srcids", "account_id"]),
                ]),
            ]),
            &["aws.route53"],
        ),
        entry(
            "product:zeek",
            Predicate::Equals(field("event.module"), "zeek".into()),
            &[],
        ),
    ]
}

impl LogsourceMap {
    /// A map over `entries` (at most [`MAX_ENTRIES`]).
    pub fn new(entries: Vec<Entry>, unmapped: Unmapped) -> Result<LogsourceMap, String> {
        if entries.len() > MAX_ENTRIES {
            return Err(format!(
                "at most {MAX_ENTRIES} log source entries are supported, got {}",
                entries.len()
            ));
        }
        Ok(LogsourceMap { entries, unmapped })
    }

    /// The entries selecting a rule's logsource, and their namespaces.
    pub fn resolve(&self, ls: &Logsource) -> Resolved {
        let mut r = Resolved::default();
        for (i, e) in self.entries.iter().enumerate() {
            let term =
                |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
            if term(&e.selector.product, &ls.product)
                && term(&e.selector.category, &ls.category)
                && term(&e.selector.service, &ls.service)
            {
                r.mask |= 1 << i;
                for ns in &e.namespaces {
                    if !r.namespaces.contains(ns) {
                        r.namespaces.push(ns.clone());
                    }
                }
            }
        }
        r
    }

    /// The entries whose predicate holds for `event`.
    pub fn classify(&self, event: &Value) -> u64 {
        let mut mask = 0;
        for (i, e) in self.entries.iter().enumerate() {
            if e.predicate.holds(event) {
                mask |= 1 << i;
            }
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_resolve_and_classify() {
        let map = LogsourceMap::new(default_entries(), Unmapped::AllEvents).unwrap();
        let aws = Logsource {
            product: Some("aws".into()),
            service: Some("cloudtrail".into()),
            category: None,
        };
        let r = map.resolve(&aws);
        assert_ne!(r.mask, 0);
        assert_eq!(r.namespaces, vec![key_path("aws.cloudtrail").unwrap()]);
        let raw = crate::json::from_str(
            r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#,
        )
        .unwrap();
        assert_ne!(map.classify(&raw) & r.mask, 0);
        let normalised =
            crate::json::from_str(r#"{"event":{"dataset":"aws.cloudtrail"}}"#).unwrap();
        assert_ne!(map.classify(&normalised) & r.mask, 0);
        let okta = crate::json::from_str(
            r#"{"eventType":"user.session.start","published":"x","actor":{}}"#,
        )
        .unwrap();
        assert_eq!(map.classify(&okta) & r.mask, 0);
        let windows = Logsource {
            product: Some("windows".into()),
            ..Logsource::default()
        };
        assert_eq!(map.resolve(&windows).mask, 0);
    }

    /// Whether `record` reaches rules whose logsource is `selector`.
    fn routes(selector: &str, record: &str) -> bool {
        let map = LogsourceMap::new(default_entries(), Unmapped::NoEvents).unwrap();
        let ls = parse_selector(selector).unwrap();
        let event = crate::json::from_str(record).unwrap();
        map.classify(&event) & map.resolve(&ls).mask != 0
    }

    const OKTA: &str = r#"{"eventType":"user.session.start","published":"2026-10-03T22:49:00Z","actor":{"id":"00u1"},"uuid":"u1"}"#;
    const BOX: &str = r#"{"type":"event","event_id":"e1","event_type":"DOWNLOAD","created_at":"2026-10-03T22:49:00-07:00","created_by":{"type":"user","id":"1","login":"a@acme.example"},"source":{"item_type":"file","item_id":"9"}}"#;
    const DROPBOX: &str = r#"{"timestamp":"2026-10-03T22:49:00Z","event_category":{".tag":"file_operations"},"actor":{".tag":"user","user":{".tag":"team_member","email":"a@acme.example"}},"involve_non_team_member":false,"event_type":{".tag":"file_download","description":"Downloaded files and/or folders"},"details":{".tag":"file_download_details"}}"#;
    const SALESFORCE: &str = r#"{"EVENT_TYPE":"LoginAs","TIMESTAMP":"20261003224900.000","REQUEST_ID":"r1","ORGANIZATION_ID":"00D1","USER_ID":"0051","TIMESTAMP_DERIVED":"2026-10-03T22:49:00.000Z"}"#;
    const VPCFLOW: &str = r#"{"version":"2","account-id":"123456789012","interface-id":"eni-1","srcaddr":"203.0.113.9","dstaddr":"10.0.1.5","srcport":"50000","dstport":"22","protocol":"6","packets":"3","bytes":"180","start":"1790000000","end":"1790000060","action":"ACCEPT","log-status":"OK"}"#;
    const RESOLVER: &str = r#"{"version":"1.100000","account_id":"123456789012","region":"eu-west-1","vpc_id":"vpc-1","query_timestamp":"2026-10-03T22:49:00Z","query_name":"example.com.","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[],"srcaddr":"10.0.1.5","srcport":"53000","transport":"UDP","srcids":{"instance":"i-1"}}"#;
    const GRAPH_SIGNIN: &str = r#"{"id":"s1","createdDateTime":"2026-10-03T22:49:00Z","userPrincipalName":"a@acme.example","appId":"app","appDisplayName":"Office 365","ipAddress":"203.0.113.9","correlationId":"c1","status":{"errorCode":0},"riskEventTypes_v2":[]}"#;
    const GRAPH_AUDIT: &str = r#"{"id":"a1","category":"RoleManagement","correlationId":"c1","result":"success","activityDisplayName":"Add member to role","activityDateTime":"2026-10-03T22:49:00Z","loggedByService":"Core Directory","operationType":"Assign","initiatedBy":{"user":{"userPrincipalName":"a@acme.example"}},"targetResources":[]}"#;
    const M365: &str = r#"{"CreationTime":"2026-10-03T22:49:00","Id":"m1","Operation":"FileDownloaded","RecordType":6,"Workload":"OneDrive","UserId":"a@acme.example"}"#;

    #[test]
    fn raw_saas_records_route_to_their_own_product_only() {
        assert!(routes("product:salesforce", SALESFORCE));
        assert!(routes("product:box", BOX));
        assert!(routes("product:dropbox", DROPBOX));
        for other in [OKTA, M365, DROPBOX, SALESFORCE, GRAPH_AUDIT] {
            assert!(!routes("product:box", other), "{other}");
        }
        for other in [OKTA, M365, BOX, SALESFORCE, GRAPH_SIGNIN] {
            assert!(!routes("product:dropbox", other), "{other}");
        }
        for other in [OKTA, M365, BOX, DROPBOX, VPCFLOW] {
            assert!(!routes("product:salesforce", other), "{other}");
        }
        // The normalised events, by dataset.
        assert!(routes(
            "product:box",
            r#"{"event":{"dataset":"box.events"}}"#
        ));
        assert!(routes(
            "product:dropbox",
            r#"{"event":{"dataset":"dropbox.team_log"}}"#
        ));
        assert!(routes(
            "product:salesforce",
            r#"{"event":{"dataset":"salesforce.eventlog"}}"#
        ));
    }

    #[test]
    fn flow_and_resolver_records_are_told_apart() {
        assert!(routes("product:aws service:vpcflow", VPCFLOW));
        assert!(routes("product:aws service:route53", RESOLVER));
        assert!(!routes("product:aws service:vpcflow", RESOLVER));
        assert!(!routes("product:aws service:route53", VPCFLOW));
        assert!(!routes("product:aws service:cloudtrail", VPCFLOW));
        for other in [OKTA, BOX, DROPBOX, GRAPH_SIGNIN] {
            assert!(!routes("product:aws service:vpcflow", other), "{other}");
            assert!(!routes("product:aws service:route53", other), "{other}");
        }
        assert!(routes(
            "product:aws service:vpcflow",
            r#"{"event":{"dataset":"aws.vpcflow"}}"#
        ));
        assert!(routes(
            "product:aws service:route53",
            r#"{"event":{"dataset":"aws.route53"}}"#
        ));
    }

    #[test]
    fn entra_records_route_in_both_shapes_with_properties_as_a_namespace() {
        let diag_signin = r#"{"category":"SignInLogs","operationName":"Sign-in activity","properties":{"userPrincipalName":"a@acme.example"}}"#;
        let diag_audit = r#"{"category":"AuditLogs","operationName":"Add member to role","properties":{"activityDisplayName":"Add member to role"}}"#;
        assert!(routes("product:azure service:signinlogs", diag_signin));
        assert!(routes("product:azure service:signinlogs", GRAPH_SIGNIN));
        assert!(routes("product:azure service:auditlogs", diag_audit));
        assert!(routes("product:azure service:auditlogs", GRAPH_AUDIT));
        assert!(!routes("product:azure service:signinlogs", GRAPH_AUDIT));
        assert!(!routes("product:azure service:auditlogs", GRAPH_SIGNIN));
        for other in [OKTA, BOX, DROPBOX, M365, SALESFORCE] {
            assert!(
                !routes("product:azure service:signinlogs", other),
                "{other}"
            );
            assert!(!routes("product:azure service:auditlogs", other), "{other}");
        }
        let map = LogsourceMap::new(default_entries(), Unmapped::NoEvents).unwrap();
        let ns = map
            .resolve(&parse_selector("product:azure service:signinlogs").unwrap())
            .namespaces;
        assert!(ns.contains(&key_path("properties").unwrap()));
    }

    #[test]
    fn the_built_in_entries_fit_the_class_mask() {
        assert!(default_entries().len() <= MAX_ENTRIES);
    }

    #[test]
    fn selector_errors() {
        assert!(parse_selector("product:aws service:cloudtrail").is_ok());
        assert!(parse_selector("vendor:aws").is_err());
        assert!(parse_selector("aws").is_err());
        assert!(parse_selector("").is_err());
    }
}
