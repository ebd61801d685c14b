//! What the SaaS responders' tests read of a local server's log: the API requests
//! (token requests left out), their lines and JSON bodies; and incidents carrying the
//! fields a `target` expression reads.

use crate::sources::api::testing::{MockApi, Seen};
use pipectl_core::expr::CompiledExpr;
use pipectl_core::value::Value;

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
