//! The entities an event is attributed to (docs/schema.md §2), derived from its ECS
//! fields by this one function so that normalisers (which write them onto events) and
//! model stages (which key their state and breaches by them) always agree.
//!
//! [`derive`] reads, in this fixed order, skipping what is absent or empty and any
//! key already produced:
//!
//! | kind | id |
//! |---|---|
//! | `user` | `user.email`, else `user.name`; lowercased (user names of every provider pipectl reads are case-insensitive). Not from the name of an AWS identity (an `aws_user` below): an IAM user's or role's name is no directory user, and a role is no person |
//! | `aws_user` | `user.id` when `cloud.provider` is `aws` and the id is an ARN (`arn:…`); the AWS normaliser puts the IAM user's ARN there, or for an assumed role the role's ARN, so every session of a role is one entity |
//! | `host` | `host.id`, else `host.name` |
//! | `container` | `container.id` |
//! | `service_principal` | `service.id`: the application (OAuth client / app instance id) the event concerns, as normalisers set it |
//! | `ip` | `source.ip`, then `destination.ip`, each only when it is an internal address ([`is_internal_ip`]) and only on network events (`event.category` holds `network`) |
//! | `email_domain` | the domain of `email.from.address` (the first, when a list) on inbound mail (`email.direction` is `inbound`), lowercased: the sending organisation, so a supplier's many mailboxes are one entity whose habits (whom it writes to, which links its mail carries) can be learned |
//!
//! Public addresses are not entities: on flow records they are the other party of a
//! connection, counted as a feature of the internal side, and would otherwise create
//! one entity per scanner on the internet.

use crate::value::{Map, Value};
use std::net::IpAddr;

/// Every entity kind [`derive`] produces, in its order (docs/schema.md §2).
pub const KINDS: &[&str] = &[
    "user",
    "aws_user",
    "host",
    "container",
    "service_principal",
    "ip",
    "email_domain",
];

/// One entity: its kind (schema §2 vocabulary) and its id within that kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityRef {
    pub kind: &'static str,
    pub id: String,
}

impl EntityRef {
    /// `kind:id`, the one string unique across kinds that model state, partitioning
    /// and correlation are keyed by.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

/// Every entity `event` is attributed to, in the module's fixed order, without
/// duplicates; empty when it names none.
pub fn derive(event: &Value) -> Vec<EntityRef> {
    let mut out: Vec<EntityRef> = Vec::new();
    let mut add = |kind: &'static str, id: String| {
        if !id.is_empty() && !out.iter().any(|e| e.kind == kind && e.id == id) {
            out.push(EntityRef { kind, id });
        }
    };
    let aws_identity = (text(event, &["cloud", "provider"]) == Some("aws"))
        .then(|| text(event, &["user", "id"]).filter(|id| id.starts_with("arn:")))
        .flatten();
    // An IAM identity's name (a user or a role) is not a directory user: the same
    // word may name a person elsewhere, and a role is no person at all.
    let user = match aws_identity {
        Some(_) => text(event, &["user", "email"]),
        None => text(event, &["user", "email"]).or_else(|| text(event, &["user", "name"])),
    };
    if let Some(user) = user {
        add("user", user.to_lowercase());
    }
    if let Some(arn) = aws_identity {
        add("aws_user", arn.to_string());
    }
    if let Some(host) = text(event, &["host", "id"]).or_else(|| text(event, &["host", "name"])) {
        add("host", host.to_string());
    }
    if let Some(container) = text(event, &["container", "id"]) {
        add("container", container.to_string());
    }
    if let Some(app) = text(event, &["service", "id"]) {
        add("service_principal", app.to_string());
    }
    if is_network_event(event) {
        for side in ["source", "destination"] {
            if let Some(ip) = text(event, &[side, "ip"]) {
                if ip.parse().is_ok_and(is_internal_ip) {
                    add("ip", ip.to_string());
                }
            }
        }
    }
    if let Some(domain) = inbound_sender_domain(event) {
        add("email_domain", domain);
    }
    out
}

/// Writes the derived entities as `entity.kind`, `entity.id` and `entity.key`, three
/// arrays in the same order (schema §2). An event naming no entity is left untouched;
/// otherwise these three fields are replaced (an `entity` that is not an object is
/// replaced whole: the schema reserves the name).
pub fn attach(event: &mut Value) {
    let entities = derive(event);
    if entities.is_empty() {
        return;
    }
    let Value::Object(root) = event else {
        return;
    };
    let mut kinds = Vec::with_capacity(entities.len());
    let mut ids = Vec::with_capacity(entities.len());
    let mut keys = Vec::with_capacity(entities.len());
    for entity in entities {
        keys.push(Value::from(entity.key()));
        kinds.push(Value::from(entity.kind));
        ids.push(Value::from(entity.id));
    }
    if !matches!(root.get("entity"), Some(Value::Object(_))) {
        root.insert("entity", Value::Object(Map::new()));
    }
    if let Some(Value::Object(entity)) = root.get_mut("entity") {
        entity.insert("kind", Value::Array(kinds));
        entity.insert("id", Value::Array(ids));
        entity.insert("key", Value::Array(keys));
    }
}

/// Whether an address is internal to an estate rather than on the public internet:
/// RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 shared space (100.64/10, carrier
/// and cloud NAT) and IPv6 unique local addresses (fc00::/7). Loopback and link-local
/// addresses are not: they never identify a machine across records.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            a == 10
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 168)
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
    }
}

/// Whether `event.category` (a string or an array of them) holds `network`.
fn is_network_event(event: &Value) -> bool {
    match lookup(event, &["event", "category"]) {
        Some(Value::String(s)) => s == "network",
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some("network")),
        _ => false,
    }
}

/// The sending domain of inbound mail: the part after the last `@` of
/// `email.from.address` (a string, or the first of a list), lowercased, without a
/// closing `>` of a `Name <address>` form; `None` for other mail or no usable address.
fn inbound_sender_domain(event: &Value) -> Option<String> {
    if text(event, &["email", "direction"]) != Some("inbound") {
        return None;
    }
    let from = match lookup(event, &["email", "from", "address"])? {
        Value::String(s) => s.as_str(),
        Value::Array(items) => items.first()?.as_str()?,
        _ => return None,
    };
    let (_, domain) = from.trim().trim_end_matches('>').rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.');
    (!domain.is_empty() && !domain.contains(char::is_whitespace))
        .then(|| domain.to_ascii_lowercase())
}

/// The non-empty string at a path of object keys.
fn text<'a>(event: &'a Value, keys: &[&str]) -> Option<&'a str> {
    lookup(event, keys)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn lookup<'a>(event: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter()
        .try_fold(event, |cur, key| cur.as_object()?.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{from_str, to_string};

    fn keys(json: &str) -> Vec<String> {
        derive(&from_str(json).unwrap())
            .iter()
            .map(EntityRef::key)
            .collect()
    }

    #[test]
    fn inbound_mail_is_attributed_to_its_sending_domain() {
        assert_eq!(
            keys(
                r#"{"user":{"email":"dana@acme.example"},"email":{"direction":"inbound",
                "from":{"address":["Billing <Billing@Northwind.Example>"]}}}"#
            ),
            ["user:dana@acme.example", "email_domain:northwind.example"]
        );
        assert_eq!(
            keys(r#"{"email":{"direction":"inbound","from":{"address":"ap@supplier.example."}}}"#),
            ["email_domain:supplier.example"]
        );
        // Outbound and internal mail, and addresses without a domain, name no sender.
        for json in [
            r#"{"email":{"direction":"outbound","from":{"address":"dana@acme.example"}}}"#,
            r#"{"email":{"from":{"address":"x@y.example"}}}"#,
            r#"{"email":{"direction":"inbound","from":{"address":"no-domain@"}}}"#,
            r#"{"email":{"direction":"inbound","from":{"address":42}}}"#,
        ] {
            assert!(keys(json).is_empty(), "{json}");
        }
    }

    #[test]
    fn users_prefer_email_and_are_lowercased() {
        assert_eq!(
            keys(r#"{"user":{"name":"Alice","email":"Alice@Acme.Example"}}"#),
            ["user:alice@acme.example"]
        );
        assert_eq!(
            keys(r#"{"user":{"name":"IT.Manager"}}"#),
            ["user:it.manager"]
        );
        assert!(keys(r#"{"user":{"name":""}}"#).is_empty());
    }

    #[test]
    fn aws_users_are_arns_of_aws_events_only() {
        let event = r#"{"user":{"name":"it.manager","id":"arn:aws:iam::123456789012:user/it.manager"},
            "cloud":{"provider":"aws"}}"#;
        assert_eq!(
            keys(event),
            ["aws_user:arn:aws:iam::123456789012:user/it.manager"]
        );
        // A federated identity that names the person's e-mail is both.
        let federated = r#"{"user":{"email":"It.Manager@acme.example","id":"arn:aws:iam::1:role/admin"},
            "cloud":{"provider":"aws"}}"#;
        assert_eq!(
            keys(federated),
            [
                "user:it.manager@acme.example",
                "aws_user:arn:aws:iam::1:role/admin"
            ]
        );
        assert_eq!(
            keys(r#"{"user":{"id":"AIDAEXAMPLE"},"cloud":{"provider":"aws"}}"#),
            Vec::<String>::new()
        );
        assert_eq!(
            keys(r#"{"user":{"id":"arn:aws:iam::1:user/x"},"cloud":{"provider":"okta"}}"#),
            Vec::<String>::new()
        );
    }

    #[test]
    fn hosts_containers_and_applications() {
        assert_eq!(
            keys(
                r#"{"host":{"name":"web-1","id":"i-0abc234"},"container":{"id":"3f2a"},
                "service":{"id":"123-abc-sfa-321","name":"Salesforce"}}"#
            ),
            [
                "host:i-0abc234",
                "container:3f2a",
                "service_principal:123-abc-sfa-321"
            ]
        );
        assert_eq!(keys(r#"{"host":{"name":"web-1"}}"#), ["host:web-1"]);
    }

    #[test]
    fn internal_addresses_of_network_events_only() {
        let flow = r#"{"event":{"category":["network"]},
            "source":{"ip":"10.0.0.5"},"destination":{"ip":"203.0.113.50"}}"#;
        assert_eq!(keys(flow), ["ip:10.0.0.5"]);
        let both = r#"{"event":{"category":"network"},
            "source":{"ip":"100.64.1.1"},"destination":{"ip":"fd00::1"}}"#;
        assert_eq!(keys(both), ["ip:100.64.1.1", "ip:fd00::1"]);
        let same = r#"{"event":{"category":["network"]},
            "source":{"ip":"192.168.1.1"},"destination":{"ip":"192.168.1.1"}}"#;
        assert_eq!(keys(same), ["ip:192.168.1.1"]);
        let login = r#"{"event":{"category":["authentication"]},"source":{"ip":"10.0.0.5"}}"#;
        assert!(keys(login).is_empty());
        let junk = r#"{"event":{"category":["network"]},"source":{"ip":"null"}}"#;
        assert!(keys(junk).is_empty());
    }

    #[test]
    fn internal_ranges() {
        let internal = |s: &str| is_internal_ip(s.parse().unwrap());
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "fc00::1",
            "fdff::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(internal(ip), "{ip}");
        }
        for ip in [
            "172.32.0.1",
            "172.15.0.1",
            "100.128.0.1",
            "100.63.0.1",
            "8.8.8.8",
            "127.0.0.1",
            "fe80::1",
            "2001:db8::1",
        ] {
            assert!(!internal(ip), "{ip}");
        }
    }

    #[test]
    fn attach_writes_parallel_arrays_or_nothing() {
        let mut event = from_str(
            r#"{"user":{"email":"Bob@x.example"},"host":{"id":"h1"},"entity":{"name":"Bob"}}"#,
        )
        .unwrap();
        attach(&mut event);
        assert_eq!(
            to_string(&event),
            r#"{"user":{"email":"Bob@x.example"},"host":{"id":"h1"},"entity":{"name":"Bob","kind":["user","host"],"id":["bob@x.example","h1"],"key":["user:bob@x.example","host:h1"]}}"#
        );
        let mut bare = from_str(r#"{"message":"hi"}"#).unwrap();
        attach(&mut bare);
        assert_eq!(to_string(&bare), r#"{"message":"hi"}"#);
        let mut scalar = from_str(r#"{"host":{"name":"h"},"entity":"x"}"#).unwrap();
        attach(&mut scalar);
        assert_eq!(
            to_string(&scalar),
            r#"{"host":{"name":"h"},"entity":{"kind":["host"],"id":["h"],"key":["host:h"]}}"#
        );
    }
}
