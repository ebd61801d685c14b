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

/// Asserts that an event took the time it was received, not a vendor time: tagged
/// `time_from_ingest`, with `event.ingested` equal to `@timestamp`.
pub fn assert_time_from_ingest(event: &Value) {
    assert_eq!(
        pipectl_core::json::to_string(get(event, "tags").unwrap_or(&Value::Null)),
        r#"["time_from_ingest"]"#
    );
    assert!(s(event, "@timestamp").is_some());
    assert_eq!(s(event, "event.ingested"), s(event, "@timestamp"));
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
/// namespace; each refusal must name one of `reasons`. The lines of `other_shapes`
/// (records of another kind travelling in the same feed, mapped as what they are) are
/// left to their own tests.
pub fn refused_lines(
    file: &str,
    normalise: fn(Value) -> Result<Value, NormaliseError>,
    action_key: &str,
    dataset: &str,
    cloud_provider: &str,
    reasons: &[&str],
    other_shapes: &[usize],
) -> Vec<usize> {
    let mut refused = Vec::new();
    for (line, record) in records(file) {
        if other_shapes.contains(&line) {
            continue;
        }
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

/// What normalising a whole sample file gave: the events with the line of the record
/// they came from, and the lines refused.
pub struct SampleRun {
    pub events: Vec<(usize, Value)>,
    pub refused: Vec<usize>,
}

/// Normalises every record of a sample file (`normalise` may yield several events per
/// record, `prepare` may first complete a record, e.g. give a cut-down fixture a time)
/// and checks each event's key fields with [`assert_key_fields`]; each refusal must
/// name one of `reasons`.
pub fn run_file(
    file: &str,
    prepare: impl Fn(&mut Value),
    normalise: impl Fn(Value) -> Result<Vec<Value>, NormaliseError>,
    datasets: &[&str],
    cloud_provider: &str,
    reasons: &[&str],
) -> SampleRun {
    let mut run = SampleRun {
        events: Vec::new(),
        refused: Vec::new(),
    };
    for (line, mut record) in records(file) {
        prepare(&mut record);
        match normalise(record) {
            Ok(events) => {
                assert!(!events.is_empty(), "{file}:{line}: no event");
                for event in events {
                    assert_key_fields(file, line, &event, datasets, cloud_provider);
                    run.events.push((line, event));
                }
            }
            Err(e) => {
                assert!(
                    reasons.iter().any(|r| e.reason.contains(r)),
                    "{file}:{line}: {e}"
                );
                run.refused.push(line);
            }
        }
    }
    run
}

/// The fields every normalised event carries: an RFC 3339 UTC time, a 32-character
/// id, `event.kind`, no empty action, an outcome of the ECS vocabulary, one of `datasets`
/// with its module, the cloud provider, and the vendor record under the dataset's
/// path.
pub fn assert_key_fields(
    file: &str,
    line: usize,
    event: &Value,
    datasets: &[&str],
    cloud_provider: &str,
) {
    let at = format!("{file}:{line}");
    let time = s(event, "@timestamp").unwrap_or_default();
    assert!(time.ends_with('Z') && time.len() >= 20, "{at}: {time}");
    assert_eq!(s(event, "event.id").map(str::len), Some(32), "{at}");
    assert_eq!(s(event, "event.kind"), Some("event"), "{at}");
    assert!(
        s(event, "event.action").is_none_or(|a| !a.is_empty()),
        "{at}: an empty action"
    );
    assert!(
        matches!(
            s(event, "event.outcome"),
            Some("success" | "failure" | "unknown")
        ),
        "{at}: outcome {:?}",
        s(event, "event.outcome")
    );
    let dataset = s(event, "event.dataset").unwrap_or_default();
    assert!(datasets.contains(&dataset), "{at}: dataset {dataset}");
    assert_eq!(
        s(event, "event.module"),
        dataset.split('.').next(),
        "{at}: module"
    );
    assert_eq!(s(event, "cloud.provider"), Some(cloud_provider), "{at}");
    assert!(get(event, dataset).is_some(), "{at}: no vendor record");
}

/// Sets a dotted path of a record, creating objects on the way (to complete
/// cut-down fixtures in tests).
pub fn set_path(record: &mut Value, path: &str, value: Value) {
    let mut cur = record;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if keys.peek().is_none() {
            map.insert(key, value);
            return;
        }
        if !matches!(map.get(key), Some(Value::Object(_))) {
            map.insert(key, Value::object());
        }
        let Some(next) = map.get_mut(key) else {
            return;
        };
        cur = next;
    }
}
