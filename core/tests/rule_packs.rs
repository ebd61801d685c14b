//! Our own rule packs (rules/): every rule loads, has positive and negative fixtures
//! (rules/fixtures/<rule file stem>/{positive,negative}.jsonl), matches every positive
//! record and none of the negative ones, with all packs loaded together and the
//! default log source routing. A correlation rule's fixtures are sequences: the
//! positive one, fed in order, must produce the correlation's hit; the negative one
//! must not.

use pipectl_core::detect::sigma::correlation::CorrelationOptions;
use pipectl_core::detect::sigma::fieldmap::FieldMap;
use pipectl_core::detect::sigma::hit::HitSource;
use pipectl_core::detect::sigma::loader::{load, Loaded};
use pipectl_core::detect::sigma::logsource::{default_entries, LogsourceMap, Unmapped};
use pipectl_core::detect::sigma::modifiers::Placeholders;
use pipectl_core::detect::sigma::rule::CorrelationRule;
use pipectl_core::detect::sigma::{Detector, Hit, Selection};
use pipectl_core::path::FieldPath;
use std::path::{Path, PathBuf};

/// The packs, loaded together.
const PACKS: [&str; 3] = ["cloud", "saas", "network"];

/// Detection rules in the packs (correlations are counted apart).
const RULE_FLOOR: usize = 43;

/// Correlation rules in the packs.
const CORRELATION_FLOOR: usize = 5;

/// Where event time is read: the `detect sigma` default (`time_fields`), which covers
/// every shape in the fixtures (Box `created_at`, Graph `createdDateTime` included).
const TIME_FIELDS: [&str; 9] = [
    "@timestamp",
    "eventTime",
    "published",
    "CreationTime",
    "time",
    "timestamp",
    "createdDateTime",
    "activityDateTime",
    "created_at",
];

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

fn stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn detector(loaded: &Loaded) -> Detector {
    Detector::new(
        loaded,
        &Selection::default(),
        FieldMap::default(),
        LogsourceMap::new(default_entries(), Unmapped::NoEvents).unwrap(),
        CorrelationOptions::default(),
        TIME_FIELDS
            .iter()
            .map(|f| FieldPath::parse(f).unwrap())
            .collect(),
        HitSource {
            pipeline: "test".into(),
            component: "rules".into(),
            ruleset: "pipectl".into(),
        },
    )
}

/// `loaded` with, of its correlations, only `top` and those it references (directly or
/// through others).
fn with_only(loaded: &Loaded, top: &CorrelationRule) -> Loaded {
    let names = |c: &CorrelationRule| [Some(c.meta.id.clone()), c.meta.name.clone()];
    let mut kept: Vec<CorrelationRule> = vec![top.clone()];
    let mut i = 0;
    while let Some(current) = kept.get(i).cloned() {
        for c in &loaded.correlations {
            let referenced = names(c).iter().flatten().any(|n| current.rules.contains(n));
            if referenced && !kept.iter().any(|k| k.meta.id == c.meta.id) {
                kept.push(c.clone());
            }
        }
        i += 1;
    }
    Loaded {
        files: loaded.files,
        detections: loaded.detections.clone(),
        correlations: kept,
        refusals: Vec::new(),
    }
}

fn load_packs() -> Loaded {
    let root = rules_dir();
    let packs: Vec<String> = PACKS
        .iter()
        .map(|p| root.join(p).to_string_lossy().into_owned())
        .collect();
    let loaded = load(&packs, &[], &Placeholders::new()).unwrap();
    assert!(loaded.refusals.is_empty(), "{:#?}", loaded.refusals);
    loaded
}

fn records(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_pack_rule_matches_its_positive_fixtures_and_none_of_its_negative_ones() {
    let root = rules_dir();
    let loaded = load_packs();
    assert!(
        loaded.detections.len() >= RULE_FLOOR,
        "{} rules",
        loaded.detections.len()
    );
    let mut detector = detector(&loaded);
    for rule in &loaded.detections {
        let stem = stem(&rule.meta.file);
        let fixtures = root.join("fixtures").join(&stem);
        for (kind, want) in [("positive", true), ("negative", false)] {
            let lines = records(&fixtures.join(format!("{kind}.jsonl")));
            assert!(!lines.is_empty(), "{stem}: no {kind} fixtures");
            for line in lines {
                let event = pipectl_core::json::from_str(&line).unwrap();
                let matched = detector
                    .matching_rules(&event)
                    .iter()
                    .any(|m| m.id == rule.meta.id);
                assert_eq!(matched, want, "{stem}: {kind} fixture {line}");
            }
        }
    }
}

#[test]
fn every_pack_correlation_fires_on_its_positive_sequence_and_not_on_its_negative_one() {
    let root = rules_dir();
    let loaded = load_packs();
    assert!(
        loaded.correlations.len() >= CORRELATION_FLOOR,
        "{} correlations",
        loaded.correlations.len()
    );
    let rule_id = FieldPath::parse("rule.id").unwrap();
    for rule in &loaded.correlations {
        let stem = stem(&rule.meta.file);
        let fixtures = root.join("fixtures").join(&stem);
        for (kind, want) in [("positive", true), ("negative", false)] {
            let lines = records(&fixtures.join(format!("{kind}.jsonl")));
            assert!(!lines.is_empty(), "{stem}: no {kind} fixtures");
            // A fresh detector per sequence (windows must not carry over), over this
            // correlation and those it builds on only: a correlation chained into
            // another reports no hits of its own, yet its fixtures must prove it fires.
            let mut detector = detector(&with_only(&loaded, rule));
            let mut hits: Vec<Hit> = Vec::new();
            for line in &lines {
                let event = pipectl_core::json::from_str(line).unwrap();
                detector.process(&event, 0, 0, &mut hits);
            }
            detector.finish(0, &mut hits);
            let fired = hits.iter().any(|h| {
                h.document.get_path(&rule_id).and_then(|v| v.as_str()) == Some(&rule.meta.id)
            });
            assert_eq!(
                fired,
                want,
                "{stem}: {kind} sequence of {} records",
                lines.len()
            );
        }
    }
}
