use super::*;
use crate::event::Event;
use crate::secrets::SecretStore;
use std::collections::BTreeMap;

const RULES: &str = "title: Failed console login\nid: 11111111-2222-3333-4444-555555555555\nname: failed_login\nstatus: test\nlevel: low\ntags: [attack.credential-access, attack.t1110]\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    sel:\n        eventName: ConsoleLogin\n        errorMessage|contains: failed\n    condition: sel\n---\ntitle: Repeated failed console logins\nid: brute-force\nlevel: high\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [sourceIPAddress]\n    timespan: 10m\n    condition:\n        gte: 3\n    generate: true\n";

/// A plan as the checker produces it, with every default filled in.
fn plan(dir: &std::path::Path, extra: Vec<(&str, PlanValue)>) -> ComponentPlan {
    let text = |s: &str| PlanValue::String(s.to_string());
    let texts = |items: &[&str]| PlanValue::List(items.iter().map(|s| text(s)).collect());
    let mut attrs = BTreeMap::new();
    attrs.insert("paths".to_string(), texts(&["rules"]));
    attrs.insert(
        "statuses".to_string(),
        texts(&["stable", "test", "experimental"]),
    );
    attrs.insert("min_level".to_string(), text("informational"));
    attrs.insert("builtin_logsources".to_string(), PlanValue::Bool(true));
    attrs.insert("unmapped_logsources".to_string(), text("no_events"));
    attrs.insert(
        "time_fields".to_string(),
        texts(&["@timestamp", "eventTime"]),
    );
    attrs.insert("ruleset".to_string(), text("sigmahq"));
    attrs.insert("lateness".to_string(), PlanValue::Duration(60_000));
    attrs.insert("max_groups".to_string(), PlanValue::Int(100));
    attrs.insert("refused".to_string(), text("warn"));
    attrs.insert("pass_matched".to_string(), PlanValue::Bool(false));
    for (k, v) in extra {
        attrs.insert(k.to_string(), v);
    }
    ComponentPlan {
        name: "rules".into(),
        kind: ComponentKind::Detect,
        type_name: "sigma".into(),
        inputs: Vec::new(),
        outputs: vec!["matched".into()],
        attrs,
        origin: format!("{}:3", dir.join("pipeline.pipe").display()),
    }
}

fn build_stage(extra: Vec<(&str, PlanValue)>) -> (Box<dyn Transform>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "pipectl-sigma-stage-{}-{}",
        std::process::id(),
        extra.len()
    ));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/brute.yml"), RULES).unwrap();
    let secrets = SecretStore::new(None);
    let ctx = BuildContext {
        pipeline: "p",
        data_dir: dir.clone(),
        secrets: &secrets,
    };
    let built = build(&plan(&dir, extra), &ctx).unwrap_or_else(|e| panic!("{e}"));
    let Built::Transform(t) = built else {
        panic!("detect sigma is a transform")
    };
    (t, dir)
}

fn event(json: &str) -> Event {
    Event::new(crate::json::from_str(json).unwrap(), Arc::from("trail"))
}

fn failed(ip: &str, minute: u32) -> Event {
    event(&format!(
        r#"{{"eventVersion":"1.08","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventTime":"2026-10-03T22:{minute:02}:00Z","sourceIPAddress":"{ip}","errorMessage":"Failed authentication","eventID":"e-{ip}-{minute}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/bob"}}}}"#
    ))
}

#[test]
fn hits_on_the_default_output_and_matched_events_on_their_port() {
    let (mut stage, dir) = build_stage(vec![("pass_matched", PlanValue::Bool(true))]);
    let mut out = TransformOutput::new(&["matched".to_string()]);
    let batch = vec![
        failed("198.51.100.7", 0),
        event(
            r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"x"}"#,
        ),
        failed("198.51.100.7", 2),
        failed("198.51.100.7", 4),
    ];
    stage.transform(batch, &mut out);
    let names: Vec<String> = out
        .default
        .iter()
        .map(|e| {
            e.value
                .get_path(&FieldPath::parse("rule.name").unwrap())
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            "Failed console login",
            "Failed console login",
            "Failed console login",
            "Repeated failed console logins"
        ]
    );
    let corr = &out.default[3].value;
    let get = |p: &str| corr.get_path(&FieldPath::parse(p).unwrap()).cloned();
    assert_eq!(
        get("pipectl.hit.correlation.type"),
        Some("event_count".into())
    );
    assert_eq!(
        get("pipectl.hit.correlation.group"),
        Some("sourceIPAddress=198.51.100.7".into())
    );
    assert_eq!(get("pipectl.hit.correlation.count"), Some(3i64.into()));
    assert_eq!(get("@timestamp"), Some("2026-10-03T22:04:00Z".into()));
    assert_eq!(get("rule.level"), Some("high".into()));
    let first = &out.default[0].value;
    assert_eq!(
        first.get_path(&FieldPath::parse("threat.tactic.id").unwrap()),
        Some(&crate::value::Value::Array(vec!["TA0006".into()]))
    );
    assert_eq!(
        out.named[0].1.len(),
        3,
        "the three matched events pass on `matched`"
    );
    assert_eq!(out.dropped, 1, "the unmatched event is consumed");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn events_outside_the_rules_log_source_give_no_hit() {
    let (mut stage, dir) = build_stage(vec![]);
    let mut out = TransformOutput::new(&["matched".to_string()]);
    // Not a CloudTrail record: the aws/cloudtrail rule does not apply to it.
    stage.transform(
        vec![event(
            r#"{"eventName":"ConsoleLogin","errorMessage":"failed"}"#,
        )],
        &mut out,
    );
    assert!(out.default.is_empty());
    stage.finish(&mut out);
    assert!(out.default.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_rule_path_fails_the_build_with_its_name() {
    let dir = std::env::temp_dir().join(format!("pipectl-sigma-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = SecretStore::new(None);
    let ctx = BuildContext {
        pipeline: "p",
        data_dir: dir.clone(),
        secrets: &secrets,
    };
    let err = match build(&plan(&dir, vec![]), &ctx) {
        Ok(_) => panic!("no rules directory: the build must fail"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("paths"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Rules for Azure activity logs name `operationName` as the diagnostic settings write
/// it (text); records read from the REST API hold it as `{"value": ...}`. Both match.
#[test]
fn azure_rules_match_activity_records_of_both_shapes() {
    let dir = std::env::temp_dir().join(format!("pipectl-sigma-azure-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("rules/vm.yml"),
        "title: VM deleted\nid: 21111111-2222-3333-4444-555555555555\nstatus: test\nlevel: medium\nlogsource:\n    product: azure\n    service: activitylogs\ndetection:\n    sel:\n        operationName: MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE\n    condition: sel\n",
    )
    .unwrap();
    let secrets = SecretStore::new(None);
    let ctx = BuildContext {
        pipeline: "p",
        data_dir: dir.clone(),
        secrets: &secrets,
    };
    let Built::Transform(mut stage) = build(&plan(&dir, vec![]), &ctx).unwrap() else {
        panic!("detect sigma is a transform")
    };
    let mut out = TransformOutput::new(&["matched".to_string()]);
    let rest = r#"{"@timestamp":"2026-10-03T22:00:00Z","event":{"dataset":"azure.activitylogs","id":"a1"},"azure":{"activitylogs":{"operationName":{"value":"Microsoft.Compute/virtualMachines/delete","localizedValue":"Delete Virtual Machine"}}}}"#;
    let diagnostic = r#"{"@timestamp":"2026-10-03T22:01:00Z","event":{"dataset":"azure.activitylogs","id":"a2"},"azure":{"activitylogs":{"operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE"}}}"#;
    let other = r#"{"@timestamp":"2026-10-03T22:02:00Z","event":{"dataset":"azure.activitylogs","id":"a3"},"azure":{"activitylogs":{"operationName":{"value":"Microsoft.Compute/virtualMachines/write"}}}}"#;
    stage.transform(vec![event(rest), event(diagnostic), event(other)], &mut out);
    assert_eq!(out.default.len(), 2, "{:?}", out.default);
    std::fs::remove_dir_all(dir).unwrap();
}
