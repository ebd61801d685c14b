//! The hostile-input corpus (`tests/hostile/`, made by `make_corpus.py`) through every
//! codec, in the real runtime: `source file` (gzip recognised by its magic) → `parse`
//! with each codec → one file sink for what decodes and one for its `errors` output.
//!
//! For every file and codec: the run ends (no panic, hang or abort); every record the
//! source read either decodes or is on the `errors` output with its reason under
//! `pipectl.error`; and the counts add up — records in the file = events the source
//! emitted = decoded + errors — so nothing is lost silently. Then what must happen to
//! particular records (duplicate keys, 10,000 levels of nesting, a truncated gzip,
//! dates that cannot exist) is checked exactly. The 50 MB line is in
//! `hostile_long_line.rs`, alone in its process so its memory can be measured.

use pipectl_connectors::factories;
use pipectl_core::json;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{start, Registry, RunOptions, RunSummary};
use pipectl_core::value::Value;
use pipectl_dsl::plan::{
    ComponentKind, ComponentPlan, FieldPath, OutputRef, PathSegment, PipelinePlan, Plan, PlanValue,
};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("pipectl-hostile-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(text: &str) -> PlanValue {
    PlanValue::String(text.to_string())
}

fn input(component: &str, port: Option<&str>) -> OutputRef {
    OutputRef {
        component: component.to_string(),
        port: port.map(str::to_string),
    }
}

fn component(
    kind: ComponentKind,
    type_name: &str,
    name: &str,
    inputs: Vec<OutputRef>,
    outputs: &[&str],
    attrs: Vec<(&str, PlanValue)>,
) -> ComponentPlan {
    ComponentPlan {
        name: name.to_string(),
        kind,
        type_name: type_name.to_string(),
        inputs,
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        attrs: attrs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>(),
        origin: "hostile.pipe:1".to_string(),
    }
}

/// The codecs of `transform parse`, with the attributes each needs.
const CODECS: [&str; 5] = ["json", "syslog", "cef", "kv", "csv"];

fn parse_attrs(codec: &str) -> Vec<(&'static str, PlanValue)> {
    let mut attrs = vec![
        ("codec", s(codec)),
        (
            "field",
            PlanValue::Field(FieldPath(vec![PathSegment::Key("message".into())])),
        ),
        ("keep_original", PlanValue::Bool(false)),
        ("kv_field_split", s(" ")),
        ("kv_value_split", s("=")),
        ("max_event_size", PlanValue::Size(1 << 20)),
        ("max_depth", PlanValue::Int(32)),
        ("max_fields", PlanValue::Int(10_000)),
    ];
    if codec == "csv" {
        attrs.push(("csv_columns", PlanValue::List(vec![s("a"), s("b"), s("c")])));
    }
    attrs
}

/// What one run produced.
struct Outcome {
    ok: Vec<Value>,
    errors: Vec<Value>,
    summary: RunSummary,
}

impl Outcome {
    fn counters(&self, name: &str) -> &pipectl_core::metrics::CounterSnapshot {
        &self
            .summary
            .components
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no component {name}"))
            .counters
    }

    fn ok_texts(&self) -> Vec<String> {
        self.ok.iter().map(json::to_string).collect()
    }

    fn reasons(&self) -> Vec<String> {
        self.errors.iter().map(reason).collect()
    }
}

/// `pipectl.error.message` of an error record; panics when it has none.
fn reason(record: &Value) -> String {
    let error = record
        .as_object()
        .and_then(|m| m.get("pipectl"))
        .and_then(Value::as_object)
        .and_then(|p| p.get("error"))
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no pipectl.error in {}", json::to_string(record)));
    let component = error.get("component").and_then(Value::as_str);
    assert!(
        component.is_some_and(|c| !c.is_empty()),
        "an error record names its component: {}",
        json::to_string(record)
    );
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        !message.is_empty(),
        "an error record says why: {}",
        json::to_string(record)
    );
    message.to_string()
}

fn read_ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| json::from_str(line).unwrap_or_else(|e| panic!("sink wrote bad JSON: {e}")))
        .collect()
}

/// Runs `file` through `source file` and `parse` with `codec`.
async fn run(file: &Path, codec: &str, max_line_length: u64, dir: &Path) -> Outcome {
    let ok_path = dir.join("ok.ndjson");
    let errors_path = dir.join("errors.ndjson");
    let _ = std::fs::remove_file(&ok_path);
    let _ = std::fs::remove_file(&errors_path);
    let sink = |name: &str, path: &Path, from: OutputRef| {
        component(
            ComponentKind::Sink,
            "file",
            name,
            vec![from],
            &[],
            vec![
                ("path", s(&path.display().to_string())),
                ("fsync", PlanValue::Bool(false)),
                ("encoding", s("ndjson")),
            ],
        )
    };
    let plan = Plan {
        pipelines: vec![PipelinePlan {
            name: "h".into(),
            components: vec![
                component(
                    ComponentKind::Source,
                    "file",
                    "in",
                    vec![],
                    &[],
                    vec![
                        ("path", s(&file.display().to_string())),
                        ("mode", s("read_once")),
                        ("start_at", s("beginning")),
                        ("max_line_length", PlanValue::Size(max_line_length)),
                        ("batch_size", PlanValue::Int(64)),
                    ],
                ),
                component(
                    ComponentKind::Transform,
                    "parse",
                    "parsed",
                    vec![input("in", None)],
                    &["errors"],
                    parse_attrs(codec),
                ),
                sink("ok", &ok_path, input("parsed", None)),
                sink("bad", &errors_path, input("parsed", Some("errors"))),
            ],
            tests: Vec::new(),
        }],
    };
    let (_trigger, signal) = shutdown_pair();
    let graph = start(
        &plan,
        &Registry::new(factories()),
        RunOptions::new(dir.join("data")),
        signal,
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
    let summary = tokio::time::timeout(Duration::from_secs(60), graph.wait())
        .await
        .unwrap_or_else(|_| panic!("{} with {codec}: the run never ended", file.display()))
        .unwrap_or_else(|e| panic!("{} with {codec}: {e:?}", file.display()));
    Outcome {
        ok: read_ndjson(&ok_path),
        errors: read_ndjson(&errors_path),
        summary,
    }
}

/// Records the source must emit for `bytes`, worked out independently of it: one per
/// line (a last line without newline too); for gzip, the lines of what decompresses,
/// plus one error record for damage (which takes in the line it cut).
fn expected_records(bytes: &[u8]) -> u64 {
    let count_lines = |data: &[u8]| -> u64 {
        let newlines = data.iter().filter(|b| **b == b'\n').count() as u64;
        newlines + u64::from(!data.is_empty() && !data.ends_with(b"\n"))
    };
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return count_lines(bytes);
    }
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => return count_lines(&out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {
                let complete = out.iter().filter(|b| **b == b'\n').count() as u64;
                return complete + 1;
            }
        }
    }
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "py"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus is there: {files:?}");
    files
}

fn name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_through_every_codec_loses_nothing_and_says_why() {
    let dir = Scratch::new("all");
    let mut table = Vec::new();
    for file in corpus() {
        let bytes = std::fs::read(&file).unwrap();
        let expected = expected_records(&bytes);
        for codec in CODECS {
            let out = run(&file, codec, 1 << 20, &dir.0).await;
            let what = format!("{} with {codec}", name(&file));
            let emitted = out.counters("h.in").events_out;
            assert_eq!(emitted, expected, "{what}: records read");
            assert_eq!(
                out.ok.len() as u64 + out.errors.len() as u64,
                emitted,
                "{what}: decoded + errors = read"
            );
            assert_eq!(
                out.counters("h.parsed").events_errored,
                out.errors.len() as u64,
                "{what}: errors counted"
            );
            for record in &out.ok {
                let has_error = record.as_object().and_then(|m| m.get("pipectl")).is_some();
                assert!(
                    !has_error,
                    "{what}: decoded and an error? {}",
                    json::to_string(record)
                );
            }
            // Every error record says why (`reason` checks it).
            let _ = out.reasons();
            table.push(format!(
                "{:<28} {codec:<7} read {emitted:>5}  decoded {:>5}  errors {:>5}",
                name(&file),
                out.ok.len(),
                out.errors.len()
            ));
        }
    }
    // The table is printed for docs/hostile-input.md (`cargo test -- --nocapture`).
    println!("{}", table.join("\n"));
}

fn corpus_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/hostile")
        .join(name)
}

#[tokio::test]
async fn duplicate_json_keys_resolve_to_the_last_value_once() {
    let dir = Scratch::new("dup");
    let out = run(
        &corpus_file("json-duplicate-keys.ndjson"),
        "json",
        1 << 20,
        &dir.0,
    )
    .await;
    assert!(out.errors.is_empty(), "{:?}", out.reasons());
    let texts = out.ok_texts();
    assert_eq!(texts[0], r#"{"user":"mallory"}"#);
    assert_eq!(texts[1], r#"{"a":3,"b":2}"#);
    assert_eq!(texts[2], r#"{"outer":{"k":2}}"#);
    assert_eq!(texts[3], r#"{"":2}"#);
    assert_eq!(texts[4], r#"{"User":"alice","user":"bob"}"#);
    // k0..k99 repeated ten times: each once, in first-seen order, with its last value.
    let Some(Value::Object(wide)) = out.ok.get(5) else {
        panic!("the repeated-keys record decodes");
    };
    assert_eq!(wide.len(), 100);
    for (i, (k, v)) in wide.iter().enumerate() {
        assert_eq!(k.as_str(), format!("k{i}"));
        assert_eq!(v, &Value::Int(900 + i as i64));
    }
}

#[tokio::test]
async fn nesting_and_width_over_the_limits_are_dead_letters() {
    let dir = Scratch::new("deep");
    let out = run(
        &corpus_file("json-deep-10000.ndjson"),
        "json",
        1 << 20,
        &dir.0,
    )
    .await;
    assert_eq!(
        out.reasons(),
        [
            "json: the record nests deeper than max_depth (32 levels) (at byte 32)",
            "json: the record nests deeper than max_depth (32 levels) (at byte 160)",
            "json: the record nests deeper than max_depth (32 levels) (at byte 32)",
        ]
    );
    assert_eq!(
        out.ok_texts(),
        [r#"{"ok":"a shallow record after the deep ones"}"#]
    );
    let out = run(&corpus_file("json-wide.ndjson"), "json", 1 << 20, &dir.0).await;
    assert_eq!(out.reasons().len(), 1);
    assert!(
        out.reasons()[0].starts_with("json: the record has more than max_fields (10000) fields"),
        "{:?}",
        out.reasons()
    );
    assert_eq!(out.ok_texts(), [r#"{"small":1}"#]);
}

#[tokio::test]
async fn damaged_gzip_delivers_what_precedes_the_damage_then_a_dead_letter() {
    let dir = Scratch::new("gzip");
    // Cut short: every line before the cut, in order, then the dead letter.
    let out = run(&corpus_file("truncated.gz"), "json", 1 << 20, &dir.0).await;
    assert!(out.ok.len() > 900, "the lines before the cut");
    for (i, record) in out.ok.iter().enumerate() {
        let n = record.as_object().and_then(|m| m.get("n"));
        assert_eq!(n, Some(&Value::Int(i as i64)), "in order, none skipped");
    }
    let reasons = out.reasons();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("corrupt or truncated gzip after"),
        "{reasons:?}"
    );
    assert_eq!(out.counters("h.in").events_errored, 1);
    // Damaged inside: deflate has no checksum before a member's end, so the text
    // decoded from the damaged stretch comes out as it decodes (here, lines that are
    // no longer JSON go to errors) until the decoder notices; then one dead letter
    // says the file is damaged. What precedes the damage is intact and in order.
    let out = run(&corpus_file("corrupt.gz"), "json", 1 << 20, &dir.0).await;
    for (i, record) in out.ok.iter().take(500).enumerate() {
        let n = record.as_object().and_then(|m| m.get("n"));
        assert_eq!(n, Some(&Value::Int(i as i64)), "intact before the damage");
    }
    let gzip_reasons: Vec<String> = out
        .reasons()
        .into_iter()
        .filter(|r| r.contains("corrupt or truncated gzip after"))
        .collect();
    assert_eq!(gzip_reasons.len(), 1, "{:?}", out.reasons());
    assert_eq!(out.counters("h.in").events_errored, 1);
    let out = run(&corpus_file("magic-only.gz"), "json", 1 << 20, &dir.0).await;
    assert!(out.ok.is_empty());
    assert_eq!(out.reasons().len(), 1);
    let out = run(&corpus_file("two-members.gz"), "json", 1 << 20, &dir.0).await;
    assert!(out.errors.is_empty(), "{:?}", out.reasons());
    assert_eq!(
        out.ok_texts(),
        [r#"{"part":1}"#, r#"{"split":"across members"}"#]
    );
}

#[tokio::test]
async fn dates_that_cannot_exist_are_never_indexed_as_dates() {
    let dir = Scratch::new("dates");
    let out = run(
        &corpus_file("syslog-absurd-dates.log"),
        "syslog",
        1 << 20,
        &dir.0,
    )
    .await;
    let mut stamped = Vec::new();
    for record in &out.ok {
        let map = record.as_object().unwrap();
        if let Some(Value::String(ts)) = map.get("@timestamp") {
            stamped.push(ts.to_string());
        }
    }
    stamped.sort();
    // Only real dates carry a timestamp: year 0, the leap day, the leap second (and a
    // syntactically valid message of syslog version 9); ten fraction digits are
    // refused (nine at most); RFC 3164 February 29th is refused in a common year.
    assert_eq!(
        stamped,
        [
            "0000-01-01T00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2024-01-01T00:00:00Z",
            "2024-02-29T10:00:00Z"
        ],
        "{:?}",
        out.ok_texts()
    );
    let reasons = out.reasons().join("\n");
    assert!(reasons.contains("does not exist in"), "{reasons}");
}

#[tokio::test]
async fn lines_over_max_line_length_are_dead_letters_holding_their_head() {
    let dir = Scratch::new("long");
    // json-wide's first line is about 200 KB: over a 64 KiB cap it is not even read.
    let file = corpus_file("json-wide.ndjson");
    let first_line_end = std::fs::read(&file)
        .unwrap()
        .iter()
        .position(|b| *b == b'\n')
        .unwrap()
        + 1;
    let out = run(&file, "json", 64 << 10, &dir.0).await;
    assert_eq!(
        out.reasons(),
        [format!(
            "line at bytes 0..{first_line_end} is longer than max_line_length (65536 bytes): \
             skipped; `message` holds its first 256 bytes"
        )]
    );
    let head = out.errors[0]
        .as_object()
        .and_then(|m| m.get("message"))
        .and_then(Value::as_str)
        .unwrap();
    assert_eq!(head.len(), 256);
    assert!(head.starts_with(r#"{"field0":0,"field1":1"#));
    assert_eq!(out.ok_texts(), [r#"{"small":1}"#]);
    assert_eq!(out.counters("h.in").events_errored, 1);
    assert_eq!(out.counters("h.parsed").events_errored, 1);
}
