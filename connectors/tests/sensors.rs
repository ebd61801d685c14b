//! Network sensor logs through the real runtime: Zeek and Suricata files read by the
//! `file` source, normalised by `transform normalise`, written by the `file` sink.

use pipectl_connectors::factories;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{start, Registry, RunOptions};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, OutputRef, PipelinePlan, Plan, PlanValue};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CONN_LOG: &str = include_str!("../src/normalise/zeek/conn.log");
const DNS_JSON: &str = include_str!("../src/normalise/zeek/dns.json");
const EVE_JSON: &str = include_str!("../src/normalise/suricata/eve.json");

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(text: &str) -> PlanValue {
    PlanValue::String(text.to_string())
}

fn from(component: &str, port: Option<&str>) -> Vec<OutputRef> {
    vec![OutputRef {
        component: component.to_string(),
        port: port.map(str::to_string),
    }]
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
        origin: "sensors.pipe:1".to_string(),
    }
}

/// `source file` reading `path` once, then `normalise` with `attrs`, its events and
/// its errors each to a file sink.
fn sensor(
    name: &str,
    path: &Path,
    out: &Path,
    attrs: Vec<(&str, PlanValue)>,
) -> Vec<ComponentPlan> {
    let file = |p: &Path| s(&p.display().to_string());
    let sink = |sink: &str, port: Option<&str>| {
        component(
            ComponentKind::Sink,
            "file",
            &format!("{name}_{sink}"),
            from(&format!("{name}_norm"), port),
            &[],
            vec![
                ("path", file(&out.join(format!("{name}.{sink}.ndjson")))),
                ("fsync", PlanValue::Bool(false)),
                ("encoding", s("ndjson")),
            ],
        )
    };
    vec![
        component(
            ComponentKind::Source,
            "file",
            name,
            vec![],
            &[],
            vec![
                ("path", file(path)),
                ("mode", s("read_once")),
                ("start_at", s("beginning")),
                ("max_line_length", PlanValue::Size(1 << 20)),
                ("batch_size", PlanValue::Int(3)),
            ],
        ),
        component(
            ComponentKind::Transform,
            "normalise",
            &format!("{name}_norm"),
            from(name, None),
            &["errors"],
            attrs,
        ),
        sink("events", None),
        sink("errors", Some("errors")),
    ]
}

fn lines(path: &Path) -> Vec<pipectl_core::value::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| pipectl_core::json::from_str(l).unwrap())
        .collect()
}

fn text<'a>(event: &'a pipectl_core::value::Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(event, |cur, key| cur.as_object()?.get(key))
        .and_then(pipectl_core::value::Value::as_str)
}

#[tokio::test]
async fn zeek_and_suricata_files_become_ecs_events() {
    let dir = Scratch(std::env::temp_dir().join(format!("pipectl-sensors-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let out = dir.0.join("out");
    // A broken last line in each file: it goes to `errors`, the rest is read.
    let conn = dir.0.join("conn.log");
    std::fs::write(&conn, format!("{CONN_LOG}1704168003.0\tCtruncated\n")).unwrap();
    let dns = dir.0.join("dns.log");
    std::fs::write(&dns, format!("{DNS_JSON}{{\"ts\":\n")).unwrap();
    let eve = dir.0.join("eve.json");
    std::fs::write(&eve, format!("{EVE_JSON}{{\"event_type\":\"alert\"}}\n")).unwrap();

    let mut components = Vec::new();
    components.extend(sensor("conn", &conn, &out, vec![("format", s("zeek"))]));
    components.extend(sensor(
        "dns",
        &dns,
        &out,
        vec![("format", s("zeek")), ("log", s("dns"))],
    ));
    components.extend(sensor("eve", &eve, &out, vec![("format", s("suricata"))]));
    let plan = Plan {
        pipelines: vec![PipelinePlan {
            name: "sensors".into(),
            components,
            tests: Vec::new(),
        }],
    };
    let (_trigger, signal) = shutdown_pair();
    let graph = start(
        &plan,
        &Registry::new(factories()),
        RunOptions::new(dir.0.join("data")),
        signal,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    let summary = tokio::time::timeout(Duration::from_secs(30), graph.wait())
        .await
        .expect("a finite run ends")
        .unwrap_or_else(|e| panic!("{e:?}"));

    let events = |name: &str| lines(&out.join(format!("{name}.events.ndjson")));
    let errors = |name: &str| lines(&out.join(format!("{name}.errors.ndjson")));

    let conn_events = events("conn");
    assert_eq!(conn_events.len(), 6);
    assert!(conn_events
        .iter()
        .all(|e| text(e, "event.dataset") == Some("zeek.conn")));
    assert_eq!(text(&conn_events[0], "source.ip"), Some("10.20.1.15"));
    let conn_errors = errors("conn");
    assert_eq!(conn_errors.len(), 1);
    assert!(text(&conn_errors[0], "pipectl.error.message")
        .is_some_and(|m| m.contains("expected 22 fields")));
    let counted = summary
        .components
        .iter()
        .find(|c| c.name == "sensors.conn_norm")
        .map(|c| c.counters)
        .unwrap();
    // Header and `#close` lines carry no event: dropped, not errors.
    assert_eq!(counted.events_dropped, 17);
    assert_eq!(counted.events_errored, 1);

    let dns_events = events("dns");
    assert_eq!(dns_events.len(), 3);
    assert_eq!(text(&dns_events[1], "dns.response_code"), Some("NXDOMAIN"));
    assert_eq!(errors("dns").len(), 1);

    let eve_events = events("eve");
    assert_eq!(eve_events.len(), 10);
    assert_eq!(text(&eve_events[0], "event.kind"), Some("alert"));
    assert_eq!(
        text(&eve_events[0], "rule.name"),
        Some("ET POLICY PE EXE or DLL Windows file download HTTP")
    );
    let eve_errors = errors("eve");
    assert_eq!(eve_errors.len(), 1);
    assert!(
        text(&eve_errors[0], "pipectl.error.message").is_some_and(|m| m.contains("no `timestamp`"))
    );
}
