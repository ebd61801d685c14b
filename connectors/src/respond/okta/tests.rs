//! The Okta actions against a local Okta that keeps each user's status: the documented
//! requests, effects and reverts, refusals, throttling, observe mode and idempotence.

use super::*;
use crate::respond::policy::{Mode, HOUR_MS};
use crate::respond::saas::testing::{
    assert_documented, quick_settings, responder, statuses, submit, T0,
};
use crate::respond::tests::{incident, policy};
use crate::sources::api::testing::{Answer as Reply_, MockApi, Seen};
use crate::testkit::TempDir;
use pipectl_core::secrets::Secret;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ALICE: &str = "/api/v1/users/alice%40acme.com";

struct Org {
    status: String,
    sessions: usize,
    queued: Vec<Reply_>,
}

fn org(status: &str) -> Arc<Mutex<Org>> {
    Arc::new(Mutex::new(Org {
        status: status.into(),
        sessions: 3,
        queued: Vec::new(),
    }))
}

/// An Okta that checks the token and answers like Okta (`E0000001` for a lifecycle
/// change the status does not allow).
async fn okta(state: Arc<Mutex<Org>>) -> MockApi {
    MockApi::start(move |seen: &Seen| {
        assert_eq!(seen.authorization, "SSWS okta-token", "{seen:?}");
        assert_eq!(seen.header("accept"), Some("application/json"));
        let mut o = state.lock().unwrap();
        if !o.queued.is_empty() {
            return o.queued.remove(0);
        }
        let invalid = || {
            Reply_::status(
                400,
                r#"{"errorCode":"E0000001","errorSummary":"Api validation failed: status","errorCauses":[]}"#,
            )
        };
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", ALICE) => Reply_::json(
                json!({"id": "00u1", "status": o.status, "profile": {"login": "alice@acme.com"}})
                    .to_string(),
            ),
            ("POST", p) if p == format!("{ALICE}/lifecycle/suspend") => {
                assert!(seen.body.is_empty());
                if o.status != "ACTIVE" {
                    return invalid();
                }
                o.status = "SUSPENDED".into();
                Reply_::json("{}")
            }
            ("POST", p) if p == format!("{ALICE}/lifecycle/unsuspend") => {
                if o.status != "SUSPENDED" {
                    return invalid();
                }
                o.status = "ACTIVE".into();
                Reply_::json("{}")
            }
            ("DELETE", p) if p == format!("{ALICE}/sessions") => {
                o.sessions = 0;
                Reply_::status(204, "")
            }
            other => panic!("unexpected request {other:?}"),
        }
    })
    .await
}

fn actions(api: &MockApi) -> OktaActions {
    OktaActions {
        api: SaasApi::new(
            &quick_settings(),
            Auth::Token {
                scheme: "SSWS",
                token: Secret::new("okta-token"),
            },
            Some(forbidden),
        )
        .unwrap(),
        domain: api.base.clone(),
    }
}

fn calls(api: &MockApi) -> Vec<String> {
    api.seen()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

fn alice(id: &str, version: i64) -> Value {
    incident(id, "user", "alice@acme.com", 0.97, version)
}

#[tokio::test]
async fn suspend_user_suspends_an_active_user_and_expiry_unsuspends() {
    let state = org("ACTIVE");
    let api = okta(Arc::clone(&state)).await;
    let dir = TempDir::new("okta-suspend");
    let (mut r, clock) = responder(
        actions(&api),
        &dir,
        policy("suspend_user", Mode::Autonomous),
    );
    let docs = r.incident(&alice("inc-1", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert_eq!(state.lock().unwrap().status, "SUSPENDED");
    let record = r.records().next().unwrap().clone();
    assert_eq!(record.revert.state.as_ref().unwrap()["status"], "ACTIVE");
    // Idempotent: the same incident again, and a retry of the call after a crash.
    assert!(r.incident(&alice("inc-1", 2)).await.unwrap().is_empty());
    actions(&api)
        .execute(
            "suspend_user",
            &record.target,
            record.revert.state.as_ref().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(state.lock().unwrap().status, "SUSPENDED");
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["expired", "reverting", "reverted"]
    );
    assert_eq!(state.lock().unwrap().status, "ACTIVE");
    assert_eq!(
        calls(&api),
        [
            format!("GET {ALICE}"),
            format!("POST {ALICE}/lifecycle/suspend"),
            // The retry: refused (already suspended), then checked.
            format!("POST {ALICE}/lifecycle/suspend"),
            format!("GET {ALICE}"),
            format!("POST {ALICE}/lifecycle/unsuspend"),
        ]
    );
}

#[tokio::test]
async fn only_active_users_are_suspended_and_a_suspended_one_stays_so() {
    let state = org("SUSPENDED");
    let api = okta(Arc::clone(&state)).await;
    let dir = TempDir::new("okta-already");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("suspend_user", Mode::Autonomous),
    );
    let docs = r.incident(&alice("inc-2", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"]);
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "reverted"]
    );
    assert_eq!(state.lock().unwrap().status, "SUSPENDED");
    assert_eq!(calls(&api), [format!("GET {ALICE}")]);

    let state = org("DEPROVISIONED");
    let api = okta(Arc::clone(&state)).await;
    let dir = TempDir::new("okta-deprovisioned");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("suspend_user", Mode::Autonomous),
    );
    assert_eq!(
        statuses(&r.incident(&alice("inc-3", 1)).await.unwrap()),
        ["executing", "failed"]
    );
    let error = r.records().next().unwrap().error.clone().unwrap();
    assert_eq!(
        error,
        "user alice@acme.com is DEPROVISIONED; Okta suspends only ACTIVE users"
    );
}

#[tokio::test]
async fn clear_sessions_is_one_delete_and_cannot_be_reverted() {
    let state = org("ACTIVE");
    let api = okta(Arc::clone(&state)).await;
    let dir = TempDir::new("okta-sessions");
    let (mut r, _) = responder(actions(&api), &dir, policy("clear_sessions", Mode::Confirm));
    assert_eq!(
        statuses(&r.incident(&alice("inc-4", 1)).await.unwrap()),
        ["pending_approval"]
    );
    assert!(api.seen().is_empty(), "nothing is called before approval");
    let record = r.records().next().unwrap().clone();
    assert!(!record.revert.reversible);
    submit(&dir, &record.id, "approve");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["approved", "executing", "succeeded"]
    );
    assert_eq!(state.lock().unwrap().sessions, 0);
    assert_eq!(calls(&api), [format!("DELETE {ALICE}/sessions")]);
}

#[tokio::test]
async fn a_refusal_fails_at_once_naming_the_permission() {
    let state = org("ACTIVE");
    state.lock().unwrap().queued.push(Reply_::status(
        403,
        r#"{"errorCode":"E0000006","errorSummary":"You do not have permission to perform the requested action","errorCauses":[]}"#,
    ));
    let api = okta(Arc::clone(&state)).await;
    let dir = TempDir::new("okta-403");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("suspend_user", Mode::Autonomous),
    );
    assert_eq!(
        statuses(&r.incident(&alice("inc-5", 1)).await.unwrap()),
        ["failed"]
    );
    let error = r.records().next().unwrap().error.clone().unwrap();
    assert!(
        error.starts_with(&format!(
            "missing permission okta.users.read: GET {}: HTTP 403: ",
            api.url(ALICE)
        )),
        "{error}"
    );
    assert!(error.contains("E0000006"), "{error}");
    assert!(!error.contains("okta-token"), "{error}");
    assert_eq!(api.seen().len(), 1, "a refusal is never retried");
    assert_eq!(state.lock().unwrap().status, "ACTIVE");
}

#[tokio::test]
async fn throttling_waits_what_retry_after_says() {
    let state = org("ACTIVE");
    state.lock().unwrap().queued.push(
        Reply_::status(429, r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#)
            .header("Retry-After", "1"),
    );
    let api = okta(Arc::clone(&state)).await;
    let dir = TempDir::new("okta-429");
    let mut p = policy("clear_sessions", Mode::Autonomous);
    p.allow_irreversible = true;
    let (mut r, _) = responder(actions(&api), &dir, p);
    assert_eq!(
        statuses(&r.incident(&alice("inc-6", 1)).await.unwrap()),
        ["executing", "succeeded"]
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_millis(950));
    assert_eq!(state.lock().unwrap().sessions, 0);
}

#[tokio::test]
async fn observe_mode_calls_nothing() {
    let api = okta(org("ACTIVE")).await;
    let dir = TempDir::new("okta-observe");
    let mut p = policy("suspend_user", Mode::Autonomous);
    p.dry_run = true;
    let (mut r, _) = responder(actions(&api), &dir, p);
    assert_eq!(
        statuses(&r.incident(&alice("inc-7", 1)).await.unwrap()),
        ["observed"]
    );
    r.tick().await.unwrap();
    assert!(api.seen().is_empty(), "observe mode called Okta");
}

#[test]
fn docs_response_md_describes_every_okta_action() {
    assert_documented("okta", ACTIONS);
}

#[test]
fn configuration_is_checked() {
    use crate::testkit::{build, build_error, eq, plan, string};
    use pipectl_dsl::plan::PlanValue;
    let attrs = |domain: &str| {
        plan(
            &SPEC,
            "contain",
            vec![
                ("action", string("suspend_user")),
                ("when", PlanValue::Expr(eq("entity.kind", "user"))),
                ("domain", string(domain)),
                ("api_token", string("t")),
            ],
        )
    };
    assert!(build_error(&FACTORY, &attrs("http://acme.okta.com")).contains("https://"));
    let dir = TempDir::new("okta-build");
    assert!(build(&FACTORY, &attrs("https://acme.okta.com"), dir.path()).is_ok());
}
