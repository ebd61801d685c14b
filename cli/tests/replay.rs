//! `pipectl replay`: archived events played through a pipeline in event time, from
//! NDJSON files and from a real OpenSearch node; the same archive gives the same
//! breaches however it is stored or listed.

mod common;

use common::{describe, pipectl, TempDir};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A pipeline whose normaliser the archive stands in for, with a model stage and a file
/// sink for its breaches.
const PIPELINE: &str = r#"
pipeline "replayed" {
  source stdin "raw" {}

  transform normalise "okta" {
    inputs = [raw]
    format = "okta"
  }

  model behaviour "habits" {
    inputs   = [okta]
    entities = ["user"]
    features = [novelty(event.action), count(per = 1h)]
  }

  sink file "breaches" {
    inputs = [habits]
    path   = env("REPLAY_BREACHES")
  }

  sink file "copy" {
    inputs = [okta]
    path   = env("REPLAY_COPY")
  }
}
"#;

const DAY_MS: i64 = 86_400_000;
/// 2026-09-07T00:00:00Z.
const START_MS: i64 = 1_788_739_200_000;

fn rfc3339(ms: i64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

fn event(at: i64, user: &str, action: &str, n: usize) -> String {
    serde_json::json!({
        "@timestamp": rfc3339(at),
        "event": {"id": format!("{user}-{at}-{n}"), "action": action, "kind": "event"},
        "user": {"name": user, "email": user},
        "entity": {"key": format!("user:{user}")},
    })
    .to_string()
}

/// Ten days of routine for six users, then one of them does many things never seen
/// before; two events fall outside the replay window.
fn archive_lines() -> Vec<String> {
    let mut lines = Vec::new();
    // Sixty people: the model vouches for no breach rarer than one in the
    // entity-days it has seen (docs/models.md), so it needs a few hundred.
    let users: Vec<String> = ["ana", "ben", "cy", "dee", "eli", "fay"]
        .iter()
        .map(|u| u.to_string())
        .chain((0..54).map(|n| format!("user{n}")))
        .collect();
    for day in 0..10 {
        for (u, user) in users.iter().enumerate() {
            for hour in 9..17 {
                let at = START_MS + day * DAY_MS + hour * 3_600_000 + u as i64 * 60_000;
                let action = if hour % 2 == 0 {
                    "user.session.start"
                } else {
                    "app.read"
                };
                lines.push(event(at, user, action, 0));
            }
        }
    }
    let odd = START_MS + 10 * DAY_MS + 3 * 3_600_000;
    for n in 0..40 {
        lines.push(event(
            odd + n as i64 * 1000,
            "fay",
            &format!("admin.action.{}", n % 8),
            n,
        ));
    }
    lines.push(event(START_MS - 1, "ana", "app.read", 0));
    lines.push(event(START_MS + 30 * DAY_MS, "ana", "app.read", 0));
    lines
}

/// Writes the archive as two files, the lines spread and shuffled between them.
fn write_archive(dir: &Path, lines: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut first = String::new();
    let mut second = String::new();
    for (i, line) in lines.iter().enumerate().rev() {
        let target = if (i * 7919) % 3 == 0 {
            &mut first
        } else {
            &mut second
        };
        target.push_str(line);
        target.push('\n');
    }
    std::fs::write(dir.join("part-b.ndjson"), first).unwrap();
    std::fs::write(dir.join("part-a.ndjson"), second).unwrap();
}

fn replay(dir: &TempDir, out: &str, archive_args: &[&str], extra: &[&str]) -> Output {
    std::fs::write(dir.path().join("replayed.pipe"), PIPELINE).unwrap();
    let output = pipectl()
        .current_dir(dir.path())
        .env("REPLAY_BREACHES", format!("{out}-breaches.ndjson"))
        .env("REPLAY_COPY", format!("{out}-copy.ndjson"))
        .args(["--log", "warn", "replay", "replayed.pipe"])
        .args(["--from", "2026-09-07", "--to", "2026-09-30T00:00:00Z"])
        .args(archive_args)
        .args(extra)
        .output()
        .expect("pipectl runs");
    output
}

/// The breach records without `event.created` (when the record was written, the one
/// wall-clock field).
fn breaches(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(e) = v.get_mut("event").and_then(|e| e.as_object_mut()) {
                e.remove("created");
            }
            v
        })
        .collect()
}

fn summary(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}\n{}", describe(output)))
}

#[test]
fn a_replay_is_deterministic_and_keeps_to_its_window() {
    let dir = TempDir::new("replay-files");
    let lines = archive_lines();
    write_archive(&dir.path().join("archive"), &lines);

    let first = replay(&dir, "one", &["--archive", "archive"], &["--json-summary"]);
    assert!(first.status.success(), "{}", describe(&first));
    let report = summary(&first);
    // Everything but the two events outside the window.
    assert_eq!(report["replayed"], lines.len() as u64 - 2, "{report}");
    assert!(
        report["outputs"]["habits"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("2 outside"), "{stderr}");

    // The same archive, its files named the other way round and one of them gzipped.
    let gz = dir.path().join("archive/part-a.ndjson.gz");
    let plain = std::fs::read(dir.path().join("archive/part-a.ndjson")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut encoder, &plain).unwrap();
    encoder.finish().unwrap();
    std::fs::remove_file(dir.path().join("archive/part-a.ndjson")).unwrap();
    let second = replay(
        &dir,
        "two",
        &[
            "--archive",
            "archive/part-b.ndjson",
            "--archive",
            "archive/part-a.ndjson.gz",
        ],
        &["--quiet"],
    );
    assert!(second.status.success(), "{}", describe(&second));

    let one = breaches(&dir.path().join("one-breaches.ndjson"));
    let two = breaches(&dir.path().join("two-breaches.ndjson"));
    assert!(!one.is_empty());
    assert_eq!(
        one, two,
        "two replays of one archive gave different breaches"
    );
    assert!(
        one.iter().any(|b| b["entity"]["key"] == "user:fay"),
        "the burst of new actions should breach: {one:?}"
    );
    // The archive reached the sink reading the stand-in too, in event-time order.
    let copy = std::fs::read_to_string(dir.path().join("one-copy.ndjson")).unwrap();
    let times: Vec<String> = copy
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["@timestamp"].to_string())
        .collect();
    assert_eq!(times.len(), lines.len() - 2);
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "not in event-time order"
    );
}

#[test]
fn speed_plays_event_time_at_the_given_pace() {
    let dir = TempDir::new("replay-speed");
    // Five events one second apart: 4 s of event time at 2x takes at least 2 s.
    let lines: Vec<String> = (0..5)
        .map(|n| event(START_MS + n * 1000, "ana", "app.read", n as usize))
        .collect();
    write_archive(&dir.path().join("archive"), &lines);
    let started = Instant::now();
    let output = replay(
        &dir,
        "paced",
        &["--archive", "archive"],
        &["--speed", "2", "--quiet"],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        started.elapsed().as_secs_f64() >= 1.9,
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_windows_and_empty_archives_are_plain_errors() {
    let dir = TempDir::new("replay-errors");
    write_archive(&dir.path().join("archive"), &archive_lines());
    std::fs::write(dir.path().join("replayed.pipe"), PIPELINE).unwrap();
    let backwards = pipectl()
        .current_dir(dir.path())
        .args(["replay", "replayed.pipe", "--archive", "archive"])
        .args(["--from", "2026-10-01", "--to", "2026-09-01"])
        .output()
        .unwrap();
    assert_eq!(backwards.status.code(), Some(2), "{}", describe(&backwards));
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("is not before"));

    let empty = pipectl()
        .current_dir(dir.path())
        .args(["replay", "replayed.pipe", "--archive", "archive"])
        .args(["--from", "2025-01-01", "--to", "2025-02-01"])
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(1), "{}", describe(&empty));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no archived event"));

    let unknown = pipectl()
        .current_dir(dir.path())
        .args([
            "replay",
            "replayed.pipe",
            "--archive",
            "archive",
            "--as",
            "nope",
        ])
        .args(["--from", "2026-09-07", "--to", "2026-09-30"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2), "{}", describe(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no component `nope`"));
}

/// `curl` against OpenSearch: the status code.
fn curl(method: &str, url: &str, body: &str, content_type: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "60",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args([
            "-X",
            method,
            url,
            "-H",
            &format!("content-type: {content_type}"),
        ])
        // The body on standard input: a bulk request is longer than an argument may be.
        .args(["--data-binary", "@-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                std::io::Write::write_all(&mut stdin, body.as_bytes())?;
            }
            child.wait_with_output()
        })
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn an_opensearch_archive_replays_like_the_same_files() {
    let url = match std::env::var("OPENSEARCH_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "OPENSEARCH_URL is not set: this test needs a real OpenSearch node. Run it with \
             `scripts/test`, which starts one and exports OPENSEARCH_URL."
        ),
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let index = format!("replay-archive-{}-{nanos}", std::process::id());
    let lines = archive_lines();
    let mapping = r#"{"mappings": {"properties": {"@timestamp": {"type": "date"}}}}"#;
    assert_eq!(
        curl(
            "PUT",
            &format!("{url}/{index}"),
            mapping,
            "application/json"
        ),
        200
    );
    let mut bulk = String::new();
    for line in &lines {
        bulk.push_str("{\"index\": {}}\n");
        bulk.push_str(line);
        bulk.push('\n');
    }
    let status = curl(
        "POST",
        &format!("{url}/{index}/_bulk?refresh=true"),
        &bulk,
        "application/x-ndjson",
    );
    assert_eq!(status, 200);

    let dir = TempDir::new("replay-opensearch");
    write_archive(&dir.path().join("archive"), &lines);
    let from_files = replay(&dir, "files", &["--archive", "archive"], &["--quiet"]);
    assert!(from_files.status.success(), "{}", describe(&from_files));
    let from_index = replay(
        &dir,
        "index",
        &["--index", &index, "--url", &url],
        &["--json-summary", "--quiet"],
    );
    curl("DELETE", &format!("{url}/{index}"), "", "application/json");
    assert!(from_index.status.success(), "{}", describe(&from_index));
    assert_eq!(summary(&from_index)["replayed"], lines.len() as u64 - 2);
    let files = breaches(&dir.path().join("files-breaches.ndjson"));
    let indexed = breaches(&dir.path().join("index-breaches.ndjson"));
    assert!(!files.is_empty());
    assert_eq!(
        files, indexed,
        "OpenSearch and files gave different breaches"
    );
}

/// Vendor files standing in for their sources: records ordered by the time their own
/// normaliser finds, a flow log header still ahead of its lines, a refused record
/// still reaching the `errors` output.
#[test]
fn raw_vendor_files_replay_in_event_time_through_the_normalisers() {
    let dir = TempDir::new("replay-raw");
    let pipeline = r#"
pipeline "raw" {
  source file "okta_log" {
    path = "live/okta.jsonl"
  }
  source file "flow_log" {
    path = "live/flows.log"
  }
  transform normalise "okta" {
    inputs = [okta_log]
    format = "okta"
  }
  transform normalise "flows" {
    inputs = [flow_log]
    format = "aws_vpcflow"
  }
  transform filter "merged" {
    inputs    = [okta, flows]
    condition = exists(event.action)
  }
  sink file "all" {
    inputs = [merged]
    path   = "all.ndjson"
  }
  sink file "refused" {
    inputs = [okta.errors]
    path   = "refused.ndjson"
  }
}
"#;
    std::fs::write(dir.path().join("raw.pipe"), pipeline).unwrap();
    let okta = |second: i64, n: u32| {
        serde_json::json!({
            "uuid": format!("e{n}"),
            "published": rfc3339(START_MS + second * 1000),
            "eventType": "user.session.start",
            "actor": {"type": "User", "alternateId": "ana@acme.example"},
        })
        .to_string()
    };
    let okta_file = [
        okta(2, 2),
        okta(0, 0),
        "not a record".to_string(),
        okta(4, 4),
    ]
    .join("\n");
    std::fs::write(dir.path().join("okta.jsonl"), okta_file + "\n").unwrap();
    let start = START_MS / 1000;
    let flows = format!(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
         2 123456789012 eni-1 10.0.0.1 10.0.0.2 4000 443 6 10 840 {} {} ACCEPT OK\n\
         2 123456789012 eni-1 10.0.0.1 10.0.0.3 4001 443 6 10 840 {} {} ACCEPT OK\n",
        start + 1,
        start + 1,
        start + 3,
        start + 3
    );
    std::fs::write(dir.path().join("flows.log"), flows).unwrap();
    let output = pipectl()
        .current_dir(dir.path())
        .args([
            "--log",
            "warn",
            "replay",
            "raw.pipe",
            "--json-summary",
            "--quiet",
        ])
        .args([
            "--source",
            "okta_log=okta.jsonl",
            "--source",
            "flow_log=flows.log",
        ])
        .args(["--from", "2026-09-07", "--to", "2026-09-08"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let all = std::fs::read_to_string(dir.path().join("all.ndjson")).unwrap();
    let order: Vec<String> = all
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{}@{}",
                v["event"]["module"].as_str().unwrap_or("?"),
                &v["@timestamp"].as_str().unwrap_or("?")[17..19]
            )
        })
        .collect();
    assert_eq!(
        order,
        ["okta@00", "aws@01", "okta@02", "aws@03", "okta@04"],
        "{all}"
    );
    let refused = std::fs::read_to_string(dir.path().join("refused.ndjson")).unwrap();
    assert_eq!(refused.lines().count(), 1, "{refused}");
    assert!(refused.contains("not a record"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2 without a time"), "{stderr}");

    let unknown = pipectl()
        .current_dir(dir.path())
        .args(["replay", "raw.pipe", "--source", "nope=okta.jsonl"])
        .args(["--from", "2026-09-07", "--to", "2026-09-08"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2), "{}", describe(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no source `nope`"));
}
