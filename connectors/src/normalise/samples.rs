//! The vendor sample files of ../shared/samples, for the normalisers' tests.

use super::NormaliseError;
use pipectl_core::value::Value;
use std::path::PathBuf;

/// Every non-blank line of a sample file, parsed, with its line number (from 1).
pub fn records(file: &str) -> Vec<(usize, Value)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/samples")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let value =
                pipectl_core::json::from_str(l).unwrap_or_else(|e| panic!("{file}:{}: {e}", i + 1));
            (i + 1, value)
        })
        .collect()
}

/// The value at a dotted path of a normalised event.
pub fn get<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(event, |cur, key| cur.as_object()?.get(key))
}

/// The string at a dotted path of a normalised event, `None` when absent.
pub fn s<'a>(event: &'a Value, path: &str) -> Option<&'a str> {
    get(event, path).and_then(Value::as_str)
}

/// The `entity.key` array of a normalised event.
pub fn entity_keys(event: &Value) -> Vec<&str> {
    get(event, "entity.key")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The normalised event of one line of a sample file, which must normalise.
pub fn normalised(
    file: &str,
    line: usize,
    normalise: fn(Value) -> Result<Value, NormaliseError>,
) -> Value {
    let (_, record) = records(file)
        .into_iter()
        .find(|(n, _)| *n == line)
        .unwrap_or_else(|| panic!("{file} has no line {line}"));
    normalise(record).unwrap_or_else(|e| panic!("{file}:{line}: {e}"))
}

/// Normalises every record of a sample file and returns the lines refused. Each
/// event must carry the record's action (`action_key`), the dataset, the module's
/// cloud provider, a 32-character id, an RFC 3339 UTC time and the record under its
/// namespace; each refusal must name one of `reasons`.
pub fn refused_lines(
    file: &str,
    normalise: fn(Value) -> Result<Value, NormaliseError>,
    action_key: &str,
    dataset: &str,
    cloud_provider: &str,
    reasons: &[&str],
) -> Vec<usize> {
    let mut refused = Vec::new();
    for (line, record) in records(file) {
        let action = super::text(&record, action_key).map(str::to_string);
        match normalise(record) {
            Ok(e) => {
                assert_eq!(s(&e, "event.action"), action.as_deref(), "line {line}");
                assert_eq!(s(&e, "event.dataset"), Some(dataset));
                assert_eq!(s(&e, "cloud.provider"), Some(cloud_provider));
                assert_eq!(s(&e, "event.id").map(str::len), Some(32));
                let time = s(&e, "@timestamp").unwrap_or_default();
                assert!(
                    time.ends_with('Z') && time.len() >= 20,
                    "line {line}: {time}"
                );
                assert!(get(&e, dataset).is_some(), "line {line}");
            }
            Err(e) => {
                assert!(
                    reasons.iter().any(|r| e.reason.contains(r)),
                    "line {line}: {e}"
                );
                refused.push(line);
            }
        }
    }
    refused
}
