//! The pattern-of-life evaluation at the generator's default size — the organisation
//! docs/DETECTION.md reports on (500 people, 28 days, seed 7): its records, with
//! labelled attacks hidden in weeks of normal activity, through the normalisers and
//! the shipped model stages, at default settings.
//!
//! It holds the targets: every attack detected, the attacker in the top 5 of
//! its day, at most 2 false breaches per 1,000 entity-days; and the incidents (the
//! supplier's mail chain among them). The reduced organisation's incidents are the
//! quickstart test's (cli/tests/quickstart.rs).

mod common;

use common::{describe, pipectl, repo_root, TempDir};
use std::process::Command;

/// The target: at most 2 false breaches per 1,000 entity-days (0.8 today).
const FALSE_RATE_CEILING: f64 = 2.0;

/// False anomalies (rare for one feature, not for an entity-day: evidence for
/// incidents) per 1,000 entity-days are about 4.7 today; past this the models have
/// grown noisier even if the breaches have not.
const FALSE_ANOMALY_CEILING: f64 = 8.0;

/// Incidents are raised for every scenario of this organisation today.
const INCIDENTS_RAISED_FLOOR: u64 = 8;

/// False incidents per 1,000 entity-days on this organisation today are about 0.8.
const FALSE_INCIDENT_CEILING: f64 = 1.5;

/// The smallest organisation the generator accepts still has room for every scenario
/// (its finance department once went entirely to the accounts-payable team, leaving no
/// insider, and the generator failed).
#[test]
fn the_smallest_organisation_generates_every_scenario() {
    let dir = TempDir::new("scenario-smallest");
    let status = Command::new("python3")
        .arg(repo_root().join("examples/scenario/generate.py"))
        .args(["--users", "60", "--days", "8", "--out"])
        .arg(dir.path())
        .status()
        .expect("python3 runs the scenario generator");
    assert!(
        status.success(),
        "the scenario generator failed at its minimum size"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("meta.json")).unwrap())
            .unwrap();
    assert!(
        meta["scenarios"].as_array().is_some_and(|s| s.len() >= 8),
        "{meta}"
    );
}

#[test]
fn the_labelled_attacks_are_detected_within_the_false_breach_target() {
    let dir = TempDir::new("detection-eval");
    let status = Command::new("python3")
        .arg(repo_root().join("examples/scenario/generate.py"))
        .arg("--out")
        .arg(dir.path())
        .status()
        .expect("python3 runs the scenario generator");
    assert!(status.success(), "the scenario generator failed");

    let output = pipectl()
        .args(["models", "evaluate", "--json", "--data"])
        .arg(dir.path())
        .env("SCENARIO_DIRECTORY", dir.path().join("directory.jsonl"))
        .output()
        .expect("pipectl runs");
    // Exit 1 says some scenario was missed; the report comes on stdout either way.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        describe(&output)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the report is JSON");
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert!(scenarios.len() >= 8, "{}", describe(&output));
    let mut missed = Vec::new();
    for s in scenarios {
        let name = s["scenario"].as_str().unwrap_or_default();
        if s["detected"] != true {
            missed.push(name);
            continue;
        }
        assert!(
            s["first_explanation"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "a breach explains itself: {s}"
        );
    }
    // The data are seeded: a change that loses a scenario has changed the models.
    assert!(
        missed.is_empty(),
        "missed {missed:?}\n{}",
        describe(&output)
    );
    assert_eq!(
        output.status.code() == Some(0),
        missed.is_empty(),
        "exit 0 exactly when every scenario is detected"
    );
    assert!(
        report["top5"].as_u64().unwrap_or(0) >= 8,
        "every attacker in the top 5 of its day\n{}",
        describe(&output)
    );
    let false_rate = report["false_breaches_per_1000_entity_days"]
        .as_f64()
        .expect("false rate");
    assert!(
        false_rate <= FALSE_RATE_CEILING,
        "false breaches per 1,000 entity-days: {false_rate}\n{}",
        describe(&output)
    );
    let entity_days = report["entity_days"].as_f64().expect("entity-days");
    let false_anomalies =
        report["false_anomalies"].as_f64().expect("false anomalies") * 1000.0 / entity_days;
    assert!(
        false_anomalies <= FALSE_ANOMALY_CEILING,
        "false anomalies per 1,000 entity-days: {false_anomalies}\n{}",
        describe(&output)
    );
    eprintln!(
        "missed: {missed:?}; false breaches per 1,000 entity-days: {false_rate:.1}, false anomalies {false_anomalies:.1}"
    );

    // The shipped pipeline also correlates breaches and rule hits into incidents.
    let incidents = &report["incidents"];
    let raised_for = incidents["raised_for"].as_u64().expect("incidents scored");
    assert!(
        raised_for >= INCIDENTS_RAISED_FLOOR,
        "incidents for {raised_for} scenarios\n{}",
        describe(&output)
    );
    let false_incidents = incidents["false_incidents_per_1000_entity_days"]
        .as_f64()
        .expect("false incident rate");
    assert!(
        false_incidents <= FALSE_INCIDENT_CEILING,
        "false incidents per 1,000 entity-days: {false_incidents}\n{}",
        describe(&output)
    );
    // The supplier's chain is one incident, found through the mail model.
    let supplier = incidents["scenarios"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|s| s["scenario"] == "supplier_malicious_link")
        })
        .expect("the supplier scenario is scored");
    assert_eq!(supplier["raised"], true, "{}", describe(&output));
    for s in incidents["scenarios"]
        .as_array()
        .expect("incident scenarios")
    {
        if s["raised"] == true {
            let title = s["title"].as_str().unwrap_or_default();
            assert!(title.len() < 300, "an incident title is short: {title}");
        }
    }
}
