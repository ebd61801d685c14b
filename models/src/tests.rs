//! Behaviour of the model and its stage on synthetic estates: breaches for what is
//! unusual and not for what is usual, determinism, persistence, eviction, learned
//! peer groups, and a run through the real runtime from pipeline text.

use crate::behaviour;
use crate::breach::{Breach, Comparison};
use crate::model::Model;
use crate::persist;
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, Built, ComponentError, Factory, Sink, SinkContext, Source, SourceContext,
};
use pipectl_core::detect::sigma::time::format_rfc3339;
use pipectl_core::event::Event;
use pipectl_core::secrets::SecretStore;
use pipectl_core::store::Store;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{Catalogue, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use pipectl_dsl::SourceFile;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Monday 2026-09-07 00:00 UTC.
const START: i64 = 1_788_739_200_000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pipectl-models-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static SOURCE: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "given",
    summary: "test source",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

static SINK: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "capture",
    summary: "test sink",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

fn pipeline(model_attrs: &str) -> String {
    format!(
        "pipeline \"test\" {{\n  source given \"events\" {{}}\n  model behaviour \"pattern_of_life\" {{\n    inputs = [events]\n{model_attrs}\n  }}\n  sink capture \"out\" {{ inputs = [pattern_of_life] }}\n}}\n"
    )
}

/// The model component's plan, compiled from pipeline text.
fn model_plan(model_attrs: &str) -> Result<ComponentPlan, Vec<String>> {
    let catalogue = Catalogue::new(vec![&SOURCE, &SINK, &behaviour::SPEC]);
    let result = pipectl_dsl::compile(
        &[SourceFile::new("t.pipe", pipeline(model_attrs))],
        &catalogue,
    );
    let Some(plan) = result.plan else {
        return Err(result
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect());
    };
    Ok(plan.pipelines[0]
        .components
        .iter()
        .find(|c| c.name == "pattern_of_life")
        .cloned()
        .unwrap())
}

fn model(model_attrs: &str) -> Model {
    let plan = model_plan(model_attrs).unwrap();
    let secrets = SecretStore::default();
    let ctx = BuildContext {
        pipeline: "test",
        data_dir: std::env::temp_dir(),
        secrets: &secrets,
    };
    Model::new(behaviour::options(&plan, &ctx).unwrap())
}

fn build_error(model_attrs: &str) -> String {
    let dir = TempDir::new("err");
    let plan = model_plan(model_attrs).unwrap();
    let secrets = SecretStore::default();
    let ctx = BuildContext {
        pipeline: "test",
        data_dir: dir.path().to_path_buf(),
        secrets: &secrets,
    };
    match (behaviour::FACTORY.build)(&plan, &ctx) {
        Err(e) => e.message,
        Ok(_) => panic!("expected a build error"),
    }
}

fn json(text: &str) -> Value {
    pipectl_core::json::from_str(text).unwrap()
}

/// A login-like event of `user` at `t`.
fn login(t: i64, user: &str, dept: &str, country: &str, action: &str, n: u64) -> Value {
    json(&format!(
        r#"{{"@timestamp":"{}","event":{{"id":"e{n}","action":"{action}"}},"user":{{"name":"{user}","group":{{"name":"{dept}"}}}},"source":{{"geo":{{"country_name":"{country}"}}}},"entity":{{"kind":["user"],"id":["{user}"]}}}}"#,
        format_rfc3339(t)
    ))
}

fn download(t: i64, user: &str, bytes: u64, n: u64) -> Value {
    json(&format!(
        r#"{{"@timestamp":"{}","event":{{"id":"d{n}","action":"FileDownloaded"}},"user":{{"name":"{user}"}},"file":{{"size":{bytes}}}}}"#,
        format_rfc3339(t)
    ))
}

fn run(model: &mut Model, events: &[Value]) -> Vec<Breach> {
    let mut out = Vec::new();
    for e in events {
        assert!(model.observe(e, &mut out));
    }
    out
}

const NOVELTY: &str = "    features = [novelty(source.geo.country_name), novelty(event.action)]\n    peers = user.group.name";

/// An office: 80 users in two departments, working hours, from the UK and France,
/// each department with its own actions. (The organisation vouches for no score rarer
/// than one in the entity-days it has seen, over all of an entity's features: a
/// test's estate needs a few thousand entity-days before one feature can breach.)
fn office(days: i64) -> Vec<Value> {
    let mut events = Vec::new();
    let mut n = 0;
    for day in (0..days).filter(|d| d % 7 < 5) {
        for hour in [9, 11, 14, 16] {
            for u in 0..80u64 {
                let dept = if u < 40 { "it" } else { "sales" };
                let country = if u % 7 == 0 {
                    "France"
                } else {
                    "United Kingdom"
                };
                let action = match (dept, (day + hour + u as i64) % 3) {
                    ("it", 0) => "CreateUser",
                    ("it", 1) => "AttachRolePolicy",
                    ("it", _) => "ListUsers",
                    (_, 0) => "OpenDeal",
                    (_, 1) => "SendQuote",
                    _ => "ListAccounts",
                };
                n += 1;
                events.push(login(
                    START + day * DAY + hour * HOUR + (u as i64) * 1000,
                    &format!("user{u}"),
                    dept,
                    country,
                    action,
                    n,
                ));
            }
        }
    }
    events
}

#[test]
fn a_first_login_from_a_new_country_is_a_breach_explained_per_level() {
    let mut m = model(NOVELTY);
    let quiet = run(&mut m, &office(60));
    assert!(quiet.len() <= 2, "usual behaviour raised {quiet:?}");
    let t = START + 60 * DAY + 10 * HOUR;
    let out = run(
        &mut m,
        &[login(t, "user3", "it", "Romania", "ListUsers", 999_999)],
    );
    assert_eq!(out.len(), 1, "{out:?}");
    let b = &out[0];
    assert_eq!(b.feature, 0);
    assert_eq!(b.at_ms, t);
    assert_eq!(b.observed_value, "Romania");
    assert!(b.score >= 0.999 && b.tail <= 0.001, "{b:?}");
    assert!(b.rarity[0].unwrap() > 0.95, "{b:?}");
    assert!(b.rarity[2].unwrap() > 0.9, "{b:?}");
    assert_eq!(b.peer_group.as_deref(), Some("it"));
    assert!(b.confidence > 0.4, "{b:?}");
    assert_eq!(b.history, 177, "44 working days × 4 logins, and this one");
    assert_eq!(b.expected_value, "United Kingdom");
    assert!(
        b.explanation.starts_with("user3 connected from Romania (source.geo.country_name) for the first time: never seen in "),
        "{}",
        b.explanation
    );
    assert!(b.explanation.contains("the peer group (never seen) and the organisation (never seen); usually United Kingdom."), "{}", b.explanation);
    // A sales action by an IT user: common for the org, new for the user and the team.
    let out = run(
        &mut m,
        &[login(
            t + HOUR,
            "user3",
            "it",
            "United Kingdom",
            "SendQuote",
            1_000_000,
        )],
    );
    let tails: Vec<f64> = out.iter().map(|b| b.tail).collect();
    assert!(out.len() <= 1, "{out:?}");
    if let Some(b) = out.first() {
        assert!(
            b.explanation.contains("the organisation (17%)"),
            "{}",
            b.explanation
        );
        assert!(tails[0] <= 0.001);
    }
}

#[test]
fn a_value_many_entities_take_up_is_no_rarer_than_its_uptake() {
    // A threshold low enough to see every score.
    let mut m = model(&format!("{NOVELTY}\n    threshold = 0.9"));
    run(&mut m, &office(60));
    // A team trip: one after another, twelve people connect from Ireland for the
    // first time in their history.
    let t = START + 60 * DAY + 10 * HOUR;
    let trip: Vec<Value> = (0..12u64)
        .map(|u| {
            login(
                t + (u as i64) * HOUR / 2,
                &format!("user{}", 20 + u),
                "sales",
                "Ireland",
                "ListAccounts",
                2_000_000 + u,
            )
        })
        .collect();
    let ireland: Vec<f64> = run(&mut m, &trip)
        .iter()
        .filter(|b| b.observed_value == "Ireland")
        .map(|b| b.score)
        .collect();
    // The first to go is as new as anything; each one after is less so, as the
    // organisation has now seen people take it up on that share of its entity-days.
    assert_eq!(ireland.len(), 12, "{ireland:?}");
    assert!(ireland[0] >= 0.999, "{ireland:?}");
    assert!(ireland[1..].iter().all(|s| *s < 0.999), "{ireland:?}");
    assert!(ireland.windows(2).all(|w| w[1] < w[0]), "{ireland:?}");
    // A country nobody has taken up keeps the model's word.
    let out = run(
        &mut m,
        &[login(
            t + DAY,
            "user3",
            "it",
            "Romania",
            "ListUsers",
            2_100_000,
        )],
    );
    let romania = out
        .iter()
        .find(|b| b.observed_value == "Romania")
        .map(|b| b.score);
    assert!(
        romania.is_some_and(|s| s > ireland[1] && s >= 0.99),
        "{romania:?} against {ireland:?}"
    );
}

#[test]
fn hostile_timestamps_neither_poison_the_baseline_nor_stall_event_time() {
    let mut m = model(NOVELTY);
    run(&mut m, &office(30));
    let mut out = Vec::new();
    // From the future: refused, event time does not jump there.
    let future = json(
        r#"{"@timestamp":"9999-12-31T23:59:59Z","event":{"action":"Wipe"},"entity":{"kind":["user"],"id":["user3"]}}"#,
    );
    assert!(!m.observe(&future, &mut out));
    // Beyond any timestamp: refused.
    let absurd = json(
        r#"{"@timestamp":-9223372036854775808,"event":{"action":"Wipe"},"entity":{"kind":["user"],"id":["user3"]}}"#,
    );
    assert!(!m.observe(&absurd, &mut out));
    // From 1970, a value new to the user: taken, and judged with finite numbers.
    let ancient = login(
        0,
        "user3",
        "it",
        "United Kingdom",
        "NeverSeenAction",
        5_000_000,
    );
    assert!(m.observe(&ancient, &mut out));
    assert!(
        out.iter()
            .all(|b| b.score.is_finite() && b.tail.is_finite()),
        "{out:?}"
    );
    // The organisation's baseline is intact: usual behaviour stays quiet afterwards.
    let t = START + 30 * DAY + 10 * HOUR;
    let after = run(
        &mut m,
        &[login(
            t,
            "user3",
            "it",
            "United Kingdom",
            "ListUsers",
            5_000_001,
        )],
    );
    assert!(
        after.is_empty(),
        "a usual login breached after the hostile events: {after:?}"
    );
}

#[test]
fn an_entity_that_always_sees_new_values_is_not_surprised() {
    let mut m = model("    features = [novelty(source.ip)]\n    entities = [\"host\"]");
    let mut events = Vec::new();
    for i in 0..20_000i64 {
        events.push(json(&format!(
            r#"{{"@timestamp":"{}","host":{{"name":"web-1"}},"source":{{"ip":"203.0.{}.{}"}}}}"#,
            format_rfc3339(START + i * 60_000),
            i / 250,
            i % 250
        )));
    }
    let out = run(&mut m, &events);
    assert!(
        out.is_empty(),
        "{} breaches, first {:?}",
        out.len(),
        out.first()
    );
    assert_eq!(m.entity_count(), 1);
}

fn downloads(days: i64) -> Vec<Value> {
    let mut events = Vec::new();
    let mut n = 0;
    for day in 0..days {
        for hour in 8..18 {
            for u in 0..40u64 {
                for k in 0..3u64 {
                    n += 1;
                    let size = 2_000_000
                        + ((day as u64 * 7 + hour as u64 * 13 + u * 5 + k) % 11) * 500_000;
                    events.push(download(
                        START + day * DAY + hour * HOUR + (u * 600 + k * 60) as i64 * 1000,
                        &format!("u{u}"),
                        size,
                        n,
                    ));
                }
            }
        }
    }
    events
}

const VOLUME: &str =
    "    features = [volume(file.size, per = 1h), count(per = 1h)]\n    entities = [\"user\"]";

#[test]
fn a_burst_of_downloads_breaches_at_the_end_of_its_window() {
    let mut m = model(VOLUME);
    let quiet = run(&mut m, &downloads(30));
    assert!(quiet.is_empty(), "{quiet:?}");
    let t = START + 30 * DAY + 14 * HOUR;
    let burst: Vec<Value> = (0..4)
        .map(|k| download(t + k * 60_000, "u2", 1_000_000_000, 900_000 + k as u64))
        .collect();
    let mut out = run(&mut m, &burst);
    assert!(out.is_empty(), "the window is still open");
    // The next event after the window's end closes it.
    out.extend(run(
        &mut m,
        &[download(t + HOUR + 1000, "u1", 2_000_000, 999_999)],
    ));
    let volume: Vec<&Breach> = out.iter().filter(|b| b.feature == 0).collect();
    assert_eq!(volume.len(), 1, "{out:?}");
    let b = volume[0];
    assert_eq!(b.at_ms, START + 30 * DAY + 15 * HOUR);
    assert_eq!(b.observed_number, Some(4e9));
    assert_eq!(b.observed_value, "4.0 GB");
    assert_eq!(b.trigger, format_rfc3339(START + 30 * DAY + 14 * HOUR));
    assert_eq!(b.event_ids, ["d900000", "d900001", "d900002", "d900003"]);
    assert!(b.expected_high.unwrap() < 50_000_000.0, "{b:?}");
    assert!(
        b.explanation.starts_with("u2 moved 4.0 GB (file.size) between 14:00 and 15:00 UTC on 2026-10-07; its usual for that hour is under "),
        "{}",
        b.explanation
    );
    assert!(
        b.explanation.contains("the organisation's under"),
        "{}",
        b.explanation
    );
}

#[test]
fn windows_close_in_order_at_finish() {
    let mut m = model(VOLUME);
    run(&mut m, &downloads(30));
    let mut out = Vec::new();
    m.observe(
        &download(START + 30 * DAY + 3 * HOUR, "u4", 9_000_000_000, 1),
        &mut out,
    );
    m.observe(
        &download(START + 30 * DAY + 3 * HOUR, "u0", 9_000_000_000, 2),
        &mut out,
    );
    assert!(out.is_empty());
    m.finish(&mut out);
    let window_end = START + 30 * DAY + 4 * HOUR;
    let closed: Vec<(i64, &str, usize)> = out
        .iter()
        .filter(|b| b.feature == 0)
        .map(|b| (b.at_ms, b.entity_id.as_str(), b.feature))
        .collect();
    assert!(closed.iter().all(|c| c.0 == window_end), "{closed:?}");
    // Both windows were judged at finish; the organisation (a handful of users over ten
    // days) has then seen one such burst, so the identical second one is no longer
    // rarer than its history allows and only the first breaches.
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert!(["u0", "u4"].contains(&closed[0].1));
    let mut again = Vec::new();
    m.finish(&mut again);
    assert!(again.is_empty(), "every window was closed: {again:?}");
}

#[test]
fn activity_at_an_hour_nobody_works_is_unusual() {
    let mut m = model("    features = [time_of_week()]\n    peers = user.group.name");
    let quiet = run(&mut m, &office(40));
    assert!(quiet.is_empty(), "{quiet:?}");
    let t = START + 42 * DAY + 3 * HOUR + 120_000; // a Monday, 03:02
    let out = run(
        &mut m,
        &[login(t, "user5", "it", "United Kingdom", "ListUsers", 1)],
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0]
            .explanation
            .starts_with("user5 was active at 03:00–04:00 on weekdays, an unusual time"),
        "{}",
        out[0].explanation
    );
    // Once per hour: a second event in the same hour is not judged again.
    let again = run(
        &mut m,
        &[login(
            t + 60_000,
            "user5",
            "it",
            "United Kingdom",
            "ListUsers",
            2,
        )],
    );
    assert!(again.is_empty());
}

fn documents(breaches: &[Breach], m: &Model) -> Vec<String> {
    breaches
        .iter()
        .map(|b| pipectl_core::json::to_string(&b.document(m.options(), 0)))
        .collect()
}

#[test]
fn two_runs_give_identical_breaches() {
    let mut events = office(30);
    events.push(login(
        START + 30 * DAY + 2 * HOUR,
        "user1",
        "it",
        "Brazil",
        "DeleteTrail",
        5,
    ));
    events.push(login(
        START + 30 * DAY + 3 * HOUR,
        "user33",
        "sales",
        "Japan",
        "CreateUser",
        6,
    ));
    let once = |()| {
        let mut m = model(&format!("{NOVELTY}\n    features = [novelty(source.geo.country_name), novelty(event.action), time_of_week(), count(per = 1h)]").replace("    features = [novelty(source.geo.country_name), novelty(event.action)]\n", ""));
        let mut out = run(&mut m, &events);
        m.finish(&mut out);
        documents(&out, &m)
    };
    let a = once(());
    let b = once(());
    assert!(a.len() >= 2, "{a:?}");
    assert_eq!(a, b);
}

#[test]
fn a_restored_model_continues_exactly_where_it_stopped() {
    let attrs = "    features = [novelty(source.geo.country_name), novelty(event.action), count(per = 1h), time_of_week(), peer_rarity(event.action)]";
    let mut events = office(20);
    events.push(login(
        START + 20 * DAY + 2 * HOUR,
        "user1",
        "it",
        "Brazil",
        "DeleteTrail",
        5,
    ));
    events.extend(office(25).into_iter().skip(events.len() - 1));
    events.push(login(
        START + 25 * DAY + 2 * HOUR,
        "user8",
        "it",
        "Peru",
        "DeleteTrail",
        7,
    ));
    let whole = {
        let mut m = model(attrs);
        let mut out = run(&mut m, &events);
        m.finish(&mut out);
        documents(&out, &m)
    };
    let dir = TempDir::new("restore");
    let table = persist::table("test", "pattern_of_life");
    let half = events.len() / 2 + 17;
    let mut first = {
        let store = Store::shared(dir.path()).unwrap();
        let mut m = model(attrs);
        let out = run(&mut m, &events[..half / 2]);
        m.snapshot(&store, &table).unwrap();
        let mut more = run(&mut m, &events[half / 2..half]);
        m.snapshot(&store, &table).unwrap();
        let mut docs = documents(&out, &m);
        docs.append(&mut documents(std::mem::take(&mut more).as_slice(), &m));
        docs
    };
    let second = {
        let store = Store::shared(dir.path()).unwrap();
        let mut m = model(attrs);
        assert!(m.restore(&store, &table).unwrap() > 0);
        let mut out = run(&mut m, &events[half..]);
        m.finish(&mut out);
        documents(&out, &m)
    };
    first.extend(second);
    assert!(whole.len() >= 2, "{whole:?}");
    assert_eq!(first, whole);
}

#[test]
fn a_corrupt_row_is_skipped_and_other_features_start_afresh() {
    let dir = TempDir::new("corrupt");
    let table = persist::table("test", "pattern_of_life");
    let store = Store::shared(dir.path()).unwrap();
    let mut m = model(NOVELTY);
    run(&mut m, &office(2));
    m.snapshot(&store, &table).unwrap();
    store
        .write(
            &table,
            vec![("e:user:user1".into(), Some(b"not bincode".to_vec()))],
        )
        .unwrap();
    let mut again = model(NOVELTY);
    assert_eq!(again.restore(&store, &table).unwrap(), 79);
    let mut other = model("    features = [novelty(event.action)]");
    assert_eq!(other.restore(&store, &table).unwrap(), 0);
    other.snapshot(&store, &table).unwrap();
    let rows = store.scan(&table).unwrap();
    assert_eq!(
        rows.len(),
        1,
        "old rows deleted: {:?}",
        rows.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
}

#[test]
fn idle_entities_are_evicted_and_the_model_stays_bounded() {
    let mut m = model(
        "    features = [novelty(event.action)]\n    idle_after = 2d\n    max_entities = 100",
    );
    let mut events: Vec<Value> = (0..300u64)
        .map(|u| login(START + u as i64 * 1000, &format!("u{u}"), "x", "UK", "A", u))
        .collect();
    let out = run(&mut m, &events);
    assert!(out.is_empty());
    assert!(m.entity_count() <= 100, "{}", m.entity_count());
    assert!(m.knows("user:u299") && !m.knows("user:u0"));
    events.clear();
    for day in 1..6 {
        events.push(login(
            START + day * DAY,
            "keeper",
            "x",
            "UK",
            "A",
            day as u64,
        ));
    }
    run(&mut m, &events);
    assert_eq!(m.entity_count(), 1, "only the active entity remains");
}

/// Ten days of twenty users (`p0`–`p19`), six logins a day each, with the department
/// and action `shape(day, user, login)` gives.
fn twenty_users(shape: impl Fn(u64, u64, u64) -> (&'static str, String)) -> Vec<Value> {
    let mut events = Vec::new();
    let mut n = 0;
    for day in 0..10u64 {
        for u in 0..20u64 {
            for k in 0..6u64 {
                n += 1;
                let (dept, action) = shape(day, u, k);
                events.push(login(
                    START + day as i64 * DAY + (u * 100 + k) as i64 * 1000,
                    &format!("p{u}"),
                    dept,
                    "UK",
                    &action,
                    n,
                ));
            }
        }
    }
    events
}

#[test]
fn learned_peer_groups_separate_two_departments() {
    let mut m = model("    features = [novelty(event.action)]");
    let events = twenty_users(|day, u, k| {
        let action = if u < 10 {
            format!("it-{}", (k + day) % 8)
        } else {
            format!("sales-{}", (k + u) % 8)
        };
        ("", action)
    });
    run(&mut m, &events);
    let group = |u: u64| m.group_of(&format!("user:p{u}")).map(str::to_string);
    let it: Vec<_> = (0..10).map(group).collect();
    let sales: Vec<_> = (10..20).map(group).collect();
    assert!(it.iter().all(|g| g.is_some() && *g == it[0]), "{it:?}");
    assert!(
        sales.iter().all(|g| g.is_some() && *g == sales[0]),
        "{sales:?}"
    );
    assert_ne!(it[0], sales[0]);
}

#[test]
fn entities_without_the_declared_peer_field_learn_their_groups() {
    let mut m = model("    features = [novelty(event.action)]\n    peers = user.group.name");
    // p0–p9 carry their department; p10–p19 have no directory entry.
    let events = twenty_users(|_, u, k| {
        let dept = if u < 10 { "it" } else { "" };
        (dept, format!("act-{}", (k + u) % 8))
    });
    run(&mut m, &events);
    let group = |u: u64| m.group_of(&format!("user:p{u}")).map(str::to_string);
    assert!((0..10).all(|u| group(u).as_deref() == Some("it")));
    let learned: Vec<_> = (10..20).map(group).collect();
    assert!(
        learned
            .iter()
            .all(|g| g.as_deref().is_some_and(|g| g.starts_with("peers-"))),
        "{learned:?}"
    );
}

#[test]
fn bad_configurations_are_refused_with_the_reason() {
    assert!(build_error("    features = [volume(file.size)]").contains("needs a window"));
    assert!(build_error("    features = [count(per = 7h)]").contains("divide a day"));
    assert!(
        build_error("    features = [novelty(event.action)]\n    entities = [\"users\"]")
            .contains("unknown entity kind \"users\"")
    );
    assert!(
        build_error("    features = [novelty(event.action)]\n    threshold = 2")
            .contains("`threshold`")
    );
    assert!(build_error(
        "    features = [novelty(event.action), count(per = 1h)]\n    peer_features = [service.name]"
    )
    .contains("`service.name` is not the field of a novelty feature"));
    let unknown = model_plan("    features = [novelt(event.action)]").unwrap_err();
    assert!(
        unknown[0].contains("unknown function `novelt`"),
        "{unknown:?}"
    );
}

// ---- through the runtime ----

static GIVEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Given;

impl Source for Given {
    fn run(
        self: Box<Self>,
        mut ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let lines = std::mem::take(&mut *GIVEN.lock().unwrap());
            for chunk in lines.chunks(500) {
                let batch = chunk
                    .iter()
                    .map(|l| Event::new(json(l), Arc::clone(&ctx.name)))
                    .collect();
                let _ = ctx.out.send(batch).await;
            }
            Ok(())
        })
    }
}

struct Capture;

impl Sink for Capture {
    fn run(
        self: Box<Self>,
        mut ctx: SinkContext,
    ) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            while let Some(batch) = ctx.input.recv().await {
                CAPTURED.lock().unwrap().extend(
                    batch
                        .iter()
                        .map(|e| pipectl_core::json::to_string(&e.value)),
                );
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn the_stage_writes_schema_breach_documents_through_the_runtime() {
    let attrs = format!("{NOVELTY}\n    checkpoint_interval = 1s");
    let catalogue = Catalogue::new(vec![&SOURCE, &SINK, &behaviour::SPEC]);
    let plan = pipectl_dsl::compile(&[SourceFile::new("t.pipe", pipeline(&attrs))], &catalogue)
        .plan
        .unwrap();
    let mut lines: Vec<String> = office(60)
        .iter()
        .map(pipectl_core::json::to_string)
        .collect();
    lines.push(pipectl_core::json::to_string(&login(
        START + 60 * DAY + 10 * HOUR,
        "user3",
        "it",
        "Romania",
        "ListUsers",
        777,
    )));
    *GIVEN.lock().unwrap() = lines;
    let registry = pipectl_core::topology::Registry::new(vec![
        Factory {
            spec: &SOURCE,
            build: |_, _| Ok(Built::Source(Box::new(Given))),
        },
        Factory {
            spec: &SINK,
            build: |_, _| Ok(Built::Sink(Box::new(Capture))),
        },
        behaviour::FACTORY,
    ]);
    let dir = TempDir::new("runtime");
    let (_trigger, signal) = pipectl_core::shutdown::shutdown_pair();
    let graph = pipectl_core::topology::start(
        &plan,
        &registry,
        pipectl_core::topology::RunOptions::new(dir.path()),
        signal,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    graph.wait().await.unwrap();
    let out = std::mem::take(&mut *CAPTURED.lock().unwrap());
    let romania: Vec<Value> = out
        .iter()
        .map(|l| json(l))
        .filter(|d| {
            d.get_path(
                &pipectl_core::path::FieldPath::parse("pipectl.breach.observed.value").unwrap(),
            )
            .and_then(Value::as_str)
                == Some("Romania")
        })
        .collect();
    assert_eq!(romania.len(), 1, "{out:?}");
    let doc = &romania[0];
    let get = |p: &str| {
        doc.get_path(&pipectl_core::path::FieldPath::parse(p).unwrap())
            .cloned()
    };
    let id = get("pipectl.breach.id").unwrap();
    assert_eq!(get("event.id"), Some(id.clone()));
    assert_eq!(
        id.as_str(),
        Some(
            pipectl_core::detect::sigma::hit::document_id(&[
                "breach",
                "pattern_of_life",
                "user:user3",
                "novelty(source.geo.country_name)",
                "e777"
            ])
            .as_str()
        )
    );
    assert_eq!(
        get("@timestamp")
            .and_then(|v| v.as_str().map(str::to_string))
            .as_deref(),
        Some("2026-11-06T10:00:00Z")
    );
    assert_eq!(get("event.kind").unwrap().as_str(), Some("signal"));
    assert_eq!(
        get("event.dataset").unwrap().as_str(),
        Some("pipectl.breach")
    );
    assert_eq!(get("entity.key").unwrap().as_str(), Some("user:user3"));
    assert_eq!(get("entity.peer_group").unwrap().as_str(), Some("it"));
    assert_eq!(
        get("pipectl.breach.feature_kind").unwrap().as_str(),
        Some("novelty")
    );
    assert_eq!(
        get("pipectl.breach.field").unwrap().as_str(),
        Some("source.geo.country_name")
    );
    assert_eq!(
        get("pipectl.breach.event_ids").unwrap(),
        Value::Array(vec![Value::from("e777")])
    );
    assert_eq!(
        get("source.geo.country_name").unwrap().as_str(),
        Some("Romania")
    );
    assert_eq!(
        get("pipectl.component").unwrap().as_str(),
        Some("pattern_of_life")
    );
    for f in [
        "score",
        "tail_probability",
        "rarity.entity",
        "rarity.peers",
        "rarity.org",
        "confidence",
        "history",
        "explanation",
        "comparison",
        "expected.value",
    ] {
        assert!(get(&format!("pipectl.breach.{f}")).is_some(), "{f} missing");
    }
    // The model's state was saved at the end.
    let store = Store::shared(dir.path()).unwrap();
    drop(store);
    let store = Store::shared(&dir.path().join("test").join("pattern_of_life")).unwrap();
    let rows = store
        .scan(&persist::table("test", "pattern_of_life"))
        .unwrap();
    assert!(rows.iter().any(|(k, _)| k == "e:user:user3"));
}

#[test]
fn evidence_is_stated_per_active_day_combined_across_features_and_not_repeated() {
    use crate::maths::calibration::Calibration;
    use crate::model::admit_for_test;
    use crate::state::Pace;
    // An organisation that has seen nothing unusual, so its experience does not bind.
    let mut seasoned = Calibration::new(2);
    seasoned.all.entity_days = 1e6;
    seasoned.lifetime_days = 1_000_000;
    let mut admit = |opts: &crate::model::Options, pace: &mut Pace, i, tail, t| {
        admit_for_test(opts, pace, &mut seasoned, (i, 1), tail, t)
    };
    let opts = model(
        "    features = [novelty(event.action), novelty(source.geo.country_name)]\n    cooldown = 6h\n    combine_within = 6h",
    )
    .options()
    .clone();
    let t = START;
    let mut pace = Pace::new(2);
    pace.active(t);
    pace.observed(0);
    pace.observed(1);
    // One moderately unusual observation alone is no breach...
    assert!(admit(&opts, &mut pace, 0, 0.005, t).is_none());
    // ...but a second feature as unusual within the window makes the pair rare:
    // Fisher's p = x(1 − ln x), x = 0.005², about 2.9e-4.
    let (score, with, anomaly) =
        admit(&opts, &mut pace, 1, 0.005, t + HOUR).expect("combined breach");
    assert!(!anomaly);
    let x: f64 = 0.005 * 0.005;
    assert!((score - (1.0 - x * (1.0 - x.ln()))).abs() < 1e-9, "{score}");
    assert_eq!(with, vec![0]);
    // The same feature again within the cool-down: held back.
    assert!(admit(&opts, &mut pace, 1, 1e-9, t + 2 * HOUR).is_none());
    // After it, the first feature's evidence is stale: alone again, and not enough.
    assert!(admit(&opts, &mut pace, 1, 0.005, t + 8 * HOUR).is_none());

    // Per active day: a 1-in-100,000 observation is a breach for an entity that makes
    // one such observation a day, not for one that makes a thousand.
    let mut quiet = Pace::new(2);
    quiet.active(t);
    quiet.observed(0);
    assert!(admit(&opts, &mut quiet, 0, 1e-5, t).is_some());
    let mut busy = Pace::new(2);
    busy.active(t);
    for _ in 0..1000 {
        busy.observed(0);
    }
    assert!(admit(&opts, &mut busy, 0, 1e-5, t).is_none());

    // An organisation where such tails are common: one entity-day in ten had one.
    let mut noisy = Calibration::new(2);
    for d in 0..1000 {
        noisy.day("user", 1.0);
        if d % 10 == 0 {
            noisy.record("user", 0, 1e-7, 1.0);
        }
    }
    let mut fresh = Pace::new(2);
    fresh.active(t);
    fresh.observed(0);
    assert!(admit_for_test(&opts, &mut fresh, &mut noisy, (0, 1), 1e-7, t).is_none());
    // The same tail where nothing like it was seen is a breach.
    let mut calm = Calibration::new(2);
    for _ in 0..1000 {
        calm.day("user", 1.0);
    }
    let mut fresh = Pace::new(2);
    fresh.active(t);
    fresh.observed(0);
    assert!(admit_for_test(&opts, &mut fresh, &mut calm, (0, 1), 1e-7, t).is_some());
}

#[test]
fn a_breach_is_rare_for_an_entity_day_and_an_anomaly_only_for_its_feature() {
    use crate::maths::calibration::Calibration;
    use crate::model::admit_for_test;
    use crate::state::Pace;
    // A million quiet entity-days of people.
    let mut seasoned = Calibration::new(2);
    seasoned.day("user", 1e6);
    seasoned.lifetime_days = 1_000_000;
    let opts = model(
        "    features = [novelty(event.action), novelty(source.geo.country_name)]\n    cooldown = 6h",
    )
    .options()
    .clone();
    let t = START;
    let fresh = || {
        let mut pace = Pace::new(2);
        pace.active(t);
        pace.observed(0);
        pace.observed(1);
        pace
    };
    // Judged on ten features, an entity-day has ten chances: a one-in-20,000 tail is
    // one entity-day in 2,000 (Šidák: 1 − (1 − p)¹⁰), a breach.
    let mut pace = fresh();
    let (score, _, anomaly) =
        admit_for_test(&opts, &mut pace, &mut seasoned, (0, 10), 5e-5, t).expect("breach");
    assert!(!anomaly);
    assert!((score - (1.0 - 5e-5f64).powi(10)).abs() < 1e-7, "{score}");
    // One in 2,000 for its feature is one entity-day in 200: an anomaly, with the
    // entity-day's score.
    let mut pace = fresh();
    let (score, _, anomaly) =
        admit_for_test(&opts, &mut pace, &mut seasoned, (0, 10), 5e-4, t).expect("anomaly");
    assert!(
        anomaly && (score - (1.0 - 5e-4f64).powi(10)).abs() < 1e-7,
        "{score}"
    );
    // Its feature's anomaly does not repeat within the cool-down, but stronger
    // evidence becomes a breach at once; after a breach, nothing for the feature.
    assert!(admit_for_test(&opts, &mut pace, &mut seasoned, (0, 10), 4e-4, t + HOUR).is_none());
    let (_, _, anomaly) =
        admit_for_test(&opts, &mut pace, &mut seasoned, (0, 10), 1e-6, t + 2 * HOUR)
            .expect("escalated");
    assert!(!anomaly);
    assert!(admit_for_test(&opts, &mut pace, &mut seasoned, (0, 10), 5e-4, t + 3 * HOUR).is_none());
    // Too ordinary for its own feature: nothing at all.
    let mut pace = fresh();
    assert!(admit_for_test(&opts, &mut pace, &mut seasoned, (0, 10), 5e-3, t).is_none());
}

#[test]
fn the_stage_sends_anomalies_to_their_port_and_breaches_to_its_output() {
    use pipectl_core::component::TransformOutput;
    // Judged on four features, the new country is one entity-day in about 900 (each
    // feature may be as unusual on a given day): an anomaly, not a breach.
    let attrs = "    features = [novelty(source.geo.country_name), novelty(event.action), novelty(user.group.name), time_of_week()]\n    peers = user.group.name";
    let dir = TempDir::new("anomalies-port");
    let plan = model_plan(attrs).unwrap();
    let secrets = SecretStore::default();
    let ctx = BuildContext {
        pipeline: "test",
        data_dir: dir.path().to_path_buf(),
        secrets: &secrets,
    };
    let Ok(Built::Transform(mut stage)) = (behaviour::FACTORY.build)(&plan, &ctx) else {
        panic!("the stage builds as a transform");
    };
    let source: Arc<str> = Arc::from("given");
    let batch = |values: Vec<Value>| -> Vec<Event> {
        values
            .into_iter()
            .map(|v| Event::new(v, Arc::clone(&source)))
            .collect()
    };
    let mut out = TransformOutput::new(&[behaviour::ANOMALIES.to_string()]);
    stage.transform(batch(office(60)), &mut out);
    let t = START + 60 * DAY + 10 * HOUR;
    stage.transform(
        batch(vec![login(t, "user3", "it", "Romania", "ListUsers", 4343)]),
        &mut out,
    );
    let (breaches, named) = out.take();
    let dataset = |e: &Event| {
        e.value
            .get_path(&pipectl_core::path::FieldPath::parse("event.dataset").unwrap())
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    assert!(
        breaches
            .iter()
            .all(|e| dataset(e).as_deref() == Some("pipectl.breach")),
        "{breaches:?}"
    );
    let anomalies = &named
        .iter()
        .find(|(port, _)| port == behaviour::ANOMALIES)
        .expect("the anomalies port")
        .1;
    let romania: Vec<&Event> = anomalies
        .iter()
        .filter(|e| {
            e.value
                .get_path(
                    &pipectl_core::path::FieldPath::parse("pipectl.breach.observed.value").unwrap(),
                )
                .and_then(Value::as_str)
                == Some("Romania")
        })
        .collect();
    assert_eq!(romania.len(), 1, "{anomalies:?}");
    assert_eq!(dataset(romania[0]).as_deref(), Some("pipectl.anomaly"));
}

#[test]
fn an_anomaly_document_is_marked_as_such() {
    let mut m = model(NOVELTY);
    run(&mut m, &office(60));
    let t = START + 60 * DAY + 10 * HOUR;
    let mut out = run(
        &mut m,
        &[login(t, "user3", "it", "Romania", "ListUsers", 4242)],
    );
    assert_eq!(out.len(), 1, "{out:?}");
    let dataset = |b: &Breach| {
        b.document(m.options(), 0)
            .get_path(&pipectl_core::path::FieldPath::parse("event.dataset").unwrap())
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    assert_eq!(dataset(&out[0]).as_deref(), Some("pipectl.breach"));
    out[0].anomaly = true;
    assert_eq!(dataset(&out[0]).as_deref(), Some("pipectl.anomaly"));
}

#[test]
fn a_value_that_names_the_entity_is_not_news() {
    use crate::model::names_entity;
    let own = "https://acme-my.sharepoint.com/personal/maria_jones_acme_example/";
    assert!(names_entity(own, "maria.jones@acme.example"));
    assert!(!names_entity(own, "mario.jones@acme.example"));
    // A whole path segment, not a substring: lookalikes built from a name are judged.
    assert!(!names_entity(
        "northwindtraders.com-invoice.net",
        "northwindtraders.com"
    ));
    assert!(!names_entity(
        "https://northwindtraders.com.evil.io/pay",
        "northwindtraders.com"
    ));
    assert!(!names_entity(
        "https://x.example/maria.jones.backup/",
        "maria.jones@acme.example"
    ));
    // Short ids name nothing this way.
    assert!(!names_entity("/home/bob/", "bob"));

    // Eighty people open their team site every working day for two months; then a
    // new joiner opens her own OneDrive (hers by construction, new to everyone) and
    // someone else a site nobody ever opened: only the second is news.
    let site = |t: i64, user: &str, dir: &str, n: u64| {
        json(&format!(
            r#"{{"@timestamp":"{}","event":{{"id":"s{n}","action":"FileAccessed"}},"user":{{"name":"{user}"}},"file":{{"directory":"{dir}"}},"entity":{{"kind":["user"],"id":["{user}"]}}}}"#,
            format_rfc3339(t)
        ))
    };
    let mut events = Vec::new();
    let mut n = 0;
    for day in (0..60).filter(|d| d % 7 < 5) {
        for u in 0..80i64 {
            n += 1;
            let t = START + day * DAY + 10 * HOUR + u * 1000;
            events.push(site(
                t,
                &format!("person.{u}@acme.example"),
                "https://acme.sharepoint.com/sites/Team/",
                n,
            ));
        }
        // She joined a fortnight ago.
        if day >= 46 {
            n += 1;
            events.push(site(
                START + day * DAY + 11 * HOUR,
                "maria.jones@acme.example",
                "https://acme.sharepoint.com/sites/Team/",
                n,
            ));
        }
    }
    let mut m = model("    features = [novelty(file.directory)]\n    entities = [\"user\"]");
    let quiet = run(&mut m, &events);
    assert!(quiet.is_empty(), "{quiet:?}");
    let t = START + 60 * DAY + 10 * HOUR;
    let own = run(
        &mut m,
        &[site(
            t,
            "maria.jones@acme.example",
            "https://acme-my.sharepoint.com/personal/maria_jones_acme_example/",
            1,
        )],
    );
    assert!(own.is_empty(), "{own:?}");
    let other = run(
        &mut m,
        &[site(
            t + HOUR,
            "person.3@acme.example",
            "https://acme.sharepoint.com/sites/Payroll/",
            2,
        )],
    );
    assert_eq!(other.len(), 1, "{other:?}");
    assert_eq!(
        other[0].observed_value,
        "https://acme.sharepoint.com/sites/Payroll/"
    );
    // Her first visit to a site that is not hers is judged like anyone's.
    let hers = run(
        &mut m,
        &[site(
            t + 2 * HOUR,
            "maria.jones@acme.example",
            "https://acme.sharepoint.com/sites/Legal/",
            3,
        )],
    );
    assert_eq!(hers.len(), 1, "{hers:?}");
}

#[test]
fn a_value_that_is_the_entity_itself_is_neither_judged_nor_learned() {
    let mut m = model("    features = [novelty(destination.ip)]\n    entities = [\"ip\"]");
    let flow = |t: i64, src: &str, dst: &str, n: u64| {
        json(&format!(
            r#"{{"@timestamp":"{}","event":{{"id":"f{n}","category":["network"]}},"source":{{"ip":"{src}"}},"destination":{{"ip":"{dst}"}},"entity":{{"kind":["ip","ip"],"id":["{src}","{dst}"]}}}}"#,
            format_rfc3339(t)
        ))
    };
    // Forty hosts that only ever talk to one server.
    let mut events = Vec::new();
    for h in 0..24 * 20 {
        for host in 10..50 {
            let n = (h * 100 + host) as u64;
            events.push(flow(
                START + h * HOUR,
                &format!("10.0.0.{host}"),
                "10.0.0.1",
                n,
            ));
        }
    }
    run(&mut m, &events);
    // The server answers one of them: for 10.0.0.20 the destination is itself.
    let out = run(
        &mut m,
        &[flow(START + 21 * DAY, "10.0.0.1", "10.0.0.20", 99_999)],
    );
    assert!(
        out.iter().all(|b| b.entity_id != "10.0.0.20"),
        "an address does not reach itself: {out:?}"
    );
}

#[test]
fn a_breach_names_the_other_entities_of_its_event() {
    let mut m = model(NOVELTY);
    run(&mut m, &office(60));
    let t = START + 60 * DAY + 10 * HOUR;
    let mut event = login(t, "user3", "it", "Romania", "ListUsers", 999_999);
    // The same event also concerns a sending domain (a click on a link in its mail).
    let entity = json(
        r#"{"kind":["user","email_domain"],"id":["user3","northwind.example"],"key":["user:user3","email_domain:northwind.example"]}"#,
    );
    if let Value::Object(root) = &mut event {
        root.insert("entity", entity);
    }
    let out = run(&mut m, &[event]);
    let user = out
        .iter()
        .find(|b| b.entity_kind == "user")
        .expect("the user's new country is a breach");
    let doc = user.document(m.options(), 0);
    assert_eq!(
        doc.get_path(&pipectl_core::path::FieldPath::parse("related.entities").unwrap())
            .map(pipectl_core::json::to_string)
            .as_deref(),
        Some(r#"["user:user3","email_domain:northwind.example"]"#)
    );
    // The same breach from an event of one entity names no others.
    let mut plain = model(NOVELTY);
    run(&mut plain, &office(60));
    let alone = run(
        &mut plain,
        &[login(t, "user3", "it", "Romania", "ListUsers", 999_999)],
    );
    let doc = alone
        .first()
        .expect("the user's new country is a breach")
        .document(plain.options(), 0);
    assert!(doc
        .get_path(&pipectl_core::path::FieldPath::parse("related.entities").unwrap())
        .is_none());
}

/// A sign-in of `user` (of department `dept`, when given) to `app` at `t`.
fn sso(t: i64, user: &str, dept: Option<&str>, app: &str, n: u64) -> Value {
    let group = dept.map_or(String::new(), |d| format!(r#","group":{{"name":"{d}"}}"#));
    json(&format!(
        r#"{{"@timestamp":"{}","event":{{"id":"s{n}","action":"sso"}},"service":{{"name":"{app}"}},"user":{{"name":"{user}"{group}}},"entity":{{"kind":["user"],"id":["{user}"]}}}}"#,
        format_rfc3339(t)
    ))
}

/// `days` days of sign-ins: twenty people in finance (NetSuite, Slack, some Workday),
/// ten in marketing (Box, Slack); `extra` adds (day, user, app) sign-ins of finance
/// people.
fn sign_ins(days: i64, extra: &[(i64, u64, &str)], with_dept: bool) -> Vec<Value> {
    let mut events = Vec::new();
    let mut n = 0;
    for day in (0..days).filter(|d| d % 7 < 5) {
        for u in 0..60u64 {
            let dept = if u < 20 { "finance" } else { "marketing" };
            let mut apps = if u < 20 {
                vec!["NetSuite", "Slack"]
            } else {
                vec!["Box", "Slack"]
            };
            if u < 20 && (day + u as i64) % 3 == 0 {
                apps.push("Workday");
            }
            apps.extend(
                extra
                    .iter()
                    .filter(|(d, who, _)| *d == day && *who == u)
                    .map(|(_, _, app)| *app),
            );
            for (j, app) in apps.iter().enumerate() {
                n += 1;
                let t = START + day * DAY + (9 + j as i64) * HOUR + (u as i64) * 1000;
                events.push(sso(
                    t,
                    &format!("user{u}"),
                    with_dept.then_some(dept),
                    app,
                    n,
                ));
            }
        }
    }
    events.sort_by_key(|e| {
        e.get_path(&pipectl_core::path::FieldPath::parse("@timestamp").unwrap())
            .and_then(pipectl_core::detect::sigma::time::millis_of)
    });
    events
}

const PEER_RARITY: &str = "    features = [peer_rarity(service.name)]\n    peers = user.group.name";

#[test]
fn an_entity_that_takes_up_what_its_peers_never_use_grows_more_certain_day_after_day() {
    // user5 (finance) takes up Box from day 21, every working day; user6 uses HubSpot,
    // which nobody uses, once;
    // user7 has used Figma, which nobody else uses, every day since the first (a habit
    // as first seen, not a change).
    let mut extra: Vec<(i64, u64, &str)> = (21..42).map(|d| (d, 5, "Box")).collect();
    extra.push((23, 6, "HubSpot"));
    extra.extend((0..42).map(|d| (d, 7, "Figma")));
    let mut m = model(PEER_RARITY);
    let mut out = run(&mut m, &sign_ins(42, &extra, true));
    m.finish(&mut out);
    let mine: Vec<&Breach> = out.iter().filter(|b| b.entity_id == "user5").collect();
    assert!(
        out.iter().all(|b| b.entity_id == "user5"),
        "only the one who took Box up: {out:?}"
    );
    assert!(mine.len() >= 2, "{mine:?}");
    // The first day is no evidence, nor the second: the breach comes after days of use.
    let first = mine[0];
    assert!(first.at_ms >= START + 24 * DAY, "{first:?}");
    assert!(first.score >= 0.999 && first.observed_value == "Box");
    // Said again only when the evidence is far stronger.
    for pair in mine.windows(2) {
        assert!(pair[1].tail < pair[0].tail / 100.0, "{pair:?}");
    }
    assert!(
        first
            .explanation
            .starts_with("user5 used Box (service.name) on ")
            && first
                .explanation
                .contains("nobody in its peer group (finance, 19 others) did in the last weeks")
            && first
                .explanation
                .contains("of the organisation uses it on a given day"),
        "{}",
        first.explanation
    );
    assert_eq!(first.comparison, Comparison::Peers);
    assert!(first.rarity[1].is_some_and(|r| r > 0.999_999), "{first:?}");
    assert!(
        first.confidence > 0.5 && first.confidence < 1.0,
        "{first:?}"
    );
    let doc = first.document(m.options(), 0);
    assert_eq!(
        doc.get_path(&pipectl_core::path::FieldPath::parse("pipectl.breach.feature_kind").unwrap())
            .and_then(Value::as_str),
        Some("peer_rarity")
    );
}

#[test]
fn without_a_peer_group_peer_rarity_says_nothing() {
    let extra: Vec<(i64, u64, &str)> = (21..42).map(|d| (d, 5, "Box")).collect();
    // No `peers`, and no novelty feature to learn groups from.
    let mut m = model("    features = [peer_rarity(service.name)]");
    let mut out = run(&mut m, &sign_ins(42, &extra, false));
    m.finish(&mut out);
    assert!(out.is_empty(), "{out:?}");
    assert!(m.group_of("user:user5").is_none());
}

#[test]
fn peer_rarity_is_deterministic_and_survives_a_restart_mid_day() {
    let extra: Vec<(i64, u64, &str)> = (21..42).map(|d| (d, 5, "Box")).collect();
    let events = sign_ins(42, &extra, true);
    let whole = {
        let mut m = model(PEER_RARITY);
        let mut out = run(&mut m, &events);
        m.finish(&mut out);
        documents(&out, &m)
    };
    let again = {
        let mut m = model(PEER_RARITY);
        let mut out = run(&mut m, &events);
        m.finish(&mut out);
        documents(&out, &m)
    };
    assert!(whole.len() >= 2, "{whole:?}");
    assert_eq!(whole, again);
    // Snapshot in the middle of a day of the taking up (its values of the day held).
    let cut = events
        .iter()
        .position(|e| {
            e.get_path(&pipectl_core::path::FieldPath::parse("@timestamp").unwrap())
                .and_then(pipectl_core::detect::sigma::time::millis_of)
                .is_some_and(|t| t >= START + 24 * DAY + 10 * HOUR)
        })
        .unwrap();
    let dir = TempDir::new("peer-restore");
    let table = persist::table("test", "pattern_of_life");
    let mut split = {
        let store = Store::shared(dir.path()).unwrap();
        let mut m = model(PEER_RARITY);
        let out = run(&mut m, &events[..cut]);
        m.snapshot(&store, &table).unwrap();
        documents(&out, &m)
    };
    let store = Store::shared(dir.path()).unwrap();
    let mut m = model(PEER_RARITY);
    assert!(m.restore(&store, &table).unwrap() >= 30);
    let mut out = run(&mut m, &events[cut..]);
    m.finish(&mut out);
    split.extend(documents(&out, &m));
    assert_eq!(split, whole);
}
