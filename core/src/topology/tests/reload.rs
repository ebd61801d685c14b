//! Hot reload: only changed components restart; nothing is lost or repeated.

use super::*;

/// A reloadable topology over the test components, with its data directory.
fn topology() -> (Topology, TempDir) {
    let dir = TempDir::new();
    let mut options = RunOptions::new(&dir.0);
    options.channel_capacity = 2;
    (Topology::new(registry(), options), dir)
}

async fn apply(topology: &mut Topology, plan: &Plan) -> ApplyReport {
    match tokio::time::timeout(Duration::from_secs(30), topology.apply(plan)).await {
        Ok(Ok(report)) => report,
        Ok(Err(errors)) => panic!("the plan should apply: {errors:?}"),
        Err(_) => panic!("the apply did not finish"),
    }
}

/// Waits until `done` holds, failing the test instead of hanging.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn status_of(topology: &Topology, component: &str) -> ComponentStatus {
    match topology
        .status()
        .into_iter()
        .find(|s| s.id.component == component)
    {
        Some(s) => s,
        None => panic!("{component} does not run"),
    }
}

fn ids(changes: &[ComponentChange]) -> Vec<String> {
    changes.iter().map(|c| c.id.to_string()).collect()
}

async fn stop(mut topology: Topology) {
    let errors = match tokio::time::timeout(Duration::from_secs(30), topology.shutdown()).await {
        Ok(errors) => errors,
        Err(_) => panic!("shutdown did not finish"),
    };
    assert!(errors.is_empty(), "{errors:?}");
}

/// Every number once, in order: nothing lost, nothing repeated.
fn assert_exactly_once(numbers: &[i64], produced: u64) {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    let expected: Vec<i64> = (0..produced as i64).collect();
    assert_eq!(sorted.len(), expected.len(), "count");
    assert_eq!(sorted, expected);
}

fn paths(id: &str) -> Vec<String> {
    lock(&probe(id).kept)
        .iter()
        .map(|e| {
            e.value
                .as_object()
                .and_then(|m| m.get("path"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn chain_plan(id: &str, second_tag: &str, sink_delay: &str) -> Plan {
    plan(vec![
        source(
            "src",
            &[&format!("id={id}"), "count=-1", "batch=10", "acks=true"],
        ),
        transform("step", "first", &["src"], &["tag=a"]),
        transform(
            "step",
            "second",
            &["first"],
            &[&format!("tag={second_tag}")],
        ),
        sink(
            "out",
            &["second"],
            &[&format!("id={id}-out"), "keep=true", sink_delay],
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_transform_restarts_only_it() {
    let (mut topology, _dir) = topology();
    let first = apply(&mut topology, &chain_plan("one", "b", "delay_ms=1")).await;
    assert_eq!(ids(&first.diff.added).len(), 4);
    let out = probe("one-out");
    until("events flow", || out.received.load(Ordering::SeqCst) >= 200).await;
    let before = status_of(&topology, "src").counters.events_out;

    let report = apply(&mut topology, &chain_plan("one", "c", "delay_ms=1")).await;
    assert_eq!(ids(&report.diff.changed), ["p.second"]);
    assert!(report.diff.added.is_empty() && report.diff.removed.is_empty());
    assert_eq!(report.diff.unchanged, 3);
    assert!(report.drain_errors.is_empty(), "{:?}", report.drain_errors);
    for name in ["src", "first", "out"] {
        let s = status_of(&topology, name);
        assert_eq!((s.generation, s.restarts), (1, 0), "{name} restarted");
    }
    let second = status_of(&topology, "second");
    assert_eq!((second.generation, second.restarts), (2, 1));
    // The slow sink is behind: its input holds batches (at most its capacity).
    until("the sink's input fills", || {
        (1..=2).contains(&status_of(&topology, "out").queued_batches)
    })
    .await;
    assert_eq!(status_of(&topology, "src").queued_batches, 0);

    // The others keep counting; the changed one's counters carry on too.
    let seen = out.received.load(Ordering::SeqCst);
    until("events flow after the apply", || {
        out.received.load(Ordering::SeqCst) >= seen + 200
    })
    .await;
    assert!(status_of(&topology, "src").counters.events_out > before);
    assert!(status_of(&topology, "second").counters.events_in > seen);
    stop(topology).await;

    // The source kept its position: every number once; the old instance drained
    // before the new one started, so the tags switch exactly once.
    let produced = probe("one").produced_batches.load(Ordering::SeqCst) * 10;
    assert_exactly_once(&probe("one-out").kept_numbers(), produced);
    let paths = paths("one-out");
    let switch = paths.iter().position(|p| p == "ac").unwrap_or(paths.len());
    assert!(switch > 0 && switch < paths.len(), "both versions ran");
    assert!(paths[..switch].iter().all(|p| p == "ab"));
    assert!(paths[switch..].iter().all(|p| p == "ac"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_can_be_added_and_removed_while_the_source_runs() {
    let (mut topology, _dir) = topology();
    let one = |extra: Vec<ComponentPlan>| {
        let mut components = vec![
            source("src", &["id=addrm", "count=-1", "batch=5"]),
            sink("slow", &["src"], &["id=addrm-slow", "delay_ms=1"]),
        ];
        components.extend(extra);
        plan(components)
    };
    apply(&mut topology, &one(vec![])).await;
    let slow = probe("addrm-slow");
    until("slow gets events", || {
        slow.received.load(Ordering::SeqCst) >= 50
    })
    .await;

    let extra = || sink("extra", &["src"], &["id=addrm-extra"]);
    let report = apply(&mut topology, &one(vec![extra()])).await;
    assert_eq!(ids(&report.diff.added), ["p.extra"]);
    let added = probe("addrm-extra");
    until("the new sink gets events", || {
        added.received.load(Ordering::SeqCst) >= 50
    })
    .await;
    assert_eq!(status_of(&topology, "src").generation, 1);

    let report = apply(
        &mut topology,
        &plan(vec![
            source("src", &["id=addrm", "count=-1", "batch=5"]),
            extra(),
        ]),
    )
    .await;
    assert_eq!(ids(&report.diff.removed), ["p.slow"]);
    assert!(topology.status().iter().all(|s| s.id.component != "slow"));
    let slow_after = slow.received.load(Ordering::SeqCst);
    let extra_after = added.received.load(Ordering::SeqCst);
    until("the remaining sink keeps receiving", || {
        added.received.load(Ordering::SeqCst) >= extra_after + 100
    })
    .await;
    assert_eq!(slow.received.load(Ordering::SeqCst), slow_after);
    assert_eq!(status_of(&topology, "src").restarts, 0);
    stop(topology).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_changes_nothing() {
    let (mut topology, _dir) = topology();
    let good = chain_plan("fail", "b", "delay_ms=1");
    apply(&mut topology, &good).await;
    let out = probe("fail-out");
    until("events flow", || out.received.load(Ordering::SeqCst) >= 100).await;

    let mut broken = chain_plan("fail", "changed", "delay_ms=1");
    broken.pipelines[0]
        .components
        .push(comp(ComponentKind::Sink, "nope", "bad", &["src"], &[]));
    let errors = match topology.apply(&broken).await {
        Ok(report) => panic!("a broken plan applied: {report:?}"),
        Err(errors) => errors,
    };
    assert!(errors
        .iter()
        .any(|e| e.message.contains("unknown sink type `nope`")));
    assert_eq!(topology.plan(), &good);
    assert!(topology
        .status()
        .iter()
        .all(|s| s.generation == 1 && s.restarts == 0 && s.running));
    let seen = out.received.load(Ordering::SeqCst);
    until("the old plan keeps running", || {
        out.received.load(Ordering::SeqCst) >= seen + 100
    })
    .await;
    stop(topology).await;
    assert!(paths("fail-out").iter().all(|p| p == "ab"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_applies_under_a_steady_source_deliver_every_event_once() {
    let (mut topology, _dir) = topology();
    apply(&mut topology, &chain_plan("ten", "b0", "delay_ms=1")).await;
    let out = probe("ten-out");
    for round in 1..=10u32 {
        let seen = out.received.load(Ordering::SeqCst);
        until("events flow", || {
            out.received.load(Ordering::SeqCst) >= seen + 50
        })
        .await;
        // Odd rounds change the transform, even rounds the sink.
        let delay = if (round / 2) % 2 == 1 {
            "delay_ms=2"
        } else {
            "delay_ms=1"
        };
        let tag = format!("b{}", round.div_ceil(2));
        let report = apply(&mut topology, &chain_plan("ten", &tag, delay)).await;
        assert_eq!(report.diff.changed.len(), 1, "round {round}");
        assert!(report.drain_errors.is_empty(), "{:?}", report.drain_errors);
    }
    assert_eq!(status_of(&topology, "src").restarts, 0);
    assert_eq!(status_of(&topology, "second").restarts, 5);
    assert_eq!(status_of(&topology, "out").restarts, 5);
    stop(topology).await;
    let produced = probe("ten").produced_batches.load(Ordering::SeqCst) * 10;
    assert_exactly_once(&probe("ten-out").kept_numbers(), produced);
    // Every batch was acknowledged as delivered.
    let acks = std::mem::take(&mut *lock(&probe("ten").acks));
    lock(&probe("ten-out").kept).clear();
    for rx in acks {
        assert_eq!(rx.wait().await, BatchStatus::Delivered);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_samples_what_leaves_a_component_and_goes_away_with_its_client() {
    let (mut topology, _dir) = topology();
    apply(&mut topology, &chain_plan("tap", "b", "delay_ms=1")).await;
    let id = ComponentId {
        pipeline: "p".into(),
        component: "first".into(),
    };
    let mut rx = match topology.tap(&id, 4) {
        Some(rx) => rx,
        None => panic!("first has outputs"),
    };
    let batch = match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(batch)) => batch,
        other => panic!("no sample: {other:?}"),
    };
    assert!(!batch.is_empty());
    assert!(batch.iter().all(|e| e.meta.ack.is_none()));
    assert!(batch.iter().all(|e| e
        .value
        .as_object()
        .and_then(|m| m.get("path"))
        .and_then(Value::as_str)
        == Some("a")));
    assert!(topology
        .tap(
            &ComponentId {
                pipeline: "p".into(),
                component: "out".into()
            },
            4
        )
        .is_none());
    assert_eq!(status_of(&topology, "first").taps, 1);
    drop(rx);
    assert_eq!(status_of(&topology, "first").taps, 0);
    let seen = probe("tap-out").received.load(Ordering::SeqCst);
    until("the pipeline goes on without the tap", || {
        probe("tap-out").received.load(Ordering::SeqCst) >= seen + 100
    })
    .await;
    stop(topology).await;
}

#[test]
fn a_diff_names_attribute_changes_and_never_a_secret_value() {
    let mut old = chain_plan("diff", "b", "delay_ms=1");
    let mut new = chain_plan("diff", "c", "delay_ms=1");
    for p in [&mut old, &mut new] {
        p.pipelines[0].components[0]
            .attrs
            .insert("token".into(), PlanValue::Secret { name: "api".into() });
    }
    new.pipelines[0].components[0].attrs.insert(
        "token".into(),
        PlanValue::Secret {
            name: "api2".into(),
        },
    );
    new.pipelines[0].components[3].origin = "moved.pipe:1".into();
    let diff = diff_plans(&old, &new);
    assert_eq!(ids(&diff.changed), ["p.second", "p.src"]);
    assert_eq!(diff.unchanged, 2, "moving a block is no change");
    let second = &diff.changed[0];
    assert_eq!(
        second.attrs,
        [AttrChange {
            name: "tag".into(),
            before: Some("\"b\"".into()),
            after: Some("\"c\"".into()),
        }]
    );
    assert_eq!(
        diff.changed[1].attrs[0].after.as_deref(),
        Some("secret(\"api2\")")
    );
    assert!(diff_plans(&old, &old).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_stateful_component_continues_from_what_its_old_instance_stored() {
    let (mut topology, _dir) = topology();
    let memo_plan = |version: &str| {
        plan(vec![
            source("src", &["id=memo-src", "count=-1", "batch=10"]),
            transform(
                "memo",
                "memo",
                &["src"],
                &["id=memo", &format!("v={version}")],
            ),
            sink("out", &["memo"], &["id=memo-out", "delay_ms=1"]),
        ])
    };
    apply(&mut topology, &memo_plan("1")).await;
    let out = probe("memo-out");
    until("events flow", || out.received.load(Ordering::SeqCst) >= 200).await;
    let report = apply(&mut topology, &memo_plan("2")).await;
    assert_eq!(ids(&report.diff.changed), ["p.memo"]);
    // The old instance stored its count while draining, before the new one was built.
    let stored_by_old = probe("memo").stored.load(Ordering::SeqCst);
    assert!(stored_by_old >= 200, "{stored_by_old}");
    let seen = out.received.load(Ordering::SeqCst);
    until("events flow after the apply", || {
        out.received.load(Ordering::SeqCst) >= seen + 200
    })
    .await;
    let total_in = status_of(&topology, "memo").counters.events_in;
    stop(topology).await;
    // The new instance started from the old one's count: together they saw everything.
    let stored = probe("memo").stored.load(Ordering::SeqCst);
    assert!(stored >= total_in, "stored {stored}, counted {total_in}");
    assert_eq!(stored, out.received.load(Ordering::SeqCst));
}
