//! The Google Workspace actions against a local Google (token endpoint, Directory API
//! and Drive API in one server) that keeps state: the documented requests, effects and
//! reverts, refusals, throttling, observe mode and idempotence.

use super::*;
use crate::respond::policy::{Mode, HOUR_MS};
use crate::respond::saas::testing::{
    assert_documented, constant, quick_settings, responder, statuses, submit, T0,
};
use crate::respond::tests::{incident, policy};
use crate::sources::api::google::testing::{test_key, verified_claims};
use crate::sources::api::testing::{Answer as Reply_, MockApi, Seen};
use crate::testkit::TempDir;
use pipectl_core::secrets::Secret;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const ALICE: &str = "/admin/directory/v1/users/alice%40acme.com";
const PERMISSIONS: &str = "/drive/v3/files/1FiLe_id/permissions";

struct Domain {
    suspended: bool,
    signed_out: bool,
    permissions: Vec<serde_json::Value>,
    queued: Vec<Reply_>,
    /// The scope of the last token asked for.
    scope: String,
}

fn domain() -> Arc<Mutex<Domain>> {
    Arc::new(Mutex::new(Domain {
        suspended: false,
        signed_out: false,
        permissions: vec![
            json!({"kind": "drive#permission", "id": "anyoneWithLink", "type": "anyone", "role": "reader", "allowFileDiscovery": false}),
            json!({"kind": "drive#permission", "id": "0123bob", "type": "user", "role": "writer", "emailAddress": "bob@partner.com"}),
            json!({"kind": "drive#permission", "id": "0456own", "type": "user", "role": "owner", "emailAddress": "owner@acme.com"}),
        ],
        queued: Vec::new(),
        scope: String::new(),
    }))
}

fn ids(state: &Arc<Mutex<Domain>>) -> Vec<String> {
    state
        .lock()
        .unwrap()
        .permissions
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// Google, checking the signed assertion and what each call carries.
async fn google(state: Arc<Mutex<Domain>>, public_key: Arc<OnceLock<Vec<u8>>>) -> MockApi {
    MockApi::start(move |seen: &Seen| {
        let mut d = state.lock().unwrap();
        if seen.path == "/token" {
            let assertion = seen.form("assertion").unwrap();
            let claims = verified_claims(&assertion, public_key.get().unwrap()).unwrap();
            assert_eq!(claims["sub"], "admin@acme.com");
            d.scope = claims["scope"].as_str().unwrap().to_string();
            return Reply_::json(r#"{"access_token":"google-token","expires_in":3600}"#);
        }
        assert_eq!(seen.authorization, "Bearer google-token", "{seen:?}");
        if !d.queued.is_empty() {
            return d.queued.remove(0);
        }
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap_or_default();
        let json_body = || {
            assert_eq!(
                seen.header("content-type"),
                Some("application/json"),
                "{seen:?}"
            );
        };
        let drive = seen.path.starts_with("/drive/");
        if drive {
            assert_eq!(seen.param("supportsAllDrives").as_deref(), Some("true"));
        }
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", ALICE) => Reply_::json(
                json!({"id": "1001", "primaryEmail": "alice@acme.com", "suspended": d.suspended})
                    .to_string(),
            ),
            ("PUT", ALICE) => {
                json_body();
                assert_eq!(body.as_object().map(|m| m.len()), Some(1), "{body}");
                d.suspended = body["suspended"].as_bool().unwrap();
                Reply_::json(
                    json!({"primaryEmail": "alice@acme.com", "suspended": d.suspended}).to_string(),
                )
            }
            ("POST", p) if p == format!("{ALICE}/signOut") => {
                // Google's front end answers 411 to a POST without a length.
                assert_eq!(seen.header("content-length"), Some("0"), "{seen:?}");
                d.signed_out = true;
                Reply_::status(204, "")
            }
            ("GET", p) if p.starts_with(&format!("{PERMISSIONS}/")) => {
                assert_eq!(
                    seen.param("fields").as_deref(),
                    Some("id,type,role,emailAddress,domain,allowFileDiscovery,expirationTime")
                );
                let id = p.rsplit('/').next().unwrap();
                match d.permissions.iter().find(|p| p["id"] == id) {
                    Some(p) => Reply_::json(p.to_string()),
                    None => Reply_::status(
                        404,
                        r#"{"error":{"code":404,"message":"Permission not found"}}"#,
                    ),
                }
            }
            ("DELETE", p) if p.starts_with(&format!("{PERMISSIONS}/")) => {
                let id = p.rsplit('/').next().unwrap().to_string();
                let before = d.permissions.len();
                d.permissions.retain(|p| p["id"] != id.as_str());
                if d.permissions.len() == before {
                    Reply_::status(
                        404,
                        r#"{"error":{"code":404,"message":"Permission not found"}}"#,
                    )
                } else {
                    Reply_::status(204, "")
                }
            }
            ("POST", PERMISSIONS) => {
                json_body();
                let id = match body["type"].as_str() {
                    Some("anyone") => "anyoneWithLink".to_string(),
                    _ => "0123bob".to_string(),
                };
                let mut created = body.clone();
                created["id"] = json!(id);
                d.permissions.push(created.clone());
                Reply_::json(created.to_string())
            }
            other => panic!("unexpected request {other:?}"),
        }
    })
    .await
}

/// A local Google and actions whose service account it trusts, for `scope`.
async fn setup(state: Arc<Mutex<Domain>>, scope: &str) -> (MockApi, GoogleActions) {
    let public_key = Arc::new(OnceLock::new());
    let api = google(state, Arc::clone(&public_key)).await;
    let key = test_key(&api.url("/token"));
    public_key.set(key.public_key.clone()).unwrap();
    let grant =
        ServiceAccountGrant::from_key_json(&Secret::new(&key.json), scope, "admin@acme.com")
            .unwrap();
    let actions = GoogleActions {
        api: SaasApi::new(
            &quick_settings(),
            Auth::Grant {
                grant: Arc::new(grant),
                cached: None,
            },
            Some(forbidden),
        )
        .unwrap(),
        admin: api.base.clone(),
        drive: api.base.clone(),
    };
    (api, actions)
}

fn calls(api: &MockApi) -> Vec<String> {
    api.seen()
        .iter()
        .filter(|s| s.path != "/token")
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

fn alice(id: &str, version: i64) -> Value {
    incident(id, "user", "alice@acme.com", 0.97, version)
}

#[tokio::test]
async fn suspend_user_puts_suspended_and_expiry_puts_it_back() {
    let state = domain();
    let (api, actions) = setup(Arc::clone(&state), USER_SCOPE).await;
    let dir = TempDir::new("google-suspend");
    let (mut r, clock) = responder(actions, &dir, policy("suspend_user", Mode::Autonomous));
    let docs = r.incident(&alice("inc-1", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert!(state.lock().unwrap().suspended);
    assert_eq!(state.lock().unwrap().scope, USER_SCOPE);
    assert!(r.incident(&alice("inc-1", 2)).await.unwrap().is_empty());
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["expired", "reverting", "reverted"]
    );
    assert!(!state.lock().unwrap().suspended);
    assert_eq!(
        calls(&api),
        [
            format!("GET {ALICE}"),
            format!("PUT {ALICE}"),
            format!("PUT {ALICE}")
        ]
    );
    let bodies: Vec<String> = api
        .seen()
        .iter()
        .filter(|s| s.method == "PUT")
        .map(|s| s.body.clone())
        .collect();
    assert_eq!(bodies, [r#"{"suspended":true}"#, r#"{"suspended":false}"#]);
}

#[tokio::test]
async fn a_user_suspended_before_stays_suspended() {
    let state = domain();
    state.lock().unwrap().suspended = true;
    let (api, actions) = setup(Arc::clone(&state), USER_SCOPE).await;
    let dir = TempDir::new("google-suspended-before");
    let (mut r, _) = responder(actions, &dir, policy("suspend_user", Mode::Autonomous));
    r.incident(&alice("inc-2", 1)).await.unwrap();
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "reverted"]
    );
    assert!(state.lock().unwrap().suspended);
    assert_eq!(
        calls(&api),
        [format!("GET {ALICE}"), format!("PUT {ALICE}")]
    );
}

#[tokio::test]
async fn sign_out_is_one_post_and_cannot_be_reverted() {
    let state = domain();
    let (api, actions) = setup(Arc::clone(&state), USER_SCOPE).await;
    let dir = TempDir::new("google-signout");
    let mut p = policy("sign_out", Mode::Autonomous);
    p.allow_irreversible = true;
    let (mut r, _) = responder(actions, &dir, p);
    assert_eq!(
        statuses(&r.incident(&alice("inc-3", 1)).await.unwrap()),
        ["executing", "succeeded"]
    );
    assert!(state.lock().unwrap().signed_out);
    assert!(!r.records().next().unwrap().revert.reversible);
    assert_eq!(calls(&api), [format!("POST {ALICE}/signOut")]);
}

#[tokio::test]
async fn a_drive_permission_is_deleted_and_recreated_alike() {
    for (permission, expected) in [
        (
            "anyoneWithLink",
            json!({"role": "reader", "type": "anyone", "allowFileDiscovery": false}),
        ),
        (
            "0123bob",
            json!({"role": "writer", "type": "user", "emailAddress": "bob@partner.com"}),
        ),
    ] {
        let state = domain();
        let (api, actions) = setup(Arc::clone(&state), DRIVE_SCOPE).await;
        let dir = TempDir::new("google-drive");
        let mut p = policy("delete_drive_permission", Mode::Autonomous);
        p.target = Some(constant(&format!("1FiLe_id/{permission}")));
        let (mut r, _) = responder(actions, &dir, p);
        let docs = r.incident(&alice("inc-4", 1)).await.unwrap();
        assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
        assert!(!ids(&state).contains(&permission.to_string()));
        assert_eq!(state.lock().unwrap().scope, DRIVE_SCOPE);
        let record = r.records().next().unwrap().clone();
        assert_eq!(record.target.kind, "drive_permission");
        // A retry after a crash finds it gone and is content.
        let retry = setup(Arc::clone(&state), DRIVE_SCOPE).await;
        retry
            .1
            .execute(
                "delete_drive_permission",
                &record.target,
                record.revert.state.as_ref().unwrap(),
            )
            .await
            .unwrap();
        submit(&dir, &record.id, "revert");
        assert_eq!(
            statuses(&r.tick().await.unwrap()),
            ["reverting", "reverted"]
        );
        assert!(ids(&state).contains(&permission.to_string()));
        assert_eq!(
            calls(&api),
            [
                format!("GET {PERMISSIONS}/{permission}"),
                format!("DELETE {PERMISSIONS}/{permission}"),
                format!("POST {PERMISSIONS}"),
            ]
        );
        let create = api.seen().pop().unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&create.body).unwrap(),
            expected
        );
        let silent = create.param("sendNotificationEmail");
        if permission == "0123bob" {
            assert_eq!(silent.as_deref(), Some("false"), "no mail on restore");
        } else {
            assert_eq!(silent, None, "Google refuses it for `anyone`");
        }
    }
}

#[tokio::test]
async fn the_owner_permission_is_never_deleted() {
    let state = domain();
    let (api, actions) = setup(Arc::clone(&state), DRIVE_SCOPE).await;
    let dir = TempDir::new("google-owner");
    let mut p = policy("delete_drive_permission", Mode::Autonomous);
    p.target = Some(constant("1FiLe_id/0456own"));
    let (mut r, _) = responder(actions, &dir, p);
    assert_eq!(
        statuses(&r.incident(&alice("inc-5", 1)).await.unwrap()),
        ["failed"]
    );
    assert!(ids(&state).contains(&"0456own".to_string()));
    assert_eq!(calls(&api).len(), 1);
}

#[tokio::test]
async fn a_refusal_fails_at_once_and_a_rate_limit_403_is_waited_out() {
    let state = domain();
    state.lock().unwrap().queued.push(Reply_::status(
        403,
        r#"{"error":{"code":403,"message":"Not Authorized to access this resource/api","errors":[{"message":"Not Authorized to access this resource/api","domain":"global","reason":"forbidden"}]}}"#,
    ));
    let (api, actions) = setup(Arc::clone(&state), USER_SCOPE).await;
    let dir = TempDir::new("google-403");
    let (mut r, _) = responder(actions, &dir, policy("suspend_user", Mode::Autonomous));
    assert_eq!(
        statuses(&r.incident(&alice("inc-6", 1)).await.unwrap()),
        ["failed"]
    );
    let error = r.records().next().unwrap().error.clone().unwrap();
    assert!(
        error.starts_with(&format!(
            "missing permission {USER_SCOPE}: GET {}: HTTP 403: ",
            api.url(ALICE)
        )),
        "{error}"
    );
    assert!(error.contains("User Management"), "{error}");
    assert!(!error.contains("PRIVATE KEY") && !error.contains("google-token"));
    assert_eq!(calls(&api).len(), 1, "a refusal is never retried");
    assert!(!state.lock().unwrap().suspended);

    // Google also says "slow down" with a 403; that one is retried after Retry-After.
    let state = domain();
    state.lock().unwrap().queued.push(
        Reply_::status(
            403,
            r#"{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"reason":"userRateLimitExceeded"}]}}"#,
        )
        .header("Retry-After", "1"),
    );
    let (api, actions) = setup(Arc::clone(&state), USER_SCOPE).await;
    let dir = TempDir::new("google-403-rate");
    let (mut r, _) = responder(actions, &dir, policy("suspend_user", Mode::Autonomous));
    assert_eq!(
        statuses(&r.incident(&alice("inc-7", 1)).await.unwrap()),
        ["executing", "succeeded"]
    );
    let gets: Vec<Seen> = api
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2);
    assert!(gets[1].at.duration_since(gets[0].at) >= Duration::from_millis(950));
}

#[tokio::test]
async fn a_429_waits_what_retry_after_says() {
    let state = domain();
    state.lock().unwrap().queued.push(
        Reply_::status(
            429,
            r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#,
        )
        .header("Retry-After", "1"),
    );
    let (api, actions) = setup(Arc::clone(&state), USER_SCOPE).await;
    let dir = TempDir::new("google-429");
    let mut p = policy("sign_out", Mode::Autonomous);
    p.allow_irreversible = true;
    let (mut r, _) = responder(actions, &dir, p);
    assert_eq!(
        statuses(&r.incident(&alice("inc-8", 1)).await.unwrap()),
        ["executing", "succeeded"]
    );
    let posts: Vec<Seen> = api
        .seen()
        .into_iter()
        .filter(|s| s.path != "/token")
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(posts[1].at.duration_since(posts[0].at) >= Duration::from_millis(950));
    assert!(state.lock().unwrap().signed_out);
}

#[tokio::test]
async fn observe_mode_calls_nothing() {
    let (api, actions) = setup(domain(), USER_SCOPE).await;
    let dir = TempDir::new("google-observe");
    let (mut r, _) = responder(actions, &dir, policy("suspend_user", Mode::Observe));
    assert_eq!(
        statuses(&r.incident(&alice("inc-9", 1)).await.unwrap()),
        ["observed"]
    );
    r.tick().await.unwrap();
    assert!(api.seen().is_empty(), "observe mode called Google");
}

#[tokio::test]
async fn targets_come_from_the_user_entity_or_the_target_expression() {
    let (api, a) = setup(domain(), USER_SCOPE).await;
    assert_eq!(
        a.target("suspend_user", &alice("i", 1), None).unwrap().id,
        "alice@acme.com"
    );
    let host = incident("i", "host", "web-1", 0.9, 1);
    assert!(a.target("sign_out", &host, None).is_err());
    assert!(a.target("delete_drive_permission", &host, None).is_err());
    assert!(a
        .target("delete_drive_permission", &host, Some("1FiLe_id"))
        .is_err());
    assert!(a
        .target("delete_drive_permission", &host, Some("1FiLe_id/../x"))
        .is_err());
    assert_eq!(
        a.target("delete_drive_permission", &host, Some("1FiLe_id/0123bob"))
            .unwrap()
            .id,
        "1FiLe_id/0123bob"
    );
    assert!(api.seen().is_empty());
}

#[test]
fn docs_response_md_describes_every_google_workspace_action() {
    assert_documented("google_workspace", ACTIONS);
}

#[test]
fn configuration_is_checked() {
    use crate::testkit::{build, build_error, eq, plan, string};
    use pipectl_dsl::plan::PlanValue;
    let key = test_key("https://oauth2.googleapis.com/token");
    let attrs = |action: &str, subject: &str| {
        plan(
            &SPEC,
            "contain",
            vec![
                ("action", string(action)),
                ("when", PlanValue::Expr(eq("entity.kind", "user"))),
                ("credentials", string(&key.json)),
                ("subject", string(subject)),
            ],
        )
    };
    let error = build_error(&FACTORY, &attrs("suspend_user", "admin"));
    assert!(error.contains("not an email address"), "{error}");
    let error = build_error(
        &FACTORY,
        &attrs("delete_drive_permission", "admin@acme.com"),
    );
    assert!(error.contains("needs `target`"), "{error}");
    assert!(!error.contains("PRIVATE KEY"));
    let dir = TempDir::new("google-build");
    assert!(build(&FACTORY, &attrs("sign_out", "admin@acme.com"), dir.path()).is_ok());
}
