//! The quickstart end to end, reduced: `scripts/quickstart` with this build's binary,
//! a 120-person organisation over 14 days, its own OpenSearch node and moto's server.
//! The labelled attacks must come out as incidents, answered by the responders in their
//! three modes.

mod common;

use common::{describe, pipectl, repo_root, TempDir};
use std::process::Command;

/// Incidents are raised for 7 of the 8 scenarios of this organisation today (the
/// insider's evidence stays too weak; docs/DETECTION.md).
const RAISED_FLOOR: u64 = 7;

/// False incidents per 1,000 entity-days here are about 1.1 today.
const FALSE_CEILING: f64 = 4.0;

/// An OpenSearch node of this test's own: the quickstart starts from empty indices.
struct Node {
    dir: TempDir,
    url: String,
}

impl Node {
    fn start() -> Node {
        let dir = TempDir::new("quickstart-node");
        let out = Command::new(repo_root().join("deploy/opensearch/node.sh"))
            .args(["start", "--port", "0", "--dir"])
            .arg(dir.path())
            .env("OPENSEARCH_HEAP", "768m")
            .output()
            .expect("node.sh runs");
        assert!(out.status.success(), "{}", describe(&out));
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Node { dir, url }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("deploy/opensearch/node.sh"))
            .args(["stop", "--dir"])
            .arg(self.dir.path())
            .output();
    }
}

#[test]
fn the_reduced_quickstart_reports_the_attacks_as_incidents() {
    let node = Node::start();
    let work = TempDir::new("quickstart-work");
    let run = Command::new(repo_root().join("scripts/quickstart"))
        .current_dir(repo_root())
        .env("QUICKSTART_BIN", env!("CARGO_BIN_EXE_pipectl"))
        .env("QUICKSTART_WORK", work.path())
        .env("QUICKSTART_USERS", "120")
        .env("QUICKSTART_DAYS", "14")
        .env("OPENSEARCH_URL", &node.url)
        .output()
        .expect("scripts/quickstart runs");
    let stop = Command::new(repo_root().join("scripts/quickstart"))
        .arg("stop")
        .env("QUICKSTART_WORK", work.path())
        .env("OPENSEARCH_URL", &node.url)
        .output();
    assert!(run.status.success(), "{}", describe(&run));
    assert!(stop.is_ok_and(|s| s.status.success()));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("incidents raised for"), "{stdout}");
    assert!(stdout.contains("Where to look next"), "{stdout}");

    let report = pipectl()
        .args(["report", "--json", "--labels"])
        .arg(work.path().join("data/labels.json"))
        .env("OPENSEARCH_URL", &node.url)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", describe(&report));
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let labels = &report["labels"];
    let raised = labels["raised_for"].as_u64().unwrap_or(0);
    assert!(raised >= RAISED_FLOOR, "{labels:#}");
    let false_rate = labels["false_incidents_per_1000_entity_days"]
        .as_f64()
        .unwrap_or(f64::MAX);
    assert!(false_rate <= FALSE_CEILING, "{labels:#}");
    // The supplier's mail chain is one incident: the sending domain's new link domain
    // (the mail model) on the person who clicked, with the forwarding rule that followed.
    let supplier = labels["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"] == "supplier_malicious_link")
        .expect("the supplier scenario is labelled");
    assert_eq!(supplier["raised"], true, "{labels:#}");

    // The responders in their three modes: the stolen key disabled in moto by the AWS
    // responder on its own, people's suspension waiting for approval, sessions only
    // recorded.
    let actions: Vec<&serde_json::Value> = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["actions"].as_array().unwrap().iter())
        .collect();
    let status_of = |name: &str| -> Vec<&str> {
        actions
            .iter()
            .filter(|a| a["name"] == name)
            .filter_map(|a| a["status"].as_str())
            .collect()
    };
    let incident_of = |key: &str| {
        report["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["entity"]["key"] == key)
            .unwrap_or_else(|| panic!("an incident for {key}"))
    };
    let stolen = incident_of("aws_user:arn:aws:iam::123456789012:user/lars.gupta");
    assert_eq!(stolen["actions"][0]["status"], "succeeded", "{stolen:#}");
    // The data-pipeline role's copy: denying it everything waits for a person.
    let role = incident_of("aws_user:arn:aws:iam::123456789012:role/data-pipeline-etl");
    assert_eq!(role["actions"][0]["name"], "attach_deny_all", "{role:#}");
    assert_eq!(role["actions"][0]["status"], "pending_approval", "{role:#}");
    assert!(status_of("suspend_user")
        .iter()
        .all(|s| *s == "pending_approval"));
    assert!(!status_of("suspend_user").is_empty());
    assert!(status_of("revoke_sessions")
        .iter()
        .all(|s| *s == "observed"));
    // The hijacked mailbox's forwarding rule: what removing it would do, recorded.
    let forwarding = status_of("remove_forwarding_rules");
    assert!(!forwarding.is_empty(), "{actions:#?}");
    assert!(
        forwarding.iter().all(|s| *s == "observed"),
        "{forwarding:?}"
    );
}
