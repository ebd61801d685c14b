//! The Graph actions against a local Graph that keeps state: the documented requests
//! (method, path, headers, body), each effect and its revert, refusals, throttling,
//! observe mode and idempotence.

use super::*;
use crate::respond::policy::{Mode, HOUR_MS};
use crate::respond::saas::testing::{
    assert_documented, constant, quick_settings, responder, statuses, submit, T0,
};
use crate::respond::tests::{incident, policy};
use crate::sources::api::oauth::ClientCredentials;
use crate::sources::api::testing::{Answer as Reply_, MockApi, Seen};
use crate::testkit::TempDir;
use pipectl_core::secrets::Secret;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ALICE: &str = "/v1.0/users/alice%40acme.com";
const ITEM: &str = "/v1.0/drives/b!drive1/items/01ITEM";

/// What the local Graph holds.
struct Tenant {
    enabled: bool,
    permissions: Vec<serde_json::Value>,
    /// Answers to give before the real one (`429`, `403`...), in order.
    queued: Vec<Reply_>,
    links: usize,
}

fn tenant() -> Arc<Mutex<Tenant>> {
    Arc::new(Mutex::new(Tenant {
        enabled: true,
        permissions: vec![
            json!({"id": "p-owner", "roles": ["owner"], "grantedToV2": {"user": {"id": "u-own", "email": "owner@acme.com"}}}),
            json!({"id": "p-anon", "roles": ["read"], "link": {"type": "view", "scope": "anonymous", "webUrl": "https://1drv.ms/u/s!SECRETLINK"}, "hasPassword": false}),
            json!({"id": "p-bob", "roles": ["write"], "grantedToV2": {"user": {"id": "u-bob", "email": "bob@partner.com"}}}),
        ],
        queued: Vec::new(),
        links: 0,
    }))
}

fn ids(state: &Arc<Mutex<Tenant>>) -> Vec<String> {
    state
        .lock()
        .unwrap()
        .permissions
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// A Graph that checks what every request carries and answers like Graph.
async fn graph(state: Arc<Mutex<Tenant>>) -> MockApi {
    MockApi::start(move |seen: &Seen| {
        if seen.path == "/tenant-1/oauth2/v2.0/token" {
            assert_eq!(seen.method, "POST");
            assert_eq!(
                seen.form("scope").as_deref(),
                Some("https://graph.microsoft.com/.default")
            );
            assert_eq!(seen.form("grant_type").as_deref(), Some("client_credentials"));
            return Reply_::json(r#"{"access_token":"graph-token","expires_in":3600}"#);
        }
        assert_eq!(seen.authorization, "Bearer graph-token", "{seen:?}");
        let mut t = state.lock().unwrap();
        if !t.queued.is_empty() {
            return t.queued.remove(0);
        }
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap_or_default();
        let json_body = || {
            assert_eq!(seen.header("content-type"), Some("application/json"), "{seen:?}");
        };
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", ALICE) => {
                assert_eq!(
                    seen.param("$select").as_deref(),
                    Some("id,userPrincipalName,accountEnabled")
                );
                Reply_::json(
                    json!({"id": "u-alice", "userPrincipalName": "alice@acme.com", "accountEnabled": t.enabled})
                        .to_string(),
                )
            }
            ("PATCH", ALICE) => {
                json_body();
                assert_eq!(body.as_object().map(|m| m.len()), Some(1), "{body}");
                t.enabled = body["accountEnabled"].as_bool().unwrap();
                Reply_::status(204, "")
            }
            ("POST", p) if p == format!("{ALICE}/revokeSignInSessions") => {
                assert!(seen.body.is_empty());
                Reply_::json(r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean","value":true}"#)
            }
            ("GET", p) if p == format!("{ITEM}/permissions") => {
                Reply_::json(json!({ "value": t.permissions }).to_string())
            }
            ("DELETE", p) if p.starts_with(&format!("{ITEM}/permissions/")) => {
                let id = p.rsplit('/').next().unwrap().to_string();
                let before = t.permissions.len();
                t.permissions.retain(|p| p["id"] != id.as_str());
                if t.permissions.len() == before {
                    Reply_::status(404, r#"{"error":{"code":"itemNotFound"}}"#)
                } else {
                    Reply_::status(204, "")
                }
            }
            ("POST", p) if p == format!("{ITEM}/createLink") => {
                json_body();
                t.links += 1;
                let id = format!("p-link{}", t.links);
                let permission = json!({"id": id, "roles": ["read"], "link": {"type": body["type"], "scope": body["scope"], "webUrl": "https://1drv.ms/u/s!NEWLINK"}});
                t.permissions.push(permission.clone());
                Reply_::status(201, permission.to_string())
            }
            ("POST", p) if p == format!("{ITEM}/invite") => {
                json_body();
                let email = body["recipients"][0]["email"].as_str().unwrap();
                let permission = json!({"id": "p-bob", "roles": body["roles"], "grantedToV2": {"user": {"email": email}}});
                t.permissions.push(permission.clone());
                Reply_::json(json!({ "value": [permission] }).to_string())
            }
            other => panic!("unexpected request {other:?}"),
        }
    })
    .await
}

fn actions(api: &MockApi) -> GraphActions {
    let credentials = ClientCredentials {
        token_url: Url::parse(&api.url("/tenant-1/oauth2/v2.0/token")).unwrap(),
        client_id: "app-1".into(),
        client_secret: Secret::new("not-a-real-secret"),
        scope: "https://graph.microsoft.com/.default".into(),
    };
    GraphActions {
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
    }
}

/// The requests to Graph itself (not to the token endpoint), as `METHOD path`.
fn calls(api: &MockApi) -> Vec<String> {
    api.seen()
        .iter()
        .filter(|s| !s.path.ends_with("/token"))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

fn alice(id: &str, version: i64) -> Value {
    incident(id, "user", "alice@acme.com", 0.97, version)
}

#[tokio::test]
async fn disable_user_captures_patches_and_reverts_on_expiry() {
    let state = tenant();
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("graph-disable");
    let (mut r, clock) = responder(
        actions(&api),
        &dir,
        policy("disable_user", Mode::Autonomous),
    );
    let docs = r.incident(&alice("inc-1", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert!(!state.lock().unwrap().enabled);
    let record = r.records().next().unwrap().clone();
    assert_eq!(record.target.kind, "user");
    assert_eq!(record.target.id, "alice@acme.com");
    assert_eq!(
        record.revert.state.as_ref().unwrap()["accountEnabled"],
        true
    );
    // The same incident again (a later version): nothing more.
    assert!(r.incident(&alice("inc-1", 2)).await.unwrap().is_empty());
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    assert_eq!(statuses(&docs), ["expired", "reverting", "reverted"]);
    assert!(state.lock().unwrap().enabled);
    assert_eq!(
        calls(&api),
        [
            format!("GET {ALICE}"),
            format!("PATCH {ALICE}"),
            format!("PATCH {ALICE}"),
        ]
    );
    let bodies: Vec<String> = api
        .seen()
        .iter()
        .filter(|s| s.method == "PATCH")
        .map(|s| s.body.clone())
        .collect();
    assert_eq!(
        bodies,
        [r#"{"accountEnabled":false}"#, r#"{"accountEnabled":true}"#]
    );
    // One token for all of it.
    assert_eq!(api.seen().len(), 4);
}

#[tokio::test]
async fn a_user_disabled_before_stays_disabled_after_revert() {
    let state = tenant();
    state.lock().unwrap().enabled = false;
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("graph-disabled-before");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("disable_user", Mode::Autonomous),
    );
    r.incident(&alice("inc-2", 1)).await.unwrap();
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "reverted"]
    );
    assert!(!state.lock().unwrap().enabled);
    assert_eq!(
        calls(&api),
        [format!("GET {ALICE}"), format!("PATCH {ALICE}")]
    );
}

#[tokio::test]
async fn revoke_sessions_is_one_post_and_cannot_be_reverted() {
    let api = graph(tenant()).await;
    let dir = TempDir::new("graph-revoke");
    let mut p = policy("revoke_sessions", Mode::Autonomous);
    p.allow_irreversible = true;
    let (mut r, _) = responder(actions(&api), &dir, p);
    let docs = r.incident(&alice("inc-3", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    let record = r.records().next().unwrap().clone();
    assert!(!record.revert.reversible);
    assert_eq!(record.expires_at, None, "nothing to expire");
    assert_eq!(calls(&api), [format!("POST {ALICE}/revokeSignInSessions")]);
    // Without allow_irreversible, autonomous mode refuses it before any call.
    let api = graph(tenant()).await;
    let dir = TempDir::new("graph-revoke-refused");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("revoke_sessions", Mode::Autonomous),
    );
    assert_eq!(
        statuses(&r.incident(&alice("inc-3", 1)).await.unwrap()),
        ["suppressed"]
    );
    assert!(api.seen().is_empty());
}

#[tokio::test]
async fn anonymous_links_are_removed_and_a_new_link_of_the_same_kind_restores_access() {
    let state = tenant();
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("graph-links");
    let mut p = policy("remove_sharing_link", Mode::Autonomous);
    p.target = Some(constant("b!drive1/01ITEM"));
    let (mut r, _) = responder(actions(&api), &dir, p);
    let docs = r.incident(&alice("inc-4", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert_eq!(ids(&state), ["p-owner", "p-bob"]);
    let record = r.records().next().unwrap().clone();
    assert_eq!(record.target.kind, "sharing_link");
    let captured = record.revert.state.clone().unwrap();
    assert_eq!(captured["permissions"][0]["link"]["scope"], "anonymous");
    assert!(
        !captured.to_string().contains("SECRETLINK"),
        "a link's URL is a secret and is not kept: {captured}"
    );
    submit(&dir, &record.id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "reverted"]
    );
    assert_eq!(ids(&state), ["p-owner", "p-bob", "p-link1"]);
    assert_eq!(
        calls(&api),
        [
            format!("GET {ITEM}/permissions"),
            format!("DELETE {ITEM}/permissions/p-anon"),
            format!("POST {ITEM}/createLink"),
        ]
    );
    let create = api.seen().pop().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&create.body).unwrap(),
        json!({"type": "view", "scope": "anonymous"})
    );
}

#[tokio::test]
async fn a_named_permission_is_removed_and_its_people_invited_again() {
    let state = tenant();
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("graph-grant");
    let mut p = policy("remove_sharing_link", Mode::Autonomous);
    p.target = Some(constant("drives/b!drive1/items/01ITEM/permissions/p-bob"));
    let (mut r, _) = responder(actions(&api), &dir, p);
    let docs = r.incident(&alice("inc-5", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert_eq!(ids(&state), ["p-owner", "p-anon"]);
    // A retry after a crash finds it gone (404) and is content.
    let record = r.records().next().unwrap().clone();
    let captured = record.revert.state.clone().unwrap();
    actions(&api)
        .execute("remove_sharing_link", &record.target, &captured)
        .await
        .unwrap();
    submit(&dir, &record.id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "reverted"]
    );
    assert_eq!(ids(&state), ["p-owner", "p-anon", "p-bob"]);
    let invite = api.seen().pop().unwrap();
    assert_eq!(invite.path, format!("{ITEM}/invite"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&invite.body).unwrap(),
        json!({"recipients": [{"email": "bob@partner.com"}], "roles": ["write"], "requireSignIn": true, "sendInvitation": false})
    );
    // The owner is never removed.
    let dir = TempDir::new("graph-owner");
    let mut p = policy("remove_sharing_link", Mode::Autonomous);
    p.target = Some(constant("b!drive1/01ITEM/p-owner"));
    let (mut r, _) = responder(actions(&api), &dir, p);
    assert_eq!(
        statuses(&r.incident(&alice("inc-6", 1)).await.unwrap()),
        ["failed"]
    );
    let error = r.records().next().unwrap().error.clone().unwrap();
    assert!(error.contains("owner"), "{error}");
    assert!(ids(&state).contains(&"p-owner".to_string()));
}

#[tokio::test]
async fn a_refusal_fails_at_once_naming_the_permission() {
    let state = tenant();
    state.lock().unwrap().queued.push(Reply_::status(
        403,
        r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#,
    ));
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("graph-403");
    let mut p = policy("revoke_sessions", Mode::Autonomous);
    p.allow_irreversible = true;
    let (mut r, _) = responder(actions(&api), &dir, p);
    let docs = r.incident(&alice("inc-7", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "failed"]);
    let error = r.records().next().unwrap().error.clone().unwrap();
    let url = api.url(&format!("{ALICE}/revokeSignInSessions"));
    assert!(
        error.starts_with(&format!(
            "missing permission User.RevokeSessions.All: POST {url}: HTTP 403: "
        )),
        "{error}"
    );
    assert!(error.contains("Authorization_RequestDenied"), "{error}");
    assert!(error.contains("admin consent"), "{error}");
    assert!(!error.contains("not-a-real-secret") && !error.contains("graph-token"));
    assert_eq!(calls(&api).len(), 1, "a refusal is never retried");
}

#[tokio::test]
async fn throttling_waits_what_retry_after_says() {
    let state = tenant();
    state.lock().unwrap().queued.push(
        Reply_::status(429, r#"{"error":{"code":"TooManyRequests"}}"#).header("Retry-After", "1"),
    );
    let api = graph(Arc::clone(&state)).await;
    let dir = TempDir::new("graph-429");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("disable_user", Mode::Autonomous),
    );
    let docs = r.incident(&alice("inc-8", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    let gets: Vec<Seen> = api
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2);
    assert!(gets[1].at.duration_since(gets[0].at) >= Duration::from_millis(950));
    assert!(!state.lock().unwrap().enabled);
}

#[tokio::test]
async fn observe_mode_calls_nothing() {
    let api = graph(tenant()).await;
    let dir = TempDir::new("graph-observe");
    let (mut r, _) = responder(actions(&api), &dir, policy("disable_user", Mode::Observe));
    let docs = r.incident(&alice("inc-9", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["observed"]);
    r.tick().await.unwrap();
    assert!(api.seen().is_empty(), "observe mode called Graph");
}

#[tokio::test]
async fn targets_come_from_the_user_entity_or_the_target_expression() {
    let api = graph(tenant()).await;
    let a = actions(&api);
    let t = a.target("disable_user", &alice("i", 1), None).unwrap();
    assert_eq!((t.kind.as_str(), t.id.as_str()), ("user", "alice@acme.com"));
    let host = incident("i", "host", "web-1", 0.9, 1);
    assert!(a
        .target("disable_user", &host, None)
        .unwrap_err()
        .contains("`host`"));
    assert_eq!(
        a.target("disable_user", &host, Some("bob@acme.com"))
            .unwrap()
            .id,
        "bob@acme.com"
    );
    assert!(a.target("remove_sharing_link", &host, None).is_err());
    assert!(a
        .target("remove_sharing_link", &host, Some("only-one"))
        .is_err());
    assert_eq!(
        a.target("remove_sharing_link", &host, Some("drives/d/items/i"))
            .unwrap()
            .id,
        "d/i"
    );
    assert!(api.seen().is_empty());
}

#[test]
fn docs_response_md_describes_every_graph_action() {
    assert_documented("graph", ACTIONS);
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
    let error = build_error(&FACTORY, &attrs("remove_sharing_link", vec![]));
    assert!(error.contains("needs `target`"), "{error}");
    let dir = TempDir::new("graph-build");
    let gov = attrs("disable_user", vec![("cloud", string("gcc_high"))]);
    assert!(build(&FACTORY, &gov, dir.path()).is_ok());
    let error = build_error(
        &FACTORY,
        &attrs(
            "disable_user",
            vec![("api_url", string("http://graph.example"))],
        ),
    );
    assert!(error.contains("must start with https://"), "{error}");
}
