//! `respond salesforce` against a local server that keeps users, their UserLogin and
//! their sessions, and checks each request as Salesforce documents it.

use super::*;
use crate::respond::policy::{Mode, HOUR_MS};
use crate::respond::saas::testing::{
    assert_documented, quick_settings, responder, statuses, submit, T0,
};
use crate::respond::tests::{incident, policy};
use crate::respond::wire::{api_calls, body, lines, with};
use crate::sources::api::testing::{Answer, MockApi, Seen};
use crate::testkit::TempDir;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

const ALICE: &str = "005000000000001AAA";
const ALICE_LOGIN: &str = "060000000000001AAA";
const BOB: &str = "005000000000002AAA";
const BOB_LOGIN: &str = "060000000000002AAA";
const DATA: &str = "/services/data/v62.0";

struct User {
    username: &'static str,
    login: &'static str,
    frozen: bool,
    sessions: Vec<String>,
}

/// The org: users by id.
type Org = Arc<Mutex<BTreeMap<&'static str, User>>>;

fn org() -> Org {
    let mut users = BTreeMap::new();
    users.insert(
        ALICE,
        User {
            username: "alice@acme.example",
            login: ALICE_LOGIN,
            frozen: false,
            sessions: vec!["0Ak000000000001AAA".into(), "0Ak000000000002AAA".into()],
        },
    );
    users.insert(
        BOB,
        User {
            username: "bob@acme.example",
            login: BOB_LOGIN,
            frozen: true,
            sessions: Vec::new(),
        },
    );
    Arc::new(Mutex::new(users))
}

fn records(items: Vec<serde_json::Value>) -> Answer {
    Answer::json(json!({"totalSize": items.len(), "done": true, "records": items}).to_string())
}

/// Salesforce as far as the two actions go; anything else is a `400` the test sees.
fn salesforce(org: &Org, seen: &Seen) -> Answer {
    if seen.path == "/services/oauth2/token" {
        assert_eq!(seen.method, "POST");
        assert_eq!(
            seen.form("grant_type").as_deref(),
            Some("client_credentials")
        );
        assert_eq!(seen.form("client_id").as_deref(), Some("app"));
        assert_eq!(seen.form("client_secret").as_deref(), Some("sf-s3cret"));
        return Answer::json(
            json!({"access_token": "sf-token", "instance_url": seen.base, "token_type": "Bearer"})
                .to_string(),
        );
    }
    assert_eq!(seen.authorization, "Bearer sf-token");
    let mut users = org.lock().unwrap();
    match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", path) if path == format!("{DATA}/query") => {
            assert_eq!(seen.body, "");
            let q = seen.param("q").unwrap_or_default();
            if let Some(name) = q
                .strip_prefix("SELECT Id FROM User WHERE Username = '")
                .and_then(|r| r.strip_suffix('\''))
            {
                let found = users
                    .iter()
                    .filter(|(_, u)| u.username == name)
                    .map(|(id, _)| json!({"attributes": {"type": "User"}, "Id": id}))
                    .collect();
                return records(found);
            }
            if let Some(id) = q
                .strip_prefix("SELECT Id, IsFrozen FROM UserLogin WHERE UserId = '")
                .and_then(|r| r.strip_suffix('\''))
            {
                let found = users
                    .get(id)
                    .map(|u| json!({"attributes": {"type": "UserLogin"}, "Id": u.login, "IsFrozen": u.frozen}))
                    .into_iter()
                    .collect();
                return records(found);
            }
            if let Some(id) = q
                .strip_prefix("SELECT Id FROM AuthSession WHERE UsersId = '")
                .and_then(|r| r.strip_suffix('\''))
            {
                let found = users
                    .get(id)
                    .map(|u| u.sessions.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| json!({"attributes": {"type": "AuthSession"}, "Id": s}))
                    .collect();
                return records(found);
            }
            Answer::status(
                400,
                format!(r#"[{{"errorCode":"MALFORMED_QUERY","message":"{q}"}}]"#),
            )
        }
        ("PATCH", path) if path.starts_with(&format!("{DATA}/sobjects/UserLogin/")) => {
            assert_eq!(seen.header("content-type"), Some("application/json"));
            let login = path.rsplit('/').next().unwrap_or_default();
            let frozen = body(seen)["IsFrozen"].as_bool().unwrap();
            assert_eq!(
                body(seen),
                json!({"IsFrozen": frozen}),
                "only IsFrozen is sent"
            );
            match users.values_mut().find(|u| u.login == login) {
                Some(user) => {
                    user.frozen = frozen;
                    Answer::status(204, "")
                }
                None => Answer::status(
                    404,
                    r#"[{"errorCode":"NOT_FOUND","message":"no such UserLogin"}]"#,
                ),
            }
        }
        ("DELETE", path) if path.starts_with(&format!("{DATA}/sobjects/AuthSession/")) => {
            assert_eq!(seen.body, "");
            let session = path.rsplit('/').next().unwrap_or_default();
            for user in users.values_mut() {
                if let Some(at) = user.sessions.iter().position(|s| s == session) {
                    user.sessions.remove(at);
                    return Answer::status(204, "");
                }
            }
            Answer::status(
                404,
                r#"[{"errorCode":"ENTITY_IS_DELETED","message":"entity is deleted"}]"#,
            )
        }
        _ => Answer::status(
            400,
            r#"[{"errorCode":"NOT_EXPECTED","message":"unexpected request"}]"#,
        ),
    }
}

async fn server(org: &Org) -> MockApi {
    let org = Arc::clone(org);
    MockApi::start(move |seen| salesforce(&org, seen)).await
}

fn actions(api: &MockApi) -> SalesforceActions {
    SalesforceActions::new(
        &quick_settings(),
        api.base.clone(),
        "app".into(),
        Secret::new("sf-s3cret"),
        "62.0".into(),
    )
    .unwrap()
}

fn user_incident(id: &str, user: &str) -> Value {
    incident(id, "user", user, 0.97, 1)
}

#[tokio::test]
async fn freeze_user_by_username_then_expiry_unfreezes() {
    let org = org();
    let api = server(&org).await;
    let dir = TempDir::new("sf-freeze");
    let (mut r, clock) = responder(actions(&api), &dir, policy("freeze_user", Mode::Autonomous));
    let docs = r
        .incident(&user_incident("inc-1", "alice@acme.example"))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert!(org.lock().unwrap()[ALICE].frozen);
    let record = r.records().next().unwrap().clone();
    assert_eq!(record.target.kind, "salesforce_user");
    assert_eq!(
        record.revert.state,
        Some(json!({"user_id": ALICE, "user_login_id": ALICE_LOGIN, "was_frozen": false}))
    );
    let calls = api_calls(&api);
    assert_eq!(
        calls
            .iter()
            .map(|c| c.param("q").unwrap_or_default())
            .collect::<Vec<_>>(),
        [
            "SELECT Id FROM User WHERE Username = 'alice@acme.example'".to_string(),
            format!("SELECT Id, IsFrozen FROM UserLogin WHERE UserId = '{ALICE}'"),
            String::new(),
        ]
    );
    assert_eq!(
        lines(&calls)[2],
        format!("PATCH {DATA}/sobjects/UserLogin/{ALICE_LOGIN}")
    );
    assert_eq!(body(&calls[2]), json!({"IsFrozen": true}));

    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    assert_eq!(statuses(&docs), ["expired", "reverting", "reverted"]);
    assert!(!org.lock().unwrap()[ALICE].frozen);
    let calls = api_calls(&api);
    assert_eq!(calls.len(), 4);
    assert_eq!(body(&calls[3]), json!({"IsFrozen": false}));
}

#[tokio::test]
async fn a_user_frozen_before_stays_frozen_after_the_revert() {
    let org = org();
    let api = server(&org).await;
    let dir = TempDir::new("sf-frozen");
    let (mut r, _) = responder(actions(&api), &dir, policy("freeze_user", Mode::Autonomous));
    // The id from `user.id`, no username lookup.
    let doc = with(
        user_incident("inc-2", "bob@acme.example"),
        "user",
        "id",
        BOB,
    );
    let docs = r.incident(&doc).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"]);
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "reverted"]
    );
    assert!(org.lock().unwrap()[BOB].frozen);
    // Only the UserLogin read: nothing to change either way.
    let calls = api_calls(&api);
    assert_eq!(calls.len(), 1, "{:?}", lines(&calls));
    assert_eq!(
        calls[0].param("q"),
        Some(format!(
            "SELECT Id, IsFrozen FROM UserLogin WHERE UserId = '{BOB}'"
        ))
    );
}

#[tokio::test]
async fn end_sessions_deletes_each_session_and_cannot_be_undone() {
    let org = org();
    let api = server(&org).await;
    // Refused in autonomous mode without allow_irreversible, before any call.
    let dir = TempDir::new("sf-sessions-refused");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("end_sessions", Mode::Autonomous),
    );
    let docs = r.incident(&user_incident("inc-3", ALICE)).await.unwrap();
    assert_eq!(statuses(&docs), ["suppressed"]);
    assert!(api.seen().is_empty());

    let dir = TempDir::new("sf-sessions");
    let mut p = policy("end_sessions", Mode::Autonomous);
    p.allow_irreversible = true;
    let (mut r, _) = responder(actions(&api), &dir, p);
    let docs = r.incident(&user_incident("inc-3", ALICE)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert!(org.lock().unwrap()[ALICE].sessions.is_empty());
    let calls = api_calls(&api);
    assert_eq!(
        lines(&calls)[1..],
        [
            format!("DELETE {DATA}/sobjects/AuthSession/0Ak000000000001AAA"),
            format!("DELETE {DATA}/sobjects/AuthSession/0Ak000000000002AAA"),
        ]
    );
    let record = r.records().next().unwrap().clone();
    assert!(!record.revert.reversible);
    assert_eq!(record.expires_at, None);
    // Done again (a crash before the outcome was recorded): sessions already gone
    // answer 404, which is the goal.
    let state = record.revert.state.clone().unwrap();
    let target = record.target.clone();
    let again = actions(&api).execute("end_sessions", &target, &state).await;
    assert!(again.is_ok(), "{again:?}");
}

#[tokio::test]
async fn a_refusal_fails_the_action_after_one_request() {
    let api = MockApi::start(|seen| {
        if seen.path.ends_with("/oauth2/token") {
            return Answer::json(r#"{"access_token":"sf-token"}"#);
        }
        Answer::status(
            403,
            r#"[{"errorCode":"INSUFFICIENT_ACCESS","message":"insufficient access rights"}]"#,
        )
    })
    .await;
    let dir = TempDir::new("sf-403");
    let (mut r, _) = responder(actions(&api), &dir, policy("freeze_user", Mode::Autonomous));
    let docs = r.incident(&user_incident("inc-4", ALICE)).await.unwrap();
    assert_eq!(statuses(&docs), ["failed"]);
    let error = r
        .records()
        .next()
        .unwrap()
        .error
        .clone()
        .unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "missing permission Manage Users: GET {}",
            api.url(&format!("{DATA}/query?…: HTTP 403"))
        )),
        "{error}"
    );
    assert!(error.contains("API Enabled and Manage Users"), "{error}");
    assert!(!error.contains("sf-s3cret") && !error.contains("sf-token"));
    assert_eq!(api_calls(&api).len(), 1, "a refusal is never retried");
}

/// Salesforce also refuses a change with `400 INSUFFICIENT_ACCESS_OR_READONLY` (the Run
/// As user may read the user but not freeze them): worded and never retried alike.
#[tokio::test]
async fn insufficient_access_on_the_change_is_a_missing_permission_too() {
    let org = org();
    let api = {
        let org = Arc::clone(&org);
        MockApi::start(move |seen| {
            if seen.method == "PATCH" {
                return Answer::status(
                    400,
                    r#"[{"errorCode":"INSUFFICIENT_ACCESS_OR_READONLY","message":"insufficient access rights on object id"}]"#,
                );
            }
            salesforce(&org, seen)
        })
        .await
    };
    let dir = TempDir::new("sf-400");
    let (mut r, _) = responder(actions(&api), &dir, policy("freeze_user", Mode::Autonomous));
    let docs = r.incident(&user_incident("inc-8", ALICE)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "failed"]);
    let error = r
        .records()
        .next()
        .unwrap()
        .error
        .clone()
        .unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "missing permission Manage Users: PATCH {}: HTTP 400",
            api.url(&format!("{DATA}/sobjects/UserLogin/{ALICE_LOGIN}"))
        )),
        "{error}"
    );
    assert_eq!(api_calls(&api).len(), 2, "query, then one PATCH");
    assert!(!org.lock().unwrap()[ALICE].frozen);
}

#[tokio::test]
async fn the_request_limit_and_429_wait_as_told() {
    let org = org();
    let answered = Arc::new(Mutex::new(0usize));
    let api = {
        let org = Arc::clone(&org);
        let answered = Arc::clone(&answered);
        MockApi::start(move |seen| {
            if !seen.path.ends_with("/oauth2/token") {
                let mut n = answered.lock().unwrap();
                *n += 1;
                match *n {
                    1 => {
                        return Answer::status(
                            403,
                            r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#,
                        )
                    }
                    2 => return Answer::status(429, "").header("retry-after", "1"),
                    _ => {}
                }
            }
            salesforce(&org, seen)
        })
        .await
    };
    let dir = TempDir::new("sf-429");
    let (mut r, _) = responder(actions(&api), &dir, policy("freeze_user", Mode::Autonomous));
    let docs = r.incident(&user_incident("inc-5", ALICE)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert!(org.lock().unwrap()[ALICE].frozen);
    let calls = api_calls(&api);
    assert_eq!(calls.len(), 4, "{:?}", lines(&calls));
    assert!(
        calls[2].at - calls[1].at >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
}

#[tokio::test]
async fn observe_mode_calls_nothing_and_an_incident_acts_once() {
    let org = org();
    let api = server(&org).await;
    let dir = TempDir::new("sf-observe");
    let (mut r, _) = responder(actions(&api), &dir, policy("freeze_user", Mode::Observe));
    let docs = r.incident(&user_incident("inc-6", ALICE)).await.unwrap();
    assert_eq!(statuses(&docs), ["observed"]);
    r.tick().await.unwrap();
    assert!(api.seen().is_empty(), "observe mode called Salesforce");

    let dir = TempDir::new("sf-once");
    let (mut r, _) = responder(actions(&api), &dir, policy("freeze_user", Mode::Autonomous));
    r.incident(&user_incident("inc-7", ALICE)).await.unwrap();
    let calls = api_calls(&api).len();
    assert!(r
        .incident(&user_incident("inc-7", ALICE))
        .await
        .unwrap()
        .is_empty());
    assert!(r
        .incident(&incident("inc-7", "user", ALICE, 0.99, 2))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(api_calls(&api).len(), calls);
    assert_eq!(r.records().count(), 1);
}

#[tokio::test]
async fn targets_are_validated_so_nothing_reaches_soql() {
    let api = MockApi::start(|_| Answer::status(500, "")).await;
    let a = actions(&api);
    let target = |doc: &Value, given: Option<&str>| a.target("freeze_user", doc, given);
    let t = target(&user_incident("i", "alice@acme.example"), None).unwrap();
    assert_eq!(t.id, "alice@acme.example");
    let doc = with(
        user_incident("i", "alice@acme.example"),
        "user",
        "id",
        ALICE,
    );
    assert_eq!(target(&doc, None).unwrap().id, ALICE);
    // `target` wins over the entity.
    assert_eq!(target(&doc, Some(BOB)).unwrap().id, BOB);
    for bad in [
        "x' OR Username != '",
        "alice@acme.example' OR Id != '",
        "alice",
        "00Q000000000001AAA",
        "a\\@acme.example",
    ] {
        assert!(target(&doc, Some(bad)).is_err(), "{bad}");
    }
    assert!(target(&incident("i", "host", "web-1", 0.9, 1), None)
        .unwrap_err()
        .contains("not a user"));
    assert!(soql_literal("it's").is_err());
    // A target the journal holds is checked again before a query is made.
    let forged = Target {
        kind: "salesforce_user".into(),
        id: "x' OR Name != '".into(),
        name: String::new(),
        account: None,
    };
    assert!(a.capture("freeze_user", &forged).await.is_err());
    assert!(api.seen().is_empty());
}

#[test]
fn the_component_checks_its_settings() {
    use crate::testkit::{build, build_error, plan, string};
    use pipectl_dsl::plan::PlanValue;
    let base = || {
        vec![
            ("action", string("freeze_user")),
            (
                "when",
                PlanValue::Expr(crate::testkit::eq("entity.kind", "user")),
            ),
            ("instance_url", string("https://acme.my.salesforce.com")),
            ("client_id", string("app")),
            ("client_secret", string("s")),
        ]
    };
    let dir = TempDir::new("sf-build");
    assert!(build(&FACTORY, &plan(&SPEC, "contain", base()), dir.path()).is_ok());
    let mut attrs = base();
    attrs.push(("api_version", string("v62")));
    assert!(build_error(&FACTORY, &plan(&SPEC, "contain", attrs)).contains("api_version"));
    let mut attrs = base();
    attrs[2] = ("instance_url", string("http://acme.my.salesforce.com"));
    assert!(build_error(&FACTORY, &plan(&SPEC, "contain", attrs)).contains("https://"));
}

#[test]
fn docs_response_md_describes_every_action() {
    assert_documented("salesforce", ACTIONS);
}
