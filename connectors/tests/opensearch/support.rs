//! What the OpenSearch tests share: the node (the one `scripts/test` started, or a
//! test's own), unique names, pipelines run through the real runtime, and read-back.

use pipectl_connectors::factories;
use pipectl_connectors::sinks::opensearch::client::{Client, ConnectOptions, Request};
use pipectl_core::shutdown::{shutdown_pair, ShutdownTrigger};
use pipectl_core::topology::{start, Registry, RunOptions, RunSummary, RunningGraph};
use pipectl_dsl::SourceFile;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The node every test shares: `OPENSEARCH_URL`, which `scripts/test` sets after
/// starting one.
pub fn node_url() -> String {
    match std::env::var("OPENSEARCH_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "OPENSEARCH_URL is not set: these tests need a real OpenSearch node. Run them with \
             `scripts/test` (it starts one and exports OPENSEARCH_URL), or start one with \
             `url=$(deploy/opensearch/node.sh start --port 0 --dir /tmp/os) && export OPENSEARCH_URL=$url`."
        ),
    }
}

/// A name no other test (or earlier run) uses: lowercase, valid in index names.
pub fn unique(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{label}{}x{n}x{nanos}", std::process::id())
}

/// A scratch directory, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("pipectl-os-test-{}", unique(label)));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A node of the test's own (for tests that stop it), in a temporary directory on a
/// free port; stopped when dropped.
pub struct OwnNode {
    dir: Scratch,
    pub url: String,
}

impl OwnNode {
    pub fn start(label: &str) -> OwnNode {
        let dir = Scratch::new(label);
        let url = node_sh(&["start", "--port", "0"], dir.path());
        OwnNode { dir, url }
    }

    pub fn port(&self) -> String {
        self.url.rsplit(':').next().unwrap_or_default().to_string()
    }

    pub fn stop(&self) {
        node_sh(&["stop"], self.dir.path());
    }

    /// Starts it again on the same port, with its data.
    pub fn restart(&self) {
        let url = node_sh(&["start", "--port", &self.port()], self.dir.path());
        assert_eq!(url, self.url, "the node came back on another URL");
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("deploy/opensearch/node.sh"))
            .args(["stop", "--dir"])
            .arg(self.dir.path())
            .status();
    }
}

/// Runs `node.sh <args> --dir <dir>` with a small heap; returns its stdout (the URL).
fn node_sh(args: &[&str], dir: &Path) -> String {
    let output = Command::new(repo_root().join("deploy/opensearch/node.sh"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("OPENSEARCH_HEAP", "512m")
        .output()
        .expect("run deploy/opensearch/node.sh");
    assert!(
        output.status.success(),
        "node.sh {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A client for reading back what was indexed.
pub fn client(url: &str) -> Client {
    Client::new(&ConnectOptions::new(url)).expect("a client for the test node")
}

/// `GET <path>` (or with a JSON body) as JSON, asserting success.
pub async fn call(client: &Client, request: Request<'_>) -> Value {
    let reply = client.send(request).await.expect("OpenSearch answers");
    assert!(
        reply.is_success(),
        "HTTP {}: {}",
        reply.status,
        reply.preview()
    );
    reply.json().expect("a JSON answer")
}

/// The number of documents in the indices matching `pattern`, after a refresh.
pub async fn count(client: &Client, pattern: &str) -> u64 {
    refresh(client, pattern).await;
    let path = format!("/{pattern}/_count");
    let answer = call(
        client,
        Request::get(&path).query("ignore_unavailable", "true"),
    )
    .await;
    answer["count"].as_u64().unwrap_or(0)
}

pub async fn refresh(client: &Client, pattern: &str) {
    let path = format!("/{pattern}/_refresh");
    call(
        client,
        Request::post(&path)
            .query("ignore_unavailable", "true")
            .query("allow_no_indices", "true"),
    )
    .await;
}

/// Every hit of `pattern` (at most 10,000), sorted by `_id`.
pub async fn hits(client: &Client, pattern: &str) -> Vec<Value> {
    refresh(client, pattern).await;
    let path = format!("/{pattern}/_search");
    let body = r#"{"size":10000,"sort":[{"_id":"asc"}],"query":{"match_all":{}}}"#;
    let answer = call(client, Request::post(&path).json(body)).await;
    answer["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `pattern` holds `expected` documents (or the time is up); returns the last count.
pub async fn wait_for_count(
    client: &Client,
    pattern: &str,
    expected: u64,
    within: Duration,
) -> u64 {
    let until = Instant::now() + within;
    loop {
        let n = count(client, pattern).await;
        if n >= expected || Instant::now() > until {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Compiles pipeline text against every connector.
pub fn plan(text: &str) -> pipectl_dsl::plan::Plan {
    let registry = Registry::new(factories());
    let compiled =
        pipectl_dsl::compile(&[SourceFile::new("test.pipe", text)], &registry.catalogue());
    let files = [SourceFile::new("test.pipe", text)];
    match compiled.plan {
        Some(plan) => plan,
        None => panic!(
            "the test pipeline does not compile:\n{}",
            compiled
                .diagnostics
                .iter()
                .map(|d| pipectl_dsl::render_short(d, &files))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Starts a pipeline through the real runtime; the trigger stops it.
pub async fn start_pipeline(text: &str, data_dir: &Path) -> (RunningGraph, ShutdownTrigger) {
    let (trigger, signal) = shutdown_pair();
    let graph = start(
        &plan(text),
        &Registry::new(factories()),
        RunOptions::new(data_dir),
        signal,
    )
    .await
    .unwrap_or_else(|errors| panic!("the pipeline does not build: {errors:?}"));
    (graph, trigger)
}

/// Runs a finite pipeline to its end.
pub async fn run_pipeline(text: &str, data_dir: &Path) -> RunSummary {
    let (graph, _trigger) = start_pipeline(text, data_dir).await;
    let summary = tokio::time::timeout(Duration::from_secs(300), graph.wait())
        .await
        .expect("the pipeline finishes within 5 minutes");
    summary.unwrap_or_else(|errors| panic!("the pipeline failed: {errors:?}"))
}

/// The counters of one component of a summary (by its name without the pipeline).
pub fn counters(summary: &RunSummary, component: &str) -> pipectl_core::metrics::CounterSnapshot {
    summary
        .components
        .iter()
        .find(|c| c.name.ends_with(&format!(".{component}")))
        .map(|c| c.counters)
        .unwrap_or_else(|| panic!("no component {component} in {summary:?}"))
}

/// `count` JSON events, one per line: `@timestamp` one second apart from a fixed day,
/// `event.sequence` = n, and a few ECS fields.
pub fn events(count: usize, from: usize) -> String {
    let mut text = String::new();
    for n in from..from + count {
        text.push_str(&format!(
            "{{\"@timestamp\":\"2026-01-15T{:02}:{:02}:{:02}Z\",\"event\":{{\"action\":\"GetObject\",\"sequence\":{n}}},\"user\":{{\"name\":\"user{}\"}},\"source\":{{\"ip\":\"10.0.{}.{}\"}}}}\n",
            (n / 3600) % 24,
            (n / 60) % 60,
            n % 60,
            n % 17,
            (n / 250) % 250,
            n % 250
        ));
    }
    text
}

/// A `file → parse json → opensearch` pipeline; `extra` adds sink attributes.
pub fn pipeline(
    input: &Path,
    url: &str,
    index: &str,
    deadletter: &str,
    mode: &str,
    extra: &str,
) -> String {
    format!(
        r#"pipeline "os" {{
  source file "input" {{
    path = "{input}"
    mode = "{mode}"
  }}
  transform parse "decode" {{
    inputs = [input]
    codec  = "json"
  }}
  sink opensearch "search" {{
    inputs           = [decode]
    endpoint         = "{url}"
    index            = "{index}"
    deadletter_index = "{deadletter}"
    {extra}
  }}
}}
"#,
        input = input.display()
    )
}
