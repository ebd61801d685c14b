//! Components wired through the real runtime: files in, files out.

use pipectl_connectors::factories;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{start, Registry, RunOptions, RunSummary};
use pipectl_dsl::plan::{
    CmpOp, ComponentKind, ComponentPlan, Expr, FieldPath, Literal, OutputRef, PathSegment,
    PipelinePlan, Plan, PlanValue,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "pipectl-connectors-it-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(text: &str) -> PlanValue {
    PlanValue::String(text.to_string())
}

fn path_text(p: &Path) -> PlanValue {
    s(&p.display().to_string())
}

fn field(path: &str) -> FieldPath {
    FieldPath(
        path.split('.')
            .map(|k| PathSegment::Key(k.to_string()))
            .collect(),
    )
}

fn cmp(op: CmpOp, path: &str, text: &str) -> PlanValue {
    PlanValue::Expr(Expr::Cmp {
        op,
        lhs: Box::new(Expr::Field(field(path))),
        rhs: Box::new(Expr::Literal(Literal::String(text.to_string()))),
    })
}

fn input(component: &str, port: Option<&str>) -> OutputRef {
    OutputRef {
        component: component.to_string(),
        port: port.map(str::to_string),
    }
}

fn component(
    kind: ComponentKind,
    type_name: &str,
    name: &str,
    inputs: Vec<OutputRef>,
    outputs: &[&str],
    attrs: Vec<(&str, PlanValue)>,
) -> ComponentPlan {
    ComponentPlan {
        name: name.to_string(),
        kind,
        type_name: type_name.to_string(),
        inputs,
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        attrs: attrs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>(),
        origin: "it.pipe:1".to_string(),
    }
}

fn file_source(name: &str, path: &Path, mode: &str) -> ComponentPlan {
    component(
        ComponentKind::Source,
        "file",
        name,
        vec![],
        &[],
        vec![
            ("path", path_text(path)),
            ("mode", s(mode)),
            ("start_at", s("beginning")),
            ("max_line_length", PlanValue::Size(1 << 20)),
            ("batch_size", PlanValue::Int(2)),
        ],
    )
}

fn file_sink(name: &str, path: &Path, from: OutputRef) -> ComponentPlan {
    component(
        ComponentKind::Sink,
        "file",
        name,
        vec![from],
        &[],
        vec![
            ("path", path_text(path)),
            ("fsync", PlanValue::Bool(false)),
            ("encoding", s("ndjson")),
        ],
    )
}

fn parse_json(name: &str, from: &str) -> ComponentPlan {
    component(
        ComponentKind::Transform,
        "parse",
        name,
        vec![input(from, None)],
        &["errors"],
        vec![
            ("codec", s("json")),
            ("field", PlanValue::Field(field("message"))),
            ("keep_original", PlanValue::Bool(false)),
            ("kv_field_split", s(" ")),
            ("kv_value_split", s("=")),
        ],
    )
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn counters<'a>(summary: &'a RunSummary, name: &str) -> &'a pipectl_core::metrics::CounterSnapshot {
    &summary
        .components
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no component {name}"))
        .counters
}

#[tokio::test]
async fn file_parse_filter_route_to_files() {
    let dir = Scratch::new("route");
    let source = dir.0.join("in.ndjson");
    std::fs::write(
        &source,
        concat!(
            "{\"kind\":\"auth\",\"level\":\"info\",\"user\":\"alice\"}\n",
            "{\"kind\":\"auth\",\"level\":\"debug\",\"user\":\"bob\"}\n",
            "not json at all\n",
            "{\"kind\":\"net\",\"level\":\"warn\",\"bytes\":1200}\n",
            "{\"kind\":\"dns\",\"level\":\"info\"}\n",
            "{\"kind\":\"auth\",\"level\":\"error\",\"user\":\"carol\"}",
        ),
    )
    .unwrap();
    let out = |name: &str| dir.0.join("out").join(format!("{name}.ndjson"));
    let routes = PlanValue::Map(BTreeMap::from([
        ("auth".to_string(), cmp(CmpOp::Eq, "kind", "auth")),
        ("net".to_string(), cmp(CmpOp::Eq, "kind", "net")),
    ]));
    let plan = Plan {
        pipelines: vec![PipelinePlan {
            name: "it".into(),
            components: vec![
                file_source("in", &source, "read_once"),
                parse_json("parsed", "in"),
                component(
                    ComponentKind::Transform,
                    "filter",
                    "no_debug",
                    vec![input("parsed", None)],
                    &[],
                    vec![("condition", cmp(CmpOp::Ne, "level", "debug"))],
                ),
                component(
                    ComponentKind::Transform,
                    "route",
                    "by_kind",
                    vec![input("no_debug", None)],
                    &["auth", "net", "unmatched"],
                    vec![("routes", routes)],
                ),
                file_sink("auth", &out("auth"), input("by_kind", Some("auth"))),
                file_sink("net", &out("net"), input("by_kind", Some("net"))),
                file_sink("rest", &out("rest"), input("by_kind", Some("unmatched"))),
                file_sink("bad", &out("bad"), input("parsed", Some("errors"))),
            ],
            tests: Vec::new(),
        }],
    };
    let (_trigger, signal) = shutdown_pair();
    let options = RunOptions::new(dir.0.join("data"));
    let graph = start(&plan, &Registry::new(factories()), options, signal)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let summary = tokio::time::timeout(Duration::from_secs(30), graph.wait())
        .await
        .expect("a finite run ends")
        .unwrap_or_else(|e| panic!("{e:?}"));

    assert_eq!(
        lines(&out("auth")),
        [
            r#"{"kind":"auth","level":"info","user":"alice"}"#,
            r#"{"kind":"auth","level":"error","user":"carol"}"#
        ]
    );
    assert_eq!(
        lines(&out("net")),
        [r#"{"kind":"net","level":"warn","bytes":1200}"#]
    );
    assert_eq!(lines(&out("rest")), [r#"{"kind":"dns","level":"info"}"#]);
    let bad = lines(&out("bad"));
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].starts_with(r#"{"message":"not json at all","pipectl":{"error":{"component":"it.parsed","message":"json: "#),
        "{}",
        bad[0]
    );
    assert_eq!(counters(&summary, "it.in").events_out, 6);
    assert_eq!(counters(&summary, "it.parsed").events_errored, 1);
    assert_eq!(counters(&summary, "it.no_debug").events_dropped, 1);
    assert_eq!(counters(&summary, "it.auth").events_out, 2);
}

#[tokio::test]
async fn a_followed_file_checkpoints_what_the_sink_wrote() {
    let dir = Scratch::new("follow");
    let source = dir.0.join("app.log");
    std::fs::write(&source, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n").unwrap();
    let sink_path = dir.0.join("out.ndjson");
    let plan = Plan {
        pipelines: vec![PipelinePlan {
            name: "it".into(),
            components: vec![
                file_source("tail", &source, "follow"),
                parse_json("parsed", "tail"),
                file_sink("out", &sink_path, input("parsed", None)),
            ],
            tests: Vec::new(),
        }],
    };
    let data = dir.0.join("data");
    let run = |plan: Plan, data: PathBuf| async move {
        let (trigger, signal) = shutdown_pair();
        let graph = start(
            &plan,
            &Registry::new(factories()),
            RunOptions::new(data),
            signal,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
        (trigger, graph)
    };
    let wait_for_lines = |n: usize| {
        let sink_path = sink_path.clone();
        async move {
            for _ in 0..100 {
                if lines(&sink_path).len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the sink never got {n} lines");
        }
    };

    let (trigger, graph) = run(plan.clone(), data.clone()).await;
    wait_for_lines(3).await;
    trigger.trigger();
    graph.wait().await.unwrap_or_else(|e| panic!("{e:?}"));
    // The position lives in the state store of the source's data directory.
    let checkpoint = {
        let store = pipectl_core::store::Store::shared(&data.join("it").join("tail"))
            .expect("the source's state store opens");
        let bytes = store
            .get("checkpoint", "position")
            .expect("the store reads")
            .expect("a checkpoint is written");
        String::from_utf8(bytes).expect("JSON text")
    };
    assert!(checkpoint.contains("\"offset\":24"), "{checkpoint}");

    // Restarted, the source resumes after what was delivered: nothing twice.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&source)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"n\":4}\n").unwrap();
    let (trigger, graph) = run(plan, data).await;
    wait_for_lines(4).await;
    trigger.trigger();
    graph.wait().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        lines(&sink_path),
        [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#, r#"{"n":4}"#]
    );
}

fn normalise(name: &str, from: &str, format: &str) -> ComponentPlan {
    component(
        ComponentKind::Transform,
        "normalise",
        name,
        vec![input(from, None)],
        &["errors"],
        vec![("format", s(format))],
    )
}

/// Azure's diagnostic-setting blobs, read as files: an Activity Log `PT1H.json` (one
/// record per line) and an NSG flow log blob (written record by record, a comma before
/// each record after the first), normalised to one event per record and per flow.
#[tokio::test]
async fn azure_blobs_read_as_files_are_normalised() {
    let dir = Scratch::new("azure-blobs");
    let activity = dir.0.join("activity-PT1H.json");
    std::fs::write(
        &activity,
        concat!(
            r#"{"time":"2026-11-28T08:00:00.1234567Z","resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/WEB-01","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION","category":"Administrative","resultType":"Success","callerIpAddress":"203.0.113.9","correlationId":"c1","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"Mallory@Contoso.com"}},"level":"Information","location":"westeurope","properties":{"statusCode":"Accepted"}}"#,
            "\n",
            r#"{"time":"2026-11-28T08:00:05Z","resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB-NSG/SECURITYRULES/ALLOW-RDP","operationName":"MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE","category":"Administrative","resultType":"Failure","resultSignature":"Forbidden","callerIpAddress":"203.0.113.9"}"#,
            "\n",
            r#"{"time":"2026-11-28T08:00:09Z","category":"Administrative"}"#,
            "\n",
        ),
    )
    .unwrap();
    let flows = dir.0.join("nsg-PT1H.json");
    let record = |time: &str, tuple: &str| {
        format!(
            r#"{{"time":"{time}","macAddress":"000D3AF87856","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB-NSG","operationName":"NetworkSecurityGroupFlowEvents","properties":{{"Version":2,"flows":[{{"rule":"DefaultRule_DenyAllInBound","flows":[{{"mac":"000D3AF87856","flowTuples":["{tuple}"]}}]}}]}}}}"#
        )
    };
    std::fs::write(
        &flows,
        format!(
            "{{\"records\":[\n{}\n,{}\n]}}\n",
            record(
                "2026-11-28T08:00:00Z",
                "1795766400,185.220.101.4,10.1.0.4,44321,3389,T,I,D,B,,,,"
            ),
            record(
                "2026-11-28T08:01:00Z",
                "1795766460,185.220.101.4,10.1.0.4,44322,3389,T,I,D,B,,,,"
            ),
        ),
    )
    .unwrap();
    let out = |name: &str| dir.0.join("out").join(format!("{name}.ndjson"));
    let plan = Plan {
        pipelines: vec![PipelinePlan {
            name: "azure".into(),
            components: vec![
                file_source("activity", &activity, "read_once"),
                normalise("activity_ecs", "activity", "azure_activity"),
                file_sink("events", &out("events"), input("activity_ecs", None)),
                file_sink(
                    "refused",
                    &out("refused"),
                    input("activity_ecs", Some("errors")),
                ),
                file_source("nsg", &flows, "read_once"),
                normalise("nsg_ecs", "nsg", "azure_nsg_flow"),
                file_sink("flows", &out("flows"), input("nsg_ecs", None)),
            ],
            tests: Vec::new(),
        }],
    };
    let (_trigger, signal) = shutdown_pair();
    let options = RunOptions::new(dir.0.join("data"));
    let graph = start(&plan, &Registry::new(factories()), options, signal)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let summary = tokio::time::timeout(Duration::from_secs(30), graph.wait())
        .await
        .expect("a finite run ends")
        .unwrap_or_else(|e| panic!("{e:?}"));

    let events: Vec<serde_json::Value> = lines(&out("events"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["@timestamp"], "2026-11-28T08:00:00.123Z");
    assert_eq!(events[0]["event"]["dataset"], "azure.activitylogs");
    assert_eq!(events[0]["user"]["name"], "mallory@contoso.com");
    assert_eq!(events[0]["host"]["name"], "WEB-01");
    assert_eq!(events[1]["event"]["outcome"], "failure");
    assert_eq!(events[1]["error"]["code"], "Forbidden");
    let refused = lines(&out("refused"));
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].contains("no `operationName`: not an Azure Activity Log record"),
        "{}",
        refused[0]
    );

    let flows: Vec<serde_json::Value> = lines(&out("flows"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0]["event"]["dataset"], "azure.nsgflow");
    assert_eq!(flows[0]["event"]["action"], "denied");
    assert_eq!(flows[1]["source"]["port"], 44322);
    // The framing lines `{"records":[` and `]}` carry no flow.
    assert_eq!(counters(&summary, "azure.nsg_ecs").events_dropped, 2);
}
