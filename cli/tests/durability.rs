//! Delivery guarantees of the OpenSearch sink's disk buffer (docs/reliability.md),
//! with the real `pipectl` binary and a real OpenSearch node:
//!
//! - `kill_9_at_random_moments_loses_nothing_and_duplicates_nothing`: 200,000 records
//!   through a `follow` file source (whose checkpoint advances once the buffer has a
//!   batch, so an event the buffer lost would never be read again), the process
//!   killed with SIGKILL at seeded random moments and restarted each time;
//! - `an_opensearch_outage_of_a_minute_loses_nothing_and_memory_stays_flat`: a steady
//!   stream while the test's own node is stopped for 60 s and started again;
//! - `buffer_commands_inspect_verify_and_repair_a_damaged_buffer`: the operator's
//!   commands on a buffer with a flipped byte and a torn tail.

mod common;

use common::{describe, pipectl, TempDir};
use pipectl_connectors::buffer::wal;
use pipectl_core::event::Event;
use serde_json::Value;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The node `scripts/test` started.
fn node_url() -> String {
    match std::env::var("OPENSEARCH_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "OPENSEARCH_URL is not set: these tests need a real OpenSearch node. Run them with \
             `scripts/test`, which starts one and exports OPENSEARCH_URL."
        ),
    }
}

fn unique(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{label}{}x{nanos}", std::process::id())
}

/// `curl` against OpenSearch: status and JSON body.
fn http(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "--max-time",
        "60",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
        url,
    ]);
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    let out = cmd.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (json, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(json).unwrap_or(Value::Null),
    )
}

/// Documents in the test's indices (after a refresh); `None` while unreachable.
fn count(url: &str, name: &str) -> Option<u64> {
    let pattern = format!("pipectl-events-{name}-*");
    http("POST", &format!("{url}/{pattern}/_refresh"), None);
    let (status, body) = http("GET", &format!("{url}/{pattern}/_count"), None);
    if status != 200 {
        return None;
    }
    body["count"].as_u64()
}

/// Every `_id` in the test's indices, by scrolling through them.
fn all_ids(url: &str, name: &str) -> Vec<String> {
    let pattern = format!("pipectl-events-{name}-*");
    let (status, mut page) = http(
        "POST",
        &format!("{url}/{pattern}/_search?scroll=2m"),
        Some(r#"{"size":10000,"_source":false,"sort":["_doc"]}"#),
    );
    assert_eq!(status, 200, "{page}");
    let mut ids = Vec::new();
    loop {
        let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        ids.extend(
            hits.iter()
                .filter_map(|h| h["_id"].as_str().map(String::from)),
        );
        let scroll_id = page["_scroll_id"].as_str().unwrap_or_default().to_string();
        let body = serde_json::json!({"scroll": "2m", "scroll_id": scroll_id}).to_string();
        let (status, next) = http("POST", &format!("{url}/_search/scroll"), Some(&body));
        assert_eq!(status, 200, "{next}");
        page = next;
    }
    ids
}

/// Asserts the indices hold exactly the documents `prefix-000000 .. prefix-(n-1)`.
fn assert_exactly(url: &str, name: &str, prefix: &str, n: u64) {
    assert_eq!(count(url, name), Some(n), "document count");
    let ids = all_ids(url, name);
    assert_eq!(ids.len() as u64, n, "ids scrolled");
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len() as u64, n, "duplicate _ids");
    for i in 0..n {
        let id = format!("{prefix}-{i:07}");
        assert!(unique.contains(&id), "missing document {id}");
    }
}

fn record(prefix: &str, i: u64) -> String {
    format!(
        r#"{{"@timestamp":"2026-01-15T10:{:02}:{:02}Z","event":{{"id":"{prefix}-{i:07}","dataset":"test.durability"}},"n":{i},"message":"record {i} of the durability test, padded to a realistic size .........................."}}"#,
        (i / 60) % 60,
        i % 60
    )
}

fn pipeline(dir: &Path, name: &str, input: &Path, url: &str) -> PathBuf {
    let path = dir.join("durability.pipe");
    std::fs::write(
        &path,
        format!(
            r#"pipeline "durability" {{
  source file "records" {{
    path = "{input}"
    mode = "follow"
  }}

  transform parse "decode" {{
    inputs = [records]
    codec  = "json"
  }}

  sink opensearch "search" {{
    inputs                = [decode]
    endpoint              = "{url}"
    index                 = "pipectl-events-{name}-%Y.%m.%d"
    deadletter_index      = "pipectl-deadletter-{name}-%Y.%m.%d"
    batch_timeout         = 200ms
    retry_initial_backoff = 100ms
    retry_max_backoff     = 2s
    buffer_max_size       = 256MiB
  }}
}}
"#,
            input = input.display()
        ),
    )
    .expect("write pipeline");
    path
}

fn start(pipeline: &Path, data: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("create log");
    pipectl()
        .args(["--log", "info", "run", "--data-dir"])
        .arg(data)
        .arg(pipeline)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("pipectl starts")
}

/// SIGTERM, then waits (SIGKILL after a minute, failing the test).
fn stop_gracefully(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("pipectl did not stop within a minute of SIGTERM");
}

/// Waits until the indices hold `n` documents (or the time is up); returns the count.
fn wait_for(url: &str, name: &str, n: u64, within: Duration) -> Option<u64> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        last = count(url, name);
        if last.is_some_and(|c| c >= n) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    last
}

/// A small seeded generator (SplitMix64): the same kill moments on every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    const RECORDS: u64 = 200_000;
    let url = node_url();
    let name = unique("crash");
    let dir = TempDir::new("crash");
    let input = dir.path().join("records.jsonl");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..RECORDS {
            writeln!(out, "{}", record("crash", i)).unwrap();
        }
    }
    let pipeline = pipeline(dir.path(), &name, &input, &url);
    let data = dir.path().join("data");
    let mut seeded = Seeded(0x0D0C_2026_0009);
    for kill in 0..5 {
        let child_log = dir.path().join(format!("run-{kill}.log"));
        let mut child = start(&pipeline, &data, &child_log);
        let after = seeded.between(1_500, 6_000);
        std::thread::sleep(Duration::from_millis(after));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let log = std::fs::read_to_string(&child_log).unwrap_or_default();
        assert!(!log.contains("panicked"), "run {kill} panicked:\n{log}");
        eprintln!(
            "kill {kill}: SIGKILL after {after} ms; {} documents indexed so far",
            count(&url, &name).unwrap_or(0)
        );
    }
    let final_log = dir.path().join("final.log");
    let child = start(&pipeline, &data, &final_log);
    let reached = wait_for(&url, &name, RECORDS, Duration::from_secs(240));
    // Anything still in flight would show as more than RECORDS, or a later change.
    std::thread::sleep(Duration::from_secs(3));
    stop_gracefully(child);
    let log = std::fs::read_to_string(&final_log).unwrap_or_default();
    assert_eq!(reached, Some(RECORDS), "final run log:\n{log}");
    assert_exactly(&url, &name, "crash", RECORDS);

    // The buffer the kills left behind was recovered, and is sound now.
    let verify = pipectl()
        .args(["buffer", "verify"])
        .arg(&data)
        .output()
        .expect("pipectl buffer verify runs");
    assert!(verify.status.success(), "{}", describe(&verify));
    http("DELETE", &format!("{url}/pipectl-events-{name}-*"), None);
}

/// A node of this test's own, stopped when dropped.
struct OwnNode {
    dir: TempDir,
    url: String,
    port: String,
}

fn node_sh() -> PathBuf {
    common::repo_root().join("deploy/opensearch/node.sh")
}

impl OwnNode {
    fn start() -> OwnNode {
        let dir = TempDir::new("outage-node");
        let url = Self::launch(dir.path(), "0");
        let port = url
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        OwnNode { dir, url, port }
    }

    fn launch(dir: &Path, port: &str) -> String {
        let out = Command::new(node_sh())
            .args(["start", "--port", port, "--dir"])
            .arg(dir)
            .env("OPENSEARCH_HEAP", "512m")
            .output()
            .expect("node.sh runs");
        assert!(out.status.success(), "node.sh start\n{}", describe(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn stop(&self) {
        let out = Command::new(node_sh())
            .args(["stop", "--dir"])
            .arg(self.dir.path())
            .output()
            .expect("node.sh runs");
        assert!(out.status.success(), "node.sh stop\n{}", describe(&out));
    }

    fn restart(&self) {
        let url = Self::launch(self.dir.path(), &self.port);
        assert_eq!(url, self.url, "the node came back elsewhere");
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        let _ = Command::new(node_sh())
            .args(["stop", "--dir"])
            .arg(self.dir.path())
            .status();
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn an_opensearch_outage_of_a_minute_loses_nothing_and_memory_stays_flat() {
    let node = OwnNode::start();
    let url = node.url.clone();
    let name = unique("outage");
    let dir = TempDir::new("outage");
    let input = dir.path().join("stream.jsonl");
    std::fs::File::create(&input).unwrap();
    let pipeline = pipeline(dir.path(), &name, &input, &url);
    let data = dir.path().join("data");
    let child = start(&pipeline, &data, &dir.path().join("run.log"));
    let pid = child.id();

    // A steady stream: 500 records every 250 ms (2,000/s), appended to the file.
    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (written, stop, input) = (Arc::clone(&written), Arc::clone(&stop), input.clone());
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&input)
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                let from = written.load(Ordering::Relaxed);
                let mut chunk = String::new();
                for i in from..from + 500 {
                    chunk.push_str(&record("outage", i));
                    chunk.push('\n');
                }
                file.write_all(chunk.as_bytes()).unwrap();
                written.store(from + 500, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(10));
    let before = count(&url, &name).unwrap_or(0);
    assert!(before > 0, "nothing indexed before the outage");
    let baseline = rss_kib(pid).unwrap_or(0);

    node.stop();
    let down_at = Instant::now();
    let mut samples = Vec::new();
    while down_at.elapsed() < Duration::from_secs(60) {
        if let Some(kib) = rss_kib(pid) {
            samples.push(kib);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let buffered_during = written.load(Ordering::Relaxed);
    node.restart();
    // Keep streaming a little after the node is back, then stop the source side.
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = written.load(Ordering::Relaxed);
    let reached = wait_for(&url, &name, total, Duration::from_secs(180));
    std::thread::sleep(Duration::from_secs(3));
    let after_rss = rss_kib(pid).unwrap_or(0);
    stop_gracefully(child);
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    assert_eq!(reached, Some(total), "run log:\n{log}");
    assert_exactly(&url, &name, "outage", total);

    let max = samples.iter().copied().max().unwrap_or(0);
    eprintln!(
        "outage: {before} indexed before, {buffered_during} written by the end of the outage, {total} in all; RSS baseline {baseline} KiB, max during the outage {max} KiB, after {after_rss} KiB"
    );
    assert!(samples.len() >= 50, "too few samples: {samples:?}");
    // While OpenSearch was away ~120,000 records (~25 MB) arrived: a process that kept
    // them in memory would grow by far more than this.
    assert!(
        max < baseline + 32 * 1024,
        "RSS grew from {baseline} KiB to {max} KiB during the outage: {samples:?}"
    );
}

/// Writes a segment of `n` records, as a sink does.
fn write_segment(dir: &Path, id: u64, n: u64) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut w = wal::SegmentWriter::create(dir, id, 1 << 20).unwrap();
    for i in 0..n {
        let value = pipectl_core::json::from_str(&record("cli", i)).unwrap();
        let event = Event::new(value, Arc::from("durability.records"));
        let mut payload = Vec::new();
        wal::encode_event(&event, &mut payload);
        let mut frame = Vec::new();
        wal::encode_frame(&payload, &mut frame);
        w.write(&frame).unwrap();
    }
    w.sync().unwrap();
    dir.join(wal::segment_name(id))
}

#[test]
fn buffer_commands_inspect_verify_and_repair_a_damaged_buffer() {
    let dir = TempDir::new("buffer-cli");
    let buffer = dir.path().join("data/durability/search/buffer");
    let first = write_segment(&buffer, 1, 100);
    let second = write_segment(&buffer, 2, 50);
    // A flipped byte in the middle of the first segment, a torn tail on the second.
    let scan = wal::scan_file(&first).unwrap().1;
    let hit = scan.records[40].0;
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[hit as usize + 30] ^= 0x01;
    std::fs::write(&first, &bytes).unwrap();
    let len = std::fs::metadata(&second).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&second)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let data = dir.path().join("data");
    let inspect = pipectl()
        .args(["buffer", "inspect"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", describe(&inspect));
    let text = String::from_utf8_lossy(&inspect.stdout).to_string();
    assert!(text.contains(&buffer.display().to_string()), "{text}");
    assert!(text.contains("00000000000000000001.seg"), "{text}");
    assert!(
        text.contains("2 segment(s)")
            && text.contains("148 record(s)")
            && text.contains("2 damaged range(s)"),
        "{text}"
    );
    assert!(text.contains("148 waiting for delivery"), "{text}");

    let verify = pipectl()
        .args(["buffer", "verify"])
        .arg(&buffer)
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1), "{}", describe(&verify));
    let text = String::from_utf8_lossy(&verify.stdout).to_string();
    assert!(
        text.contains(&format!(
            "{}: offset {hit}: corrupt record",
            first.display()
        )),
        "{text}"
    );
    assert!(text.contains("truncated record"), "{text}");

    let repair = pipectl()
        .args(["buffer", "repair"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(repair.status.success(), "{}", describe(&repair));
    let text = String::from_utf8_lossy(&repair.stdout).to_string();
    assert!(text.contains("moved aside to"), "{text}");
    assert!(
        text.contains("148 record(s) waiting for delivery"),
        "{text}"
    );
    let quarantined = std::fs::read_dir(buffer.join("quarantine"))
        .unwrap()
        .count();
    assert_eq!(quarantined, 2);

    let verify = pipectl()
        .args(["buffer", "verify"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", describe(&verify));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("ok, 2 segment(s), 148 record(s)"),
        "{}",
        describe(&verify)
    );

    // A directory above a buffer finds it; one without any is a clear error.
    let none = pipectl()
        .args(["buffer", "verify"])
        .arg(dir.path().join("data/durability"))
        .output()
        .unwrap();
    assert!(none.status.success(), "{}", describe(&none));
    let empty = TempDir::new("buffer-cli-empty");
    let none = pipectl()
        .args(["buffer", "inspect"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1), "{}", describe(&none));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no sink buffer under"));
}
