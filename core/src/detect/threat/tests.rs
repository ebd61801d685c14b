use super::*;

const HOUR: i64 = 3_600_000;

fn opts() -> ThreatOptions {
    ThreatOptions {
        correlator: "incidents".into(),
        pipeline: "p".into(),
        window_ms: 24 * HOUR,
        window_text: "24h".into(),
        half_life_ms: 6 * HOUR,
        raise_above: 0.9,
        close_after_ms: 24 * HOUR,
        max_entities: 100,
        link_kinds: vec!["email_domain".into()],
    }
}

fn t(ms: i64) -> String {
    format_rfc3339(1_790_000_000_000 + ms)
}

fn hit(user: &str, rule: &str, score: f64, at: i64, id: &str) -> Value {
    crate::json::from_str(&format!(
        r#"{{"@timestamp":"{}","event":{{"dataset":"pipectl.hit","id":"{id}"}},"entity":{{"key":"user:{user}","kind":"user","id":"{user}"}},"rule":{{"id":"{rule}","name":"Rule {rule}"}},"threat":{{"tactic":{{"name":["Persistence"]}},"technique":{{"id":["T1098"]}}}},"pipectl":{{"hit":{{"id":"{id}","score":{score},"event_ids":["ev-{id}"]}}}}}}"#,
        t(at)
    ))
    .unwrap()
}

fn breach(user: &str, feature: &str, score: f64, at: i64, id: &str) -> Value {
    crate::json::from_str(&format!(
        r#"{{"@timestamp":"{}","event":{{"dataset":"pipectl.breach","id":"{id}"}},"entity":{{"key":"user:{user}","kind":"user","id":"{user}"}},"pipectl":{{"breach":{{"id":"{id}","model":"pol","feature":"{feature}","score":{score},"explanation":"unusual {feature}","event_ids":["ev-{id}"]}}}}}}"#,
        t(at)
    ))
    .unwrap()
}

fn feed(c: &mut ThreatCorrelator, doc: Value) -> Vec<Value> {
    c.observe(Indicator::from_document(&doc).expect("evidence"), 0)
}

fn field<'a>(doc: &'a Value, path: &str) -> &'a Value {
    get(doc, path).unwrap_or(&Value::Null)
}

#[test]
fn independent_indicators_raise_an_incident_that_updates_in_place() {
    let mut c = ThreatCorrelator::new(opts());
    assert!(feed(&mut c, breach("alice", "novelty(country)", 0.7, 0, "b1")).is_empty());
    assert!(
        feed(&mut c, hit("alice", "r1", 0.5, 60_000, "h1")).is_empty(),
        "1 - 0.3*0.5 = 0.85"
    );
    let opened = feed(&mut c, breach("alice", "volume(bytes)", 0.6, 120_000, "b2"));
    assert_eq!(opened.len(), 1, "1 - 0.3*0.5*0.4 = 0.94");
    let inc = &opened[0];
    assert_eq!(field(inc, "incident.status"), &Value::from("open"));
    assert_eq!(field(inc, "incident.severity"), &Value::from("high"));
    assert_eq!(field(inc, "incident.breach_count"), &Value::Int(2));
    assert_eq!(field(inc, "incident.hit_count"), &Value::Int(1));
    assert_eq!(field(inc, "incident.first_seen"), &Value::from(t(0)));
    assert_eq!(field(inc, "pipectl.version"), &Value::Int(1));
    assert_eq!(field(inc, "entity.key"), &Value::from("user:alice"));
    let id = field(inc, "incident.id").clone();
    let updated = feed(&mut c, hit("alice", "r2", 0.75, 180_000, "h2"));
    assert_eq!(updated.len(), 1);
    assert_eq!(
        field(&updated[0], "incident.id"),
        &id,
        "same incident, same id"
    );
    assert_eq!(field(&updated[0], "pipectl.version"), &Value::Int(2));
    assert_eq!(field(&updated[0], "incident.hit_count"), &Value::Int(2));
    assert!(field(&updated[0], "incident.score").as_f64().unwrap() > 0.97);
    assert_eq!(
        field(&updated[0], "incident.severity"),
        &Value::from("critical")
    );
}

#[test]
fn the_same_indicator_never_counts_twice() {
    let mut c = ThreatCorrelator::new(opts());
    for i in 0..20 {
        assert!(feed(
            &mut c,
            hit("bob", "same-rule", 0.6, i * 60_000, &format!("h{i}"))
        )
        .is_empty());
    }
}

#[test]
fn evidence_decays_and_leaves_the_window() {
    let mut c = ThreatCorrelator::new(opts());
    assert!(feed(&mut c, breach("carol", "f1", 0.6, 0, "b1")).is_empty());
    assert!(
        feed(&mut c, hit("carol", "r1", 0.5, 0, "h1")).is_empty(),
        "1 - 0.4*0.5 = 0.8"
    );
    // Two half-lives later the old evidence is worth a quarter: 1 - 0.85*0.875*0.4 = 0.70.
    assert!(feed(&mut c, hit("carol", "r2", 0.6, 12 * HOUR, "h2")).is_empty());
    // Fresh, the same three cross: 1 - 0.4*0.5*0.4 = 0.92.
    let mut fresh = ThreatCorrelator::new(opts());
    feed(&mut fresh, breach("carol", "f1", 0.6, 0, "b1"));
    feed(&mut fresh, hit("carol", "r1", 0.5, 0, "h1"));
    assert_eq!(feed(&mut fresh, hit("carol", "r2", 0.6, 0, "h2")).len(), 1);
}

#[test]
fn incidents_close_after_a_quiet_period_and_entities_are_separate() {
    let mut c = ThreatCorrelator::new(opts());
    assert!(feed(&mut c, hit("dave", "r1", 0.8, 0, "h1")).is_empty());
    let opened = feed(&mut c, hit("dave", "r2", 0.8, 1000, "h2"));
    assert_eq!(opened.len(), 1, "1 - 0.2*0.2 = 0.96");
    assert!(
        feed(&mut c, hit("erin", "r1", 0.8, 2000, "h3")).is_empty(),
        "erin is another entity: dave's evidence does not count for her"
    );
    // A day and more later, evidence for someone else moves event time past dave's quiet period.
    let later = feed(&mut c, hit("erin", "r3", 0.1, 26 * HOUR, "h4"));
    let closed: Vec<&Value> = later
        .iter()
        .filter(|d| field(d, "incident.status") == &Value::from("resolved"))
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(
        field(closed[0], "incident.id"),
        field(&opened[0], "incident.id")
    );
    assert_eq!(field(closed[0], "pipectl.version"), &Value::Int(2));
}

#[test]
fn other_documents_are_not_evidence() {
    let event = crate::json::from_str(r#"{"@timestamp":"2026-10-03T22:14:05Z","event":{"dataset":"aws.cloudtrail"},"entity":{"key":"user:x"}}"#).unwrap();
    assert!(Indicator::from_document(&event).is_none());
    let no_entity = crate::json::from_str(r#"{"@timestamp":"2026-10-03T22:14:05Z","event":{"dataset":"pipectl.hit"},"pipectl":{"hit":{"id":"h","score":0.5}},"rule":{"id":"r"}}"#).unwrap();
    assert!(Indicator::from_document(&no_entity).is_none());
}

/// Leaf paths the strict incidents template maps, and its object (unindexed) roots.
fn mapped() -> (Vec<String>, Vec<String>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/templates");
    let (mut leaves, mut objects) = (Vec::new(), Vec::new());
    fn walk(
        prefix: &str,
        props: &serde_json::Value,
        leaves: &mut Vec<String>,
        objects: &mut Vec<String>,
    ) {
        for (k, v) in props.as_object().into_iter().flatten() {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v.get("properties") {
                Some(inner) => walk(&path, inner, leaves, objects),
                None if v.get("type").and_then(|t| t.as_str()) == Some("object") => {
                    objects.push(path)
                }
                None => leaves.push(path),
            }
        }
    }
    for f in [
        "components/pipectl-base.json",
        "components/pipectl-ecs.json",
        "pipectl-incidents.json",
    ] {
        let t: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
        walk(
            "",
            &t["template"]["mappings"]["properties"],
            &mut leaves,
            &mut objects,
        );
    }
    (leaves, objects)
}

fn leaf_paths(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, inner)| {
            let path = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            leaf_paths(&path, inner, out);
        }),
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn incident_documents_use_only_mapped_fields() {
    let mut c = ThreatCorrelator::new(opts());
    feed(&mut c, breach("alice", "f", 0.9, 0, "b1"));
    let docs = feed(&mut c, hit("alice", "r", 0.9, 0, "h1"));
    assert_eq!(docs.len(), 1);
    let (leaves, objects) = mapped();
    let mut paths = Vec::new();
    leaf_paths("", &docs[0], &mut paths);
    for p in paths {
        let ok = leaves.contains(&p)
            || objects
                .iter()
                .any(|o| p == *o || p.starts_with(&format!("{o}.")));
        assert!(ok, "`{p}` is not mapped by pipectl-incidents");
    }
}

fn breach_with(user: &str, extra: &str, score: f64, at: i64, id: &str) -> Value {
    crate::json::from_str(&format!(
        r#"{{"@timestamp":"{}","event":{{"dataset":"pipectl.breach","id":"{id}"}},"entity":{{"key":"user:{user}","kind":"user","id":"{user}"}},"pipectl":{{"breach":{{"id":"{id}","model":"pol","feature":"novelty(cloud.region)","feature_kind":"novelty","field":"cloud.region","observed":{{"value":"us-west-2"}},"score":{score},"explanation":"a long sentence","event_ids":["ev-{id}"]{extra}}}}}}}"#,
        t(at)
    ))
    .unwrap()
}

#[test]
fn a_models_anomaly_is_evidence_like_a_breach() {
    let doc = crate::json::to_string(&breach_with("a", r#","confidence":0.5"#, 0.99, 0, "a1"))
        .replace(
            r#""dataset":"pipectl.breach""#,
            r#""dataset":"pipectl.anomaly""#,
        );
    let anomaly = Indicator::from_document(&crate::json::from_str(&doc).unwrap())
        .expect("an anomaly is evidence");
    assert!((anomaly.score - 0.495).abs() < 1e-12, "{}", anomaly.score);
    assert_eq!(anomaly.label, "new cloud.region us-west-2");
    assert_eq!(anomaly.key, "breach:pol:novelty(cloud.region)");
    let other = doc.replace("pipectl.anomaly", "pipectl.other");
    assert!(Indicator::from_document(&crate::json::from_str(&other).unwrap()).is_none());
}

#[test]
fn a_breach_on_little_history_weighs_less_and_titles_are_short_labels() {
    let confident =
        Indicator::from_document(&breach_with("a", r#","confidence":1.0"#, 0.99, 0, "b1")).unwrap();
    assert!((confident.score - 0.99).abs() < 1e-12);
    assert_eq!(confident.label, "new cloud.region us-west-2");
    let unsure =
        Indicator::from_document(&breach_with("a", r#","confidence":0.1"#, 0.99, 0, "b2")).unwrap();
    assert!((unsure.score - 0.099).abs() < 1e-12, "{}", unsure.score);
    // Without a confidence (older breach documents, other models) the score stands.
    let plain = Indicator::from_document(&breach_with("a", "", 0.99, 0, "b3")).unwrap();
    assert!((plain.score - 0.99).abs() < 1e-12);
    // A value kept up against the peer group reads as such.
    let peer = crate::json::to_string(&breach_with("a", "", 0.99, 0, "b6")).replace(
        r#""feature_kind":"novelty""#,
        r#""feature_kind":"peer_rarity""#,
    );
    let peer = Indicator::from_document(&crate::json::from_str(&peer).unwrap()).unwrap();
    assert_eq!(
        peer.label,
        "keeps using cloud.region us-west-2 unlike its peers"
    );

    let mut c = ThreatCorrelator::new(opts());
    assert!(
        feed(
            &mut c,
            breach_with("bob", r#","confidence":0.1"#, 0.999, 0, "b4")
        )
        .is_empty(),
        "an early-days oddity alone opens nothing"
    );
    let opened = feed(
        &mut c,
        breach_with("carol", r#","confidence":0.95"#, 0.999, 0, "b5"),
    );
    assert_eq!(opened.len(), 1);
    assert_eq!(
        field(&opened[0], "incident.title"),
        &Value::from("carol: new cloud.region us-west-2")
    );
}

/// A state directory removed at the end of a test.
struct StateDir(std::path::PathBuf);

impl StateDir {
    fn new(name: &str) -> StateDir {
        let dir = std::env::temp_dir().join(format!(
            "pipectl-threat-{name}-{}-{}",
            std::process::id(),
            crate::event::now_ns()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        StateDir(dir)
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_restarted_correlator_continues_the_open_incident() {
    let dir = StateDir::new("restart");
    let table = persist::table("p", "incidents");
    let id = {
        let store = crate::store::Store::shared(&dir.0).unwrap();
        let mut c = ThreatCorrelator::new(opts());
        feed(&mut c, breach("alice", "novelty(country)", 0.8, 0, "b1"));
        feed(&mut c, breach("bob", "novelty(country)", 0.5, 0, "b9"));
        let opened = feed(&mut c, hit("alice", "r1", 0.75, 60_000, "h1"));
        assert_eq!(opened.len(), 1, "1 - 0.2*0.25 = 0.95");
        c.snapshot(&store, &table).unwrap();
        field(&opened[0], "incident.id").clone()
    };
    let store = crate::store::Store::shared(&dir.0).unwrap();
    let mut c = ThreatCorrelator::new(opts());
    assert_eq!(c.restore(&store, &table).unwrap(), 2);
    let updated = feed(&mut c, hit("alice", "r2", 0.5, 120_000, "h2"));
    assert_eq!(updated.len(), 1);
    assert_eq!(field(&updated[0], "incident.id"), &id, "the same incident");
    assert_eq!(field(&updated[0], "pipectl.version"), &Value::Int(2));
    assert_eq!(field(&updated[0], "incident.breach_count"), &Value::Int(1));
    assert_eq!(field(&updated[0], "incident.hit_count"), &Value::Int(2));

    // Bob's weak evidence was kept too: one more indicator opens his incident.
    let bob = feed(&mut c, hit("bob", "r1", 0.75, 130_000, "h3"));
    assert_eq!(bob.len(), 0, "1 - 0.5*0.25 = 0.875");
    let bob = feed(&mut c, hit("bob", "r3", 0.5, 140_000, "h4"));
    assert_eq!(bob.len(), 1, "1 - 0.5*0.25*0.5 = 0.94");

    // Quiet entities are forgotten in the store as in memory.
    feed(&mut c, hit("carol", "r1", 0.1, 200 * HOUR, "h5"));
    c.snapshot(&store, &table).unwrap();
    let mut again = ThreatCorrelator::new(opts());
    assert_eq!(
        again.restore(&store, &table).unwrap(),
        1,
        "only carol is left"
    );
}

#[test]
fn a_row_that_does_not_decode_is_skipped_not_fatal() {
    let dir = StateDir::new("corrupt");
    let table = persist::table("p", "incidents");
    let store = crate::store::Store::shared(&dir.0).unwrap();
    store
        .write(
            &table,
            vec![
                ("e:user:x".into(), Some(b"{not json".to_vec())),
                ("clock".into(), Some(b"[]".to_vec())),
            ],
        )
        .unwrap();
    let mut c = ThreatCorrelator::new(opts());
    assert_eq!(c.restore(&store, &table).unwrap(), 0);
    assert!(feed(&mut c, hit("x", "r1", 0.95, 0, "h1")).len() == 1);
    c.snapshot(&store, &table).unwrap();
    let mut again = ThreatCorrelator::new(opts());
    assert_eq!(
        again.restore(&store, &table).unwrap(),
        1,
        "the bad row was replaced"
    );
}

fn domain_breach(related: &str, score: f64, at: i64, id: &str) -> Value {
    crate::json::from_str(&format!(
        r#"{{"@timestamp":"{}","event":{{"dataset":"pipectl.breach","id":"{id}"}},"entity":{{"key":"email_domain:northwind.example","kind":"email_domain","id":"northwind.example"}},"related":{{"entities":{related}}},"pipectl":{{"breach":{{"id":"{id}","model":"mail","feature":"novelty(url.domain)","feature_kind":"novelty","field":"url.domain","observed":{{"value":"pay.example"}},"score":{score},"confidence":1.0,"explanation":"mail from northwind.example carried a link to pay.example for the first time","event_ids":["ev-{id}"]}}}}}}"#,
        t(at)
    ))
    .unwrap()
}

fn feed_linked(c: &mut ThreatCorrelator, doc: Value) -> Vec<Value> {
    let ind = Indicator::from_document(&doc).expect("evidence");
    c.attribute(ind)
        .into_iter()
        .flat_map(|ind| c.observe(ind, 0))
        .collect()
}

#[test]
fn a_sending_domains_breach_counts_for_the_person_who_clicked_in_one_incident() {
    let mut c = ThreatCorrelator::new(opts());
    let related = r#"["user:dana@acme.example","email_domain:northwind.example"]"#;
    let opened = feed_linked(&mut c, domain_breach(related, 0.95, 0, "b1"));
    assert_eq!(opened.len(), 1, "0.95 alone crosses 0.9");
    let inc = &opened[0];
    assert_eq!(
        field(inc, "entity.key"),
        &Value::from("user:dana@acme.example")
    );
    assert_eq!(
        crate::json::to_string(field(inc, "related.entities")),
        r#"["user:dana@acme.example","email_domain:northwind.example"]"#
    );
    assert!(field(inc, "incident.title")
        .as_str()
        .unwrap()
        .starts_with("dana@acme.example: northwind.example: new url.domain pay.example"));
    let id = field(inc, "incident.id").clone();
    // The forwarding rule the attacker then sets up updates the same incident.
    let updated = feed_linked(
        &mut c,
        hit("dana@acme.example", "fwd", 0.5, 3_600_000, "h1"),
    );
    assert_eq!(updated.len(), 1);
    assert_eq!(field(&updated[0], "incident.id"), &id);
    assert_eq!(field(&updated[0], "incident.hit_count"), &Value::Int(1));
    assert_eq!(field(&updated[0], "incident.breach_count"), &Value::Int(1));
    // The domain itself opened nothing of its own.
    assert!(!c.entities.contains_key("email_domain:northwind.example"));
}

#[test]
fn linked_evidence_stays_with_its_entity_without_others_or_when_not_a_linked_kind() {
    let c = ThreatCorrelator::new(opts());
    let alone = Indicator::from_document(&domain_breach(
        r#"["email_domain:northwind.example"]"#,
        0.95,
        0,
        "b1",
    ))
    .unwrap();
    let out = c.attribute(alone);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].entity_key, "email_domain:northwind.example");
    assert_eq!(out[0].about, None);
    let mut unlinked = opts();
    unlinked.link_kinds.clear();
    let c = ThreatCorrelator::new(unlinked);
    let ind = Indicator::from_document(&domain_breach(
        r#"["user:dana@acme.example"]"#,
        0.95,
        0,
        "b2",
    ))
    .unwrap();
    assert_eq!(
        c.attribute(ind)[0].entity_key,
        "email_domain:northwind.example"
    );
}

#[test]
fn one_domain_breach_touching_two_people_is_an_indicator_of_each() {
    let c = ThreatCorrelator::new(opts());
    let ind = Indicator::from_document(&domain_breach(
        r#"["user:a@acme.example","ip:10.0.0.5","email_domain:other.example"]"#,
        0.95,
        0,
        "b1",
    ))
    .unwrap();
    let keys: Vec<String> = c.attribute(ind).into_iter().map(|i| i.entity_key).collect();
    assert_eq!(
        keys,
        ["user:a@acme.example", "ip:10.0.0.5"],
        "linked kinds are never targets"
    );
}
