//! `respond dropbox` against a local server that keeps team members' status and
//! checks each request as Dropbox documents it — above all `"wipe_data": false`.

use super::*;
use crate::respond::policy::{Mode, HOUR_MS};
use crate::respond::saas::testing::{
    assert_documented, quick_settings, responder, statuses, submit, T0,
};
use crate::respond::tests::{incident, policy};
use crate::respond::wire::{api_calls, body, lines, target_field};
use crate::sources::api::testing::{Answer, MockApi, Seen};
use crate::testkit::TempDir;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

const CAROL: &str = "dbmid:AAHhy7WsR0x-u4ZCqiDl5Fz5zvuL3kmspwU";
const DAVE: &str = "dbmid:AADq1pN7bT2kXo9sLw3eR6yU8iO0pAzxc";

/// Members by team member id: (email, status).
type Team = Arc<Mutex<BTreeMap<&'static str, (&'static str, &'static str)>>>;

fn team() -> Team {
    let mut members = BTreeMap::new();
    members.insert(CAROL, ("carol@acme.example", "active"));
    members.insert(DAVE, ("dave@acme.example", "suspended"));
    Arc::new(Mutex::new(members))
}

fn conflict(tag: &str) -> Answer {
    Answer::status(
        409,
        json!({"error_summary": format!("{tag}/.."), "error": {".tag": tag}}).to_string(),
    )
}

/// The member a `UserSelectorArg` names.
fn selected(
    team: &BTreeMap<&'static str, (&'static str, &'static str)>,
    user: &serde_json::Value,
) -> Option<&'static str> {
    match user[".tag"].as_str() {
        Some("team_member_id") => team
            .keys()
            .find(|id| user["team_member_id"] == **id)
            .copied(),
        Some("email") => team
            .iter()
            .find(|(_, (email, _))| user["email"] == *email)
            .map(|(id, _)| *id),
        _ => None,
    }
}

/// Dropbox as far as the action goes.
fn dropbox(team: &Team, seen: &Seen) -> Answer {
    if seen.path == "/oauth2/token" {
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.form("grant_type").as_deref(), Some("refresh_token"));
        assert_eq!(
            seen.form("refresh_token").as_deref(),
            Some("refresh-s3cret")
        );
        assert_eq!(seen.form("client_id").as_deref(), Some("app-key"));
        return Answer::json(
            r#"{"access_token":"dbx-token","token_type":"bearer","expires_in":14400}"#,
        );
    }
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.authorization, "Bearer dbx-token");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let asked = body(seen);
    let mut members = team.lock().unwrap();
    match seen.path.as_str() {
        "/2/team/members/get_info_v2" => {
            let infos: Vec<serde_json::Value> = asked["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| match selected(&members, user) {
                    Some(id) => json!({
                        ".tag": "member_info",
                        "profile": {
                            "team_member_id": id,
                            "email": members[id].0,
                            "email_verified": true,
                            "status": {".tag": members[id].1},
                            "name": {"display_name": "someone"},
                            "membership_type": {".tag": "full"},
                        },
                        "roles": [],
                    }),
                    None => json!({".tag": "id_not_found", "id_not_found": "x"}),
                })
                .collect();
            Answer::json(json!({ "members_info": infos }).to_string())
        }
        "/2/team/members/suspend" => {
            // The one thing that must never be left to Dropbox's default.
            assert_eq!(asked["wipe_data"], json!(false), "{asked}");
            assert_eq!(asked.as_object().unwrap().len(), 2, "{asked}");
            let Some(id) = selected(&members, &asked["user"]) else {
                return conflict("user_not_found");
            };
            if members[id].1 != "active" {
                return conflict("suspend_inactive_user");
            }
            members.get_mut(id).unwrap().1 = "suspended";
            Answer::json("null").header("x-dropbox-request-id", "req-suspend")
        }
        "/2/team/members/unsuspend" => {
            assert_eq!(asked.as_object().unwrap().len(), 1, "{asked}");
            let Some(id) = selected(&members, &asked["user"]) else {
                return conflict("user_not_found");
            };
            if members[id].1 != "suspended" {
                return conflict("unsuspend_non_suspended_member");
            }
            members.get_mut(id).unwrap().1 = "active";
            Answer::json("null").header("x-dropbox-request-id", "req-unsuspend")
        }
        _ => Answer::status(400, "Error in call: unknown route"),
    }
}

async fn server(team: &Team) -> MockApi {
    let team = Arc::clone(team);
    MockApi::start(move |seen| dropbox(&team, seen)).await
}

fn actions(api: &MockApi) -> DropboxActions {
    DropboxActions::new(
        &quick_settings(),
        api.base.clone(),
        &api.base,
        "app-key",
        &Secret::new("app-s3cret"),
        &Secret::new("refresh-s3cret"),
    )
    .unwrap()
}

fn member_incident(id: &str, email: &str) -> Value {
    incident(id, "user", email, 0.97, 1)
}

#[tokio::test]
async fn suspend_member_never_wipes_and_expiry_unsuspends() {
    let team = team();
    let api = server(&team).await;
    let dir = TempDir::new("dbx-suspend");
    let (mut r, clock) = responder(
        actions(&api),
        &dir,
        policy("suspend_member", Mode::Autonomous),
    );
    let docs = r
        .incident(&member_incident("inc-1", "carol@acme.example"))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert_eq!(team.lock().unwrap()[CAROL].1, "suspended");
    let record = r.records().next().unwrap().clone();
    assert_eq!(
        record.revert.state,
        Some(json!({"team_member_id": CAROL, "email": "carol@acme.example", "status": "active"}))
    );
    let calls = api_calls(&api);
    assert_eq!(
        lines(&calls),
        [
            "POST /2/team/members/get_info_v2",
            "POST /2/team/members/suspend"
        ]
    );
    assert_eq!(
        body(&calls[0]),
        json!({"members": [{".tag": "email", "email": "carol@acme.example"}]})
    );
    assert_eq!(
        body(&calls[1]),
        json!({"user": {".tag": "team_member_id", "team_member_id": CAROL}, "wipe_data": false})
    );
    assert!(
        calls[1].body.contains(r#""wipe_data":false"#),
        "sent explicitly: {}",
        calls[1].body
    );

    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["expired", "reverting", "reverted"]
    );
    assert_eq!(team.lock().unwrap()[CAROL].1, "active");
    let calls = api_calls(&api);
    assert_eq!(lines(&calls)[2], "POST /2/team/members/unsuspend");
    assert_eq!(
        body(&calls[2]),
        json!({"user": {".tag": "team_member_id", "team_member_id": CAROL}})
    );
}

#[tokio::test]
async fn a_member_suspended_before_is_left_as_found() {
    let team = team();
    let api = server(&team).await;
    let dir = TempDir::new("dbx-suspended");
    let mut p = policy("suspend_member", Mode::Autonomous);
    p.target = Some(target_field("entity.id"));
    let (mut r, _) = responder(actions(&api), &dir, p);
    let docs = r.incident(&member_incident("inc-2", DAVE)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"]);
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "reverted"]
    );
    assert_eq!(team.lock().unwrap()[DAVE].1, "suspended");
    let calls = api_calls(&api);
    assert_eq!(lines(&calls), ["POST /2/team/members/get_info_v2"]);
    assert_eq!(
        body(&calls[0]),
        json!({"members": [{".tag": "team_member_id", "team_member_id": DAVE}]})
    );
    // Acting again with a state saying "active" (a crash after the suspension) meets
    // `suspend_inactive_user`: the goal holds.
    let target = r.records().next().unwrap().target.clone();
    let state = json!({"team_member_id": DAVE, "status": "active"});
    let again = actions(&api)
        .execute("suspend_member", &target, &state)
        .await;
    assert!(again.is_ok(), "{again:?}");
}

#[tokio::test]
async fn an_unknown_member_fails_clearly() {
    let team = team();
    let api = server(&team).await;
    let dir = TempDir::new("dbx-unknown");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("suspend_member", Mode::Autonomous),
    );
    let docs = r
        .incident(&member_incident("inc-3", "eve@acme.example"))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["failed"]);
    let error = r
        .records()
        .next()
        .unwrap()
        .error
        .clone()
        .unwrap_or_default();
    assert_eq!(error, "the Dropbox team has no member eve@acme.example");
    assert_eq!(api_calls(&api).len(), 1);
}

#[tokio::test]
async fn refusals_fail_the_action_without_blind_retries() {
    // A team admin role missing: 403, one request.
    let api = MockApi::start(|seen| {
        if seen.path == "/oauth2/token" {
            return Answer::json(r#"{"access_token":"dbx-token","expires_in":14400}"#);
        }
        Answer::status(
            403,
            r#"{"error_summary":"no_permission/..","error":{".tag":"no_permission"}}"#,
        )
    })
    .await;
    let dir = TempDir::new("dbx-403");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("suspend_member", Mode::Autonomous),
    );
    let docs = r
        .incident(&member_incident("inc-4", "carol@acme.example"))
        .await
        .unwrap();
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
            "missing permission members.read: POST {}: HTTP 403",
            api.url("/2/team/members/get_info_v2")
        )),
        "{error}"
    );
    assert!(
        error.contains("members.write"),
        "the help names the scopes: {error}"
    );
    for secret in ["app-s3cret", "refresh-s3cret", "dbx-token"] {
        assert!(!error.contains(secret), "{error}");
    }
    assert_eq!(api_calls(&api).len(), 1, "a refusal is never retried");

    // A scope missing: Dropbox says 401 missing_scope; one new token is tried, then
    // the action fails naming the scope.
    let api = MockApi::start(|seen| {
        if seen.path == "/oauth2/token" {
            return Answer::json(r#"{"access_token":"dbx-token","expires_in":14400}"#);
        }
        Answer::status(
            401,
            r#"{"error_summary":"missing_scope/..","error":{".tag":"missing_scope","required_scope":"members.read"}}"#,
        )
    })
    .await;
    let dir = TempDir::new("dbx-scope");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("suspend_member", Mode::Autonomous),
    );
    let docs = r
        .incident(&member_incident("inc-5", "carol@acme.example"))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["failed"]);
    let error = r
        .records()
        .next()
        .unwrap()
        .error
        .clone()
        .unwrap_or_default();
    assert!(
        error.starts_with("missing permission members.read: "),
        "{error}"
    );
    assert_eq!(
        api_calls(&api).len(),
        2,
        "one retry with a fresh token, no more"
    );
}

#[tokio::test]
async fn a_429_waits_what_retry_after_says() {
    let team = team();
    let throttled = Arc::new(Mutex::new(false));
    let api = {
        let team = Arc::clone(&team);
        let throttled = Arc::clone(&throttled);
        MockApi::start(move |seen| {
            if seen.path.ends_with("/suspend") && !std::mem::replace(&mut *throttled.lock().unwrap(), true) {
                return Answer::status(429, r#"{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":1}}"#)
                    .header("retry-after", "1");
            }
            dropbox(&team, seen)
        })
        .await
    };
    let dir = TempDir::new("dbx-429");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("suspend_member", Mode::Autonomous),
    );
    let docs = r
        .incident(&member_incident("inc-6", "carol@acme.example"))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    let calls = api_calls(&api);
    assert_eq!(calls.len(), 3);
    assert!(calls[2].at - calls[1].at >= Duration::from_secs(1));
    assert_eq!(team.lock().unwrap()[CAROL].1, "suspended");
}

#[tokio::test]
async fn observe_mode_calls_nothing_and_an_incident_acts_once() {
    let team = team();
    let api = server(&team).await;
    let dir = TempDir::new("dbx-observe");
    let (mut r, _) = responder(actions(&api), &dir, policy("suspend_member", Mode::Observe));
    let docs = r
        .incident(&member_incident("inc-7", "carol@acme.example"))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["observed"]);
    r.tick().await.unwrap();
    assert!(api.seen().is_empty(), "observe mode called Dropbox");
    assert_eq!(team.lock().unwrap()[CAROL].1, "active");

    let dir = TempDir::new("dbx-once");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        policy("suspend_member", Mode::Autonomous),
    );
    r.incident(&member_incident("inc-8", "carol@acme.example"))
        .await
        .unwrap();
    assert!(r
        .incident(&incident("inc-8", "user", "carol@acme.example", 0.99, 2))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(api_calls(&api).len(), 2);
    assert_eq!(r.records().count(), 1);
}

#[tokio::test]
async fn targets_are_members_by_id_or_email() {
    let api = MockApi::start(|_| Answer::status(500, "")).await;
    let a = actions(&api);
    let target = |doc: &Value, given: Option<&str>| a.target("suspend_member", doc, given);
    assert_eq!(
        target(&member_incident("i", "carol@acme.example"), None)
            .unwrap()
            .id,
        "carol@acme.example"
    );
    assert_eq!(
        target(&member_incident("i", "x"), Some(CAROL)).unwrap().id,
        CAROL
    );
    assert!(target(&member_incident("i", "carol"), None).is_err());
    assert!(target(&member_incident("i", "x"), Some("dbmid:")).is_err());
    assert!(target(&incident("i", "host", "web-1", 0.9, 1), None).is_err());
    assert!(api.seen().is_empty());
}

#[test]
fn the_component_builds_with_its_credentials() {
    use crate::testkit::{build, build_error, plan, string};
    use pipectl_dsl::plan::PlanValue;
    let attrs = |token: &str| {
        vec![
            ("action", string("suspend_member")),
            (
                "when",
                PlanValue::Expr(crate::testkit::eq("entity.kind", "user")),
            ),
            ("client_id", string("app-key")),
            ("client_secret", string("s")),
            ("refresh_token", string(token)),
        ]
    };
    let dir = TempDir::new("dbx-build");
    assert!(build(&FACTORY, &plan(&SPEC, "contain", attrs("r")), dir.path()).is_ok());
    assert!(build_error(&FACTORY, &plan(&SPEC, "contain", attrs(""))).contains("refresh_token"));
}

#[test]
fn docs_response_md_describes_every_action() {
    assert_documented("dropbox", ACTIONS);
}
