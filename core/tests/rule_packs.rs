//! Our own rule packs (rules/): every rule loads, has positive and negative fixtures
//! (rules/fixtures/<rule file stem>/{positive,negative}.jsonl), matches every positive
//! record and none of the negative ones, with all packs loaded together and the
//! default log source routing.

use pipectl_core::detect::sigma::correlation::CorrelationOptions;
use pipectl_core::detect::sigma::fieldmap::FieldMap;
use pipectl_core::detect::sigma::hit::HitSource;
use pipectl_core::detect::sigma::loader::load;
use pipectl_core::detect::sigma::logsource::{default_entries, LogsourceMap, Unmapped};
use pipectl_core::detect::sigma::modifiers::Placeholders;
use pipectl_core::detect::sigma::{Detector, Selection};
use std::path::{Path, PathBuf};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
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
    let packs: Vec<String> = ["cloud", "saas"]
        .iter()
        .map(|p| root.join(p).to_string_lossy().into_owned())
        .collect();
    let loaded = load(&packs, &[], &Placeholders::new()).unwrap();
    assert!(loaded.refusals.is_empty(), "{:#?}", loaded.refusals);
    assert!(
        loaded.detections.len() >= 15,
        "{} rules",
        loaded.detections.len()
    );
    let mut detector = Detector::new(
        &loaded,
        &Selection::default(),
        FieldMap::default(),
        LogsourceMap::new(default_entries(), Unmapped::NoEvents).unwrap(),
        CorrelationOptions::default(),
        Vec::new(),
        HitSource {
            pipeline: "test".into(),
            component: "rules".into(),
            ruleset: "pipectl".into(),
        },
    );
    for rule in &loaded.detections {
        let stem = Path::new(&rule.meta.file)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
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
