//! The buffer's own tests: framing, damage found at start, a full buffer, replay.

use super::recover;
use super::run::{Buffered, BufferedInput};
use super::wal::{self, FrameError, SegmentWriter, HEADER_LEN};
use super::{BufferConfig, Fsync, WhenFull};
use crate::io::BatchInput;
use crate::testkit::{event, TempDir};
use pipectl_core::ack::{AckToken, BatchStatus};
use pipectl_core::component::ComponentError;
use pipectl_core::event::{Batch, Event};
use pipectl_core::metrics::ComponentCounters;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

fn json(e: &Event) -> String {
    let mut out = Vec::new();
    pipectl_core::json::write(&e.value, &mut out);
    String::from_utf8(out).unwrap()
}

fn config(dir: &TempDir, max_size: u64, when_full: WhenFull) -> BufferConfig {
    BufferConfig {
        dir: dir.path().join("buffer"),
        max_size,
        when_full,
        fsync: Fsync::Batch,
    }
}

fn buffered(config: BufferConfig, counters: &Arc<ComponentCounters>) -> Buffered {
    Buffered {
        config,
        name: Arc::from("p.out"),
        counters: Arc::clone(counters),
        drain: None,
    }
}

/// Writes `docs` as records of one segment, the way the sink does.
fn write_segment(dir: &std::path::Path, id: u64, docs: &[&str]) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut w = SegmentWriter::create(dir, id, 1 << 20).unwrap();
    for doc in docs {
        let mut payload = Vec::new();
        wal::encode_event(&event(doc), &mut payload);
        let mut frame = Vec::new();
        wal::encode_frame(&payload, &mut frame);
        w.write(&frame).unwrap();
    }
    w.sync().unwrap();
    dir.join(wal::segment_name(id))
}

/// A delivery loop that takes every batch and records its documents (dropping an
/// event acknowledges it).
async fn collect(
    mut input: BufferedInput,
    into: Arc<Mutex<Vec<String>>>,
) -> Result<(), ComponentError> {
    while let Some(batch) = input.next_batch().await {
        into.lock().unwrap().extend(batch.iter().map(json));
    }
    Ok(())
}

#[test]
fn a_record_round_trips_byte_for_byte_so_opensearch_ids_do_not_change() {
    use crate::sinks::opensearch::encode::{BulkBatch, Encoder};
    use crate::sinks::opensearch::routing::{IndexPattern, Router};
    use pipectl_core::path::FieldPath;
    let doc = r#"{"@timestamp":"2026-01-15T10:00:00Z","z":1,"a":{"b":[1.5,-2e-7,"é\n\u0000"],"c":null},"big":12345678901234567890,"t":true}"#;
    let original = event(doc);
    let mut payload = Vec::new();
    wal::encode_event(&original, &mut payload);
    let mut frame = Vec::new();
    wal::encode_frame(&payload, &mut frame);
    let range = wal::frame_at(&frame, 0).unwrap();
    let back = wal::decode_event(&frame[range]).unwrap();
    assert_eq!(json(&back), json(&original));
    assert_eq!(back.meta.source, original.meta.source);
    assert_eq!(back.meta.ingest_time_ns, original.meta.ingest_time_ns);
    // The bulk lines — and so the content-hash `_id` — are the same.
    let body = |e: Event| {
        let router = Router::pattern(
            IndexPattern::parse("unit-%Y").unwrap(),
            FieldPath::parse("@timestamp").unwrap(),
        );
        let mut encoder = Encoder::new(router, Some(FieldPath::parse("event.id").unwrap()));
        let mut batch = BulkBatch::default();
        assert!(encoder.push(e, &mut batch, 1_768_471_200_000).is_none());
        String::from_utf8(batch.body.clone()).unwrap()
    };
    let (a, b) = (body(original), body(back));
    assert!(a.contains("\"_id\":\""), "{a}");
    assert_eq!(a, b);
}

#[test]
fn framing_catches_a_flipped_bit_in_the_length_or_the_payload() {
    let mut frame = Vec::new();
    wal::encode_frame(b"hello world", &mut frame);
    assert_eq!(wal::frame_at(&frame, 0), Ok(12..23));
    for at in [4, 5, 8, 12, 22] {
        let mut bad = frame.clone();
        bad[at] ^= 0x10;
        assert!(
            wal::frame_at(&bad, 0).is_err(),
            "byte {at} flipped went unnoticed"
        );
    }
    assert_eq!(wal::frame_at(&frame[..20], 0), Err(FrameError::Truncated));
}

#[test]
fn a_torn_tail_is_moved_aside_and_the_rest_is_kept() {
    let dir = TempDir::new("buf-torn");
    let bdir = dir.path().join("buffer");
    let path = write_segment(&bdir, 1, &[r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
    let len = std::fs::metadata(&path).unwrap().len();
    // A crash in the middle of writing the third record.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let scan = wal::scan_file(&path).unwrap().1;
    assert_eq!(scan.records.len(), 2);
    assert_eq!(scan.bad.len(), 1);
    assert_eq!(scan.bad[0].kind, FrameError::Truncated);

    let recovered = recover::open(&bdir).unwrap();
    assert_eq!(recovered.pending_records, 2);
    assert_eq!(recovered.quarantined.len(), 1);
    let moved = std::fs::read(&recovered.quarantined[0]).unwrap();
    assert_eq!(moved.len() as u64, scan.bad[0].end - scan.bad[0].start);
    let rescan = wal::scan_file(&path).unwrap().1;
    assert!(rescan.bad.is_empty());
    assert_eq!(rescan.records.len(), 2);
    assert_eq!(recovered.next_id, 2);
}

#[test]
fn a_flipped_byte_costs_only_its_own_record() {
    let dir = TempDir::new("buf-flip");
    let bdir = dir.path().join("buffer");
    let docs = [
        r#"{"n":1}"#,
        r#"{"n":2,"pad":"xxxxxxxxxxxxxxxx"}"#,
        r#"{"n":3}"#,
    ];
    let path = write_segment(&bdir, 7, &docs);
    let scan = wal::scan_file(&path).unwrap().1;
    let second = scan.records[1].0 as usize;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[second + 20] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();

    let scan = wal::scan_bytes(&bytes);
    assert_eq!(scan.records.len(), 2);
    assert_eq!(scan.bad.len(), 1);
    assert_eq!(scan.bad[0].kind, FrameError::Corrupt);
    assert_eq!(scan.bad[0].start, second as u64);

    let recovered = recover::open(&bdir).unwrap();
    assert_eq!(recovered.pending_records, 2);
    assert_eq!(
        recovered.quarantined,
        vec![wal::quarantine_path(&bdir, 7, second as u64)]
    );
    // The survivors are the first and the third record.
    let (bytes, scan) = wal::scan_file(&path).unwrap();
    let kept: Vec<String> = scan
        .records
        .iter()
        .map(|(at, len)| {
            let start = *at as usize + 12;
            json(&wal::decode_event(&bytes[start..start + *len as usize]).unwrap())
        })
        .collect();
    assert_eq!(kept, vec![r#"{"n":1}"#, r#"{"n":3}"#]);
}

#[test]
fn a_segment_that_is_garbage_does_not_stop_the_start() {
    let dir = TempDir::new("buf-garbage");
    let bdir = dir.path().join("buffer");
    std::fs::create_dir_all(&bdir).unwrap();
    std::fs::write(bdir.join(wal::segment_name(3)), b"not a segment at all").unwrap();
    std::fs::write(bdir.join("checkpoint"), "what?").unwrap();
    let recovered = recover::open(&bdir).unwrap();
    assert_eq!(recovered.pending_records, 0);
    assert_eq!(recovered.quarantined.len(), 1);
    assert_eq!(recovered.next_id, 4);
}

fn sized_events(token: &AckToken, from: usize, n: usize) -> Batch {
    (from..from + n)
        .map(|i| {
            let mut e = event(&format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(10_000)));
            e.meta.ack = Some(token.clone());
            e
        })
        .collect()
}

#[tokio::test]
async fn a_full_buffer_blocks_the_source_until_the_destination_takes_records() {
    let dir = TempDir::new("buf-block");
    let counters = Arc::new(ComponentCounters::default());
    let config = config(&dir, 1 << 20, WhenFull::Block);
    let bdir = config.dir.clone();
    let (tx, rx) = mpsc::channel(1);
    let (open_tx, open_rx) = tokio::sync::oneshot::channel::<()>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let run = tokio::spawn(
        buffered(config, &counters).run(rx, move |input| async move {
            // The destination is away until told otherwise.
            let _ = open_rx.await;
            collect(input, seen2).await
        }),
    );
    // 300 events of ~10 KB: three times the buffer.
    let source = tokio::spawn(async move {
        let mut acks = Vec::new();
        for round in 0..30 {
            let (token, ack) = AckToken::new();
            tx.send(sized_events(&token, round * 10, 10)).await.unwrap();
            acks.push(ack);
        }
        acks
    });
    // Wait until the writer is stuck: the buffer is full and stays within its bound.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let on_disk: u64 = wal::list_segments(&bdir)
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(on_disk <= 1 << 20, "{on_disk} bytes on disk");
    assert!(on_disk > 900 << 10, "{on_disk} bytes on disk");
    // The backpressure reached the source: it cannot hand over its last batches.
    assert!(!source.is_finished(), "the source was not held back");
    open_tx.send(()).unwrap();
    let acks = source.await.unwrap();
    run.await.unwrap().unwrap();
    for ack in acks {
        assert_eq!(ack.wait().await, BatchStatus::Delivered);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 300);
    assert_eq!(counters.snapshot().events_dropped, 0);
}

#[tokio::test]
async fn a_full_buffer_with_drop_newest_drops_and_counts() {
    let dir = TempDir::new("buf-drop");
    let counters = Arc::new(ComponentCounters::default());
    let config = config(&dir, 1 << 20, WhenFull::DropNewest);
    let (tx, rx) = mpsc::channel(1);
    let (open_tx, open_rx) = tokio::sync::oneshot::channel::<()>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let run = tokio::spawn(
        buffered(config, &counters).run(rx, move |input| async move {
            let _ = open_rx.await;
            collect(input, seen2).await
        }),
    );
    let mut acks = Vec::new();
    for round in 0..30 {
        let (token, ack) = AckToken::new();
        tx.send(sized_events(&token, round * 10, 10)).await.unwrap();
        acks.push(ack);
    }
    // Every batch is settled while the destination is still away: nothing blocks.
    for ack in acks {
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(10), ack.wait())
                .await
                .unwrap(),
            BatchStatus::Delivered
        );
    }
    open_tx.send(()).unwrap();
    drop(tx);
    run.await.unwrap().unwrap();
    let delivered = seen.lock().unwrap().len() as u64;
    let dropped = counters.snapshot().events_dropped;
    assert!(dropped >= 190, "dropped {dropped}");
    assert_eq!(delivered + dropped, 300);
}

#[tokio::test]
async fn what_the_destination_did_not_accept_is_delivered_after_a_restart() {
    let dir = TempDir::new("buf-replay");
    let counters = Arc::new(ComponentCounters::default());
    let (tx, rx) = mpsc::channel(8);
    let (token, ack) = AckToken::new();
    let batch: Batch = (0..2500)
        .map(|i| {
            let mut e = event(&format!(r#"{{"n":{i}}}"#));
            e.meta.ack = Some(token.clone());
            e
        })
        .collect();
    drop(token);
    tx.send(batch).await.unwrap();
    drop(tx);
    let first = Arc::new(Mutex::new(Vec::new()));
    let first2 = Arc::clone(&first);
    // The destination accepts the first batch it is given, then the sink fails: the
    // next batch it took is failed back.
    let result = buffered(config(&dir, 64 << 20, WhenFull::Block), &counters)
        .run(rx, move |mut input| async move {
            let batch = input.next_batch().await.unwrap();
            first2.lock().unwrap().extend(batch.iter().map(json));
            drop(batch);
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(batch) = input.next_batch().await {
                batch.iter().for_each(Event::fail_delivery);
            }
            Err(ComponentError {
                component: "p.out".into(),
                message: "destination refused".into(),
            })
        })
        .await;
    assert_eq!(result.unwrap_err().message, "destination refused");
    // The source's batch was durably buffered, so it was acknowledged.
    assert_eq!(ack.wait().await, BatchStatus::Delivered);
    let first = first.lock().unwrap().clone();
    assert_eq!(first.len(), 1000);

    // The next start delivers the rest, and only the rest.
    let (tx, rx) = mpsc::channel::<Batch>(1);
    drop(tx);
    let second = Arc::new(Mutex::new(Vec::new()));
    let second2 = Arc::clone(&second);
    buffered(config(&dir, 64 << 20, WhenFull::Block), &counters)
        .run(rx, move |input| collect(input, second2))
        .await
        .unwrap();
    let second = second.lock().unwrap().clone();
    assert_eq!(second.len(), 1500);
    let mut all: Vec<String> = first.into_iter().chain(second).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2500);
    // Everything was delivered: the segments are gone but the writer's new one.
    let segments = wal::list_segments(&dir.path().join("buffer")).unwrap();
    assert!(segments.len() <= 1, "{segments:?}");
    let cp = wal::read_checkpoint(&dir.path().join("buffer")).unwrap();
    assert!(cp.offset >= HEADER_LEN);
}

#[test]
fn a_plan_stored_before_the_buffer_attributes_existed_gets_their_defaults() {
    use crate::testkit::{plan, string};
    use pipectl_core::component::BuildContext;
    use pipectl_core::config::Attrs;
    let dir = TempDir::new("buf-old-plan");
    let secrets = pipectl_core::secrets::SecretStore::default();
    let ctx = BuildContext {
        pipeline: "p",
        data_dir: dir.path().to_path_buf(),
        secrets: &secrets,
    };
    let mut p = plan(
        &crate::sinks::opensearch::SPEC,
        "search",
        vec![("endpoint", string("http://127.0.0.1:9"))],
    );
    p.attrs.retain(|key, _| !key.starts_with("buffer"));
    let attrs = Attrs::new(&p, &ctx);
    let on = super::BufferConfig::from_attrs(&attrs, dir.path(), true)
        .unwrap()
        .unwrap();
    assert_eq!(
        (on.max_size, on.when_full, on.fsync),
        (1 << 30, WhenFull::Block, Fsync::Batch)
    );
    assert_eq!(on.dir, dir.path().join("buffer"));
    assert!(super::BufferConfig::from_attrs(&attrs, dir.path(), false)
        .unwrap()
        .is_none());
    // And what the catalogue fills in by default says the same.
    let p = plan(
        &crate::sinks::opensearch::SPEC,
        "search",
        vec![("buffer_fsync", string("interval"))],
    );
    let attrs = Attrs::new(&p, &ctx);
    let on = super::BufferConfig::from_attrs(&attrs, dir.path(), true)
        .unwrap()
        .unwrap();
    assert_eq!(
        (on.max_size, on.fsync),
        (1 << 30, Fsync::Interval(Duration::from_secs(1)))
    );
    let p = plan(
        &crate::sinks::opensearch::SPEC,
        "search",
        vec![("buffer_max_size", size(1000))],
    );
    let attrs = Attrs::new(&p, &ctx);
    let err = super::BufferConfig::from_attrs(&attrs, dir.path(), true).unwrap_err();
    assert!(err.message.contains("at least 1MiB"), "{}", err.message);
}

fn size(bytes: u64) -> pipectl_dsl::plan::PlanValue {
    pipectl_dsl::plan::PlanValue::Size(bytes)
}

#[test]
fn one_owner_at_a_time() {
    let dir = TempDir::new("buf-lock");
    let first = wal::lock(dir.path()).unwrap();
    assert!(first.is_some());
    assert!(wal::lock(dir.path()).unwrap().is_none());
    let err = recover::lock_within(dir.path(), Duration::from_millis(100)).unwrap_err();
    assert!(err.contains("in use by another process"), "{err}");
    drop(first);
    assert!(wal::lock(dir.path()).unwrap().is_some());
}
