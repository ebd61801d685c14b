//! `respond box` against a local server that keeps items' shared links and
//! collaborations, and checks each request as Box documents it.

use super::*;
use crate::respond::engine::Policy;
use crate::respond::policy::{Mode, HOUR_MS};
use crate::respond::saas::testing::{
    assert_documented, quick_settings, responder, statuses, submit, T0,
};
use crate::respond::tests::{incident, policy};
use crate::respond::wire::{api_calls, body, lines, target_field, with};
use crate::sources::api::testing::{Answer, MockApi, Seen};
use crate::testkit::TempDir;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct Store {
    /// Shared links by `files/123`, `folders/456`.
    links: BTreeMap<String, serde_json::Value>,
    collaborations: BTreeMap<String, serde_json::Value>,
    next_link: usize,
    next_collaboration: usize,
}

type Shared = Arc<Mutex<Store>>;

fn link(url: &str, access: &str, can_download: bool, password: bool) -> serde_json::Value {
    json!({
        "url": url,
        "download_url": null,
        "vanity_url": null,
        "effective_access": access,
        "effective_permission": if can_download { "can_download" } else { "can_preview" },
        "is_password_enabled": password,
        "unshared_at": null,
        "download_count": 3,
        "preview_count": 9,
        "access": access,
        "permissions": {"can_download": can_download, "can_preview": true, "can_edit": false},
    })
}

fn collaboration(id: &str) -> serde_json::Value {
    json!({
        "type": "collaboration",
        "id": id,
        "item": {"type": "folder", "id": "456", "name": "Finance"},
        "accessible_by": {"type": "user", "id": "11446498", "name": "Mallory", "login": "mallory@outside.example"},
        "role": "editor",
        "status": "accepted",
    })
}

fn store() -> Shared {
    let mut store = Store::default();
    store.links.insert(
        "files/123".into(),
        link("https://acme.app.box.com/s/old123", "open", true, false),
    );
    store.links.insert(
        "folders/456".into(),
        link("https://acme.app.box.com/s/old456", "company", false, true),
    );
    store
        .collaborations
        .insert("789".into(), collaboration("789"));
    Arc::new(Mutex::new(store))
}

fn error(status: u16, code: &str) -> Answer {
    Answer::status(
        status,
        json!({"type": "error", "status": status, "code": code, "message": code}).to_string(),
    )
    .header("box-request-id", "req-err")
}

/// Box as far as the two actions go.
fn box_api(store: &Shared, seen: &Seen) -> Answer {
    if seen.path == "/oauth2/token" {
        assert_eq!(seen.method, "POST");
        assert_eq!(
            seen.form("grant_type").as_deref(),
            Some("client_credentials")
        );
        assert_eq!(seen.form("box_subject_type").as_deref(), Some("enterprise"));
        assert_eq!(seen.form("box_subject_id").as_deref(), Some("4242"));
        assert_eq!(seen.form("client_secret").as_deref(), Some("box-s3cret"));
        return Answer::json(r#"{"access_token":"box-token","expires_in":3600}"#);
    }
    assert_eq!(seen.authorization, "Bearer box-token");
    let mut store = store.lock().unwrap();
    let item = seen
        .path
        .strip_prefix("/2.0/")
        .filter(|p| p.starts_with("files/") || p.starts_with("folders/"))
        .map(str::to_string);
    if let Some(item) = item {
        assert_eq!(seen.param("fields").as_deref(), Some("shared_link"));
        let Some(current) = store.links.get(&item).cloned() else {
            return error(404, "not_found");
        };
        let (kind, id) = item.split_once('/').unwrap();
        let answer = |link: &serde_json::Value| {
            Answer::json(
                json!({"type": kind.trim_end_matches('s'), "id": id, "etag": "1", "shared_link": link})
                    .to_string(),
            )
            .header("box-request-id", "req-1")
        };
        return match seen.method.as_str() {
            "GET" => answer(&current),
            "PUT" => {
                assert_eq!(seen.header("content-type"), Some("application/json"));
                let asked = body(seen)["shared_link"].clone();
                let new = if asked.is_null() {
                    serde_json::Value::Null
                } else {
                    store.next_link += 1;
                    let mut made = link(
                        &format!("https://acme.app.box.com/s/new{}", store.next_link),
                        asked["access"].as_str().unwrap(),
                        asked["permissions"]["can_download"].as_bool().unwrap(),
                        false,
                    );
                    made["unshared_at"] = asked.get("unshared_at").cloned().unwrap_or_default();
                    made
                };
                store.links.insert(item.clone(), new.clone());
                answer(&new)
            }
            _ => error(405, "method_not_allowed"),
        };
    }
    if let Some(id) = seen.path.strip_prefix("/2.0/collaborations/") {
        return match (seen.method.as_str(), store.collaborations.get(id).cloned()) {
            ("GET", Some(c)) => Answer::json(c.to_string()),
            ("DELETE", Some(_)) => {
                assert_eq!(seen.body, "");
                store.collaborations.remove(id);
                Answer::status(204, "")
            }
            _ => error(404, "not_found"),
        };
    }
    if seen.path == "/2.0/collaborations" && seen.method == "POST" {
        assert_eq!(seen.param("notify").as_deref(), Some("false"));
        assert_eq!(seen.header("content-type"), Some("application/json"));
        let asked = body(seen);
        let exists = store.collaborations.values().any(|c| {
            c["accessible_by"]["id"] == asked["accessible_by"]["id"]
                && c["item"]["id"] == asked["item"]["id"]
        });
        if exists {
            return error(400, "user_already_collaborator");
        }
        store.next_collaboration += 1;
        let id = format!("{}", 900 + store.next_collaboration);
        let mut made = collaboration(&id);
        made["role"] = asked["role"].clone();
        store.collaborations.insert(id, made.clone());
        return Answer::status(201, made.to_string());
    }
    error(400, "unexpected_request")
}

async fn server(store: &Shared) -> MockApi {
    let store = Arc::clone(store);
    MockApi::start(move |seen| box_api(&store, seen)).await
}

fn actions(api: &MockApi) -> BoxActions {
    BoxActions::new(
        &quick_settings(),
        api.base.clone(),
        "app",
        &Secret::new("box-s3cret"),
        "4242",
    )
    .unwrap()
}

/// `action` in `mode` with `target = labels.box_item`.
fn box_policy(action: &str, mode: Mode) -> Policy {
    let mut p = policy(action, mode);
    p.target = Some(target_field("labels.box_item"));
    p
}

fn item_incident(id: &str, item: &str) -> Value {
    with(
        incident(id, "user", "mallory@acme.example", 0.97, 1),
        "labels",
        "box_item",
        item,
    )
}

#[tokio::test]
async fn remove_shared_link_then_restore_it_with_the_same_reach() {
    let store = store();
    let api = server(&store).await;
    let dir = TempDir::new("box-link");
    let (mut r, clock) = responder(
        actions(&api),
        &dir,
        box_policy("remove_shared_link", Mode::Autonomous),
    );
    let docs = r.incident(&item_incident("inc-1", "123")).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert!(store.lock().unwrap().links["files/123"].is_null());
    let record = r.records().next().unwrap().clone();
    assert_eq!(
        (record.target.kind.as_str(), record.target.id.as_str()),
        ("box_item", "file:123")
    );
    let state = record.revert.state.clone().unwrap();
    assert_eq!(
        state["shared_link"],
        json!({"access": "open", "permissions": {"can_download": true, "can_edit": false}, "unshared_at": null, "is_password_enabled": false})
    );
    assert!(
        !state.to_string().contains("old123"),
        "the link's URL is not kept"
    );
    let calls = api_calls(&api);
    assert_eq!(
        lines(&calls),
        [
            "GET /2.0/files/123?fields=shared_link",
            "PUT /2.0/files/123?fields=shared_link"
        ]
    );
    assert_eq!(calls[0].body, "");
    assert_eq!(body(&calls[1]), json!({"shared_link": null}));

    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["expired", "reverting", "reverted"]
    );
    let calls = api_calls(&api);
    assert_eq!(lines(&calls)[2], "PUT /2.0/files/123?fields=shared_link");
    assert_eq!(
        body(&calls[2]),
        json!({"shared_link": {"access": "open", "permissions": {"can_download": true}}})
    );
    let restored = store.lock().unwrap().links["files/123"].clone();
    assert_eq!(restored["access"], "open");
    assert_eq!(restored["permissions"]["can_download"], true);
    assert_ne!(
        restored["url"], "https://acme.app.box.com/s/old123",
        "Box gives a new URL"
    );
}

#[tokio::test]
async fn a_password_protected_folder_link_is_removed_but_not_recreated_without_it() {
    let store = store();
    let api = server(&store).await;
    let dir = TempDir::new("box-folder");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        box_policy("remove_shared_link", Mode::Autonomous),
    );
    let docs = r
        .incident(&item_incident("inc-2", "folder:456"))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert!(store.lock().unwrap().links["folders/456"].is_null());
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "revert_failed"]
    );
    let error = r
        .records()
        .next()
        .unwrap()
        .error
        .clone()
        .unwrap_or_default();
    assert!(error.contains("had a password"), "{error}");
    assert!(store.lock().unwrap().links["folders/456"].is_null());
    assert_eq!(
        lines(&api_calls(&api)),
        [
            "GET /2.0/folders/456?fields=shared_link",
            "PUT /2.0/folders/456?fields=shared_link"
        ],
        "no link without its password"
    );
}

#[tokio::test]
async fn remove_collaboration_then_restore_it() {
    let store = store();
    let api = server(&store).await;
    let dir = TempDir::new("box-collab");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        box_policy("remove_collaboration", Mode::Autonomous),
    );
    let docs = r.incident(&item_incident("inc-3", "789")).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert!(store.lock().unwrap().collaborations.is_empty());
    let record = r.records().next().unwrap().clone();
    assert_eq!(record.target.kind, "box_collaboration");
    submit(&dir, &record.id, "revert");
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["reverting", "reverted"]
    );
    let calls = api_calls(&api);
    assert_eq!(
        lines(&calls),
        [
            "GET /2.0/collaborations/789",
            "DELETE /2.0/collaborations/789",
            "POST /2.0/collaborations?notify=false",
        ]
    );
    assert_eq!(
        body(&calls[2]),
        json!({
            "item": {"type": "folder", "id": "456"},
            "accessible_by": {"type": "user", "id": "11446498"},
            "role": "editor",
        })
    );
    let back: Vec<serde_json::Value> = store
        .lock()
        .unwrap()
        .collaborations
        .values()
        .cloned()
        .collect();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0]["accessible_by"]["id"], "11446498");
    assert_eq!(back[0]["role"], "editor");
    // Reverting again finds the person collaborating already: done, not failed.
    let again = actions(&api)
        .revert(
            "remove_collaboration",
            &record.target,
            record.revert.state.as_ref().unwrap(),
        )
        .await;
    assert!(again.is_ok(), "{again:?}");
    // Removing again finds it gone: done.
    let again = actions(&api)
        .execute(
            "remove_collaboration",
            &record.target,
            record.revert.state.as_ref().unwrap(),
        )
        .await;
    assert!(again.is_ok(), "{again:?}");
}

#[tokio::test]
async fn a_refusal_fails_the_action_after_one_request() {
    let api = MockApi::start(|seen| {
        if seen.path == "/oauth2/token" {
            return Answer::json(r#"{"access_token":"box-token","expires_in":3600}"#);
        }
        error(403, "access_denied_insufficient_permissions")
    })
    .await;
    let dir = TempDir::new("box-403");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        box_policy("remove_shared_link", Mode::Autonomous),
    );
    let docs = r.incident(&item_incident("inc-4", "123")).await.unwrap();
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
            "missing permission root_readwrite: GET {}: HTTP 403",
            api.url("/2.0/files/123?…")
        )),
        "{error}"
    );
    assert!(
        error.contains("access_denied_insufficient_permissions"),
        "{error}"
    );
    assert!(
        error.contains("Read and write all files and folders"),
        "{error}"
    );
    assert!(!error.contains("box-s3cret") && !error.contains("box-token"));
    assert_eq!(api_calls(&api).len(), 1, "a refusal is never retried");
}

#[tokio::test]
async fn a_429_waits_what_retry_after_says() {
    let store = store();
    let throttled = Arc::new(Mutex::new(false));
    let api = {
        let store = Arc::clone(&store);
        let throttled = Arc::clone(&throttled);
        MockApi::start(move |seen| {
            if seen.method == "PUT" && !std::mem::replace(&mut *throttled.lock().unwrap(), true) {
                return error(429, "rate_limit_exceeded").header("retry-after", "1");
            }
            box_api(&store, seen)
        })
        .await
    };
    let dir = TempDir::new("box-429");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        box_policy("remove_shared_link", Mode::Autonomous),
    );
    let docs = r.incident(&item_incident("inc-5", "123")).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    let calls = api_calls(&api);
    assert_eq!(lines(&calls).len(), 3);
    assert!(calls[2].at - calls[1].at >= Duration::from_secs(1));
    assert!(store.lock().unwrap().links["files/123"].is_null());
}

#[tokio::test]
async fn observe_mode_calls_nothing_and_an_incident_acts_once() {
    let store = store();
    let api = server(&store).await;
    let dir = TempDir::new("box-observe");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        box_policy("remove_collaboration", Mode::Observe),
    );
    assert_eq!(
        statuses(&r.incident(&item_incident("inc-6", "789")).await.unwrap()),
        ["observed"]
    );
    r.tick().await.unwrap();
    assert!(api.seen().is_empty(), "observe mode called Box");

    let dir = TempDir::new("box-once");
    let (mut r, _) = responder(
        actions(&api),
        &dir,
        box_policy("remove_shared_link", Mode::Autonomous),
    );
    r.incident(&item_incident("inc-7", "123")).await.unwrap();
    assert!(r
        .incident(&item_incident("inc-7", "123"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(api_calls(&api).len(), 2);
    assert_eq!(r.records().count(), 1);
}

#[tokio::test]
async fn targets_name_files_folders_and_collaborations() {
    let api = MockApi::start(|_| Answer::status(500, "")).await;
    let a = actions(&api);
    let doc = incident("i", "user", "mallory@acme.example", 0.9, 1);
    let id = |action: &str, given: &str| a.target(action, &doc, Some(given)).map(|t| t.id);
    assert_eq!(id("remove_shared_link", "123").unwrap(), "file:123");
    assert_eq!(
        id("remove_shared_link", "folder:456").unwrap(),
        "folder:456"
    );
    assert_eq!(id("remove_collaboration", "789").unwrap(), "789");
    for bad in ["web_link:1", "file:../1", "file:", "12a", "folder:4 5"] {
        assert!(id("remove_shared_link", bad).is_err(), "{bad}");
    }
    assert!(id("remove_collaboration", "file:1").is_err());
    assert!(a.target("remove_shared_link", &doc, None).is_err());
    // A Box id goes into a URL path: a journal entry naming anything else is refused.
    let forged = Target {
        kind: "box_item".into(),
        id: "file:1/../../users".into(),
        name: String::new(),
        account: None,
    };
    assert!(a.capture("remove_shared_link", &forged).await.is_err());
    assert!(api.seen().is_empty());
}

#[test]
fn the_component_needs_a_target_and_an_enterprise() {
    use crate::testkit::{build, build_error, plan, string};
    use pipectl_dsl::plan::PlanValue;
    let base = |enterprise: &str| {
        vec![
            ("action", string("remove_shared_link")),
            (
                "when",
                PlanValue::Expr(crate::testkit::eq("entity.kind", "user")),
            ),
            (
                "target",
                PlanValue::Expr(pipectl_dsl::plan::Expr::Field(crate::testkit::field(
                    "labels.box_item",
                ))),
            ),
            ("client_id", string("app")),
            ("client_secret", string("s")),
            ("enterprise_id", string(enterprise)),
        ]
    };
    let dir = TempDir::new("box-build");
    assert!(build(&FACTORY, &plan(&SPEC, "contain", base("4242")), dir.path()).is_ok());
    assert!(build_error(&FACTORY, &plan(&SPEC, "contain", base("acme"))).contains("enterprise"));
    assert!(SPEC.attrs.iter().any(|a| a.name == "target" && a.required));
}

#[test]
fn docs_response_md_describes_every_action() {
    assert_documented("box", ACTIONS);
}
