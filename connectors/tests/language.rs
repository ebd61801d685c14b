//! Pipelines written in the pipeline language, checked against this crate's catalogue
//! (so every spec, default and output name passes the real checker) and run.

use pipectl_connectors::factories;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{start, Registry, RunOptions};
use pipectl_dsl::{compile, render_short, SourceFile};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "pipectl-connectors-lang-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `text`; the diagnostics are the failure message.
fn plan(text: &str) -> Result<pipectl_dsl::plan::Plan, String> {
    let registry = Registry::new(factories());
    let files = [SourceFile::new("test.pipe", text)];
    let compiled = compile(&files, &registry.catalogue());
    let messages: Vec<String> = compiled
        .diagnostics
        .iter()
        .map(|d| render_short(d, &files))
        .collect();
    compiled.plan.ok_or_else(|| messages.join("\n"))
}

async fn run(text: &str, data: &Path) {
    let plan = plan(text).unwrap_or_else(|e| panic!("does not compile:\n{e}"));
    let (_trigger, signal) = shutdown_pair();
    let graph = start(
        &plan,
        &Registry::new(factories()),
        RunOptions::new(data),
        signal,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    tokio::time::timeout(Duration::from_secs(30), graph.wait())
        .await
        .expect("a finite run ends")
        .unwrap_or_else(|e| panic!("{e:?}"));
}

fn lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn syslog_lines_parsed_scripted_and_routed_by_severity() {
    let dir = Scratch::new("syslog");
    let input = dir.path("in.log");
    std::fs::write(
        &input,
        concat!(
            "<11>1 2024-05-01T10:00:00Z web01 nginx 812 - - upstream timed out\n",
            "<14>1 2024-05-01T10:00:01Z web01 nginx 812 - [meta@1 req=\"42\"] GET /health\n",
            "garbage\n",
        ),
    )
    .unwrap();
    let text = format!(
        r#"
pipeline "lang" {{
  source file "logs" {{
    path = "{input}"
  }}

  transform parse "decoded" {{
    inputs        = [logs]
    codec         = "syslog"
    keep_original = true
  }}

  transform script "tagged" {{
    inputs = [decoded]
    rhai   = '''
      event.tags = ["seen"];
    '''
  }}

  transform route "by_severity" {{
    inputs = [tagged]
    routes = {{
      urgent = log.syslog.severity.code <= 3
    }}
  }}

  sink file "urgent" {{
    inputs = [by_severity.urgent]
    path   = "{urgent}"
  }}

  sink file "rest" {{
    inputs = [by_severity.unmatched]
    path   = "{rest}"
  }}

  sink file "bad" {{
    inputs = [decoded.errors, tagged.errors]
    path   = "{bad}"
  }}
}}
"#,
        urgent = dir.path("urgent.ndjson"),
        rest = dir.path("rest.ndjson"),
        bad = dir.path("bad.ndjson"),
    );
    run(&text, &dir.0.join("data")).await;
    assert_eq!(
        lines(&dir.path("urgent.ndjson")),
        [concat!(
            r#"{"@timestamp":"2024-05-01T10:00:00Z","host":{"hostname":"web01"},"process":{"name":"nginx","pid":812},"#,
            r#""log":{"syslog":{"priority":11,"facility":{"code":1,"name":"user"},"severity":{"code":3,"name":"error"},"version":1}},"#,
            r#""message":"upstream timed out","#,
            r#""event":{"original":"<11>1 2024-05-01T10:00:00Z web01 nginx 812 - - upstream timed out"},"tags":["seen"]}"#
        )]
    );
    let rest = lines(&dir.path("rest.ndjson"));
    assert_eq!(rest.len(), 1);
    assert!(
        rest[0].contains(r#""structured_data":{"meta@1":{"req":"42"}}"#),
        "{}",
        rest[0]
    );
    let bad = lines(&dir.path("bad.ndjson"));
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].starts_with(r#"{"message":"garbage","pipectl":{"error":{"component":"lang.decoded","message":"syslog: expected a timestamp"#),
        "{}",
        bad[0]
    );
}

#[tokio::test]
async fn kv_and_csv_with_their_options() {
    let dir = Scratch::new("kvcsv");
    let kv_input = dir.path("kv.log");
    let csv_input = dir.path("csv.log");
    std::fs::write(&kv_input, "user: alice; action: \"log in\"\nbroken\n").unwrap();
    std::fs::write(&csv_input, "2024-05-01,alice,\"a, b\"\n1,2\n").unwrap();
    let text = format!(
        r#"
pipeline "lang" {{
  source file "kv_in" {{
    path = "{kv_input}"
  }}

  source file "csv_in" {{
    path = "{csv_input}"
  }}

  transform parse "kv" {{
    inputs         = [kv_in]
    codec          = "kv"
    kv_field_split = "; "
    kv_value_split = ": "
    target         = fields
  }}

  transform parse "csv" {{
    inputs      = [csv_in]
    codec       = "csv"
    csv_columns = ["date", "user", "note"]
  }}

  sink file "good" {{
    inputs = [kv, csv]
    path   = "{good}"
  }}

  sink file "bad" {{
    inputs = [kv.errors, csv.errors]
    path   = "{bad}"
  }}
}}
"#,
        good = dir.path("good.ndjson"),
        bad = dir.path("bad.ndjson"),
    );
    run(&text, &dir.0.join("data")).await;
    let mut good = lines(&dir.path("good.ndjson"));
    good.sort();
    assert_eq!(
        good,
        [
            r#"{"date":"2024-05-01","user":"alice","note":"a, b"}"#,
            r#"{"fields":{"user":"alice","action":"log in"}}"#,
        ]
    );
    let bad = lines(&dir.path("bad.ndjson")).join("\n");
    assert!(
        bad.contains("kv: expected `key: value`, found `broken`"),
        "{bad}"
    );
    assert!(
        bad.contains("csv: expected 3 fields (date, user, note), found 2"),
        "{bad}"
    );
}

#[test]
fn the_checker_knows_every_component_and_its_outputs() {
    let ok = r#"
pipeline "p" {
  source stdin "lines" {}
  source http "web" {
    address    = "127.0.0.1:0"
    auth_token = secret("ingest_token")
  }
  source syslog "sys" {
    mode   = "tcp"
    format = "rfc5424"
  }
  transform filter "f" {
    inputs    = [lines, web, sys]
    condition = event.outcome == "failure"
  }
  transform route "r" {
    inputs = [f]
    routes = {
      a = user.name == "a"
    }
  }
  sink console "c" {
    inputs   = [r.a, r.unmatched]
    encoding = "pretty"
  }
  sink blackhole "b" {
    inputs = [f]
  }
}
"#;
    plan(ok).unwrap_or_else(|e| panic!("{e}"));
    let wrong = r#"
pipeline "p" {
  source file "src" {
    path = "x"
    mode = "tail"
  }
  transform route "r" {
    inputs = [src]
    routes = {
      a = user.name == "a"
    }
  }
  sink console "c" {
    inputs = [r.b]
  }
}
"#;
    let errors = plan(wrong).unwrap_err();
    assert!(errors.contains("tail"), "{errors}");
    assert!(errors.contains("`r` has no output `b`"), "{errors}");
}
