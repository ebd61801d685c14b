//! `pipectl test`: test blocks run against the real stages, with readable failures and
//! the exit code users' CI relies on.

mod common;

use common::{describe, pipectl, TempDir};

const PIPELINE: &str = r#"pipeline "auth" {
  source stdin "auth_log" {}

  transform route "by_severity" {
    inputs = [auth_log]
    routes = {
      high = user == "root"
    }
  }

  transform filter "failures" {
    inputs    = [auth_log]
    condition = outcome == "failure"
  }

  sink console "out" {
    inputs = [by_severity.high, failures]
  }

  test "root logins are high severity" {
    given auth_log = [
      { user = "root", outcome = "success" },
      { user = "alice", outcome = "failure" },
    ]
    expect by_severity.high = contains(user == "root")
    expect by_severity.high = not_contains(user == "alice")
    expect failures         = count(outcome == "failure", 1)
  }

  test "a captured hour from a file" {
    given auth_log = file("fixtures/hour.jsonl")
    expect failures = count(2)
  }
}
"#;

fn write(dir: &TempDir, failing: &str) {
    std::fs::write(
        dir.path().join("auth.pipe"),
        PIPELINE.replace("count(outcome == \"failure\", 1)", failing),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("fixtures")).unwrap();
    std::fs::write(
        dir.path().join("fixtures/hour.jsonl"),
        "{\"user\":\"bob\",\"outcome\":\"failure\"}\n\n{\"user\":\"carol\",\"outcome\":\"failure\"}\n{\"user\":\"dan\",\"outcome\":\"success\"}\n",
    )
    .unwrap();
}

#[test]
fn passing_tests_exit_zero_and_say_so() {
    let dir = TempDir::new("test-command-pass");
    write(&dir, "count(outcome == \"failure\", 1)");
    let output = pipectl().arg("test").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout.contains("\"root logins are high severity\""),
        "{stdout}"
    );
    assert!(stdout.contains("2 tests: 2 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_failed_expectation_shows_what_was_expected_and_what_came() {
    let dir = TempDir::new("test-command-fail");
    write(&dir, "count(outcome == \"failure\", 3)");
    let output = pipectl().arg("test").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stdout.contains("... FAILED"), "{stdout}");
    assert!(
        stdout.contains("expect failures = count(outcome == \"failure\", 3)"),
        "{stdout}"
    );
    assert!(stdout.contains("expected 3, got 1"), "{stdout}");
    assert!(
        stdout.contains("\"user\":\"alice\""),
        "the events seen: {stdout}"
    );
    assert!(stdout.contains("2 tests: 1 passed, 1 failed"), "{stdout}");

    // --filter runs only the matching test: the passing one here.
    let output = pipectl()
        .args(["test", "--filter", "captured hour"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn a_missing_or_malformed_events_file_is_an_error_naming_it() {
    let dir = TempDir::new("test-command-bad-file");
    write(&dir, "count(outcome == \"failure\", 1)");
    std::fs::write(dir.path().join("fixtures/hour.jsonl"), "{\"user\":\n").unwrap();
    let output = pipectl().arg("test").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stdout.contains("... ERROR"), "{stdout}");
    assert!(stdout.contains("hour.jsonl, line 1"), "{stdout}");
}

#[test]
fn the_shipped_scenario_pipeline_tests_pass() {
    let output = pipectl()
        .arg("test")
        .arg(common::repo_root().join("examples/scenario"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

/// `pipectl test pipelines/`: the shipped pipelines' own tests, as users run theirs in CI.
#[test]
fn the_shipped_pipelines_tests_pass() {
    let output = pipectl()
        .arg("test")
        .arg(common::repo_root().join("pipelines"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");
}
