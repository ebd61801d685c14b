//! The acceptance pipeline end to end through the real binary:
//! file → parse(json) → script → filter → route → file.

mod common;

use common::{describe, generate_cloudtrail, pipectl, TempDir};
use serde_json::{json, Value};

#[test]
fn full_pipeline_writes_exactly_the_expected_records() {
    let dir = TempDir::new("e2e");
    let input = dir.path().join("trail.jsonl");
    let output = dir.path().join("external.ndjson");
    generate_cloudtrail(5_000, &input);

    let run = pipectl()
        .args(["--log", "warn", "run", "--json-summary", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("bench/pipelines/full.pipe")
        .env("BENCH_INPUT", &input)
        .env("BENCH_OUTPUT", &output)
        .output()
        .expect("pipectl runs");
    assert!(run.status.success(), "{}", describe(&run));

    // The expectation, computed independently from the input.
    let text = std::fs::read_to_string(&input).expect("input readable");
    let expected: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("generator writes JSON"))
        .filter(|r| r["readOnly"] == json!(false))
        .filter(|r| {
            !r["sourceIPAddress"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10."))
        })
        .map(|mut r| {
            r["network"] = json!({"zone": "external"});
            r
        })
        .collect();
    assert!(expected.len() > 500, "the data should hold external writes");

    let written = std::fs::read_to_string(&output).expect("output written");
    let actual: Vec<Value> = written
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("sink writes JSON lines"))
        .collect();
    assert_eq!(actual.len(), expected.len());
    assert_eq!(actual, expected);

    // The summary accounts for every record.
    let summary: Value = serde_json::from_slice(&run.stdout).expect("JSON summary");
    let counters = |name: &str| -> Value {
        summary["components"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["name"] == json!(name)))
            .map(|c| c["counters"].clone())
            .unwrap_or_else(|| panic!("no {name} in summary {summary}"))
    };
    assert_eq!(counters("full.trail")["events_out"], json!(5_000));
    assert_eq!(counters("full.decode")["events_errored"], json!(0));
    assert_eq!(
        counters("full.external")["events_in"],
        json!(expected.len())
    );
    let writes = counters("full.writes");
    assert_eq!(
        writes["events_out"].as_u64().unwrap_or(0) + writes["events_dropped"].as_u64().unwrap_or(0),
        5_000
    );
}

#[test]
fn validate_prints_a_one_line_summary_for_good_files() {
    let out = pipectl()
        .args(["validate", "bench/pipelines", "examples/quickstart"])
        .output()
        .expect("pipectl runs");
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("ok: 3 files, 3 pipelines,"), "{stdout}");
}

#[test]
fn shipped_pipeline_files_are_formatted() {
    let out = pipectl()
        .args(["fmt", "--check", "bench/pipelines", "examples", "pipelines"])
        .output()
        .expect("pipectl runs");
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn graph_prints_every_component_and_edge() {
    let out = pipectl()
        .args(["graph", "bench/pipelines/full.pipe"])
        .output()
        .expect("pipectl runs");
    assert!(out.status.success(), "{}", describe(&out));
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph pipectl {"), "{dot}");
    for edge in [
        "\"full.trail\" -> \"full.decode\"",
        "\"full.by_zone\" -> \"full.external\" [label=\"external\"]",
        "\"full.zone\" -> \"full.internal\" [label=\"errors\"]",
    ] {
        assert!(dot.contains(edge), "missing {edge} in\n{dot}");
    }
}

#[test]
fn the_component_reference_is_up_to_date() {
    let out = pipectl()
        .args(["reference", "--check"])
        .output()
        .expect("pipectl runs");
    assert!(
        out.status.success(),
        "docs/reference is stale: run `cargo run -p pipectl -- reference`\n{}",
        describe(&out)
    );
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let out = pipectl()
        .args(["validate", "--no-such-flag"])
        .output()
        .expect("pipectl runs");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn a_missing_environment_variable_without_default_fails_the_run_plainly() {
    let out = pipectl()
        .args(["run", "bench/pipelines/parse_filter.pipe"])
        .env_remove("BENCH_INPUT")
        .env_remove("BENCH_OUTPUT")
        .output()
        .expect("pipectl runs");
    assert_eq!(out.status.code(), Some(78), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BENCH_INPUT"), "{stderr}");
}
