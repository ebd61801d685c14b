//! `pipectl opensearch setup|prune`, `pipectl search` and `pipectl run` with the
//! opensearch sink, against a real OpenSearch node; `pipectl dashboards install`
//! against a local server standing in for OpenSearch Dashboards (which cannot run
//! here), checking the multipart body and headers it receives.

mod common;

use common::{describe, pipectl, TempDir};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

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
    cmd.args(["-s", "--max-time", "60", "-w", "\n%{http_code}", url]);
    // `-X HEAD` would wait for a body that never comes.
    if method == "HEAD" {
        cmd.args(["--head", "-o", "/dev/null"]);
    } else {
        cmd.args(["-X", method]);
    }
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

fn run_ok(args: &[&str], url: &str) -> Output {
    let out = pipectl()
        .args(args)
        .env("OPENSEARCH_URL", url)
        .output()
        .expect("pipectl runs");
    assert!(out.status.success(), "pipectl {args:?}\n{}", describe(&out));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A node of this test's own (the upgrade test rewrites shared templates), stopped
/// when dropped.
struct OwnNode {
    dir: TempDir,
    url: String,
}

impl OwnNode {
    fn start() -> OwnNode {
        let dir = TempDir::new("os-node");
        let out = Command::new(common::repo_root().join("deploy/opensearch/node.sh"))
            .args(["start", "--port", "0", "--dir"])
            .arg(dir.path())
            .env("OPENSEARCH_HEAP", "512m")
            .output()
            .expect("node.sh runs");
        assert!(out.status.success(), "node.sh start\n{}", describe(&out));
        OwnNode {
            url: stdout(&out).trim().to_string(),
            dir,
        }
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        let _ = Command::new(common::repo_root().join("deploy/opensearch/node.sh"))
            .args(["stop", "--dir"])
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn setup_creates_then_reports_up_to_date_then_upgrades_older_templates() {
    let node = OwnNode::start();
    let first = stdout(&run_ok(&["opensearch", "setup"], &node.url));
    assert!(first.contains("OpenSearch 2.19"), "{first}");
    assert!(
        first.contains("component template pipectl-base: created"),
        "{first}"
    );
    assert!(
        first.contains("index template pipectl-incidents: created"),
        "{first}"
    );
    assert!(
        first.contains("ISM policy pipectl-retention: skipped"),
        "{first}"
    );

    let again = stdout(&run_ok(&["opensearch", "setup"], &node.url));
    assert_eq!(again.matches(": up to date").count(), 11, "{again}");
    let replicas = stdout(&run_ok(
        &["opensearch", "setup", "--replicas", "1"],
        &node.url,
    ));
    assert!(
        replicas.contains("component template pipectl-base: updated"),
        "{replicas}"
    );
    let (_, base) = http(
        "GET",
        &format!("{}/_component_template/pipectl-base", node.url),
        None,
    );
    let settings = &base["component_templates"][0]["component_template"]["template"]["settings"];
    assert_eq!(settings["index"]["number_of_replicas"], "1", "{settings}");
    run_ok(&["opensearch", "setup", "--replicas", "0"], &node.url);

    // An older pipectl installed a smaller entities template and wrote an index with it.
    let old = r#"{"index_patterns":["pipectl-entities-*"],"priority":200,
        "template":{"mappings":{"dynamic":"strict","properties":{"@timestamp":{"type":"date"}}},
                    "aliases":{"pipectl-entities":{}}},
        "_meta":{"managed_by":"pipectl","pipectl_schema":0}}"#;
    let (status, _) = http(
        "PUT",
        &format!("{}/_index_template/pipectl-entities", node.url),
        Some(old),
    );
    assert_eq!(status, 200);
    let (status, _) = http(
        "PUT",
        &format!("{}/pipectl-entities-2026.01", node.url),
        None,
    );
    assert_eq!(status, 200);
    let upgraded = stdout(&run_ok(&["opensearch", "setup"], &node.url));
    assert!(
        upgraded.contains("index template pipectl-entities: upgraded (schema 0 -> 1)"),
        "{upgraded}"
    );
    assert!(
        upgraded.contains("mapping pipectl-entities: updated"),
        "{upgraded}"
    );
    let (_, mapping) = http(
        "GET",
        &format!("{}/pipectl-entities-2026.01/_mapping", node.url),
        None,
    );
    let props = &mapping["pipectl-entities-2026.01"]["mappings"]["properties"];
    assert_eq!(
        props["pipectl"]["properties"]["profile"]["properties"]["threat_score"]["type"],
        "float"
    );
    assert_eq!(props["entity"]["properties"]["key"]["type"], "keyword");

    // A template from a newer pipectl is left alone.
    let newer = old.replace("\"pipectl_schema\":0", "\"pipectl_schema\":99");
    http(
        "PUT",
        &format!("{}/_index_template/pipectl-entities", node.url),
        Some(&newer),
    );
    let left = stdout(&run_ok(&["opensearch", "setup"], &node.url));
    assert!(
        left.contains("pipectl-entities: newer than this binary (schema 99 > 1), left alone"),
        "{left}"
    );
}

#[test]
fn setup_says_plainly_when_opensearch_is_unreachable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = pipectl()
        .args(["opensearch", "setup", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach {url}")) && err.to_lowercase().contains("refused"),
        "{err}"
    );
}

#[test]
fn prune_deletes_only_indices_whose_period_is_older_than_the_cutoff() {
    let url = node_url();
    let name = unique("prune");
    let today = {
        let out = Command::new("date")
            .args(["-u", "+%Y.%m.%d"])
            .output()
            .unwrap();
        stdout(&out).trim().to_string()
    };
    let indices = [
        format!("pipectl-{name}-2020.01.01"),
        format!("pipectl-{name}-2020.02"),
        format!("pipectl-{name}-{today}"),
        format!("pipectl-{name}-nodate"),
    ];
    for index in &indices {
        let (status, answer) = http("PUT", &format!("{url}/{index}"), None);
        assert_eq!(status, 200, "{answer}");
    }
    let pattern = format!("pipectl-{name}-*");
    let dry = stdout(&run_ok(
        &[
            "opensearch",
            "prune",
            "--older-than",
            "30d",
            "--dry-run",
            "--pattern",
            &pattern,
        ],
        &url,
    ));
    assert!(
        dry.contains(&format!("would delete {}", indices[0])),
        "{dry}"
    );
    assert!(
        dry.contains(&format!("would delete {}", indices[1])),
        "{dry}"
    );
    assert!(
        dry.contains("would delete 2 of the indices") && dry.contains("1 without a date"),
        "{dry}"
    );
    for index in &indices {
        assert_eq!(
            http("HEAD", &format!("{url}/{index}"), None).0,
            200,
            "{index} was deleted by a dry run"
        );
    }
    let real = stdout(&run_ok(
        &[
            "opensearch",
            "prune",
            "--older-than",
            "30d",
            "--pattern",
            &pattern,
        ],
        &url,
    ));
    assert!(real.contains("deleted 2 of the indices"), "{real}");
    let exists: Vec<u16> = indices
        .iter()
        .map(|i| http("HEAD", &format!("{url}/{i}"), None).0)
        .collect();
    assert_eq!(exists, [404, 404, 200, 200]);
    for index in &indices[2..] {
        http("DELETE", &format!("{url}/{index}"), None);
    }
}

#[test]
fn events_run_through_pipectl_into_opensearch_and_search_finds_them() {
    let url = node_url();
    let name = unique("search");
    let dir = TempDir::new("os-search");
    let input = dir.path().join("events.ndjson");
    let now = {
        let out = Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        stdout(&out).trim().to_string()
    };
    let mut lines = String::new();
    for (n, user) in ["alice", "bob", "alice", "carol"].iter().enumerate() {
        lines.push_str(&format!(
            "{{\"@timestamp\":\"{now}\",\"event\":{{\"action\":\"Login{n}\",\"outcome\":\"success\"}},\"user\":{{\"name\":\"{user}\"}}}}\n"
        ));
    }
    std::fs::write(&input, lines).unwrap();
    let pipeline = dir.path().join("os.pipe");
    std::fs::write(
        &pipeline,
        format!(
            r#"pipeline "search" {{
  source file "input" {{
    path = "{}"
  }}
  transform parse "decode" {{
    inputs = [input]
    codec  = "json"
  }}
  sink opensearch "search" {{
    inputs           = [decode]
    index            = "pipectl-events-{name}-%Y.%m.%d"
    deadletter_index = "pipectl-deadletter-{name}-%Y.%m.%d"
  }}
}}
"#,
            input.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = run_ok(
        &[
            "run",
            "--json-summary",
            "--data-dir",
            &data.display().to_string(),
            &pipeline.display().to_string(),
        ],
        &url,
    );
    let summary: Value = serde_json::from_str(stdout(&out).trim()).expect("a JSON summary");
    let sink = summary["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "search.search"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(sink["counters"]["events_out"], 4, "{summary}");
    http(
        "POST",
        &format!("{url}/pipectl-events-{name}-*/_refresh"),
        None,
    );

    let index = format!("pipectl-events-{name}-*");
    let table = stdout(&run_ok(
        &["search", "user.name:alice", "--index", &index],
        &url,
    ));
    assert!(
        table.starts_with(&format!("2 hits in {index} over the last 24h")),
        "{table}"
    );
    assert_eq!(table.matches("name=alice").count(), 2, "{table}");
    assert!(
        table.contains("action=Login") && table.contains("outcome=success"),
        "{table}"
    );

    let json = stdout(&run_ok(
        &["search", "*", "--index", &index, "--json", "--size", "3"],
        &url,
    ));
    let hits: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 3);
    assert!(hits
        .iter()
        .all(|h| h["_source"]["user"]["name"].is_string() && h["_id"].is_string()));

    let none = stdout(&run_ok(
        &["search", "user.name:nobody", "--index", &index],
        &url,
    ));
    assert!(none.starts_with("0 hits"), "{none}");
    let bad = pipectl()
        .args(["search", "*", "--since", "soon"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
}

/// One request as the stand-in Dashboards received it.
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers one request with `status` and `answer`, and hands over what it received.
fn dashboards_stand_in(
    status: &'static str,
    answer: &'static str,
) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        let _ = reader.read_line(&mut request_line);
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((n, v)) = line.trim_end().split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        let _ = reader.get_mut().write_all(response.as_bytes());
        let _ = tx.send(Received {
            request_line: request_line.trim_end().to_string(),
            headers,
            body,
        });
    });
    (url, rx)
}

fn saved_objects() -> String {
    std::fs::read_to_string(common::repo_root().join("dashboards/saved-objects/pipectl.ndjson"))
        .unwrap()
}

#[test]
fn dashboards_install_posts_the_saved_objects_as_a_multipart_import() {
    let (url, received) = dashboards_stand_in(
        "200 OK",
        r#"{"success":true,"successCount":42,"successResults":[]}"#,
    );
    let out = pipectl()
        .args(["dashboards", "install", "--url", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains(&format!("imported 42 saved objects into {url}")),
        "{}",
        describe(&out)
    );

    let req = received.recv().unwrap();
    assert_eq!(
        req.request_line,
        "POST /api/saved_objects/_import?overwrite=true HTTP/1.1"
    );
    assert_eq!(req.header("osd-xsrf"), Some("true"));
    let content_type = req.header("content-type").unwrap_or_default().to_string();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    let body = String::from_utf8(req.body).unwrap();
    let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pipectl.ndjson\"\r\nContent-Type: application/ndjson\r\n\r\n");
    let tail = format!("\r\n--{boundary}--\r\n");
    assert!(body.starts_with(&head), "{}", &body[..body.len().min(300)]);
    assert!(body.ends_with(&tail));
    assert_eq!(&body[head.len()..body.len() - tail.len()], saved_objects());
}

#[test]
fn dashboards_install_reports_import_errors_and_refusals() {
    let answer = r#"{"success":false,"successCount":40,"errors":[{"id":"pipectl-dashboard-entity","type":"dashboard","title":"Entity","error":{"type":"missing_references","references":[{"type":"visualization","id":"gone"}]}}]}"#;
    let (url, _received) = dashboards_stand_in("200 OK", answer);
    let out = pipectl()
        .args(["dashboards", "install", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: dashboard pipectl-dashboard-entity (Entity): missing_references (missing: visualization gone)"),
        "{err}"
    );

    let (url, _received) = dashboards_stand_in(
        "401 Unauthorized",
        r#"{"statusCode":401,"error":"Unauthorized"}"#,
    );
    let out = pipectl()
        .args(["dashboards", "install", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused the import with HTTP 401") && err.contains("--username"),
        "{err}"
    );
}

#[test]
fn dashboards_export_writes_the_embedded_objects() {
    let dir = TempDir::new("os-export");
    let file = dir.path().join("objects.ndjson");
    let out = pipectl()
        .args(["dashboards", "export", "--out", &file.display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), saved_objects());
    let out = pipectl().args(["dashboards", "export"]).output().unwrap();
    assert_eq!(stdout(&out), saved_objects());
    assert!(Path::new(&file).exists());
}
