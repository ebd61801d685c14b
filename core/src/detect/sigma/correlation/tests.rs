use super::*;
use crate::detect::sigma::modifiers::Placeholders;
use crate::detect::sigma::rule::{parse_file, Document};

const MIN: i64 = 60_000;

/// Two base rules (`failed`, `success`) and the given correlation document.
fn correlator(correlation: &str, opts: CorrelationOptions) -> Correlator {
    let text = format!(
        "title: Failed login\nid: failed-id\nname: failed\nlogsource: {{product: test}}\ndetection: {{sel: {{outcome: failure}}, condition: sel}}\n---\n\
         title: Successful login\nid: success-id\nname: success\nlogsource: {{product: test}}\ndetection: {{sel: {{outcome: success}}, condition: sel}}\n---\n{correlation}"
    );
    let mut detections = Vec::new();
    let mut correlations = Vec::new();
    for doc in parse_file("test.yml", &text, &Placeholders::new()) {
        match doc.unwrap_or_else(|e| panic!("{}", e.1)) {
            Document::Detection(d) => detections.push(d.meta),
            Document::Correlation(c) => correlations.push(c),
        }
    }
    let namespaces = vec![Vec::new(); detections.len()];
    Correlator::new(
        correlations,
        detections,
        namespaces,
        FieldMap::default(),
        opts,
    )
}

fn ev(json: &str) -> Value {
    crate::json::from_str(json).unwrap()
}

fn user(u: &str) -> Value {
    ev(&format!(r#"{{"user":"{u}","ip":"10.0.0.{}"}}"#, u.len()))
}

fn feed(c: &mut Correlator, d: usize, e: &Value, ts: i64) -> Vec<Fired> {
    let mut out = Vec::new();
    c.observe(d, e, ts, &mut out);
    out
}

const COUNT3: &str = "title: Brute force\nid: bf\ncorrelation:\n  type: event_count\n  rules: [failed]\n  group-by: [user]\n  timespan: 10m\n  condition: {gte: 3}\n";

#[test]
fn event_count_fires_once_per_burst_and_counts_per_group() {
    let mut c = correlator(COUNT3, CorrelationOptions::default());
    let (a, b) = (user("alice"), user("bob"));
    assert!(feed(&mut c, 0, &a, 0).is_empty());
    assert!(feed(&mut c, 0, &b, MIN).is_empty());
    assert!(feed(&mut c, 0, &a, 2 * MIN).is_empty());
    let fired = feed(&mut c, 0, &a, 3 * MIN);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].info.group, "user=alice");
    assert_eq!(fired[0].info.count, 3);
    assert_eq!(fired[0].info.window_start_ms, 0);
    assert_eq!(fired[0].info.event_ids.len(), 3);
    assert_eq!(fired[0].info.kind, "event_count");
    // The burst was consumed: the next event starts over.
    assert!(feed(&mut c, 0, &a, 4 * MIN).is_empty());
    // Success events are not referenced by this correlation.
    assert!(feed(&mut c, 1, &a, 4 * MIN).is_empty());
}

#[test]
fn an_event_exactly_at_the_window_boundary_is_inside() {
    let mut c = correlator(COUNT3, CorrelationOptions::default());
    let a = user("alice");
    feed(&mut c, 0, &a, 0);
    feed(&mut c, 0, &a, 5 * MIN);
    assert_eq!(
        feed(&mut c, 0, &a, 10 * MIN).len(),
        1,
        "t = start + timespan is in the window"
    );
    let mut c = correlator(COUNT3, CorrelationOptions::default());
    feed(&mut c, 0, &a, 0);
    feed(&mut c, 0, &a, 5 * MIN);
    assert!(
        feed(&mut c, 0, &a, 10 * MIN + 1).is_empty(),
        "one millisecond later it is not"
    );
}

#[test]
fn out_of_order_events_within_lateness_count_and_later_ones_do_not() {
    let opts = CorrelationOptions {
        lateness_ms: 5 * MIN,
        ..CorrelationOptions::default()
    };
    let mut c = correlator(COUNT3, opts);
    let a = user("alice");
    feed(&mut c, 0, &a, 20 * MIN);
    feed(&mut c, 0, &a, 25 * MIN);
    // Arrives late but within tolerance, and belongs in the window [20m, 30m].
    let fired = feed(&mut c, 0, &a, 21 * MIN);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].info.window_start_ms, 20 * MIN);
    assert_eq!(
        fired[0].time_ms,
        25 * MIN,
        "the hit's time is the newest event's"
    );
    // Too late: more than 5 minutes behind the newest time seen.
    feed(&mut c, 0, &a, 26 * MIN);
    feed(&mut c, 0, &a, 27 * MIN);
    assert!(feed(&mut c, 0, &a, 19 * MIN).is_empty());
    assert_eq!(c.stats().late, 1);
}

#[test]
fn group_by_on_a_missing_field_is_not_counted() {
    let mut c = correlator(COUNT3, CorrelationOptions::default());
    let anonymous = ev(r#"{"ip":"10.0.0.1"}"#);
    for t in 0..5 {
        assert!(feed(&mut c, 0, &anonymous, t * MIN).is_empty());
    }
    assert_eq!(c.stats().missing_group, 5);
}

#[test]
fn value_count_counts_distinct_values() {
    let rule = "title: Spray\nid: spray\ncorrelation:\n  type: value_count\n  rules: [failed]\n  group-by: [ip]\n  timespan: 1h\n  condition: {field: user, gte: 3}\n";
    let mut c = correlator(rule, CorrelationOptions::default());
    let e = |u: &str| ev(&format!(r#"{{"user":"{u}","ip":"192.0.2.1"}}"#));
    assert!(feed(&mut c, 0, &e("a"), 0).is_empty());
    assert!(feed(&mut c, 0, &e("a"), MIN).is_empty());
    assert!(feed(&mut c, 0, &e("b"), 2 * MIN).is_empty());
    let fired = feed(&mut c, 0, &e("c"), 3 * MIN);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].info.count, 3);
    assert_eq!(fired[0].info.group, "ip=192.0.2.1");
}

#[test]
fn temporal_needs_every_rule_in_any_order() {
    let rule = "title: Both\nid: both\ncorrelation:\n  type: temporal\n  rules: [failed, success]\n  group-by: [user]\n  timespan: 5m\n";
    let mut c = correlator(rule, CorrelationOptions::default());
    let a = user("alice");
    assert!(feed(&mut c, 1, &a, 0).is_empty());
    let fired = feed(&mut c, 0, &a, 4 * MIN);
    assert_eq!(fired.len(), 1, "success then failure within 5m");
    assert_eq!(fired[0].info.count, 2);
    assert!(feed(&mut c, 1, &a, 10 * MIN).is_empty());
    assert!(
        feed(&mut c, 0, &a, 16 * MIN).is_empty(),
        "6 minutes apart is too far"
    );
}

const ORDERED: &str = "title: Failed then success\nid: fts\ncorrelation:\n  type: temporal_ordered\n  rules: [failed, success]\n  group-by: [user]\n  timespan: 10m\n";

#[test]
fn temporal_ordered_needs_the_order() {
    let mut c = correlator(ORDERED, CorrelationOptions::default());
    let a = user("alice");
    assert!(feed(&mut c, 1, &a, 0).is_empty());
    assert!(
        feed(&mut c, 0, &a, MIN).is_empty(),
        "success before failure is the wrong order"
    );
    assert_eq!(
        feed(&mut c, 1, &a, 2 * MIN).len(),
        1,
        "failure at 1m then success at 2m"
    );
}

#[test]
fn temporal_ordered_uses_event_time_not_arrival_order() {
    let opts = CorrelationOptions {
        lateness_ms: 5 * MIN,
        ..CorrelationOptions::default()
    };
    let mut c = correlator(ORDERED, opts);
    let a = user("alice");
    assert!(feed(&mut c, 1, &a, 3 * MIN).is_empty());
    // The failure arrives after the success but happened before it.
    assert_eq!(feed(&mut c, 0, &a, MIN).len(), 1);
}

#[test]
fn aliases_group_different_fields_together() {
    let rule = "title: Aliased\nid: aliased\ncorrelation:\n  type: temporal\n  rules: [failed, success]\n  group-by: [account]\n  timespan: 5m\n  aliases:\n    account:\n      failed: user\n      success-id: target\n";
    let mut c = correlator(rule, CorrelationOptions::default());
    assert!(feed(&mut c, 0, &ev(r#"{"user":"alice"}"#), 0).is_empty());
    let fired = feed(&mut c, 1, &ev(r#"{"target":"alice"}"#), MIN);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].info.group, "account=alice");
}

#[test]
fn upper_bounded_conditions_are_judged_when_the_window_closes() {
    let rule = "title: Few\nid: few\ncorrelation:\n  type: event_count\n  rules: [success]\n  group-by: [user]\n  timespan: 10m\n  condition: {gte: 2, lte: 3}\n";
    let opts = CorrelationOptions {
        lateness_ms: 5 * MIN,
        ..CorrelationOptions::default()
    };
    let mut c = correlator(rule, opts);
    let (a, b) = (user("alice"), user("bob"));
    for t in [0, MIN, 2 * MIN] {
        assert!(feed(&mut c, 1, &a, t).is_empty());
    }
    for t in [0, MIN, 2 * MIN, 3 * MIN] {
        assert!(
            feed(&mut c, 1, &b, t).is_empty(),
            "nothing fires before the window closes"
        );
    }
    // Event time moves past both windows' end (10m) plus the lateness: alice had 3
    // (in range), bob 4.
    let fired = feed(&mut c, 1, &user("carol"), 16 * MIN);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].info.group, "user=alice");
    assert_eq!(fired[0].info.count, 3);
    assert!(
        fired[0].event.is_some(),
        "the stored event backs a hit judged later"
    );
    let mut rest = Vec::new();
    c.finish(&mut rest);
    assert!(
        rest.is_empty(),
        "carol: {:?}",
        rest.iter()
            .map(|f| (&f.info.group, f.info.count))
            .collect::<Vec<_>>()
    );
}

#[test]
fn chained_correlations_and_generate() {
    let text = "title: Success after brute force\nid: chain\ncorrelation:\n  type: temporal_ordered\n  rules: [brute, success]\n  group-by: [user]\n  timespan: 10m\n---\ntitle: Brute force\nid: bf\nname: brute\ncorrelation:\n  type: event_count\n  rules: [failed]\n  group-by: [user]\n  timespan: 10m\n  condition: {gte: 2}\n";
    let mut c = correlator(text, CorrelationOptions::default());
    let a = user("alice");
    assert!(!c.detection_generates(0), "referenced without generate");
    assert!(!c.detection_generates(1));
    assert!(c.correlation_generates(0), "the outer correlation reports");
    feed(&mut c, 0, &a, 0);
    let inner = feed(&mut c, 0, &a, MIN);
    assert_eq!(inner.len(), 1);
    let inner_index = inner[0].correlation;
    assert!(
        !c.correlation_generates(inner_index),
        "the inner correlation is a building block"
    );
    let outer = feed(&mut c, 1, &a, 2 * MIN);
    assert_eq!(outer.len(), 1);
    assert_eq!(
        c.rule(outer[0].correlation).map(|r| r.meta.id.as_str()),
        Some("chain")
    );
}

#[test]
fn state_is_bounded() {
    let opts = CorrelationOptions {
        max_groups: 10,
        max_entries: 5,
        ..CorrelationOptions::default()
    };
    let rule = "title: Many\nid: many\ncorrelation:\n  type: event_count\n  rules: [failed]\n  group-by: [user]\n  timespan: 1h\n  condition: {gte: 1000}\n";
    let mut c = correlator(rule, opts);
    for i in 0..100 {
        feed(&mut c, 0, &user(&format!("u{i}")), i);
    }
    assert_eq!(c.stats().evicted_groups, 90);
    for i in 0..20 {
        feed(&mut c, 0, &user("same"), 100 + i);
    }
    assert_eq!(c.stats().dropped_entries, 15);
    assert!(c.states[0].groups.len() <= 10);
}

#[test]
fn value_sum_and_avg() {
    let sum = "title: Big transfer\nid: sum\ncorrelation:\n  type: value_sum\n  rules: [success]\n  group-by: [user]\n  timespan: 1h\n  condition: {field: bytes, gt: 1000}\n";
    let mut c = correlator(sum, CorrelationOptions::default());
    let e = |n: i64| ev(&format!(r#"{{"user":"a","bytes":{n}}}"#));
    assert!(feed(&mut c, 1, &e(600), 0).is_empty());
    assert_eq!(feed(&mut c, 1, &e(600), MIN).len(), 1);
    let avg = "title: Avg\nid: avg\ncorrelation:\n  type: value_avg\n  rules: [success]\n  group-by: [user]\n  timespan: 1h\n  condition: {field: bytes, gte: 500}\n";
    let mut c = correlator(avg, CorrelationOptions::default());
    assert_eq!(feed(&mut c, 1, &e(500), 0).len(), 1);
}
