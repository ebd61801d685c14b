//! What the SaaS responders' tests share: quick retries, a responder on a clock the
//! test moves, people's decisions, and reading what a local server received.

use crate::respond::engine::{Policy, Responder};
use crate::respond::journal::{Decision, Journal};
use crate::respond::policy::Clock;
use crate::respond::provider::Actions;
use crate::sources::api::client::ClientSettings;
use crate::sources::api::retry::RetryPolicy;
use crate::sources::api::testing::{MockApi, Seen};
use crate::testkit::TempDir;
use pipectl_core::expr::CompiledExpr;
use pipectl_core::value::Value;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const T0: i64 = 1_790_000_000_000;

/// Three tries, backoffs of milliseconds; `Retry-After` honoured up to 5 s.
pub(crate) fn quick() -> ClientSettings {
    ClientSettings {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            max_wait: Duration::from_secs(5),
        },
        pace: None,
    }
}

/// A responder over `provider` with its journal in `dir`, on a manual clock at `T0`.
pub(crate) fn open<P: Actions>(
    provider: P,
    policy: Policy,
    dir: &TempDir,
) -> (Responder<P>, Arc<AtomicI64>) {
    let (clock, handle) = Clock::manual(T0);
    let responder = Responder::open(policy, provider, dir.path(), clock).unwrap();
    (responder, handle)
}

/// `target = <path>`.
pub(crate) fn target_field(path: &str) -> CompiledExpr {
    CompiledExpr::compile(&pipectl_dsl::plan::Expr::Field(crate::testkit::field(path))).unwrap()
}

/// `doc` with the string `value` set at `section.key` (`labels.box_item`, `user.id`).
pub(crate) fn with(mut doc: Value, section: &str, key: &str, value: &str) -> Value {
    if let Some(map) = doc.as_object_mut() {
        let mut inner = pipectl_core::value::Map::new();
        inner.push(key, Value::from(value));
        map.insert(section, Value::Object(inner));
    }
    doc
}

/// `pipectl.action.status` of each audit document.
pub(crate) fn statuses(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| {
            ["pipectl", "action", "status"]
                .iter()
                .try_fold(d, |v, k| v.as_object()?.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// A person's decision about action `id`, as `pipectl actions` leaves it.
pub(crate) fn submit(dir: &TempDir, id: &str, verb: &str) {
    Journal::open(dir.path())
        .unwrap()
        .submit(&Decision {
            action_id: id.to_string(),
            verb: verb.to_string(),
            by: "soc.analyst".to_string(),
            at: T0,
            comment: None,
        })
        .unwrap();
}

/// The API requests the server received, token requests left out.
pub(crate) fn api_calls(api: &MockApi) -> Vec<Seen> {
    api.seen()
        .into_iter()
        .filter(|s| !s.path.ends_with("/oauth2/token"))
        .collect()
}

/// `METHOD path[?query]` of each request, for comparing sequences.
pub(crate) fn lines(calls: &[Seen]) -> Vec<String> {
    calls
        .iter()
        .map(|s| match s.query.is_empty() {
            true => format!("{} {}", s.method, s.path),
            false => format!("{} {}?{}", s.method, s.path, s.query),
        })
        .collect()
}

/// A request's body as JSON (`null` when empty).
pub(crate) fn body(seen: &Seen) -> serde_json::Value {
    if seen.body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&seen.body).unwrap()
    }
}

/// docs/response.md has a row for each action naming its permissions and its revert
/// (or saying `**none**`).
pub(crate) fn assert_documented(actions: &[crate::respond::provider::ActionInfo]) {
    let doc = include_str!("../../../../docs/response.md");
    for action in actions {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", action.name)))
            .unwrap_or_else(|| panic!("docs/response.md has no row for {}", action.name));
        for permission in action.permissions {
            assert!(
                row.contains(permission),
                "{}: {permission} missing from its row",
                action.name
            );
        }
        match action.revert {
            Some(revert) => assert!(row.contains(revert), "{}: revert {revert}", action.name),
            None => assert!(
                row.contains("**none**"),
                "{}: say it cannot be undone",
                action.name
            ),
        }
    }
}
