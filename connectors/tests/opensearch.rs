//! `sink opensearch` against a real OpenSearch node, through the real runtime:
//! file → parse json → opensearch, read back with `_count` and `_search`.
//!
//! The node is the one `scripts/test` starts (`OPENSEARCH_URL`); the test that stops
//! its node mid-run starts its own. Every test writes to indices of its own.

#[path = "opensearch/proxy.rs"]
mod proxy;
#[path = "opensearch/support.rs"]
mod support;

use pipectl_connectors::sinks::opensearch::client::Request;
use std::collections::BTreeSet;
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_every_event_once_with_deterministic_ids() {
    let url = node_url();
    let os = client(&url);
    let name = unique("graph");
    let index = format!("pipectl-events-{name}-%Y.%m.%d");
    let dlq = format!("pipectl-deadletter-{name}-%Y.%m.%d");
    let scratch = Scratch::new("graph");
    let input = scratch.path().join("events.ndjson");
    let n = 3000;
    std::fs::write(&input, events(n, 0)).unwrap();
    let text = pipeline(
        &input,
        &url,
        &index,
        &dlq,
        "read_once",
        "batch_max_events = 700",
    );

    let first = run_pipeline(&text, &scratch.path().join("data1")).await;
    let pattern = format!("pipectl-events-{name}-*");
    assert_eq!(count(&os, &pattern).await, n as u64);
    let sink = counters(&first, "search");
    assert_eq!(
        (sink.events_out, sink.events_errored, sink.events_dropped),
        (n as u64, 0, 0)
    );
    assert!(sink.bytes_out > 0);
    let ids_first: BTreeSet<String> = hits(&os, &pattern)
        .await
        .iter()
        .map(|h| h["_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids_first.len(), n);

    // The same input again (a replay, with fresh checkpoints): nothing new.
    run_pipeline(&text, &scratch.path().join("data2")).await;
    assert_eq!(count(&os, &pattern).await, n as u64);
    let hits = hits(&os, &pattern).await;
    let ids_second: BTreeSet<String> = hits
        .iter()
        .map(|h| h["_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids_first, ids_second);
    // Documents are stored as sent, in the index of their own day, under the template's alias.
    let one = &hits[0];
    assert_eq!(one["_index"], format!("pipectl-events-{name}-2026.01.15"));
    assert_eq!(one["_source"]["event"]["action"], "GetObject");
    let aliases = call(
        &os,
        Request::get(&format!("/pipectl-events-{name}-2026.01.15/_alias")),
    )
    .await;
    assert!(
        aliases.to_string().contains("\"pipectl-events\""),
        "{aliases}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_that_conflict_with_the_mapping_are_dead_lettered_with_the_reason() {
    let url = node_url();
    let os = client(&url);
    let name = unique("dlq");
    let index = format!("pipectl-events-{name}-%Y.%m.%d");
    let dlq = format!("pipectl-deadletter-{name}-%Y.%m.%d");
    let scratch = Scratch::new("dlq");
    let input = scratch.path().join("events.ndjson");
    let bad_ip = r#"{"@timestamp":"2026-01-15T10:00:00Z","event":{"action":"Bad"},"source":{"ip":"not-an-ip"}}"#;
    let bad_time = r#"{"event":{"action":"NoTime"}}"#;
    let mut text = events(200, 0);
    text.push_str(bad_ip);
    text.push('\n');
    text.push_str(bad_time);
    text.push('\n');
    text.push_str(&events(100, 200));
    std::fs::write(&input, text).unwrap();

    let summary = run_pipeline(
        &pipeline(&input, &url, &index, &dlq, "read_once", ""),
        scratch.path(),
    )
    .await;
    assert_eq!(count(&os, &format!("pipectl-events-{name}-*")).await, 300);
    let sink = counters(&summary, "search");
    assert_eq!(
        (sink.events_out, sink.events_errored, sink.events_dropped),
        (300, 2, 0)
    );

    let dead = hits(&os, &format!("pipectl-deadletter-{name}-*")).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    let record = |action: &str| {
        dead.iter()
            .map(|h| &h["_source"])
            .find(|s| {
                s["pipectl"]["deadletter"]["document"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(action)
            })
            .unwrap_or_else(|| panic!("no dead letter for {action}: {dead:?}"))
            .clone()
    };
    let ip = record("\"Bad\"");
    let d = &ip["pipectl"]["deadletter"];
    assert_eq!(d["error_type"], "mapper_parsing_exception");
    assert_eq!(d["status"], 400);
    assert!(
        d["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("source.ip"),
        "{d}"
    );
    assert_eq!(d["index"], format!("pipectl-events-{name}-2026.01.15"));
    assert_eq!(d["kind"], "events");
    assert_eq!(d["document"], bad_ip);
    assert_eq!(ip["event"]["kind"], "pipeline_error");
    assert_eq!(ip["pipectl"]["source"], "input");
    assert_eq!(ip["pipectl"]["component"], "search");
    let time = record("NoTime");
    let d = &time["pipectl"]["deadletter"];
    assert_eq!(d["error_type"], "timestamp_out_of_range");
    assert!(
        d["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("@timestamp"),
        "{d}"
    );
    assert!(d.get("status").is_none());
    // The dead-letter index is searchable by reason.
    let found = call(
        &os,
        Request::post(&format!("/pipectl-deadletter-{name}-*/_search"))
            .json(r#"{"query":{"match":{"pipectl.deadletter.reason":"source.ip"}}}"#),
    )
    .await;
    assert_eq!(found["hits"]["total"]["value"], 1, "{found}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_answering_429_loses_nothing_and_duplicates_nothing() {
    let url = node_url();
    let name = unique("throttle");
    let index = format!("pipectl-events-{name}-%Y.%m.%d");
    let dlq = format!("pipectl-deadletter-{name}-%Y.%m.%d");
    let (proxy_url, stats) = proxy::start(
        client(&url),
        proxy::Throttler {
            request_every: 4,
            item_every: 3,
        },
    )
    .await;
    let scratch = Scratch::new("throttle");
    let input = scratch.path().join("events.ndjson");
    let n = 5000;
    std::fs::write(&input, events(n, 0)).unwrap();
    let extra =
        "batch_max_events = 250\n    retry_initial_backoff = 10ms\n    retry_max_backoff = 200ms";
    let summary = run_pipeline(
        &pipeline(&input, &proxy_url, &index, &dlq, "read_once", extra),
        scratch.path(),
    )
    .await;

    let os = client(&url);
    assert_eq!(
        count(&os, &format!("pipectl-events-{name}-*")).await,
        n as u64
    );
    let sink = counters(&summary, "search");
    assert_eq!(
        (sink.events_out, sink.events_errored, sink.events_dropped),
        (n as u64, 0, 0)
    );
    assert_eq!(count(&os, &format!("pipectl-deadletter-{name}-*")).await, 0);
    let sequences: BTreeSet<u64> = hits(&os, &format!("pipectl-events-{name}-*"))
        .await
        .iter()
        .filter_map(|h| h["_source"]["event"]["sequence"].as_u64())
        .collect();
    assert_eq!(sequences, (0..n as u64).collect());
    use std::sync::atomic::Ordering::Relaxed;
    assert!(
        stats.rejected_requests.load(Relaxed) >= 1,
        "no whole request was refused"
    );
    assert!(
        stats.rejected_items.load(Relaxed) >= 100,
        "too few items were refused"
    );
}

/// The documents of `pattern`, the smallest and largest `event.sequence`, and how many
/// sequence numbers occur more than once.
async fn sequence_stats(
    os: &pipectl_connectors::sinks::opensearch::client::Client,
    pattern: &str,
) -> (u64, u64, u64, usize) {
    refresh(os, pattern).await;
    let answer = call(
        os,
        Request::post(&format!("/{pattern}/_search")).json(
            r#"{"size":0,"track_total_hits":true,"aggs":{"min":{"min":{"field":"event.sequence"}},"max":{"max":{"field":"event.sequence"}},"twice":{"terms":{"field":"event.sequence","min_doc_count":2,"size":10}}}}"#,
        ),
    )
    .await;
    let aggs = &answer["aggregations"];
    (
        answer["hits"]["total"]["value"].as_u64().unwrap_or(0),
        aggs["min"]["value"].as_f64().unwrap_or(-1.0) as u64,
        aggs["max"]["value"].as_f64().unwrap_or(-1.0) as u64,
        aggs["twice"]["buckets"]
            .as_array()
            .map_or(usize::MAX, Vec::len),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_mid_run_and_restarted_30s_later_gets_every_event_exactly_once() {
    let node = OwnNode::start("restart");
    let os = client(&node.url);
    let name = unique("restart");
    let index = format!("pipectl-events-{name}-%Y.%m.%d");
    let dlq = format!("pipectl-deadletter-{name}-%Y.%m.%d");
    let pattern = format!("pipectl-events-{name}-*");
    let scratch = Scratch::new("restart");
    let input = scratch.path().join("events.ndjson");
    std::fs::write(&input, "").unwrap();
    let extra = "batch_max_events = 500\n    batch_timeout = 200ms\n    retry_initial_backoff = 100ms\n    retry_max_backoff = 2s";
    let text = pipeline(&input, &node.url, &index, &dlq, "follow", extra);
    let (graph, stop) = start_pipeline(&text, &scratch.path().join("data")).await;

    let append = |from: usize, n: usize| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        f.write_all(events(n, from).as_bytes()).unwrap();
    };
    // Before: delivered while the node is up.
    append(0, 4000);
    let before = wait_for_count(&os, &pattern, 4000, Duration::from_secs(60)).await;
    assert_eq!(before, 4000);
    // During: written while the node is down; they wait in the sink and the source.
    append(4000, 3000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.stop();
    append(7000, 3000);
    tokio::time::sleep(Duration::from_secs(30)).await;
    node.restart();
    // After: the backlog drains, and new lines follow.
    append(10_000, 2000);
    let total = 12_000u64;
    let seen = wait_for_count(&os, &pattern, total, Duration::from_secs(120)).await;
    stop.trigger();
    let summary = tokio::time::timeout(Duration::from_secs(120), graph.wait())
        .await
        .expect("the pipeline drains")
        .expect("the pipeline ends cleanly");
    assert_eq!(seen, total);
    // `total` documents, no sequence number twice, all within 0..total: each event once.
    let (docs, min, max, repeated) = sequence_stats(&os, &pattern).await;
    assert_eq!((docs, min, max, repeated), (total, 0, total - 1, 0));
    let sink = counters(&summary, "search");
    assert_eq!(
        (sink.events_out, sink.events_errored, sink.events_dropped),
        (total, 0, 0)
    );
    assert_eq!(count(&os, &format!("pipectl-deadletter-{name}-*")).await, 0);
}
