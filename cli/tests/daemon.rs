//! `pipectl serve` and its client commands through the real binary: apply, a change
//! restarting only its component, a refused plan, rollback, tokens, and exactly-once
//! delivery through many applies.

mod common;

use common::{describe, pipectl, TempDir};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running `pipectl serve`, killed when dropped.
struct Daemon {
    child: Child,
    address: String,
    data: PathBuf,
    log: PathBuf,
    /// Extra flags for every client command (e.g. `--tls-ca`).
    client_args: Vec<String>,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        Daemon::start_with(dir, &[])
    }

    fn start_with(dir: &Path, serve_args: &[&str]) -> Daemon {
        let data = dir.join("data");
        let log = dir.join("serve.log");
        let mut child = pipectl()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--threads",
                "2",
                "--data-dir",
            ])
            .arg(&data)
            .args(serve_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")))
            .spawn()
            .expect("pipectl serve starts");
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let Some(address) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no address from pipectl serve: {line:?}; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Daemon {
            address: address.to_string(),
            child,
            data,
            log,
            client_args: Vec::new(),
        }
    }

    /// Runs a client command against this daemon.
    fn cli(&self, args: &[&str]) -> Output {
        pipectl()
            .args(args)
            .args(["--address", &self.address, "--token-file"])
            .arg(self.data.join("control.token"))
            .args(&self.client_args)
            .stdin(Stdio::null())
            .output()
            .expect("pipectl runs")
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            describe(&out),
            self.log()
        );
        out
    }

    fn status(&self) -> Value {
        let out = self.ok(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).expect("status is JSON")
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("control.token")).expect("token file")
    }

    /// A raw HTTP request; returns the status code.
    fn raw(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> u16 {
        let address = self.address.trim_start_matches("https://");
        let mut stream = TcpStream::connect(address).expect("connect");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0)
    }

    fn log(&self) -> String {
        format!(
            "\n--- daemon log ---\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pipeline directory: a followed file → `tag` (sets `v`) → `mark` → a file sink,
/// and a model stage reading `tag`.
fn pipeline_dir(root: &Path, name: &str, version: &str, extra: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("pipeline dir");
    let input = root.join("in.jsonl");
    let output = root.join("out.ndjson");
    std::fs::write(
        dir.join("demo.pipe"),
        format!(
            r#"pipeline "demo" {{
  source file "lines" {{
    path = "{}"
    mode = "follow"
  }}
  transform script "tag" {{
    inputs = [lines]
    rhai   = '''event.v = "{version}";'''
  }}
  model behaviour "pattern" {{
    inputs   = [tag]
    features = [novelty(event.action)]
  }}
  transform script "mark" {{
    inputs = [tag]
    rhai   = '''event.m = 1;'''
  }}
  sink file "out" {{
    inputs = [mark]
    path   = "{}"
{extra}
  }}
}}
"#,
            input.display(),
            output.display()
        ),
    )
    .expect("pipeline file");
    dir
}

fn append(root: &Path, ids: std::ops::Range<u64>) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("in.jsonl"))
        .expect("input file");
    let text: String = ids.map(|i| format!("{{\"id\":{i}}}\n")).collect();
    file.write_all(text.as_bytes()).expect("append");
}

/// The records written so far.
fn written(root: &Path) -> Vec<Value> {
    std::fs::read_to_string(root.join("out.ndjson"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn wait_for_records(root: &Path, count: usize, daemon: &Daemon) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records = written(root);
        if records.len() >= count {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} records arrived{}",
            records.len(),
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The id a record carries (the source keeps each line under `message`).
fn id_of(record: &Value) -> Option<u64> {
    let line: Value = serde_json::from_str(record["message"].as_str()?).ok()?;
    line["id"].as_u64()
}

fn component<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["components"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"]["component"] == name))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

fn restarts(status: &Value, name: &str) -> (u64, u64) {
    let c = component(status, name);
    (
        c["generation"].as_u64().unwrap_or(0),
        c["restarts"].as_u64().unwrap_or(0),
    )
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

#[test]
fn apply_change_refusal_rollback_and_tokens() {
    let root = TempDir::new("daemon");
    let root = root.path();
    let a = pipeline_dir(root, "a", "a", "");
    let a2 = pipeline_dir(root, "a2", "b", "");
    let daemon = Daemon::start(root);

    // Apply A.
    let plan = daemon.cli(&["plan", path_arg(&a)]);
    assert_eq!(plan.status.code(), Some(2), "{}", describe(&plan));
    let refused = daemon.cli(&["apply", path_arg(&a)]);
    assert_eq!(refused.status.code(), Some(2), "stdin is no terminal");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--auto-approve"));
    daemon.ok(&["apply", path_arg(&a), "--auto-approve", "--by", "tester"]);
    append(root, 0..100);
    wait_for_records(root, 100, &daemon);

    // A' changes one transform: only it restarts, the others keep counting.
    let plan = daemon.cli(&["plan", path_arg(&a2)]);
    assert_eq!(plan.status.code(), Some(2), "{}", describe(&plan));
    let shown = String::from_utf8_lossy(&plan.stdout);
    assert!(shown.contains("~ demo.tag"), "{shown}");
    assert!(
        shown.contains(r#"rhai: "event.v = \"a\";" -> "event.v = \"b\";""#),
        "{shown}"
    );
    assert!(
        shown.contains("0 to add, 1 to change, 0 to remove, 4 unchanged"),
        "{shown}"
    );
    let json = daemon.cli(&["plan", path_arg(&a2), "--json"]);
    assert_eq!(json.status.code(), Some(2), "{}", describe(&json));
    let json: Value = serde_json::from_slice(&json.stdout).expect("plan --json is JSON");
    assert_eq!(json["diff"]["changed"][0]["id"]["component"], "tag");
    assert_eq!(json["diff"]["changed"][0]["attrs"][0]["name"], "rhai");
    assert_eq!(json["revision"], 1);
    daemon.ok(&["apply", path_arg(&a2), "--auto-approve"]);
    let status = daemon.status();
    assert_eq!(restarts(&status, "tag"), (2, 1));
    // The model stage keeps running: its in-memory state is never reloaded.
    for name in ["lines", "mark", "out", "pattern"] {
        assert_eq!(restarts(&status, name), (1, 0), "{name} restarted");
    }
    append(root, 100..200);
    let records = wait_for_records(root, 200, &daemon);
    assert!(records[100..].iter().all(|r| r["v"] == "b"));
    let status = daemon.status();
    assert_eq!(component(&status, "lines")["counters"]["events_out"], 200);
    assert_eq!(component(&status, "mark")["counters"]["events_in"], 200);
    assert_eq!(component(&status, "out")["counters"]["events_in"], 200);
    assert_eq!(component(&status, "pattern")["counters"]["events_in"], 200);
    assert_eq!(daemon.cli(&["plan", path_arg(&a2)]).status.code(), Some(0));

    // A plan that does not compile is refused with its diagnostics.
    let broken = root.join("broken");
    std::fs::create_dir_all(&broken).expect("dir");
    std::fs::write(
        broken.join("demo.pipe"),
        "pipeline \"demo\" {\n  source fiel \"lines\" { path = \"x\" }\n}\n",
    )
    .expect("write");
    let out = daemon.cli(&["apply", path_arg(&broken), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(78), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("demo.pipe:2"));
    // One that compiles but cannot build is refused by the daemon, nothing changes.
    let unbuildable = pipeline_dir(root, "unbuildable", "c", "    encoding = \"ndjson\"\n");
    let text = std::fs::read_to_string(unbuildable.join("demo.pipe")).expect("read");
    std::fs::write(
        unbuildable.join("demo.pipe"),
        text.replace(
            &format!("\"{}\"", root.join("out.ndjson").display()),
            "env(\"PIPECTL_DAEMON_TEST_NEVER_SET\")",
        ),
    )
    .expect("write");
    let out = daemon.cli(&["apply", path_arg(&unbuildable), "--auto-approve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{}", describe(&out));
    assert!(stderr.contains("out"), "{stderr}");
    assert!(
        stderr.contains("nothing changed, revision 2 keeps running"),
        "{stderr}"
    );
    let status = daemon.status();
    assert_eq!(status["revision"]["revision"], 2);
    assert_eq!(restarts(&status, "tag"), (2, 1));
    assert_eq!(restarts(&status, "out"), (1, 0));
    append(root, 200..250);
    let records = wait_for_records(root, 250, &daemon);
    assert!(records[200..].iter().all(|r| r["v"] == "b"));

    // A live sample of what leaves `tag`.
    let feeder = {
        let root = root.to_path_buf();
        std::thread::spawn(move || {
            for i in 0..20u64 {
                std::thread::sleep(Duration::from_millis(100));
                append(&root, 250 + i..251 + i);
            }
        })
    };
    let tap = daemon.ok(&["tap", "demo.tag", "--limit", "1", "--wait", "10"]);
    let sample = String::from_utf8_lossy(&tap.stdout);
    let event: Value = serde_json::from_str(sample.trim()).expect("one JSON event");
    assert_eq!(event["v"], "b");
    let _ = feeder.join();
    wait_for_records(root, 270, &daemon);

    // A tap lasts as long as its client: one that hangs up is removed.
    let taps = |daemon: &Daemon| component(&daemon.status(), "tag")["taps"].as_u64();
    let mut client = TcpStream::connect(&daemon.address).expect("connect");
    let request = format!(
        "GET /v1/tap/demo/tag?limit=10000&wait=60 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
        daemon.address,
        daemon.token()
    );
    client.write_all(request.as_bytes()).expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    while taps(&daemon) != Some(1) {
        assert!(Instant::now() < deadline, "the tap never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(client);
    let mut next = 270;
    while taps(&daemon) != Some(0) {
        assert!(Instant::now() < deadline, "the tap outlived its client");
        append(root, next..next + 1);
        next += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let ids_so_far = next;

    // Rollback restores A.
    let out = daemon.ok(&["rollback", "1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Applied revision 3"));
    assert_eq!(restarts(&daemon.status(), "tag"), (3, 2));
    assert_eq!(daemon.cli(&["plan", path_arg(&a)]).status.code(), Some(0));
    append(root, ids_so_far..ids_so_far + 30);
    let records = wait_for_records(root, ids_so_far as usize + 30, &daemon);
    assert!(records[ids_so_far as usize..].iter().all(|r| r["v"] == "a"));
    let history = String::from_utf8_lossy(&daemon.ok(&["history"]).stdout).to_string();
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(history.contains("rollback to 1"), "{history}");
    assert!(history.lines().next().is_some_and(|l| l.contains("tester")));

    // No token or a wrong one: 401, and nothing changes.
    let body =
        serde_json::json!({"plan": {"pipelines": []}, "origin": {"by": "mallory"}}).to_string();
    let wrong = "0".repeat(64);
    assert_eq!(daemon.raw("POST", "/v1/apply", None, &body), 401);
    assert_eq!(daemon.raw("POST", "/v1/apply", Some(&wrong), &body), 401);
    assert_eq!(
        daemon.raw("POST", "/v1/rollback", Some(&wrong), "{\"by\":\"mallory\"}"),
        401
    );
    assert_eq!(daemon.raw("GET", "/v1/status", Some("Bearer"), ""), 401);
    assert_eq!(
        daemon.raw("GET", "/v1/history", Some(&daemon.token()), ""),
        200
    );
    let status = daemon.status();
    assert_eq!(status["revision"]["revision"], 3);
    assert_eq!(status["components"].as_array().map(Vec::len), Some(5));
    assert_eq!(restarts(&status, "pattern"), (1, 0));
    let end = ids_so_far + 40;
    append(root, ids_so_far + 30..end);
    wait_for_records(root, end as usize, &daemon);

    // Every record arrived exactly once through all of it.
    let ids: Vec<u64> = written(root).iter().filter_map(id_of).collect();
    assert_eq!(ids, (0..end).collect::<Vec<_>>());
}

#[test]
fn a_steady_file_source_through_ten_applies_delivers_every_record_once() {
    // Written to while a transform, the sink and the source itself are changed.
    let root = TempDir::new("daemon-ten");
    let root = root.path().to_path_buf();
    let daemon = Daemon::start(&root);
    daemon.ok(&[
        "apply",
        path_arg(&pipeline_dir(&root, "v0", "v0", "")),
        "--auto-approve",
    ]);

    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, total, root) = (Arc::clone(&stop), Arc::clone(&total), root.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let from = total.load(Ordering::SeqCst);
                append(&root, from..from + 20);
                total.store(from + 20, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    for round in 1..=10u32 {
        std::thread::sleep(Duration::from_millis(150));
        // Each round changes one component, in turn the transform, the sink and the
        // source (which must resume from its checkpoint).
        let version = format!("v{}", round.div_ceil(3));
        let sink = if ((round + 1) / 3) % 2 == 1 {
            "    fsync = true\n"
        } else {
            ""
        };
        let dir = pipeline_dir(&root, &format!("round{round}"), &version, sink);
        let source_changes = round / 3;
        if source_changes > 0 {
            let file = dir.join("demo.pipe");
            let text = std::fs::read_to_string(&file).expect("read");
            let batch = format!(
                "mode = \"follow\"\n    batch_size = {}",
                100 + source_changes
            );
            std::fs::write(&file, text.replacen("mode = \"follow\"", &batch, 1)).expect("write");
        }
        let out = daemon.ok(&["apply", path_arg(&dir), "--auto-approve"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("0 added, 1 changed, 0 removed"),
            "round {round}: {}",
            describe(&out)
        );
    }
    std::thread::sleep(Duration::from_millis(150));
    stop.store(true, Ordering::SeqCst);
    let _ = writer.join();
    let total = total.load(Ordering::SeqCst);
    let records = wait_for_records(&root, total as usize, &daemon);
    // Give a duplicate, if any, the time to show up.
    std::thread::sleep(Duration::from_millis(300));
    let records = if written(&root).len() > records.len() {
        written(&root)
    } else {
        records
    };
    let mut ids: Vec<u64> = records.iter().filter_map(id_of).collect();
    assert_eq!(ids.len(), records.len(), "every record carries its id");
    ids.sort_unstable();
    assert_eq!(ids, (0..total).collect::<Vec<_>>());
    let status = daemon.status();
    assert_eq!(restarts(&status, "lines").1, 3);
    assert_eq!(restarts(&status, "tag").1, 4);
    assert_eq!(restarts(&status, "out").1, 3);
    assert_eq!(restarts(&status, "pattern"), (1, 0));
    assert_eq!(component(&status, "out")["counters"]["events_in"], total);
    // Three restarts of the source read no line twice.
    assert_eq!(component(&status, "lines")["counters"]["events_out"], total);
}

#[test]
fn the_control_api_speaks_tls_when_given_a_certificate() {
    let root = TempDir::new("daemon-tls");
    let root = root.path();
    // A test CA and a certificate for 127.0.0.1 signed by it.
    let (ca, ca_key) = (root.join("ca.pem"), root.join("ca.key"));
    let (cert, key, csr) = (
        root.join("cert.pem"),
        root.join("key.pem"),
        root.join("cert.csr"),
    );
    let ext = root.join("cert.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext file");
    let p = path_arg;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509", "-days", "1", "-subj", "/CN=pipectl test CA"][..],
            &ec[..],
        ]
        .concat(),
        [&["req", "-subj", "/CN=127.0.0.1"][..], &ec[..]].concat(),
        vec![
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            p(&csr),
            "-CA",
            p(&ca),
            "-CAkey",
            p(&ca_key),
            "-CAcreateserial",
            "-extfile",
            p(&ext),
            "-out",
            p(&cert),
        ],
    ];
    let outputs: [&[&str]; 3] = [
        &["-keyout", p(&ca_key), "-out", p(&ca)],
        &["-keyout", p(&key), "-out", p(&csr)],
        &[],
    ];
    for (step, output) in steps.iter().zip(outputs) {
        let made = std::process::Command::new("openssl")
            .args(step)
            .args(output)
            .output();
        let Ok(made) = made else {
            eprintln!("skipped: the openssl command is needed to make test certificates");
            return;
        };
        assert!(
            made.status.success(),
            "openssl {step:?}: {}",
            describe(&made)
        );
    }
    let mut daemon = Daemon::start_with(
        root,
        &["--tls-cert", path_arg(&cert), "--tls-key", path_arg(&key)],
    );
    assert!(
        daemon.address.starts_with("https://127.0.0.1:"),
        "{}",
        daemon.address
    );

    // Without trusting the certificate the client refuses the connection.
    let untrusted = daemon.cli(&["status"]);
    assert_eq!(untrusted.status.code(), Some(1), "{}", describe(&untrusted));

    daemon.client_args = vec!["--tls-ca".into(), path_arg(&ca).into()];
    let a = pipeline_dir(root, "a", "a", "");
    daemon.ok(&["apply", path_arg(&a), "--auto-approve"]);
    append(root, 0..10);
    wait_for_records(root, 10, &daemon);
    assert_eq!(daemon.status()["revision"]["revision"], 1);
    // Plain HTTP gets no answer from a TLS listener.
    assert_eq!(
        daemon.raw("GET", "/v1/status", Some(&daemon.token()), ""),
        0
    );
}
