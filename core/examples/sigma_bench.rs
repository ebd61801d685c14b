//! Throughput of Sigma detection on one core: the whole SigmaHQ corpus at once and its
//! cloud subset, over CloudTrail-shaped records. Run through `bench/sigma.sh`.
//!
//! Usage: sigma_bench SIGMA_DIR RECORDS.jsonl [PASSES]

use pipectl_core::detect::sigma::correlation::CorrelationOptions;
use pipectl_core::detect::sigma::fieldmap::FieldMap;
use pipectl_core::detect::sigma::hit::HitSource;
use pipectl_core::detect::sigma::loader::load;
use pipectl_core::detect::sigma::logsource::{default_entries, LogsourceMap, Unmapped};
use pipectl_core::detect::sigma::modifiers::Placeholders;
use pipectl_core::detect::sigma::{Detector, Selection};
use pipectl_core::path::FieldPath;
use pipectl_core::value::Value;
use std::time::Instant;

/// The allocator the `pipectl` binary uses, so figures match what pipelines see.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn detector(paths: &[String], unmapped: Unmapped) -> Result<(Detector, usize), String> {
    let loaded = load(paths, &[], &Placeholders::new()).map_err(|e| e.to_string())?;
    let logsources = LogsourceMap::new(default_entries(), unmapped)?;
    let time = vec![FieldPath::parse("eventTime").map_err(|e| e.to_string())?];
    let source = HitSource {
        pipeline: "bench".into(),
        component: "rules".into(),
        ruleset: "sigmahq".into(),
    };
    let d = Detector::new(
        &loaded,
        &Selection::default(),
        FieldMap::default(),
        logsources,
        CorrelationOptions::default(),
        time,
        source,
    );
    Ok((d, loaded.loaded()))
}

/// CPU time of this thread in seconds (Linux), so other work on the machine does not
/// count; wall time elsewhere.
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// Seconds `f` took: thread CPU time when available, else wall time.
fn timed(f: impl FnOnce()) -> f64 {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    f();
    match (cpu, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall.elapsed().as_secs_f64(),
    }
}

fn run(
    name: &str,
    d: &mut Detector,
    rules: usize,
    events: &[Value],
    lines: &[&str],
    passes: usize,
) {
    let mut hits = Vec::new();
    let mut matched = 0u64;
    let mut produced = 0u64;
    let n = (events.len() * passes) as f64;
    let match_only = timed(|| {
        for _ in 0..passes {
            for e in events {
                matched += u64::from(!d.matching_rules(e).is_empty());
            }
        }
    });
    let detect = timed(|| {
        for _ in 0..passes {
            for e in events {
                d.process(e, 0, 0, &mut hits);
                produced += hits.len() as u64;
                hits.clear();
            }
        }
    });
    let parse_detect = timed(|| {
        for _ in 0..passes {
            for line in lines {
                if let Ok(e) = pipectl_core::json::from_str(line) {
                    d.process(&e, 0, 0, &mut hits);
                    hits.clear();
                }
            }
        }
    });
    let s = d.engine().stats();
    println!(
        "{name:<27} {rules:>5} rules ({:>4} prefiltered, {:>2} always; {:>3} fields, {:>5} literals) | match {:>7.0}/s | match+hits {:>7.0}/s | parse+match+hits {:>7.0}/s | events matching {:.1}%, hits/event {:.2}",
        s.triggered,
        s.always,
        s.fields,
        s.needles,
        n / match_only,
        n / detect,
        n / parse_detect,
        100.0 * matched as f64 / n,
        produced as f64 / n
    );
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(sigma), Some(input)) = (args.get(1), args.get(2)) else {
        return Err("usage: sigma_bench SIGMA_DIR RECORDS.jsonl [PASSES]".into());
    };
    let passes: usize = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(3);
    let text = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let events: Vec<Value> = lines
        .iter()
        .filter_map(|l| pipectl_core::json::from_str(l).ok())
        .collect();
    println!(
        "{} records, {:.0} bytes each on average, {passes} passes, one thread",
        events.len(),
        text.len() as f64 / lines.len().max(1) as f64
    );
    let whole: Vec<String> = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| format!("{sigma}/{d}"))
        .collect();
    let cloud = vec![format!("{sigma}/rules/cloud")];
    for (name, paths, unmapped) in [
        ("whole corpus", &whole, Unmapped::NoEvents),
        ("whole corpus, unmapped on", &whole, Unmapped::AllEvents),
        ("whole corpus, no routing", &whole, Unmapped::AllEvents),
        ("cloud subset", &cloud, Unmapped::NoEvents),
    ] {
        if let Ok(only) = std::env::var("SIGMA_ONLY") {
            if only != name {
                continue;
            }
        }
        let (mut d, rules) = detector(paths, unmapped)?;
        if name.contains("no routing") {
            // Every rule is judged on every event: log sources ignored.
            let (mut all, rules) = detector_without_routing(paths)?;
            run(name, &mut all, rules, &events, &lines, passes);
            continue;
        }
        if std::env::var_os("SIGMA_DEBUG").is_some() {
            debug(&mut d, &events[0]);
        }
        run(name, &mut d, rules, &events, &lines, passes);
    }
    Ok(())
}

/// A detector whose log sources select nothing, so every rule applies to every event
/// (the worst case: rules are told apart by their fields alone).
fn detector_without_routing(paths: &[String]) -> Result<(Detector, usize), String> {
    let loaded = load(paths, &[], &Placeholders::new()).map_err(|e| e.to_string())?;
    let logsources = LogsourceMap::new(Vec::new(), Unmapped::AllEvents)?;
    let time = vec![FieldPath::parse("eventTime").map_err(|e| e.to_string())?];
    let source = HitSource {
        pipeline: "bench".into(),
        component: "rules".into(),
        ruleset: "sigmahq".into(),
    };
    let d = Detector::new(
        &loaded,
        &Selection::default(),
        FieldMap::default(),
        logsources,
        CorrelationOptions::default(),
        time,
        source,
    );
    Ok((d, loaded.loaded()))
}

#[allow(dead_code)]
fn debug(d: &mut Detector, e: &Value) {
    for m in d.matching_rules(e) {
        eprintln!("  matches {} ({})", m.title, m.file);
    }
}
