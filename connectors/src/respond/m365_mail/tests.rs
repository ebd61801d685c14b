//! The mail actions against a local Microsoft Graph that keeps mailboxes, folders and
//! inbox rules: the documented requests, each effect and its revert, refusals and
//! throttling.

use super::*;
use crate::respond::policy::{Mode, HOUR_MS};
use crate::respond::saas::testing::{
    assert_documented, constant, quick_settings, responder, statuses, T0,
};
use crate::respond::tests::{incident, policy};
use crate::sources::api::oauth::ClientCredentials;
use crate::sources::api::testing::{Answer as Reply_, MockApi, Seen};
use crate::testkit::TempDir;
use pipectl_core::secrets::Secret;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PHISH: &str = "<CAF=x9Q@mail.supplier.example>";

#[derive(Clone, Debug, PartialEq)]
struct Message {
    id: String,
    internet_id: String,
    folder: String,
}

/// What the local Graph holds.
#[derive(Default)]
struct Tenant {
    /// Mailbox → messages; users absent here have no mailbox (`404`).
    mail: BTreeMap<String, Vec<Message>>,
    /// Mailbox → folders `(id, displayName)`.
    folders: BTreeMap<String, Vec<(String, String)>>,
    /// User → inbox rules.
    rules: BTreeMap<String, Vec<serde_json::Value>>,
    /// Answers to give before the real one, in order.
    queued: Vec<Reply_>,
    moves: usize,
}

fn tenant() -> Arc<Mutex<Tenant>> {
    let mut t = Tenant::default();
    for user in ["alice@acme.com", "bob@acme.com", "dan@acme.com"] {
        t.folders.insert(
            user.into(),
            vec![
                (format!("inbox-{user}"), "Inbox".into()),
                (format!("deleted-{user}"), "Deleted Items".into()),
                (format!("invoices-{user}"), "Invoices".into()),
            ],
        );
        t.mail.insert(user.into(), Vec::new());
    }
    let msg = |id: &str, internet: &str, folder: String| Message {
        id: id.into(),
        internet_id: internet.into(),
        folder,
    };
    t.mail.get_mut("alice@acme.com").unwrap().extend([
        msg("AAMk-a1", PHISH, "inbox-alice@acme.com".into()),
        msg("AAMk-a2", "<other@acme.com>", "inbox-alice@acme.com".into()),
    ]);
    t.mail.get_mut("bob@acme.com").unwrap().push(msg(
        "AAMk-b1",
        PHISH,
        "invoices-bob@acme.com".into(),
    ));
    Arc::new(Mutex::new(t))
}

fn rule(id: &str, name: &str, forward: &[&str], key: &str) -> serde_json::Value {
    let recipients: Vec<serde_json::Value> = forward
        .iter()
        .map(|a| json!({"emailAddress": {"name": a, "address": a}}))
        .collect();
    json!({
        "id": id,
        "displayName": name,
        "sequence": 2,
        "isEnabled": true,
        "hasError": false,
        "isReadOnly": false,
        "conditions": {"subjectContains": ["invoice"]},
        "actions": {key: recipients, "stopProcessingRules": true},
    })
}

fn decode(path: &str) -> String {
    path.replace("%40", "@").replace("%3D", "=")
}

/// A Graph that checks what every request carries and answers like Graph.
async fn graph(state: Arc<Mutex<Tenant>>) -> MockApi {
    MockApi::start(move |seen: &Seen| {
        if seen.path == "/tenant-1/oauth2/v2.0/token" {
            assert_eq!(
                seen.form("scope").as_deref(),
                Some("https://graph.microsoft.com/.default")
            );
            return Reply_::json(r#"{"access_token":"graph-token","expires_in":3600}"#);
        }
        assert_eq!(seen.authorization, "Bearer graph-token", "{seen:?}");
        let mut t = state.lock().unwrap();
        if !t.queued.is_empty() {
            return t.queued.remove(0);
        }
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap_or_default();
        let path = decode(&seen.path);
        let parts: Vec<&str> = path.trim_start_matches("/v1.0/").split('/').collect();
        match (seen.method.as_str(), parts.as_slice()) {
            ("GET", ["users"]) => {
                assert_eq!(seen.param("$select").as_deref(), Some("id,userPrincipalName,mail"));
                // Two pages; carol has no mailbox, the room no mail address.
                if seen.param("$skiptoken").is_none() {
                    Reply_::json(json!({
                        "value": [
                            {"id": "u1", "userPrincipalName": "alice@acme.com", "mail": "alice@acme.com"},
                            {"id": "u2", "userPrincipalName": "carol@acme.com", "mail": "carol@acme.com"},
                        ],
                        "@odata.nextLink": format!("{}/v1.0/users?$select=id,userPrincipalName,mail&$top=999&$skiptoken=p2", seen.base),
                    }).to_string())
                } else {
                    Reply_::json(json!({"value": [
                        {"id": "u3", "userPrincipalName": "bob@acme.com", "mail": "bob@acme.com"},
                        {"id": "u4", "userPrincipalName": "room1@acme.com", "mail": null},
                    ]}).to_string())
                }
            }
            ("GET", ["users", user, "messages"]) => {
                let filter = seen.param("$filter").unwrap();
                let Some(mail) = t.mail.get(*user) else {
                    return Reply_::status(404, r#"{"error":{"code":"MailboxNotEnabledForRESTAPI"}}"#);
                };
                let wanted = filter
                    .strip_prefix("internetMessageId eq '")
                    .and_then(|f| f.strip_suffix('\''))
                    .unwrap()
                    .replace("''", "'");
                let found: Vec<serde_json::Value> = mail
                    .iter()
                    .filter(|m| m.internet_id == wanted)
                    .map(|m| json!({"id": m.id, "parentFolderId": m.folder, "internetMessageId": m.internet_id}))
                    .collect();
                Reply_::json(json!({ "value": found }).to_string())
            }
            ("POST", ["users", user, "messages", id, "move"]) => {
                assert_eq!(seen.header("content-type"), Some("application/json"));
                let user = user.to_string();
                let destination = body["destinationId"].as_str().unwrap().to_string();
                let folder = match destination.as_str() {
                    "deleteditems" => format!("deleted-{user}"),
                    other => other.to_string(),
                };
                assert!(t.folders[&user].iter().any(|(f, _)| *f == folder), "{folder}");
                t.moves += 1;
                let n = t.moves;
                let Some(m) = t.mail.get_mut(&user).unwrap().iter_mut().find(|m| m.id == *id) else {
                    return Reply_::status(404, r#"{"error":{"code":"ErrorItemNotFound"}}"#);
                };
                m.id = format!("{}-m{n}", m.id.split("-m").next().unwrap());
                m.folder = folder.clone();
                Reply_::status(201, json!({"id": m.id, "parentFolderId": folder}).to_string())
            }
            ("GET", ["users", user, "mailFolders"]) => {
                let filter = seen.param("$filter").unwrap();
                let name = filter.trim_start_matches("displayName eq '").trim_end_matches('\'');
                let found: Vec<serde_json::Value> = t.folders[*user]
                    .iter()
                    .filter(|(_, n)| n == name)
                    .map(|(id, n)| json!({"id": id, "displayName": n}))
                    .collect();
                Reply_::json(json!({ "value": found }).to_string())
            }
            ("POST", ["users", user, "mailFolders"]) => {
                let name = body["displayName"].as_str().unwrap().to_string();
                let id = format!("{}-{user}", name.to_lowercase());
                t.folders.get_mut(*user).unwrap().push((id.clone(), name.clone()));
                Reply_::status(201, json!({"id": id, "displayName": name}).to_string())
            }
            ("GET", ["users", user, "mailFolders", "inbox", "messageRules"]) => {
                Reply_::json(json!({ "value": t.rules.get(*user).cloned().unwrap_or_default() }).to_string())
            }
            ("DELETE", ["users", user, "mailFolders", "inbox", "messageRules", id]) => {
                let rules = t.rules.entry(user.to_string()).or_default();
                let before = rules.len();
                rules.retain(|r| r["id"] != *id);
                if rules.len() == before {
                    Reply_::status(404, r#"{"error":{"code":"ErrorItemNotFound"}}"#)
                } else {
                    Reply_::status(204, "")
                }
            }
            ("POST", ["users", user, "mailFolders", "inbox", "messageRules"]) => {
                for read_only in ["id", "hasError", "isReadOnly"] {
                    assert!(body.get(read_only).is_none(), "{read_only} sent: {body}");
                }
                let rules = t.rules.entry(user.to_string()).or_default();
                let mut created = body.clone();
                created["id"] = json!(format!("new-{}", rules.len()));
                rules.push(created.clone());
                Reply_::status(201, created.to_string())
            }
            other => panic!("unexpected request {other:?}"),
        }
    })
    .await
}

fn actions(api: &MockApi) -> MailActions {
    let credentials = ClientCredentials {
        token_url: Url::parse(&api.url("/tenant-1/oauth2/v2.0/token")).unwrap(),
        client_id: "app-1".into(),
        client_secret: Secret::new("not-a-real-secret"),
        scope: "https://graph.microsoft.com/.default".into(),
    };
    MailActions {
        api: SaasApi::new(
            &quick_settings(),
            Auth::ClientCredentials {
                credentials,
                cached: None,
            },
            Some(forbidden),
        )
        .unwrap(),
        base: api.base.clone(),
        mailboxes: Vec::new(),
        quarantine: None,
        internal: vec!["acme.com".into()],
    }
}

fn where_is(state: &Arc<Mutex<Tenant>>, user: &str, internet: &str) -> Vec<String> {
    state.lock().unwrap().mail[user]
        .iter()
        .filter(|m| m.internet_id == internet)
        .map(|m| m.folder.clone())
        .collect()
}

fn phish_policy() -> crate::respond::engine::Policy {
    let mut p = policy("quarantine_message", Mode::Autonomous);
    p.target = Some(constant(PHISH));
    p
}

fn mail_incident(id: &str) -> Value {
    incident(id, "user", "alice@acme.com", 0.97, 1)
}

#[tokio::test]
async fn a_message_is_moved_out_of_every_mailbox_and_back_on_expiry() {
    let state = tenant();
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("mail-quarantine");
    let (mut r, clock) = responder(actions(&api), &dir, phish_policy());
    let docs = r.incident(&mail_incident("inc-1")).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert_eq!(
        where_is(&state, "alice@acme.com", PHISH),
        ["deleted-alice@acme.com"]
    );
    assert_eq!(
        where_is(&state, "bob@acme.com", PHISH),
        ["deleted-bob@acme.com"]
    );
    // The other message stays where it was.
    assert_eq!(
        where_is(&state, "alice@acme.com", "<other@acme.com>"),
        ["inbox-alice@acme.com"]
    );
    let record = r.records().next().unwrap().clone();
    assert_eq!(record.target.kind, "email_message");
    assert_eq!(record.target.id, PHISH);
    // The journal holds each copy's original folder and the id the move gave it.
    assert_eq!(
        record.revert.state.as_ref().unwrap()["copies"],
        json!([
            {"mailbox": "alice@acme.com", "original_folder": "inbox-alice@acme.com", "message_id_before": "AAMk-a1", "message_id": "AAMk-a1-m1", "folder": "deleteditems"},
            {"mailbox": "bob@acme.com", "original_folder": "invoices-bob@acme.com", "message_id_before": "AAMk-b1", "message_id": "AAMk-b1-m2", "folder": "deleteditems"},
        ])
    );
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    assert_eq!(statuses(&docs), ["expired", "reverting", "reverted"]);
    assert_eq!(
        where_is(&state, "alice@acme.com", PHISH),
        ["inbox-alice@acme.com"]
    );
    assert_eq!(
        where_is(&state, "bob@acme.com", PHISH),
        ["invoices-bob@acme.com"]
    );
    let moves: Vec<String> = api
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/move"))
        .map(|s| format!("{} {}", decode(&s.path), s.body))
        .collect();
    assert_eq!(
        moves,
        [
            r#"/v1.0/users/alice@acme.com/messages/AAMk-a1/move {"destinationId":"deleteditems"}"#,
            r#"/v1.0/users/bob@acme.com/messages/AAMk-b1/move {"destinationId":"deleteditems"}"#,
            r#"/v1.0/users/alice@acme.com/messages/AAMk-a1-m1/move {"destinationId":"inbox-alice@acme.com"}"#,
            r#"/v1.0/users/bob@acme.com/messages/AAMk-b1-m2/move {"destinationId":"invoices-bob@acme.com"}"#,
        ]
    );
    // The search is Graph's filter on internetMessageId, its quotes as OData has them.
    let search = api
        .seen()
        .into_iter()
        .find(|s| s.path.ends_with("/messages"))
        .unwrap();
    assert_eq!(
        search.param("$filter").as_deref(),
        Some(format!("internetMessageId eq '{PHISH}'").as_str())
    );
}

#[tokio::test]
async fn a_quarantine_folder_is_made_where_missing_and_only_listed_mailboxes_are_searched() {
    let state = tenant();
    state
        .lock()
        .unwrap()
        .folders
        .get_mut("bob@acme.com")
        .unwrap()
        .push(("q-bob".into(), "Quarantine".into()));
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("mail-quarantine-folder");
    let mut a = actions(&api);
    a.quarantine = Some("Quarantine".into());
    a.mailboxes = vec!["alice@acme.com".into(), "bob@acme.com".into()];
    let (mut r, _) = responder(a, &dir, phish_policy());
    let docs = r.incident(&mail_incident("inc-2")).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert_eq!(
        where_is(&state, "alice@acme.com", PHISH),
        ["quarantine-alice@acme.com"]
    );
    assert_eq!(where_is(&state, "bob@acme.com", PHISH), ["q-bob"]);
    let t = state.lock().unwrap();
    assert_eq!(
        t.folders["alice@acme.com"].last().unwrap(),
        &(
            "quarantine-alice@acme.com".to_string(),
            "Quarantine".to_string()
        )
    );
    assert_eq!(t.folders["bob@acme.com"].len(), 4, "no second folder");
    assert!(!api.seen().iter().any(|s| s.path == "/v1.0/users"));
}

#[tokio::test]
async fn forwarding_rules_to_outside_are_deleted_and_recreated_on_revert() {
    let state = tenant();
    let rules = vec![
        rule(
            "r-ext",
            "Fwd invoices",
            &["evil@gmail.example"],
            "forwardTo",
        ),
        rule(
            "r-int",
            "To assistant",
            &["assistant@acme.com"],
            "redirectTo",
        ),
        rule(
            "r-sub",
            "To finance",
            &["ap@finance.acme.com"],
            "forwardAsAttachmentTo",
        ),
        rule(
            "r-mixed",
            "Copy",
            &["boss@acme.com", "drop@proton.example"],
            "redirectTo",
        ),
    ];
    state
        .lock()
        .unwrap()
        .rules
        .insert("alice@acme.com".into(), rules.clone());
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("mail-rules");
    let (mut r, clock) = responder(
        actions(&api),
        &dir,
        policy("remove_forwarding_rules", Mode::Autonomous),
    );
    let docs = r.incident(&mail_incident("inc-3")).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    let left: Vec<String> = state.lock().unwrap().rules["alice@acme.com"]
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["r-int", "r-sub"]);
    let kept = r.records().next().unwrap().revert.state.clone().unwrap();
    assert_eq!(kept["rules"][0]["external"], json!(["evil@gmail.example"]));
    assert_eq!(kept["rules"][1]["external"], json!(["drop@proton.example"]));
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["expired", "reverting", "reverted"]
    );
    let t = state.lock().unwrap();
    let now = &t.rules["alice@acme.com"];
    assert_eq!(now.len(), 4);
    // Re-created as they were, but for Graph's read-only fields.
    for (original, again) in [(&rules[0], &now[2]), (&rules[3], &now[3])] {
        for key in [
            "displayName",
            "sequence",
            "isEnabled",
            "conditions",
            "actions",
        ] {
            assert_eq!(original[key], again[key], "{key}");
        }
    }
}

#[tokio::test]
async fn throttling_waits_and_a_refusal_names_the_permission() {
    let state = tenant();
    state.lock().unwrap().queued.push(
        Reply_::status(429, r#"{"error":{"code":"ApplicationThrottled"}}"#)
            .header("Retry-After", "1"),
    );
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("mail-429");
    let mut a = actions(&api);
    a.mailboxes = vec!["alice@acme.com".into()];
    let (mut r, _) = responder(a, &dir, phish_policy());
    assert_eq!(
        statuses(&r.incident(&mail_incident("inc-4")).await.unwrap()),
        ["executing", "succeeded"]
    );
    let searches: Vec<Seen> = api
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/messages"))
        .collect();
    assert_eq!(searches.len(), 2);
    assert!(searches[1].at.duration_since(searches[0].at) >= Duration::from_millis(950));

    let state = tenant();
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("mail-403");
    let mut a = actions(&api);
    a.mailboxes = vec!["alice@acme.com".into()];
    let (mut r, _) = responder(a, &dir, phish_policy());
    // The search passes; the move is refused.
    state.lock().unwrap().queued.extend([
        Reply_::json(json!({"value": [{"id": "AAMk-a1", "parentFolderId": "inbox-alice@acme.com"}]}).to_string()),
        Reply_::status(403, r#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}"#),
    ]);
    let docs = r.incident(&mail_incident("inc-5")).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "failed"]);
    let error = r.records().next().unwrap().error.clone().unwrap();
    assert!(
        error.starts_with("missing permission Mail.ReadWrite: POST "),
        "{error}"
    );
    assert!(error.contains("ErrorAccessDenied"), "{error}");
    assert!(error.contains("application access policy"), "{error}");
    assert_eq!(
        where_is(&state, "alice@acme.com", PHISH),
        ["inbox-alice@acme.com"]
    );
    assert_eq!(
        api.seen()
            .iter()
            .filter(|s| s.path.ends_with("/move"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_message_found_nowhere_fails_plainly() {
    let state = tenant();
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("mail-nowhere");
    let mut p = policy("quarantine_message", Mode::Autonomous);
    p.target = Some(constant("<never-sent@x.example>"));
    let (mut r, _) = responder(actions(&api), &dir, p);
    assert_eq!(
        statuses(&r.incident(&mail_incident("inc-6")).await.unwrap()),
        ["failed"]
    );
    let error = r.records().next().unwrap().error.clone().unwrap();
    assert_eq!(
        error,
        "no mailbox searched holds a message with internetMessageId <never-sent@x.example>"
    );
}

#[test]
fn external_means_outside_every_internal_domain() {
    let internal = vec!["acme.com".to_string()];
    assert!(!is_external("a@acme.com", &internal));
    assert!(!is_external("a@eu.ACME.com", &internal));
    assert!(is_external("a@notacme.com", &internal));
    assert!(is_external("a@acme.com.evil.example", &internal));
    assert!(is_external("/o=ExchangeLabs/cn=Recipients", &internal));
    assert_eq!(odata_string("<o'brien@x>"), "'<o''brien@x>'");
}

#[test]
fn every_action_is_documented() {
    assert_documented("m365_mail", ACTIONS);
}

#[test]
fn configuration_is_checked() {
    use crate::testkit::{build, build_error, eq, plan, string};
    use pipectl_dsl::plan::PlanValue;
    let attrs = |action: &str, extra: Vec<(&'static str, PlanValue)>| {
        let mut attrs = vec![
            ("action", string(action)),
            ("when", PlanValue::Expr(eq("entity.kind", "user"))),
            ("tenant_id", string("contoso.onmicrosoft.com")),
            ("client_id", string("app-1")),
            ("client_secret", string("s")),
        ];
        attrs.extend(extra);
        plan(&SPEC, "contain", attrs)
    };
    let error = build_error(&FACTORY, &attrs("quarantine_message", vec![]));
    assert!(error.contains("needs `target`"), "{error}");
    let error = build_error(&FACTORY, &attrs("remove_forwarding_rules", vec![]));
    assert!(error.contains("needs `internal_domains`"), "{error}");
    let error = build_error(
        &FACTORY,
        &attrs(
            "remove_forwarding_rules",
            vec![
                (
                    "internal_domains",
                    PlanValue::List(vec![string("acme.com")]),
                ),
                ("mailboxes", PlanValue::List(vec![string("a/../b")])),
            ],
        ),
    );
    assert!(error.contains("is not a user principal name"), "{error}");
    let dir = TempDir::new("mail-build");
    let ok = attrs(
        "remove_forwarding_rules",
        vec![(
            "internal_domains",
            PlanValue::List(vec![string("@Acme.com")]),
        )],
    );
    assert!(build(&FACTORY, &ok, dir.path()).is_ok());
}
