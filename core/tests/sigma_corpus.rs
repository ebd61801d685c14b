//! The SigmaHQ corpus in ../shared/sigma loads: at least 99% of its rules, and every
//! refusal names its reason. Prints the load report.

use pipectl_core::detect::sigma::loader::{load, Loaded};
use pipectl_core::detect::sigma::modifiers::Placeholders;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/sigma")
}

fn load_corpus() -> Loaded {
    let root = corpus();
    let paths: Vec<String> = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| root.join(d).to_string_lossy().into_owned())
        .collect();
    load(&paths, &[], &Placeholders::new()).expect("the corpus directories are readable")
}

#[test]
fn at_least_99_percent_of_the_corpus_loads_and_every_refusal_has_a_reason() {
    let loaded = load_corpus();
    let total = loaded.loaded() + loaded.refusals.len();
    let share = loaded.loaded() as f64 / total as f64;
    println!("Sigma corpus: {} files, {} rules", loaded.files, total);
    println!(
        "loaded {} ({} detections, {} correlations), refused {} ({:.2}% loaded)",
        loaded.loaded(),
        loaded.detections.len(),
        loaded.correlations.len(),
        loaded.refusals.len(),
        share * 100.0
    );
    for r in &loaded.refusals {
        println!("refused {}: {}", r.file, r.reason);
    }
    for (feature, n) in loaded.refusals_by_feature() {
        println!("{n:>5}  {feature}");
    }
    assert!(
        total > 3000,
        "the corpus should hold thousands of rules, found {total}"
    );
    assert!(
        share >= 0.99,
        "only {:.2}% of the corpus loaded",
        share * 100.0
    );
    for r in &loaded.refusals {
        assert!(
            !r.reason.feature.is_empty() && !r.reason.detail.is_empty(),
            "{} has no reason",
            r.file
        );
    }
}
