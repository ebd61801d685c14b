//! The S3 log sources against moto's S3 and SQS (see [`crate::aws::moto`]).

use super::*;
use crate::aws::moto::{Moto, ACCOUNT};
use crate::sources::cloudtrail::CloudTrailLogs;
use crate::sources::vpc_flow::FlowLogs;
use crate::testkit::TempDir;
use pipectl_core::event::Batch;
use pipectl_core::metrics::ComponentCounters;
use pipectl_core::shutdown::{shutdown_pair, ShutdownTrigger};
use pipectl_core::value::Value;
use std::io::Write;
use std::path::Path;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const LONG: Duration = Duration::from_secs(20);

fn config(moto: &Moto, mode: Mode, visibility_secs: u64) -> S3LogsConfig {
    S3LogsConfig {
        mode,
        aws: moto.settings(),
        visibility_timeout: Duration::from_secs(visibility_secs),
        wait_time: Duration::from_secs(1),
        max_messages: 10,
        batch_size: 3,
        max_object_size: 1 << 20,
        limits: crate::limits::InputLimits::default(),
    }
}

fn sqs_mode(moto: &Moto, queue: &str) -> Mode {
    Mode::Sqs {
        queue_url: moto.queue_url(queue),
    }
}

fn scan_mode(bucket: &str) -> Mode {
    Mode::Scan {
        bucket: bucket.to_string(),
        prefix: "AWSLogs/".to_string(),
        poll_interval: Duration::from_millis(200),
    }
}

/// CloudTrail records from the shared samples, each given a unique `eventID` so the
/// tests can tell them apart.
fn records(range: std::ops::Range<usize>) -> Vec<serde_json::Value> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples/aws_cloudtrail.jsonl");
    let text = std::fs::read_to_string(&path).expect("the CloudTrail samples");
    text.lines()
        .skip(range.start)
        .take(range.len())
        .zip(range.clone())
        .map(|(line, i)| {
            let mut record: serde_json::Value =
                serde_json::from_str(line).expect("a sample record");
            record["eventID"] = serde_json::Value::from(format!("rec-{i}"));
            record
        })
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn trail_file(range: std::ops::Range<usize>) -> Vec<u8> {
    gzip(
        serde_json::json!({ "Records": records(range) })
            .to_string()
            .as_bytes(),
    )
}

fn trail_key(name: &str) -> String {
    format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/02/{ACCOUNT}_CloudTrail_us-east-1_{name}.json.gz")
}

/// A running source and the channel it sends into.
struct Running {
    rx: mpsc::Receiver<Batch>,
    trigger: ShutdownTrigger,
    task: JoinHandle<Result<(), ComponentError>>,
    counters: Arc<ComponentCounters>,
    stats: Arc<ObjectStats>,
}

fn start<F: LogFormat>(config: S3LogsConfig, data_dir: &Path) -> Running {
    let (tx, rx) = mpsc::channel(64);
    let (trigger, shutdown) = shutdown_pair();
    let counters = Arc::new(ComponentCounters::default());
    let run = Run {
        name: Arc::from("logs"),
        out: tx,
        shutdown,
        counters: Arc::clone(&counters),
    };
    let source = S3LogSource::<F>::new(config, data_dir.to_path_buf());
    let stats = source.stats();
    Running {
        rx,
        trigger,
        task: tokio::spawn(source.run_with(run)),
        counters,
        stats,
    }
}

fn event_id(event: &Event) -> String {
    event
        .value
        .as_object()
        .and_then(|m| m.get("eventID"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Running {
    async fn batch(&mut self) -> Batch {
        tokio::time::timeout(LONG, self.rx.recv())
            .await
            .expect("timed out waiting for events")
            .expect("the source ended")
    }

    /// Receives batches holding `n` events; dropping them acknowledges them.
    async fn ids(&mut self, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        while ids.len() < n {
            ids.extend(self.batch().await.iter().map(event_id));
        }
        ids
    }

    /// Asserts nothing more arrives for a while.
    async fn quiet(&mut self, wait: Duration) {
        if let Ok(Some(batch)) = tokio::time::timeout(wait, self.rx.recv()).await {
            panic!(
                "unexpected events: {:?}",
                batch.iter().map(event_id).collect::<Vec<_>>()
            );
        }
    }

    async fn stop(self) -> (Arc<ComponentCounters>, Arc<ObjectStats>) {
        self.trigger.trigger();
        let mut rx = self.rx;
        while rx.recv().await.is_some() {}
        self.task.await.unwrap().unwrap();
        (self.counters, self.stats)
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn expected_ids(range: std::ops::Range<usize>) -> Vec<String> {
    sorted(range.map(|i| format!("rec-{i}")).collect())
}

async fn until_queue_holds(moto: &Moto, queue: &str, n: u64) {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let on = moto.messages_on(queue).await;
        if on == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queue} holds {on} messages, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notified_objects_are_read_once_and_messages_deleted_after_acknowledgement() {
    let moto = Moto::start().await;
    moto.create_queue("trail-events", 30).await;
    moto.create_bucket("trail").await;
    // S3 sends the s3:TestEvent now, then a notification per object with its key
    // URL-encoded (`a b=c` as `a+b%3Dc`).
    moto.notify_queue("trail", "trail-events").await;
    moto.put_object(
        "trail",
        &trail_key("20260102T0000Z_a b=c"),
        trail_file(0..4),
    )
    .await;
    moto.put_object("trail", &trail_key("20260102T0005Z_x"), trail_file(4..9))
        .await;
    moto.put_object(
        "trail",
        &format!("AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/01/02/{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20260102T000000Z.json.gz"),
        gzip(b"{}"),
    )
    .await;
    moto.put_object(
        "trail",
        &format!("AWSLogs/{ACCOUNT}/elasticloadbalancing/lb.log.gz"),
        gzip(b"x"),
    )
    .await;
    // An object of another bucket, announced through SNS.
    moto.create_bucket("other-trail").await;
    let other_key = trail_key("20260102T0010Z_sns");
    moto.put_object("other-trail", &other_key, trail_file(9..12))
        .await;
    let notification = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "other-trail"}, "object": {"key": other_key.replace('_', "%5F")}}
    }]});
    let sns = serde_json::json!({"Type": "Notification", "MessageId": "m-1", "Message": notification.to_string()});
    moto.send_message("trail-events", &sns.to_string()).await;
    assert_eq!(moto.messages_on("trail-events").await, 6);

    let dir = TempDir::new("ct-sqs");
    let mut source = start::<CloudTrailLogs>(
        config(&moto, sqs_mode(&moto, "trail-events"), 30),
        dir.path(),
    );
    let ids = source.ids(12).await;
    assert_eq!(sorted(ids), expected_ids(0..12));
    until_queue_holds(&moto, "trail-events", 0).await;
    source.quiet(Duration::from_millis(1500)).await;
    let (counters, stats) = source.stop().await;
    assert_eq!(ObjectStats::get(&stats.test_events), 1);
    assert_eq!(ObjectStats::get(&stats.objects_read), 3);
    assert_eq!(ObjectStats::get(&stats.digests_skipped), 1);
    assert_eq!(ObjectStats::get(&stats.foreign_skipped), 1);
    assert_eq!(ObjectStats::get(&stats.messages_deleted), 6);
    let snapshot = counters.snapshot();
    assert_eq!(snapshot.events_errored, 0);
    assert!(snapshot.bytes_in > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_and_failed_messages_come_back_and_survive_a_kill() {
    let moto = Moto::start().await;
    moto.create_queue("q", 1).await;
    moto.create_bucket("trail").await;
    moto.notify_queue("trail", "q").await;
    moto.put_object("trail", &trail_key("20260102T0000Z_a"), trail_file(0..3))
        .await;
    let dir = TempDir::new("ct-redeliver");
    let cfg = config(&moto, sqs_mode(&moto, "q"), 1);

    // Killed between reading and acknowledgement: the message stays.
    let mut first = start::<CloudTrailLogs>(cfg.clone(), dir.path());
    let held = first.batch().await;
    assert_eq!(
        sorted(held.iter().map(event_id).collect()),
        expected_ids(0..3)
    );
    let deadline = tokio::time::Instant::now() + LONG;
    while ObjectStats::get(&first.stats.messages_deleted) < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the s3:TestEvent was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.task.abort();
    let _ = first.task.await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        moto.messages_on("q").await,
        1,
        "the killed source's message is still on the queue"
    );

    // After a restart it is read again. Held past the visibility timeout, it comes a
    // third time. Both copies fail downstream, so the message stays once more.
    let mut second = start::<CloudTrailLogs>(cfg, dir.path());
    let held = second.batch().await;
    assert_eq!(
        sorted(held.iter().map(event_id).collect()),
        expected_ids(0..3)
    );
    let again = second.batch().await;
    assert_eq!(
        sorted(again.iter().map(event_id).collect()),
        expected_ids(0..3)
    );
    for batch in [held, again] {
        batch.iter().for_each(Event::fail_delivery);
    }
    // The next copy is acknowledged: the message goes.
    let last = second.batch().await;
    assert_eq!(last.len(), 3);
    drop(last);
    until_queue_holds(&moto, "q", 0).await;
    let (_, stats) = second.stop().await;
    assert!(ObjectStats::get(&stats.messages_deleted) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_objects_are_errors_that_lose_nothing_else() {
    let moto = Moto::start().await;
    moto.create_queue("q", 30).await;
    moto.create_bucket("trail").await;
    moto.notify_queue("trail", "q").await;
    moto.put_object("trail", &trail_key("20260102T0000Z_a"), trail_file(0..3))
        .await;
    let whole = trail_file(3..6);
    let truncated = whole.get(..whole.len() / 2).unwrap().to_vec();
    moto.put_object("trail", &trail_key("20260102T0005Z_truncated"), truncated)
        .await;
    moto.put_object(
        "trail",
        &trail_key("20260102T0006Z_no_records"),
        gzip(b"{\"records\":[]}"),
    )
    .await;
    moto.put_object("trail", &trail_key("20260102T0010Z_b"), trail_file(6..9))
        .await;
    moto.send_message("q", "not a notification").await;

    let dir = TempDir::new("ct-bad");
    let mut source = start::<CloudTrailLogs>(config(&moto, sqs_mode(&moto, "q"), 30), dir.path());
    let mut ids = source.ids(6).await;
    ids.sort();
    let mut want = expected_ids(0..3);
    want.extend(expected_ids(6..9));
    assert_eq!(ids, want);
    // The bad objects' messages and the foreign message stay for the redrive policy.
    until_queue_holds(&moto, "q", 3).await;
    let (counters, stats) = source.stop().await;
    assert_eq!(ObjectStats::get(&stats.bad_objects), 2);
    assert_eq!(ObjectStats::get(&stats.bad_messages), 1);
    assert_eq!(counters.snapshot().events_errored, 3);
}

fn checkpoint_after(dir: &Path) -> String {
    let text = crate::checkpoint::stored_text(dir).expect("a checkpoint");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["bucket"], "trail");
    json["after"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_resumes_after_the_last_acknowledged_key() {
    let moto = Moto::start().await;
    moto.create_bucket("trail").await;
    moto.put_object("trail", &trail_key("20260102T0000Z_a"), trail_file(0..4))
        .await;
    let whole = trail_file(4..6);
    moto.put_object(
        "trail",
        &trail_key("20260102T0003Z_truncated"),
        whole.get(..20).unwrap().to_vec(),
    )
    .await;
    moto.put_object("trail", &trail_key("20260102T0005Z_b"), trail_file(6..8))
        .await;
    moto.put_object(
        "trail",
        &format!("AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/01/02/d.json.gz"),
        gzip(b"{}"),
    )
    .await;
    moto.put_object("trail", "elsewhere/x.json.gz", trail_file(8..9))
        .await;

    let dir = TempDir::new("ct-scan");
    let cfg = config(&moto, scan_mode("trail"), 30);
    let mut source = start::<CloudTrailLogs>(cfg.clone(), dir.path());
    let mut want = expected_ids(0..4);
    want.extend(expected_ids(6..8));
    assert_eq!(sorted(source.ids(6).await), want);
    source.quiet(Duration::from_millis(600)).await;
    let (counters, stats) = source.stop().await;
    assert_eq!(ObjectStats::get(&stats.bad_objects), 1);
    assert_eq!(ObjectStats::get(&stats.digests_skipped), 1);
    assert_eq!(counters.snapshot().events_errored, 1);
    // The last key under the prefix in key order (`CloudTrail-Digest/` sorts before
    // `CloudTrail/`).
    let first_position = checkpoint_after(dir.path());
    assert_eq!(first_position, trail_key("20260102T0005Z_b"));

    // A new object after a restart: only it is read. Its batch fails, so the position
    // stays before it ...
    moto.put_object("trail", &trail_key("20260102T0010Z_c"), trail_file(10..12))
        .await;
    let mut source = start::<CloudTrailLogs>(cfg.clone(), dir.path());
    let batch = source.batch().await;
    assert_eq!(
        sorted(batch.iter().map(event_id).collect()),
        expected_ids(10..12)
    );
    batch.iter().for_each(Event::fail_delivery);
    drop(batch);
    source.quiet(Duration::from_millis(600)).await;
    source.stop().await;
    assert_eq!(checkpoint_after(dir.path()), first_position);

    // ... and it is read again after the next restart.
    let mut source = start::<CloudTrailLogs>(cfg, dir.path());
    assert_eq!(sorted(source.ids(2).await), expected_ids(10..12));
    source.quiet(Duration::from_millis(600)).await;
    source.stop().await;
    assert_eq!(checkpoint_after(dir.path()), trail_key("20260102T0010Z_c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_log_objects_become_lines_with_their_header_first() {
    let moto = Moto::start().await;
    moto.create_bucket("flows").await;
    let prefix = format!("AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/2026/01/02");
    let default = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1760000000 1760000060 ACCEPT OK\n";
    let custom = "version vpc-id srcaddr dstaddr start end action\n5 vpc-1 10.0.0.3 198.51.100.7 1760000100 1760000160 REJECT\n5 vpc-1 10.0.0.3 198.51.100.8 1760000100 1760000160 ACCEPT\n";
    moto.put_object(
        "flows",
        &format!("{prefix}/a_fl-1_20260102T0000Z.log.gz"),
        gzip(default.as_bytes()),
    )
    .await;
    moto.put_object(
        "flows",
        &format!("{prefix}/b_fl-2_20260102T0000Z.log"),
        custom.as_bytes().to_vec(),
    )
    .await;
    moto.put_object(
        "flows",
        &format!("{prefix}/c_fl-3_20260102T0000Z.log.parquet"),
        vec![1, 2, 3],
    )
    .await;

    let dir = TempDir::new("flow-scan");
    let mut cfg = config(&moto, scan_mode("flows"), 30);
    cfg.batch_size = 100;
    let mut source = start::<FlowLogs>(cfg, dir.path());
    let mut lines = Vec::new();
    while lines.len() < 5 {
        for event in source.batch().await {
            let text = event
                .value
                .as_object()
                .and_then(|m| m.get("message"))
                .and_then(Value::as_str);
            lines.push(text.unwrap_or_default().to_string());
        }
    }
    let want: Vec<&str> = default.lines().chain(custom.lines()).collect();
    assert_eq!(lines, want);
    let (_, stats) = source.stop().await;
    assert_eq!(ObjectStats::get(&stats.objects_read), 2);
    assert_eq!(ObjectStats::get(&stats.foreign_skipped), 1);
}

/// A CloudTrail file with hostile records among good ones, then a decompression bomb:
/// the good records arrive once, the hostile ones as error records naming their
/// limit, the bomb is a bad object stopped at `max_object_size`, and the scan
/// position moves past all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_and_a_gzip_bomb_are_held_back_and_passed() {
    use crate::sources::api::testing::{error_reason, hostile_records, HOSTILE_REASONS};
    let moto = Moto::start().await;
    moto.create_bucket("trail").await;
    let good: Vec<String> = records(0..3).iter().map(|r| r.to_string()).collect();
    let [deep, wide, big] = hostile_records("eventID");
    let file = format!(
        r#"{{"Records":[{},{deep},{},{wide},{big},{}]}}"#,
        good[0], good[1], good[2]
    );
    moto.put_object(
        "trail",
        &trail_key("20260102T0000Z_a"),
        gzip(file.as_bytes()),
    )
    .await;
    // 64 MiB of zeros compress to about 64 KiB: well under max_object_size stored,
    // sixteen times over it decompressed.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 64 << 20]).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 100 << 10, "{}", bomb.len());
    moto.put_object("trail", &trail_key("20260102T0001Z_bomb"), bomb)
        .await;
    moto.put_object("trail", &trail_key("20260102T0002Z_b"), trail_file(3..4))
        .await;

    let dir = TempDir::new("ct-hostile");
    let mut cfg = config(&moto, scan_mode("trail"), 30);
    cfg.max_object_size = 4 << 20;
    let mut source = start::<CloudTrailLogs>(cfg.clone(), dir.path());
    let mut ids = Vec::new();
    let mut reasons = Vec::new();
    while ids.len() + reasons.len() < 7 {
        for event in source.batch().await.iter() {
            match error_reason(event) {
                Some(reason) => reasons.push(reason),
                None => ids.push(event_id(event)),
            }
        }
    }
    assert_eq!(sorted(ids), expected_ids(0..4));
    let object = format!("s3://trail/{}", trail_key("20260102T0000Z_a"));
    for (reason, expected) in reasons.iter().zip(HOSTILE_REASONS) {
        assert!(reason.starts_with(&object), "{reason}");
        assert!(reason.contains(expected), "{reason}");
    }
    source.quiet(Duration::from_millis(600)).await;
    let (counters, stats) = source.stop().await;
    assert_eq!(ObjectStats::get(&stats.bad_objects), 1);
    // Three records held back, one bad object.
    assert_eq!(counters.snapshot().events_errored, 4);
    assert_eq!(checkpoint_after(dir.path()), trail_key("20260102T0002Z_b"));

    let mut source = start::<CloudTrailLogs>(cfg, dir.path());
    source.quiet(Duration::from_millis(600)).await;
    source.stop().await;
}
