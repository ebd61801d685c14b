//! A 50 MB line, made at test time (too big to commit), plain and gzip-compressed,
//! through `source file` → `parse` in the real runtime. The line is skipped as a dead
//! letter holding its first 256 bytes, the lines around it are delivered, and the
//! process's peak memory grows by far less than the line: it is never held whole.
//!
//! Alone in its test binary (its own process), so the peak resident size read from
//! `/proc/self/status` is this test's.

use pipectl_connectors::factories;
use pipectl_core::json;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{start, Registry, RunOptions};
use pipectl_core::value::Value;
use pipectl_dsl::plan::{
    ComponentKind, ComponentPlan, FieldPath, OutputRef, PathSegment, PipelinePlan, Plan, PlanValue,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LINE: usize = 50 << 20;

fn s(text: &str) -> PlanValue {
    PlanValue::String(text.to_string())
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
        origin: "long.pipe:1".to_string(),
    }
}

fn input(component: &str, port: Option<&str>) -> OutputRef {
    OutputRef {
        component: component.to_string(),
        port: port.map(str::to_string),
    }
}

/// Peak resident set size of this process so far, in bytes (`VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Writes `{"n":1}`, a 50 MB JSON-looking line, `{"n":2}` to `out`, 1 MiB at a time.
fn write_stream(out: &mut dyn Write) {
    out.write_all(b"{\"n\":1}\n{\"padding\":\"").unwrap();
    let block = vec![b'A'; 1 << 20];
    let mut left = LINE - 14;
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block[..n]).unwrap();
        left -= n;
    }
    out.write_all(b"\"}\n{\"n\":2}\n").unwrap();
}

async fn run(file: &Path, dir: &Path) -> (Vec<String>, Vec<Value>) {
    let ok = dir.join("ok.ndjson");
    let bad = dir.join("bad.ndjson");
    let _ = std::fs::remove_file(&ok);
    let _ = std::fs::remove_file(&bad);
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
            name: "l".into(),
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
                        ("max_line_length", PlanValue::Size(1 << 20)),
                        ("batch_size", PlanValue::Int(256)),
                    ],
                ),
                component(
                    ComponentKind::Transform,
                    "parse",
                    "parsed",
                    vec![input("in", None)],
                    &["errors"],
                    vec![
                        ("codec", s("json")),
                        (
                            "field",
                            PlanValue::Field(FieldPath(vec![PathSegment::Key("message".into())])),
                        ),
                        ("keep_original", PlanValue::Bool(false)),
                        ("kv_field_split", s(" ")),
                        ("kv_value_split", s("=")),
                    ],
                ),
                sink("ok", &ok, input("parsed", None)),
                sink("bad", &bad, input("parsed", Some("errors"))),
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
    .unwrap_or_else(|e| panic!("{e:?}"));
    tokio::time::timeout(Duration::from_secs(120), graph.wait())
        .await
        .expect("the run ends")
        .unwrap_or_else(|e| panic!("{e:?}"));
    let read = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let errors = read(&bad)
        .iter()
        .map(|l| json::from_str(l).unwrap())
        .collect();
    (read(&ok), errors)
}

fn check(what: &str, ok: &[String], errors: &[Value]) {
    assert_eq!(
        ok,
        [r#"{"n":1}"#, r#"{"n":2}"#],
        "{what}: the lines around it"
    );
    assert_eq!(errors.len(), 1, "{what}: one dead letter");
    let record = errors[0].as_object().unwrap();
    let head = record.get("message").and_then(Value::as_str).unwrap();
    assert_eq!(head.len(), 256, "{what}");
    assert!(head.starts_with("{\"padding\":\"AAAA"), "{what}: {head}");
    let text = json::to_string(&errors[0]);
    assert!(
        text.contains(&format!(
            "line at bytes 8..{} is longer than max_line_length (1048576 bytes)",
            8 + LINE + 1
        )),
        "{what}: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_line_is_skipped_in_bounded_memory_and_reported() {
    let dir = std::env::temp_dir().join(format!("pipectl-long-line-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let plain: PathBuf = dir.join("long.log");
    let zipped: PathBuf = dir.join("long.log.gz");
    write_stream(&mut std::io::BufWriter::new(
        std::fs::File::create(&plain).unwrap(),
    ));
    {
        let file = std::fs::File::create(&zipped).unwrap();
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        write_stream(&mut enc);
        enc.finish().unwrap();
    }
    assert_eq!(
        std::fs::metadata(&plain).unwrap().len(),
        (8 + LINE + 1 + 8) as u64
    );

    let before = peak_rss();
    let started = Instant::now();
    let (ok, errors) = run(&plain, &dir).await;
    check("plain", &ok, &errors);
    let (ok, errors) = run(&zipped, &dir).await;
    check("gzip", &ok, &errors);
    let elapsed = started.elapsed();
    let growth = peak_rss().saturating_sub(before);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "two 50 MB lines (plain and gzip) skipped in {elapsed:?}; peak RSS grew by {} KiB",
        growth / 1024
    );
    // Holding the line whole would take 50 MB at least (and copies of it more).
    assert!(
        growth < 24 << 20,
        "peak memory grew by {} MiB",
        growth >> 20
    );
}
