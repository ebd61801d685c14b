//! `pipectl actions` with real `pipectl run` pipelines and moto's IAM: a confirm-mode
//! responder queues, `list` shows the queue, `approve`/`deny`/`revert` go through the
//! decision files and the next run applies them; the audit documents reach a sink.

mod common;

use common::{describe, pipectl, TempDir};
use pipectl_connectors::aws::iam::Iam;
use pipectl_connectors::aws::{AwsClient, AwsSettings, Credentials};
use pipectl_core::secrets::Secret;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto server on a free port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server runs (pip install 'moto[server]')");
    Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

fn iam(endpoint: &str) -> Iam {
    let client = AwsClient::new(AwsSettings {
        region: "us-east-1".into(),
        endpoint: Some(endpoint.parse().expect("endpoint")),
        credentials: Credentials {
            access_key_id: "testing".into(),
            secret_access_key: Secret::new("testing"),
            session_token: None,
        },
    })
    .expect("client");
    Iam::new(&client).expect("iam")
}

/// Creates `user` with one active access key once moto answers; returns the key id.
async fn user_with_key(iam: &Iam, user: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while iam.call("ListUsers", &[], "wait").await.is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    iam.call("CreateUser", &[("UserName", user)], "set-up")
        .await
        .expect("CreateUser");
    let xml = iam
        .call("CreateAccessKey", &[("UserName", user)], "set-up")
        .await
        .expect("CreateAccessKey")
        .xml;
    let start = xml.find("<AccessKeyId>").expect("key id") + "<AccessKeyId>".len();
    let end = xml[start..].find('<').expect("end") + start;
    xml[start..end].to_string()
}

async fn key_status(iam: &Iam, user: &str) -> String {
    let keys = iam.list_access_keys(user).await.expect("ListAccessKeys");
    keys.first().map(|k| k.status.clone()).unwrap_or_default()
}

fn incident(id: &str, user: &str) -> Value {
    json!({
        "@timestamp": "2026-10-03T23:02:17Z",
        "event": {"id": id, "kind": "alert", "dataset": "pipectl.incident"},
        "entity": {"key": format!("aws_user:arn:aws:iam::123456789012:user/{user}"), "kind": "aws_user", "id": format!("arn:aws:iam::123456789012:user/{user}")},
        "incident": {"id": id, "score": 0.97, "title": format!("{user}: new country, new key"), "status": "open"}
    })
}

/// Runs the pipeline once (finite: the incidents file is read once).
fn run(dir: &Path, moto: &Moto) {
    let out = pipectl()
        .args(["--log", "warn", "run", "--data-dir"])
        .arg(dir.join("data"))
        .arg(dir.join("respond.pipe"))
        .env("MOTO_ENDPOINT", &moto.endpoint)
        .env("INCIDENTS", dir.join("incidents.jsonl"))
        .env("AUDIT", dir.join("audit.jsonl"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("pipectl runs");
    assert!(out.status.success(), "{}", describe(&out));
}

fn actions(dir: &Path, args: &[&str]) -> std::process::Output {
    pipectl()
        .args(["actions", "--data-dir"])
        .arg(dir.join("data"))
        .args(args)
        .output()
        .expect("pipectl actions runs")
}

/// `pipectl actions list --json`: every action's audit document.
fn listed(dir: &Path) -> Vec<Value> {
    let out = actions(dir, &["list", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn find<'a>(docs: &'a [Value], target: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["pipectl"]["action"]["target"]["id"] == json!(target))
        .unwrap_or_else(|| panic!("no action on {target} in {docs:?}"))
}

/// The test pipeline: incidents from a file (read once, or followed so the run keeps
/// going), a confirm-mode responder on moto, its audit documents to a file.
fn pipeline(file_mode: &str) -> String {
    format!(
        r#"pipeline "estate" {{
  source file "incidents" {{
    path = env("INCIDENTS")
    mode = "{file_mode}"
  }}

  transform parse "decoded" {{
    inputs = [incidents]
    codec  = "json"
  }}

  respond aws "contain" {{
    inputs        = [decoded]
    when          = incident.score >= 0.95 && entity.kind == "aws_user"
    action        = "disable_access_keys"
    mode          = "confirm"
    expire        = 4h
    region        = "us-east-1"
    endpoint      = env("MOTO_ENDPOINT")
    poll_interval = 50ms
  }}

  sink file "audit" {{
    inputs = [contain]
    path   = env("AUDIT")
  }}
}}
"#
    )
}

#[test]
fn operators_approve_deny_and_revert_through_the_data_directory() {
    let moto = start_moto();
    let dir = TempDir::new("actions");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let iam = iam(&moto.endpoint);
    runtime.block_on(async {
        user_with_key(&iam, "alice").await;
        user_with_key(&iam, "bob").await;
    });
    std::fs::write(dir.path().join("respond.pipe"), pipeline("read_once"))
        .expect("pipeline written");
    let lines: Vec<String> = [incident("inc-a", "alice"), incident("inc-b", "bob")]
        .iter()
        .map(Value::to_string)
        .collect();
    std::fs::write(dir.path().join("incidents.jsonl"), lines.join("\n") + "\n").expect("incidents");

    // First run: both queued, nothing done.
    run(dir.path(), &moto);
    let docs = listed(dir.path());
    assert_eq!(docs.len(), 2);
    for doc in &docs {
        assert_eq!(
            doc["pipectl"]["action"]["status"],
            json!("pending_approval")
        );
        assert_eq!(doc["event"]["dataset"], json!("pipectl.action"));
    }
    let table = actions(dir.path(), &["list"]);
    assert!(table.status.success(), "{}", describe(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("pending_approval") && text.contains("disable_access_keys"),
        "{text}"
    );
    runtime.block_on(async {
        assert_eq!(key_status(&iam, "alice").await, "Active");
    });
    let alice = find(&docs, "alice")["pipectl"]["action"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let bob = find(&docs, "bob")["pipectl"]["action"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Decisions: approve alice's (by a prefix of its id), deny bob's.
    let out = actions(
        dir.path(),
        &[
            "approve",
            &alice[..10],
            "--by",
            "soc.analyst",
            "--comment",
            "checked",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = actions(dir.path(), &["deny", &bob, "--by", "soc.lead"]);
    assert!(out.status.success(), "{}", describe(&out));
    // A decision that does not fit is refused at once.
    let out = actions(dir.path(), &["revert", &bob]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pending_approval"),
        "{}",
        describe(&out)
    );
    let out = actions(dir.path(), &["approve", "nosuchid"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));

    // The next run applies them.
    run(dir.path(), &moto);
    let docs = listed(dir.path());
    let a = &find(&docs, "alice")["pipectl"]["action"];
    assert_eq!(a["status"], json!("succeeded"));
    assert_eq!(a["approval"]["by"], json!("soc.analyst"));
    assert_eq!(a["approval"]["comment"], json!("checked"));
    assert_eq!(
        find(&docs, "bob")["pipectl"]["action"]["status"],
        json!("denied")
    );
    runtime.block_on(async {
        assert_eq!(key_status(&iam, "alice").await, "Inactive");
        assert_eq!(key_status(&iam, "bob").await, "Active");
    });

    // Revert by hand.
    let out = actions(dir.path(), &["revert", &alice]);
    assert!(out.status.success(), "{}", describe(&out));
    run(dir.path(), &moto);
    let docs = listed(dir.path());
    let a = &find(&docs, "alice")["pipectl"]["action"];
    assert_eq!(a["status"], json!("reverted"));
    assert_eq!(a["revert"]["status"], json!("reverted"));
    runtime.block_on(async {
        assert_eq!(key_status(&iam, "alice").await, "Active");
    });

    // Every transition reached the sink as an audit document.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit file");
    let statuses: Vec<String> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d["pipectl"]["action"]["id"] == json!(alice))
        .filter_map(|d| {
            d["pipectl"]["action"]["status"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "pending_approval",
            "approved",
            "executing",
            "succeeded",
            "reverting",
            "reverted"
        ]
    );
}

/// Polls `check` every 100 ms for up to 30 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_pipeline_applies_an_approval_within_its_poll_interval() {
    let moto = start_moto();
    let dir = TempDir::new("actions-live");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let iam = iam(&moto.endpoint);
    runtime.block_on(user_with_key(&iam, "carol"));
    std::fs::write(dir.path().join("respond.pipe"), pipeline("follow")).expect("pipeline");
    std::fs::write(
        dir.path().join("incidents.jsonl"),
        incident("inc-c", "carol").to_string() + "\n",
    )
    .expect("incidents");
    let child = pipectl()
        .args(["--log", "warn", "run", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg(dir.path().join("respond.pipe"))
        .env("MOTO_ENDPOINT", &moto.endpoint)
        .env("INCIDENTS", dir.path().join("incidents.jsonl"))
        .env("AUDIT", dir.path().join("audit.jsonl"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipectl runs");
    let mut id = String::new();
    eventually("the action is queued", || {
        let docs = listed(dir.path());
        match docs.first() {
            Some(d) if d["pipectl"]["action"]["status"] == json!("pending_approval") => {
                id = d["pipectl"]["action"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                true
            }
            _ => false,
        }
    });
    let out = actions(dir.path(), &["approve", &id, "--by", "on.call"]);
    assert!(out.status.success(), "{}", describe(&out));
    eventually("the running responder acts", || {
        runtime.block_on(key_status(&iam, "carol")) == "Inactive"
    });
    eventually("the journal says so", || {
        listed(dir.path())
            .first()
            .is_some_and(|d| d["pipectl"]["action"]["status"] == json!("succeeded"))
    });
    // Stop it as an operator would (SIGTERM): it drains and exits 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("pipectl exits");
    assert!(out.status.success(), "{}", describe(&out));
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit file");
    let last: Value = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .next_back()
        .expect("audit documents");
    assert_eq!(last["pipectl"]["action"]["status"], json!("succeeded"));
    assert_eq!(
        last["pipectl"]["action"]["approval"]["by"],
        json!("on.call")
    );
}
