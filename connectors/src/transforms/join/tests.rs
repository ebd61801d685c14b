use super::*;
use crate::testkit::{build, build_error, eq, event, field, plan, TempDir};
use pipectl_core::json::to_string;

fn join_plan(extra: Vec<(&str, PlanValue)>) -> ComponentPlan {
    let mut attrs = vec![
        (
            "remember",
            PlanValue::Expr(eq("event.action", "TIMailData")),
        ),
        ("key", PlanValue::Field(field("email.local_id"))),
        (
            "copy",
            PlanValue::List(vec![
                PlanValue::Field(field("email.from.address")),
                PlanValue::Field(field("email.direction")),
                PlanValue::Field(field("email.subject")),
            ]),
        ),
    ];
    attrs.extend(extra);
    plan(&SPEC, "t", attrs)
}

fn built(plan: &ComponentPlan, dir: &TempDir) -> Box<dyn Transform> {
    match build(&FACTORY, plan, dir.path()) {
        Ok(Built::Transform(t)) => t,
        Ok(_) => panic!("not a transform"),
        Err(e) => panic!("{e}"),
    }
}

fn run(t: &mut dyn Transform, input: &[&str]) -> Vec<String> {
    let mut out = TransformOutput::new(&[]);
    t.transform(input.iter().map(|j| event(j)).collect(), &mut out);
    out.take().0.iter().map(|e| to_string(&e.value)).collect()
}

const MAIL: &str = r#"{"@timestamp":"2026-03-02T10:00:00Z","event":{"action":"TIMailData"},
    "user":{"email":"dana@acme.example"},
    "email":{"local_id":"n-1","direction":"inbound","from":{"address":"ap@northwind.example"},
    "subject":"Invoice"}}"#;

const CLICK: &str = r#"{"@timestamp":"2026-03-02T10:20:00Z","event":{"action":"TIUrlClickData"},
    "user":{"email":"dana@acme.example"},"url":{"domain":"pay.example"},
    "email":{"local_id":"n-1"},
    "entity":{"kind":["user"],"id":["dana@acme.example"],"key":["user:dana@acme.example"]}}"#;

#[test]
fn a_click_receives_the_sender_of_its_mail_and_the_sender_becomes_an_entity() {
    let dir = TempDir::new("join");
    let mut t = built(&join_plan(vec![]), &dir);
    let out = run(t.as_mut(), &[MAIL, CLICK]);
    assert_eq!(out.len(), 2, "every record passes on");
    let click = pipectl_core::json::from_str(&out[1]).unwrap();
    let text = |p: &str| {
        click
            .get_path(&FieldPath::from(&field(p)))
            .map(pipectl_core::json::to_string)
    };
    assert_eq!(
        text("email.from.address").as_deref(),
        Some(r#""ap@northwind.example""#)
    );
    assert_eq!(text("email.subject").as_deref(), Some(r#""Invoice""#));
    assert_eq!(text("url.domain").as_deref(), Some(r#""pay.example""#));
    assert_eq!(
        text("entity.key").as_deref(),
        Some(r#"["user:dana@acme.example","email_domain:northwind.example"]"#)
    );
    // The remembered record itself passes unchanged.
    assert_eq!(
        out[0],
        to_string(&event(MAIL).value),
        "the mail record is not modified"
    );
}

#[test]
fn fields_the_record_has_are_kept_and_other_keys_do_not_join() {
    let dir = TempDir::new("join");
    let mut t = built(&join_plan(vec![]), &dir);
    let own =
        r#"{"@timestamp":"2026-03-02T10:20:00Z","email":{"local_id":"n-1","subject":"Mine"}}"#;
    let other = r#"{"@timestamp":"2026-03-02T10:20:00Z","email":{"local_id":"n-2"}}"#;
    let out = run(t.as_mut(), &[MAIL, own, other]);
    assert_eq!(
        out[1],
        r#"{"@timestamp":"2026-03-02T10:20:00Z","email":{"local_id":"n-1","subject":"Mine","from":{"address":"ap@northwind.example"},"direction":"inbound"}}"#
    );
    assert_eq!(out[2], to_string(&event(other).value));
}

#[test]
fn records_too_far_apart_in_event_time_do_not_join_and_old_ones_are_forgotten() {
    let dir = TempDir::new("join");
    let mut t = built(
        &join_plan(vec![("within", PlanValue::Duration(3_600_000))]),
        &dir,
    );
    let late = r#"{"@timestamp":"2026-03-02T11:00:01Z","email":{"local_id":"n-1"}}"#;
    let out = run(t.as_mut(), &[MAIL, late]);
    assert_eq!(
        out[1],
        to_string(&event(late).value),
        "61 minutes is beyond 1h"
    );
    // A newer mail pushes the old one out of memory: a click dated right after the
    // first mail no longer finds it.
    let newer = r#"{"@timestamp":"2026-03-02T13:00:00Z","event":{"action":"TIMailData"},
        "email":{"local_id":"n-9","from":{"address":"x@y.example"}}}"#;
    let early = r#"{"@timestamp":"2026-03-02T10:05:00Z","email":{"local_id":"n-1"}}"#;
    let out = run(t.as_mut(), &[newer, early]);
    assert_eq!(out[1], to_string(&event(early).value));
}

#[test]
fn at_most_max_keys_are_remembered_the_oldest_forgotten_first() {
    let dir = TempDir::new("join");
    let mut t = built(&join_plan(vec![("max_keys", PlanValue::Int(2))]), &dir);
    let mail = |id: &str, minute: u32| {
        format!(
            r#"{{"@timestamp":"2026-03-02T10:{minute:02}:00Z","event":{{"action":"TIMailData"}},"email":{{"local_id":"{id}","from":{{"address":"s@{id}.example"}}}}}}"#
        )
    };
    let (a, b, c) = (mail("a", 1), mail("b", 2), mail("c", 3));
    let clicks = [
        r#"{"@timestamp":"2026-03-02T10:09:00Z","email":{"local_id":"a"}}"#,
        r#"{"@timestamp":"2026-03-02T10:09:00Z","email":{"local_id":"c"}}"#,
    ];
    let out = run(t.as_mut(), &[&a, &b, &c, clicks[0], clicks[1]]);
    assert!(!out[3].contains("a.example"), "{}", out[3]);
    assert!(out[4].contains("s@c.example"), "{}", out[4]);
}

#[test]
fn what_is_remembered_survives_a_restart() {
    let dir = TempDir::new("join");
    let p = join_plan(vec![]);
    {
        let mut t = built(&p, &dir);
        run(t.as_mut(), &[MAIL]);
        t.finish(&mut TransformOutput::new(&[]));
    }
    let mut t = built(&p, &dir);
    let out = run(t.as_mut(), &[CLICK]);
    assert!(
        out[0].contains(r#""from":{"address":"ap@northwind.example"}"#),
        "{}",
        out[0]
    );
}

#[test]
fn a_row_that_does_not_decode_is_skipped_and_the_rest_restored() {
    let dir = TempDir::new("join");
    let p = join_plan(vec![]);
    {
        let mut t = built(&p, &dir);
        run(t.as_mut(), &[MAIL]);
        t.finish(&mut TransformOutput::new(&[]));
    }
    let store = Store::shared(dir.path()).unwrap();
    store
        .write(
            &table("test", "t"),
            vec![
                ("bad".to_string(), Some(b"{not json".to_vec())),
                (
                    "worse".to_string(),
                    Some(br#"{"at":1,"values":[[99,"x"]]}"#.to_vec()),
                ),
            ],
        )
        .unwrap();
    drop(store);
    let mut t = built(&p, &dir);
    let out = run(t.as_mut(), &[CLICK]);
    assert!(out[0].contains("ap@northwind.example"), "{}", out[0]);
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    let no_copy = plan(
        &SPEC,
        "t",
        vec![
            (
                "remember",
                PlanValue::Expr(eq("event.action", "TIMailData")),
            ),
            ("key", PlanValue::Field(field("email.local_id"))),
            ("copy", PlanValue::List(vec![])),
        ],
    );
    assert!(build_error(&FACTORY, &no_copy).contains("at least one field"));
    let key_copied = join_plan(vec![(
        "copy",
        PlanValue::List(vec![PlanValue::Field(field("email.local_id"))]),
    )]);
    assert!(build_error(&FACTORY, &key_copied).contains("need not list the `key`"));
    let zero = join_plan(vec![("within", PlanValue::Duration(0))]);
    assert!(build_error(&FACTORY, &zero).contains("longer than zero"));
    let none = join_plan(vec![("max_keys", PlanValue::Int(0))]);
    assert!(build_error(&FACTORY, &none).contains("at least 1"));
}
