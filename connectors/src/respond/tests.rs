//! The framework with a fake provider that records every call: idempotence, modes,
//! guard rails, approvals, expiry, crash recovery and the audit documents.

use super::engine::{Policy, Responder};
use super::journal::{Decision, Journal};
use super::policy::{Clock, Glob, Mode, HOUR_MS};
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use futures::future::BoxFuture;
use pipectl_core::expr::CompiledExpr;
use pipectl_core::value::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

static FAKE_ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "lock",
        target_kind: "user",
        revert: Some("unlock"),
        permissions: &["fake:Lock"],
    },
    ActionInfo {
        name: "destroy",
        target_kind: "user",
        revert: None,
        permissions: &["fake:Destroy"],
    },
];

/// Records calls as `capture:<id>`, `execute:<id>`, `revert:<id>`.
#[derive(Clone, Default)]
struct Fake {
    calls: Arc<Mutex<Vec<String>>>,
    fail_capture: bool,
}

impl Fake {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn log(&self, what: String) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(what);
        }
    }
}

impl Actions for Fake {
    fn provider(&self) -> &'static str {
        "fake"
    }

    fn actions(&self) -> &'static [ActionInfo] {
        FAKE_ACTIONS
    }

    fn target(&self, _: &str, incident: &Value, given: Option<&str>) -> Result<Target, String> {
        let id = given
            .map(str::to_string)
            .or_else(|| {
                incident
                    .as_object()?
                    .get("entity")?
                    .as_object()?
                    .get("id")?
                    .as_str()
                    .map(str::to_string)
            })
            .ok_or("no entity")?;
        Ok(Target {
            kind: "user".into(),
            id: id.clone(),
            name: id,
            account: None,
        })
    }

    fn capture<'a>(
        &'a self,
        _: &'a str,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<serde_json::Value, ActError>> {
        Box::pin(async move {
            self.log(format!("capture:{}", target.id));
            if self.fail_capture {
                return Err(ActError("missing permission fake:Read".into()));
            }
            Ok(serde_json::json!({"was": "unlocked"}))
        })
    }

    fn execute<'a>(
        &'a self,
        _: &'a str,
        target: &'a Target,
        state: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Done, ActError>> {
        Box::pin(async move {
            assert_eq!(state["was"], "unlocked", "execute gets the captured state");
            self.log(format!("execute:{}", target.id));
            Ok(Done {
                request_id: Some("req-1".into()),
                state: None,
            })
        })
    }

    fn revert<'a>(
        &'a self,
        _: &'a str,
        target: &'a Target,
        _: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Done, ActError>> {
        Box::pin(async move {
            self.log(format!("revert:{}", target.id));
            Ok(Done::default())
        })
    }
}

use crate::testkit::TempDir as Scratch;

/// `incident.score >= min`.
pub(crate) fn score_at_least(min: f64) -> CompiledExpr {
    use pipectl_dsl::plan::{CmpOp, Expr, Literal};
    CompiledExpr::compile(&Expr::Cmp {
        op: CmpOp::Ge,
        lhs: Box::new(Expr::Field(crate::testkit::field("incident.score"))),
        rhs: Box::new(Expr::Literal(Literal::Float(min))),
    })
    .unwrap()
}

pub(crate) fn policy(action: &str, mode: Mode) -> Policy {
    Policy {
        pipeline: "estate".into(),
        responder: "contain".into(),
        action: action.into(),
        mode,
        when: Some(score_at_least(0.9)),
        target: None,
        expire_ms: Some(4 * HOUR_MS),
        protected: vec![Glob::new("break-glass*")],
        max_per_hour: 10,
        dry_run: false,
        allow_irreversible: false,
    }
}

/// An incident document as `correlate threat` writes it.
pub(crate) fn incident(id: &str, kind: &str, entity: &str, score: f64, version: i64) -> Value {
    pipectl_core::json::from_serde(serde_json::json!({
        "@timestamp": "2026-10-03T23:02:17Z",
        "event": {"id": id, "kind": "alert", "dataset": "pipectl.incident"},
        "entity": {"key": format!("{kind}:{entity}"), "kind": kind, "id": entity},
        "cloud": {"account": {"id": "123456789012"}},
        "pipectl": {"version": version},
        "incident": {"id": id, "score": score, "title": format!("{entity}: unusual"), "status": "open"},
    }))
}

const T0: i64 = 1_790_000_000_000;

fn open(dir: &Scratch, policy: Policy, fake: &Fake) -> (Responder<Fake>, Arc<AtomicI64>) {
    let (clock, handle) = Clock::manual(T0);
    (
        Responder::open(policy, fake.clone(), dir.path(), clock).unwrap(),
        handle,
    )
}

fn get<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, k| v.as_object()?.get(k))
}

fn status_of(doc: &Value) -> String {
    get(doc, "pipectl.action.status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn autonomous_acts_once_per_incident_across_updates_and_restarts() {
    let dir = Scratch::new("idem");
    let fake = Fake::default();
    let (mut r, _) = open(&dir, policy("lock", Mode::Autonomous), &fake);
    let docs = r
        .incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    let statuses: Vec<String> = docs.iter().map(status_of).collect();
    assert_eq!(statuses, ["executing", "succeeded"]);
    assert_eq!(fake.calls(), ["capture:alice", "execute:alice"]);
    // The audit document: schema §9 fields, id = event.id, version = transitions.
    let last = docs.last().unwrap();
    assert_eq!(
        get(last, "event.dataset").and_then(Value::as_str),
        Some("pipectl.action")
    );
    assert_eq!(
        get(last, "event.outcome").and_then(Value::as_str),
        Some("success")
    );
    assert_eq!(get(last, "event.id"), get(last, "pipectl.action.id"));
    assert_eq!(
        get(last, "pipectl.version").and_then(Value::as_i64),
        Some(2)
    );
    assert_eq!(
        get(last, "pipectl.action.incident_id").and_then(Value::as_str),
        Some("inc1")
    );
    assert_eq!(
        get(last, "pipectl.action.decision").and_then(Value::as_str),
        Some("act")
    );
    assert_eq!(
        get(last, "pipectl.action.revert.status").and_then(Value::as_str),
        Some("scheduled")
    );
    assert_eq!(
        get(last, "pipectl.action.revert.state.was").and_then(Value::as_str),
        Some("unlocked")
    );
    assert_eq!(
        get(last, "pipectl.action.provider_request_id").and_then(Value::as_str),
        Some("req-1")
    );
    assert!(get(last, "pipectl.action.reason")
        .and_then(Value::as_str)
        .is_some_and(|r| r.contains("alice: unusual")));

    // A later version of the same incident: nothing more.
    assert!(r
        .incident(&incident("inc1", "user", "alice", 0.99, 2))
        .await
        .unwrap()
        .is_empty());
    // Not matching `when`, or not an incident: nothing.
    assert!(r
        .incident(&incident("inc2", "user", "bob", 0.5, 1))
        .await
        .unwrap()
        .is_empty());
    let other =
        pipectl_core::json::from_serde(serde_json::json!({"event": {"dataset": "pipectl.hit"}}));
    assert!(r.incident(&other).await.unwrap().is_empty());
    drop(r);
    // After a restart the journal still knows.
    let (mut r, _) = open(&dir, policy("lock", Mode::Autonomous), &fake);
    assert!(r
        .incident(&incident("inc1", "user", "alice", 0.99, 3))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(fake.calls().len(), 2);
}

#[tokio::test]
async fn observe_and_dry_run_never_call_the_provider() {
    let dir = Scratch::new("observe");
    let fake = Fake::default();
    let (mut r, _) = open(&dir, policy("lock", Mode::Observe), &fake);
    let docs = r
        .incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    assert_eq!(docs.iter().map(status_of).collect::<Vec<_>>(), ["observed"]);
    assert!(get(&docs[0], "pipectl.action.reason")
        .and_then(Value::as_str)
        .is_some_and(|r| r.starts_with("would lock user alice")));
    let dir2 = Scratch::new("dry");
    let mut dry = policy("lock", Mode::Autonomous);
    dry.dry_run = true;
    let (mut r2, _) = open(&dir2, dry, &fake);
    let docs = r2
        .incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    assert_eq!(docs.iter().map(status_of).collect::<Vec<_>>(), ["observed"]);
    assert!(r.tick().await.unwrap().is_empty());
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn protected_entities_and_irreversible_autonomy_are_refused() {
    let dir = Scratch::new("guard");
    let fake = Fake::default();
    let (mut r, _) = open(&dir, policy("lock", Mode::Autonomous), &fake);
    let docs = r
        .incident(&incident("inc1", "user", "break-glass-admin", 0.99, 1))
        .await
        .unwrap();
    assert_eq!(
        docs.iter().map(status_of).collect::<Vec<_>>(),
        ["suppressed"]
    );
    assert!(get(&docs[0], "pipectl.action.reason")
        .and_then(Value::as_str)
        .is_some_and(|r| r.starts_with("protected entity (pattern `break-glass*`)")));
    let dir2 = Scratch::new("irrev");
    let (mut d, _) = open(&dir2, policy("destroy", Mode::Autonomous), &fake);
    let docs = d
        .incident(&incident("inc2", "user", "bob", 0.99, 1))
        .await
        .unwrap();
    assert_eq!(
        docs.iter().map(status_of).collect::<Vec<_>>(),
        ["suppressed"]
    );
    assert!(get(&docs[0], "pipectl.action.reason")
        .and_then(Value::as_str)
        .is_some_and(|r| r.contains("cannot be undone")));
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn the_hourly_limit_holds_under_a_burst_of_a_thousand_incidents() {
    let dir = Scratch::new("burst");
    let fake = Fake::default();
    let mut p = policy("lock", Mode::Autonomous);
    p.max_per_hour = 5;
    let (mut r, clock) = open(&dir, p, &fake);
    let mut suppressed = 0;
    for i in 0..1000 {
        let docs = r
            .incident(&incident(
                &format!("inc{i}"),
                "user",
                &format!("user{i}"),
                0.95,
                1,
            ))
            .await
            .unwrap();
        suppressed += docs.iter().filter(|d| status_of(d) == "suppressed").count();
    }
    assert_eq!(suppressed, 995);
    let executed = fake
        .calls()
        .iter()
        .filter(|c| c.starts_with("execute:"))
        .count();
    assert_eq!(executed, 5);
    assert!(r
        .records()
        .filter(|r| r.status == "suppressed")
        .all(|r| r.reason.starts_with("rate limit 5/h reached")));
    // The window slides: an hour later there is room again.
    clock.store(T0 + HOUR_MS + 1, Ordering::SeqCst);
    let docs = r
        .incident(&incident("late", "user", "late", 0.95, 1))
        .await
        .unwrap();
    assert_eq!(docs.last().map(status_of).as_deref(), Some("succeeded"));
}

#[tokio::test]
async fn confirm_mode_waits_for_a_person_then_acts_or_not() {
    let dir = Scratch::new("confirm");
    let fake = Fake::default();
    let (mut r, clock) = open(&dir, policy("lock", Mode::Confirm), &fake);
    let docs = r
        .incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    assert_eq!(
        docs.iter().map(status_of).collect::<Vec<_>>(),
        ["pending_approval"]
    );
    r.incident(&incident("inc2", "user", "bob", 0.95, 1))
        .await
        .unwrap();
    assert!(fake.calls().is_empty());
    let ids: Vec<(String, String)> = r
        .records()
        .map(|r| (r.target.id.clone(), r.id.clone()))
        .collect();
    let id_of = |who: &str| {
        ids.iter()
            .find(|(t, _)| t == who)
            .map(|(_, id)| id.clone())
            .unwrap()
    };
    // Decisions arrive through files, as `pipectl actions` leaves them.
    let journal = Journal::open(dir.path()).unwrap();
    for (who, verb) in [("alice", "approve"), ("bob", "deny")] {
        journal
            .submit(&Decision {
                action_id: id_of(who),
                verb: verb.into(),
                by: "soc.analyst".into(),
                at: T0 + 1000,
                comment: Some("checked with the manager".into()),
            })
            .unwrap();
    }
    clock.store(T0 + 5000, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    let statuses: Vec<String> = docs.iter().map(status_of).collect();
    assert_eq!(statuses, ["approved", "executing", "succeeded", "denied"]);
    assert_eq!(fake.calls(), ["capture:alice", "execute:alice"]);
    let alice = r.records().find(|r| r.target.id == "alice").unwrap();
    assert_eq!(
        alice.approval.as_ref().map(|a| a.by.as_str()),
        Some("soc.analyst")
    );
    assert_eq!(alice.expires_at, Some(T0 + 5000 + 4 * HOUR_MS));
    // Decisions are consumed.
    assert!(journal.pending_decisions().unwrap().is_empty());
    assert!(r.tick().await.unwrap().is_empty());
}

#[tokio::test]
async fn expiry_reverts_on_time_unless_kept() {
    let dir = Scratch::new("expire");
    let fake = Fake::default();
    let (mut r, clock) = open(&dir, policy("lock", Mode::Autonomous), &fake);
    r.incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    r.incident(&incident("inc2", "user", "bob", 0.95, 1))
        .await
        .unwrap();
    let bob = r
        .records()
        .find(|r| r.target.id == "bob")
        .unwrap()
        .id
        .clone();
    Journal::open(dir.path())
        .unwrap()
        .submit(&Decision {
            action_id: bob,
            verb: "keep".into(),
            by: "lead".into(),
            at: T0,
            comment: None,
        })
        .unwrap();
    clock.store(T0 + 4 * HOUR_MS - 1, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    assert_eq!(
        docs.iter().map(status_of).collect::<Vec<_>>(),
        ["succeeded"]
    );
    assert!(!fake.calls().iter().any(|c| c.starts_with("revert")));
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    assert_eq!(
        docs.iter().map(status_of).collect::<Vec<_>>(),
        ["expired", "reverting", "reverted"]
    );
    assert_eq!(
        fake.calls().last().map(String::as_str),
        Some("revert:alice")
    );
    let alice = r.records().find(|r| r.target.id == "alice").unwrap();
    assert_eq!(alice.revert.status, "reverted");
    let bob = r.records().find(|r| r.target.id == "bob").unwrap();
    assert!(bob.permanent);
    assert_eq!(bob.revert.status, "permanent");
    assert!(r.tick().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_capture_is_a_failed_action_and_nothing_is_done() {
    let dir = Scratch::new("fail");
    let fake = Fake {
        fail_capture: true,
        ..Fake::default()
    };
    let (mut r, _) = open(&dir, policy("lock", Mode::Autonomous), &fake);
    let docs = r
        .incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    assert_eq!(docs.iter().map(status_of).collect::<Vec<_>>(), ["failed"]);
    assert_eq!(
        get(&docs[0], "pipectl.action.error").and_then(Value::as_str),
        Some("missing permission fake:Read")
    );
    assert_eq!(
        get(&docs[0], "event.outcome").and_then(Value::as_str),
        Some("failure")
    );
    assert_eq!(fake.calls(), ["capture:alice"]);
}

#[tokio::test]
async fn a_crash_between_recording_and_acting_resumes_with_the_stored_state() {
    let dir = Scratch::new("crash");
    let fake = Fake::default();
    let (mut r, _) = open(&dir, policy("lock", Mode::Autonomous), &fake);
    r.incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    // Make the journal look as if the process died after writing `executing`.
    let journal = Journal::open(dir.path()).unwrap();
    let mut record = journal.load_all().unwrap().remove(0);
    record.history.pop();
    record.status = "executing".into();
    record.version -= 1;
    journal.save(&record).unwrap();
    drop(r);
    let fresh = Fake::default();
    let (mut r, _) = open(&dir, policy("lock", Mode::Autonomous), &fresh);
    let docs = r.tick().await.unwrap();
    assert_eq!(
        docs.iter().map(status_of).collect::<Vec<_>>(),
        ["succeeded"]
    );
    // Acted again with the state stored before the crash, not a new capture.
    assert_eq!(fresh.calls(), ["execute:alice"]);
}

/// Whether `path` is a field of the index template mappings (every leaf must be: the
/// actions index is `dynamic: strict`, an unknown field would dead-letter the record).
fn mapped(mappings: &[serde_json::Value], path: &[&str]) -> bool {
    mappings.iter().any(|m| {
        let mut node = m;
        for (i, key) in path.iter().enumerate() {
            match node.get("properties").and_then(|p| p.get(*key)) {
                Some(next) => node = next,
                None => return false,
            }
            // A stored-only object takes anything below it.
            if node.get("enabled") == Some(&serde_json::json!(false)) {
                return true;
            }
            if node.get("type").is_some() && node.get("properties").is_none() {
                return i + 1 == path.len();
            }
        }
        node.get("type").is_some()
    })
}

fn leaves(value: &serde_json::Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (k, v) in map {
                prefix.push(k.clone());
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

#[tokio::test]
async fn audit_documents_use_only_fields_of_the_actions_template() {
    let templates = [
        include_str!("../../../dashboards/templates/pipectl-actions.json"),
        include_str!("../../../dashboards/templates/components/pipectl-base.json"),
        include_str!("../../../dashboards/templates/components/pipectl-ecs.json"),
    ];
    let mappings: Vec<serde_json::Value> = templates
        .iter()
        .map(|t| {
            serde_json::from_str::<serde_json::Value>(t).unwrap()["template"]["mappings"].clone()
        })
        .collect();
    let dir = Scratch::new("template");
    let fake = Fake::default();
    let (mut r, clock) = open(&dir, policy("lock", Mode::Confirm), &fake);
    r.incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    let id = r.records().next().unwrap().id.clone();
    Journal::open(dir.path())
        .unwrap()
        .submit(&Decision {
            action_id: id,
            verb: "approve".into(),
            by: "soc".into(),
            at: T0,
            comment: Some("ok".into()),
        })
        .unwrap();
    r.tick().await.unwrap();
    clock.store(T0 + 5 * HOUR_MS, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    let last = pipectl_core::json::to_serde(docs.last().unwrap());
    assert_eq!(last["pipectl"]["action"]["status"], "reverted");
    assert!(!mapped(&mappings, &["pipectl", "action", "bogus"]));
    let mut paths = Vec::new();
    leaves(&last, &mut Vec::new(), &mut paths);
    for path in paths {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        assert!(
            mapped(&mappings, &parts),
            "`{}` is not in the actions template",
            parts.join(".")
        );
    }
}

#[tokio::test]
async fn with_the_event_clock_expiry_follows_the_incidents_time() {
    let dir = Scratch::new("event-clock");
    let fake = Fake::default();
    let mut r = Responder::open(
        policy("lock", Mode::Autonomous),
        fake.clone(),
        dir.path(),
        Clock::event(),
    )
    .unwrap();
    // The incident of 2026-10-03T23:02:17Z: expires at 2026-10-04T03:02:17Z.
    r.incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    let expires = r.records().next().and_then(|r| r.expires_at).unwrap();
    assert_eq!(
        pipectl_core::detect::sigma::time::format_rfc3339(expires),
        "2026-10-04T03:02:17Z"
    );
    assert!(r.tick().await.unwrap().is_empty());
    // Event time moves on with a later incident (about someone else, under `when`
    // or not): the first action's expiry comes due.
    let mut later = incident("inc2", "user", "bob", 0.1, 1);
    if let Some(map) = later.as_object_mut() {
        map.insert("@timestamp", Value::from("2026-10-04T03:02:17Z"));
    }
    assert!(r.incident(&later).await.unwrap().is_empty());
    let docs = r.tick().await.unwrap();
    assert_eq!(
        docs.iter().map(status_of).collect::<Vec<_>>(),
        ["expired", "reverting", "reverted"]
    );
    assert_eq!(
        fake.calls().last().map(String::as_str),
        Some("revert:alice")
    );
}

#[tokio::test]
async fn a_failed_action_with_captured_state_can_be_reverted_by_hand() {
    let dir = Scratch::new("partial");
    let fake = Fake::default();
    let (mut r, _) = open(&dir, policy("lock", Mode::Autonomous), &fake);
    r.incident(&incident("inc1", "user", "alice", 0.95, 1))
        .await
        .unwrap();
    // As if the provider had failed half way after the state was captured.
    let journal = Journal::open(dir.path()).unwrap();
    let mut record = journal.load_all().unwrap().remove(0);
    record.status = "failed".into();
    journal.save(&record).unwrap();
    drop(r);
    let (mut r, _) = open(&dir, policy("lock", Mode::Autonomous), &fake);
    journal
        .submit(&Decision {
            action_id: record.id.clone(),
            verb: "revert".into(),
            by: "soc".into(),
            at: T0,
            comment: None,
        })
        .unwrap();
    let docs = r.tick().await.unwrap();
    assert_eq!(
        docs.iter().map(status_of).collect::<Vec<_>>(),
        ["reverting", "reverted"]
    );
    assert_eq!(
        fake.calls().last().map(String::as_str),
        Some("revert:alice")
    );
}
