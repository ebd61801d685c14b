//! The corpus' AWS rules against real CloudTrail records (../shared/samples): each rule
//! below matches exactly the records an independent reading of the record says it
//! should, whether the record is raw or normalised under `aws.cloudtrail`; and the
//! hit documents only use fields the strict `pipectl-hits` template maps.

use pipectl_core::detect::sigma::correlation::CorrelationOptions;
use pipectl_core::detect::sigma::fieldmap::FieldMap;
use pipectl_core::detect::sigma::hit::HitSource;
use pipectl_core::detect::sigma::loader::load;
use pipectl_core::detect::sigma::logsource::{default_entries, LogsourceMap, Unmapped};
use pipectl_core::detect::sigma::modifiers::Placeholders;
use pipectl_core::detect::sigma::{Detector, Selection};
use pipectl_core::path::FieldPath;
use pipectl_core::value::Value;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn detector() -> Detector {
    let rules = root().join("../shared/sigma/rules/cloud/aws");
    let loaded = load(
        &[rules.to_string_lossy().into_owned()],
        &[],
        &Placeholders::new(),
    )
    .unwrap();
    assert!(loaded.refusals.is_empty(), "{:?}", loaded.refusals);
    Detector::new(
        &loaded,
        &Selection::default(),
        FieldMap::default(),
        LogsourceMap::new(default_entries(), Unmapped::AllEvents).unwrap(),
        CorrelationOptions::default(),
        vec![
            FieldPath::parse("@timestamp").unwrap(),
            FieldPath::parse("eventTime").unwrap(),
        ],
        HitSource {
            pipeline: "test".into(),
            component: "rules".into(),
            ruleset: "sigmahq".into(),
        },
    )
}

fn records() -> Vec<(String, Json)> {
    let text =
        std::fs::read_to_string(root().join("../shared/samples/aws_cloudtrail.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| (l.to_string(), serde_json::from_str(l).unwrap()))
        .collect()
}

fn s<'a>(j: &'a Json, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(j, |cur, k| cur.get(k))
        .and_then(Json::as_str)
}

/// Rule titles with the independent reading of when each should match.
#[allow(clippy::type_complexity)]
fn expectations() -> Vec<(&'static str, Box<dyn Fn(&Json) -> bool>)> {
    vec![
        (
            "AWS CloudTrail Important Change",
            Box::new(|r| {
                s(r, "eventSource") == Some("cloudtrail.amazonaws.com")
                    && matches!(
                        s(r, "eventName"),
                        Some("StopLogging" | "UpdateTrail" | "DeleteTrail")
                    )
            }),
        ),
        (
            "AWS Successful Console Login Without MFA",
            Box::new(|r| {
                s(r, "eventName") == Some("ConsoleLogin")
                    && s(r, "additionalEventData.MFAUsed")
                        .is_some_and(|m| m.eq_ignore_ascii_case("no"))
                    && s(r, "responseElements.ConsoleLogin")
                        .is_some_and(|m| m.eq_ignore_ascii_case("success"))
            }),
        ),
        (
            "AWS Root Credentials",
            Box::new(|r| {
                s(r, "userIdentity.type").is_some_and(|t| t.eq_ignore_ascii_case("root"))
                    && !s(r, "eventType").is_some_and(|t| t.eq_ignore_ascii_case("AwsServiceEvent"))
            }),
        ),
        (
            "Ingress/Egress Security Group Modification",
            Box::new(|r| {
                s(r, "eventSource") == Some("ec2.amazonaws.com")
                    && matches!(
                        s(r, "eventName"),
                        Some(
                            "AuthorizeSecurityGroupEgress"
                                | "AuthorizeSecurityGroupIngress"
                                | "RevokeSecurityGroupEgress"
                                | "RevokeSecurityGroupIngress"
                        )
                    )
            }),
        ),
        (
            "AWS IAM Backdoor Users Keys",
            Box::new(|r| {
                s(r, "eventSource") == Some("iam.amazonaws.com")
                    && s(r, "eventName") == Some("CreateAccessKey")
            }),
        ),
    ]
}

fn matches_by_title(d: &mut Detector, events: &[Value]) -> Vec<BTreeSet<String>> {
    events
        .iter()
        .map(|e| {
            d.matching_rules(e)
                .iter()
                .map(|m| m.title.clone())
                .collect()
        })
        .collect()
}

#[test]
fn aws_rules_match_exactly_the_records_they_describe_raw_and_normalised() {
    let mut d = detector();
    let records = records();
    let raw: Vec<Value> = records
        .iter()
        .map(|(l, _)| pipectl_core::json::from_str(l).unwrap())
        .collect();
    let normalised: Vec<Value> = records
        .iter()
        .map(|(l, _)| {
            let wrapped =
                format!(r#"{{"event":{{"dataset":"aws.cloudtrail"}},"aws":{{"cloudtrail":{l}}}}}"#);
            pipectl_core::json::from_str(&wrapped).unwrap()
        })
        .collect();
    let raw_hits = matches_by_title(&mut d, &raw);
    let normalised_hits = matches_by_title(&mut d, &normalised);
    for (i, (a, b)) in raw_hits.iter().zip(&normalised_hits).enumerate() {
        assert_eq!(
            a, b,
            "record {i}: raw and namespaced forms match the same rules: {}",
            records[i].0
        );
    }
    for (title, expected) in expectations() {
        let want: Vec<usize> = (0..records.len())
            .filter(|&i| expected(&records[i].1))
            .collect();
        let got: Vec<usize> = (0..records.len())
            .filter(|&i| raw_hits[i].contains(title))
            .collect();
        println!("{title}: {} of {} records", got.len(), records.len());
        assert!(!want.is_empty(), "the samples hold records for `{title}`");
        assert_eq!(
            got, want,
            "`{title}` matched records {got:?}, expected {want:?}"
        );
    }
}

#[test]
fn records_of_other_providers_match_no_aws_rule() {
    let mut d = detector();
    for file in [
        "okta_system_log.jsonl",
        "m365_audit.jsonl",
        "azure_signin.jsonl",
        "box.jsonl",
    ] {
        let text = std::fs::read_to_string(root().join("../shared/samples").join(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let e = pipectl_core::json::from_str(line).unwrap();
            assert!(d.matching_rules(&e).is_empty(), "{file}: {line}");
        }
    }
}

/// Every leaf path the strict hits template maps, and the flat_object roots.
fn mapped_fields() -> (BTreeSet<String>, BTreeSet<String>) {
    let dir = root().join("dashboards/templates");
    let mut leaves = BTreeSet::new();
    let mut flat = BTreeSet::new();
    fn walk(
        prefix: &str,
        props: &Json,
        leaves: &mut BTreeSet<String>,
        flat: &mut BTreeSet<String>,
    ) {
        let Some(map) = props.as_object() else { return };
        for (k, v) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if let Some(inner) = v.get("properties") {
                walk(&path, inner, leaves, flat);
            } else if matches!(
                v.get("type").and_then(Json::as_str),
                Some("flat_object" | "object")
            ) {
                flat.insert(path);
            } else {
                leaves.insert(path);
            }
        }
    }
    for f in [
        "components/pipectl-base.json",
        "components/pipectl-ecs.json",
        "pipectl-hits.json",
    ] {
        let t: Json = serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
        walk(
            "",
            &t["template"]["mappings"]["properties"],
            &mut leaves,
            &mut flat,
        );
    }
    (leaves, flat)
}

fn leaf_paths(prefix: &str, v: &Json, out: &mut Vec<String>) {
    match v {
        Json::Object(m) => {
            for (k, inner) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(&path, inner, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn hit_documents_follow_the_schema() {
    let mut d = detector();
    let (leaves, flat) = mapped_fields();
    let mut hits = Vec::new();
    for (line, _) in records() {
        let e = pipectl_core::json::from_str(&line).unwrap();
        d.process(&e, 0, 1_700_000_000_000, &mut hits);
    }
    assert!(hits.len() > 100);
    for hit in &hits {
        let doc: Json =
            serde_json::from_str(&pipectl_core::json::to_string(&hit.document)).unwrap();
        let mut paths = Vec::new();
        leaf_paths("", &doc, &mut paths);
        for p in &paths {
            let ok = leaves.contains(p) || flat.iter().any(|f| p.starts_with(&format!("{f}.")));
            assert!(
                ok,
                "`{p}` is not mapped by the pipectl-hits template: {doc}"
            );
        }
        for required in [
            "rule.id",
            "rule.name",
            "rule.level",
            "event.id",
            "pipectl.hit.id",
            "pipectl.hit.event_id",
            "@timestamp",
        ] {
            assert!(
                paths.iter().any(|p| p == required),
                "{required} missing: {doc}"
            );
        }
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["dataset"], "pipectl.hit");
        assert_eq!(doc["event"]["id"], doc["pipectl"]["hit"]["id"]);
        assert_eq!(doc["event"]["id"].as_str().map(str::len), Some(32));
    }
    let root_hits: Vec<Json> = hits
        .iter()
        .map(|h| serde_json::from_str::<Json>(&pipectl_core::json::to_string(&h.document)).unwrap())
        .filter(|d| d["rule"]["name"] == "AWS Root Credentials")
        .collect();
    assert!(!root_hits.is_empty());
    for hit in &root_hits {
        assert_eq!(hit["threat"]["framework"], "MITRE ATT&CK");
        assert!(hit["pipectl"]["hit"]["matched_fields"]
            .as_array()
            .is_some_and(|m| !m.is_empty()));
        assert!(
            hit["entity"]["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("aws_user:arn:aws:")),
            "{hit}"
        );
    }
}
