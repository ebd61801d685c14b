//! Throughput of the benchmark's hot path on one core: file → parse(json) → filter →
//! file, with CloudTrail-sized (~1 KB) records. Ignored by default (it is a
//! measurement); run it with
//! `cargo test --release -p pipectl-connectors --test throughput -- --ignored --nocapture`.

use pipectl_connectors::factories;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{start, Registry, RunOptions};
use pipectl_dsl::plan::{
    CmpOp, ComponentKind, ComponentPlan, Expr, FieldPath, Literal, OutputRef, PathSegment,
    PipelinePlan, Plan, PlanValue,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

fn record(i: usize) -> String {
    let read_only = i.is_multiple_of(3);
    format!(
        concat!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","principalId":"AIDA{i:016}","#,
            r#""arn":"arn:aws:iam::123456789012:user/user{u}","accountId":"123456789012","accessKeyId":"AKIA{i:016}","#,
            r#""userName":"user{u}","sessionContext":{{"attributes":{{"creationDate":"2024-05-01T10:00:00Z","mfaAuthenticated":"false"}}}}}},"#,
            r#""eventTime":"2024-05-01T10:{m:02}:{s:02}Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","#,
            r#""awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.{o}","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64","#,
            r#""requestParameters":{{"bucketName":"prod-data-{u}","key":"exports/2024/05/01/part-{i:08}.parquet","Host":"prod-data.s3.eu-west-1.amazonaws.com"}},"#,
            r#""responseElements":null,"additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":{i},"AuthenticationMethod":"AuthHeader"}},"#,
            r#""requestID":"{i:016X}","eventID":"{i:08x}-1111-2222-3333-444455556666","readOnly":{read_only},"#,
            r#""resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::prod-data-{u}/exports/part-{i:08}.parquet"}},{{"accountId":"123456789012","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::prod-data-{u}"}}],"#,
            r#""eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"123456789012","eventCategory":"Data"}}"#
        ),
        i = i,
        u = i % 97,
        m = (i / 60) % 60,
        s = i % 60,
        o = i % 250,
        read_only = read_only,
    )
}

/// User plus system CPU time of this process so far (Linux `/proc`), so the result
/// does not depend on what else the machine is running.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and
    // 13th of them, in clock ticks (100 per second on Linux).
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn s(text: &str) -> PlanValue {
    PlanValue::String(text.to_string())
}

fn component(
    kind: ComponentKind,
    type_name: &str,
    name: &str,
    input: Option<&str>,
    outputs: &[&str],
    attrs: Vec<(&str, PlanValue)>,
) -> ComponentPlan {
    ComponentPlan {
        name: name.into(),
        kind,
        type_name: type_name.into(),
        inputs: input
            .map(|c| OutputRef {
                component: c.into(),
                port: None,
            })
            .into_iter()
            .collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        attrs: attrs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>(),
        origin: "bench".into(),
    }
}

#[test]
#[ignore = "a measurement; run explicitly in release mode"]
fn parse_filter_throughput_on_one_core() {
    let records: usize = std::env::var("RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let dir = std::env::temp_dir().join(format!("pipectl-throughput-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.jsonl");
    let output = dir.join("out.ndjson");
    let mut expected = 0;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..records {
            writeln!(f, "{}", record(i)).unwrap();
            expected += usize::from(!i.is_multiple_of(3));
        }
    }
    let bytes = std::fs::metadata(&input).unwrap().len();
    let plan = Plan {
        pipelines: vec![PipelinePlan {
            name: "bench".into(),
            components: vec![
                component(
                    ComponentKind::Source,
                    "file",
                    "trail",
                    None,
                    &[],
                    vec![
                        ("path", s(&input.display().to_string())),
                        ("mode", s("read_once")),
                        ("start_at", s("beginning")),
                        ("max_line_length", PlanValue::Size(1 << 20)),
                        ("batch_size", PlanValue::Int(1000)),
                    ],
                ),
                component(
                    ComponentKind::Transform,
                    "parse",
                    "decode",
                    Some("trail"),
                    &["errors"],
                    vec![
                        ("codec", s("json")),
                        (
                            "field",
                            PlanValue::Field(FieldPath(vec![PathSegment::Key("message".into())])),
                        ),
                        ("keep_original", PlanValue::Bool(false)),
                        ("kv_field_split", s(" ")),
                        ("kv_value_split", s("=")),
                    ],
                ),
                component(
                    ComponentKind::Transform,
                    "filter",
                    "writes",
                    Some("decode"),
                    &[],
                    vec![(
                        "condition",
                        PlanValue::Expr(Expr::Cmp {
                            op: CmpOp::Eq,
                            lhs: Box::new(Expr::Field(FieldPath(vec![PathSegment::Key(
                                "readOnly".into(),
                            )]))),
                            rhs: Box::new(Expr::Literal(Literal::Bool(false))),
                        }),
                    )],
                ),
                component(
                    ComponentKind::Sink,
                    "file",
                    "out",
                    Some("writes"),
                    &[],
                    vec![
                        ("path", s(&output.display().to_string())),
                        ("fsync", PlanValue::Bool(false)),
                        ("encoding", s("ndjson")),
                    ],
                ),
            ],
            tests: Vec::new(),
        }],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cpu_before = cpu_seconds();
    let began = Instant::now();
    runtime.block_on(async {
        let (_trigger, signal) = shutdown_pair();
        let graph = start(
            &plan,
            &Registry::new(factories()),
            RunOptions::new(dir.join("data")),
            signal,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
        graph.wait().await.unwrap_or_else(|e| panic!("{e:?}"));
    });
    let seconds = began.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let written = std::fs::read_to_string(&output).unwrap().lines().count();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{records} records, {:.0} bytes/record: {:.0} events/s, {:.1} MB/s in {seconds:.2}s; \
         {cpu:.2} CPU-seconds (all threads): {:.0} events per CPU-second",
        bytes as f64 / records as f64,
        records as f64 / seconds,
        bytes as f64 / seconds / 1e6,
        records as f64 / cpu
    );
    assert_eq!(written, expected);
}
