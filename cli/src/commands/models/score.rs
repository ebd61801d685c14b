//! Scoring model breaches against a scenario's labelled attacks: per scenario whether
//! it was detected, how fast and how high the attacker ranked that day; overall the
//! precision and recall of breaches and the false breaches per 1,000 entity-days.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How long after a labelled attack's end a breach of its entity still counts as
/// detecting it: windowed features report at the window's end, and an attack's last
/// actions can surface in the next window or two.
pub const GRACE_MS: i64 = 6 * 3_600_000;

const DAY_MS: i64 = 86_400_000;

/// One labelled attack, as the scenario generator writes it in `labels.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub scenario: String,
    #[serde(default)]
    pub description: String,
    pub entity_key: String,
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub technique: String,
}

/// A label with its interval in milliseconds.
#[derive(Debug, Clone)]
pub struct Attack {
    pub label: Label,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// What the evaluation keeps of one breach document.
#[derive(Debug, Clone)]
pub struct Breach {
    pub entity_key: String,
    pub at_ms: i64,
    pub score: f64,
    pub feature: String,
    pub explanation: String,
}

/// What the evaluation keeps of one version of an incident document (an incident is
/// updated in place: the same id, a higher version).
#[derive(Debug, Clone)]
pub struct IncidentVersion {
    pub id: String,
    pub entity_key: String,
    /// When this version was written (event time).
    pub at_ms: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub score: f64,
    pub severity: String,
    pub title: String,
    /// Other entities the incident's evidence was about (`related.entities`: the
    /// sending domain whose link the subject clicked).
    pub related: Vec<String>,
}

/// Per labelled attack, whether an incident was raised for the attacker.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentScenario {
    pub scenario: String,
    pub entity_key: String,
    pub raised: bool,
    /// Seconds from the attack's start to the first version of the incident.
    pub time_to_incident_s: Option<i64>,
    pub severity: Option<String>,
    pub score: Option<f64>,
    pub title: Option<String>,
}

/// Incidents scored against the labelled attacks.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentReport {
    pub scenarios: Vec<IncidentScenario>,
    pub raised_for: usize,
    /// Distinct incidents (an incident updated in place counts once).
    pub incidents: usize,
    pub true_incidents: usize,
    pub false_incidents: usize,
    /// False incidents by their highest severity.
    pub false_by_severity: BTreeMap<String, usize>,
    pub entity_days: u64,
    pub false_incidents_per_1000_entity_days: f64,
    /// Rule hits the detection stages produced on the way, in all and by rule name.
    pub rule_hits: u64,
    pub rule_hits_by_rule: BTreeMap<String, u64>,
}

/// Scores incident documents (every version) against `attacks`: an incident belongs to
/// an attack when it concerns the attacker and its evidence (first to last seen)
/// overlaps the attack (plus the grace period).
pub fn evaluate_incidents(
    attacks: &[Attack],
    versions: &[IncidentVersion],
    entity_days: u64,
    rule_hits_by_rule: BTreeMap<String, u64>,
) -> IncidentReport {
    let mut merged: BTreeMap<&str, IncidentVersion> = BTreeMap::new();
    for v in versions {
        match merged.get_mut(v.id.as_str()) {
            Some(m) => {
                m.at_ms = m.at_ms.min(v.at_ms);
                m.first_seen_ms = m.first_seen_ms.min(v.first_seen_ms);
                m.last_seen_ms = m.last_seen_ms.max(v.last_seen_ms);
                if v.score > m.score {
                    m.score = v.score;
                    m.severity = v.severity.clone();
                    m.title = v.title.clone();
                }
            }
            None => {
                merged.insert(v.id.as_str(), v.clone());
            }
        }
    }
    let owner_of = |i: &IncidentVersion| {
        attacks.iter().position(|a| {
            (a.label.entity_key == i.entity_key || i.related.contains(&a.label.entity_key))
                && i.first_seen_ms <= a.end_ms + GRACE_MS
                && i.last_seen_ms >= a.start_ms
        })
    };
    let incidents: Vec<(&IncidentVersion, Option<usize>)> =
        merged.values().map(|i| (i, owner_of(i))).collect();
    let scenarios: Vec<IncidentScenario> = attacks
        .iter()
        .enumerate()
        .map(|(index, attack)| {
            let first = incidents
                .iter()
                .filter(|(_, o)| *o == Some(index))
                .map(|(i, _)| *i)
                .min_by_key(|i| i.at_ms);
            IncidentScenario {
                scenario: attack.label.scenario.clone(),
                entity_key: attack.label.entity_key.clone(),
                raised: first.is_some(),
                time_to_incident_s: first.map(|i| (i.at_ms - attack.start_ms).max(0) / 1000),
                severity: first.map(|i| i.severity.clone()),
                score: first.map(|i| i.score),
                title: first.map(|i| i.title.clone()),
            }
        })
        .collect();
    let mut false_by_severity = BTreeMap::new();
    for (i, _) in incidents.iter().filter(|(_, o)| o.is_none()) {
        *false_by_severity.entry(i.severity.clone()).or_insert(0) += 1;
    }
    let true_incidents = incidents.iter().filter(|(_, o)| o.is_some()).count();
    let false_incidents = incidents.len() - true_incidents;
    IncidentReport {
        raised_for: scenarios.iter().filter(|s| s.raised).count(),
        scenarios,
        incidents: incidents.len(),
        true_incidents,
        false_incidents,
        false_by_severity,
        entity_days,
        false_incidents_per_1000_entity_days: ratio(
            false_incidents as f64 * 1000.0,
            entity_days as f64,
        ),
        rule_hits: rule_hits_by_rule.values().sum(),
        rule_hits_by_rule,
    }
}

impl std::fmt::Display for IncidentReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<30} {:<7} {:>12} {:>9} {:>6}  title",
            "scenario", "raised", "after", "severity", "score"
        )?;
        for s in &self.scenarios {
            writeln!(
                f,
                "{:<30} {:<7} {:>12} {:>9} {:>6}  {}",
                s.scenario,
                if s.raised { "yes" } else { "NO" },
                s.time_to_incident_s
                    .map(human_duration)
                    .unwrap_or_else(|| "-".into()),
                s.severity.as_deref().unwrap_or("-"),
                s.score
                    .map(|x| format!("{x:.3}"))
                    .unwrap_or_else(|| "-".into()),
                s.title.as_deref().unwrap_or("-")
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "incidents raised for {}/{} scenarios; {} incidents ({} true, {} false); {} rule hits",
            self.raised_for,
            self.scenarios.len(),
            self.incidents,
            self.true_incidents,
            self.false_incidents,
            self.rule_hits
        )?;
        let by: Vec<String> = self
            .false_by_severity
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        write!(
            f,
            "false incidents per 1,000 entity-days: {:.2} ({})",
            self.false_incidents_per_1000_entity_days,
            if by.is_empty() {
                "none".to_string()
            } else {
                by.join(", ")
            }
        )?;
        let mut rules: Vec<(&String, &u64)> = self.rule_hits_by_rule.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (rule, hits) in rules {
            write!(f, "\n  {hits:>7} hits  {rule}")?;
        }
        Ok(())
    }
}

/// The outcome for one labelled attack.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub description: String,
    pub technique: String,
    pub entity_key: String,
    pub detected: bool,
    /// Event time of the first breach of the attacker within the attack.
    pub first_breach: Option<String>,
    /// Seconds from the attack's start to that breach.
    pub time_to_first_breach_s: Option<i64>,
    /// The attacker's rank among all entities with breaches on the day of its first
    /// breach (1 = the most threatening), ranking entities by `1 - Π(1 - score)` over
    /// their breaches that day.
    pub rank: Option<usize>,
    /// Entities with at least one breach that day.
    pub ranked_entities: Option<usize>,
    pub breaches: usize,
    /// The features that breached for the attacker during the attack.
    pub features: Vec<String>,
    /// The explanation of the first breach.
    pub first_explanation: Option<String>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenarios: Vec<ScenarioResult>,
    pub detected: usize,
    pub top5: usize,
    pub breaches: usize,
    pub true_breaches: usize,
    pub false_breaches: usize,
    /// True breaches / all breaches.
    pub precision: f64,
    /// Detected scenarios / scenarios.
    pub recall: f64,
    pub entity_days: u64,
    pub false_breaches_per_1000_entity_days: f64,
    /// Observations on the model stages' `anomalies` port: unusual for their feature
    /// but not for an entity-day, evidence for incidents rather than breaches.
    pub anomalies: usize,
    pub false_anomalies: usize,
    /// Present when the pipeline correlates breaches and hits into incidents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incidents: Option<IncidentReport>,
}

/// Which attack (if any) a breach belongs to: its entity is the attacker and it falls
/// within the attack (plus the grace period).
fn attack_of(breach: &Breach, attacks: &[Attack]) -> Option<usize> {
    attacks.iter().position(|a| {
        a.label.entity_key == breach.entity_key
            && breach.at_ms >= a.start_ms
            && breach.at_ms <= a.end_ms + GRACE_MS
    })
}

/// Scores `breaches` against `attacks`; `entity_days` is the number of (entity, UTC
/// day) pairs the model saw activity for.
pub fn evaluate(attacks: &[Attack], breaches: &[Breach], entity_days: u64) -> Report {
    // Per day, each entity's combined score.
    let mut daily: BTreeMap<i64, BTreeMap<&str, f64>> = BTreeMap::new();
    for b in breaches {
        let keep = daily
            .entry(b.at_ms.div_euclid(DAY_MS))
            .or_default()
            .entry(b.entity_key.as_str())
            .or_insert(1.0);
        *keep *= 1.0 - b.score.clamp(0.0, 1.0);
    }
    let owner: Vec<Option<usize>> = breaches.iter().map(|b| attack_of(b, attacks)).collect();
    let mut scenarios = Vec::with_capacity(attacks.len());
    for (index, attack) in attacks.iter().enumerate() {
        let mut own: Vec<&Breach> = breaches
            .iter()
            .zip(&owner)
            .filter(|(_, o)| **o == Some(index))
            .map(|(b, _)| b)
            .collect();
        own.sort_by_key(|b| b.at_ms);
        let first = own.first();
        let (rank, ranked_entities) = match first {
            Some(b) => {
                let day = &daily[&b.at_ms.div_euclid(DAY_MS)];
                let mine = 1.0 - day.get(b.entity_key.as_str()).copied().unwrap_or(1.0);
                let above = day.values().filter(|keep| 1.0 - **keep > mine).count();
                (Some(above + 1), Some(day.len()))
            }
            None => (None, None),
        };
        let features: BTreeSet<String> = own.iter().map(|b| b.feature.clone()).collect();
        scenarios.push(ScenarioResult {
            scenario: attack.label.scenario.clone(),
            description: attack.label.description.clone(),
            technique: attack.label.technique.clone(),
            entity_key: attack.label.entity_key.clone(),
            detected: first.is_some(),
            first_breach: first.map(|b| pipectl_core::detect::sigma::time::format_rfc3339(b.at_ms)),
            time_to_first_breach_s: first.map(|b| (b.at_ms - attack.start_ms) / 1000),
            rank,
            ranked_entities,
            breaches: own.len(),
            features: features.into_iter().collect(),
            first_explanation: first.map(|b| b.explanation.clone()),
        });
    }
    let true_breaches = owner.iter().filter(|o| o.is_some()).count();
    let false_breaches = breaches.len() - true_breaches;
    let detected = scenarios.iter().filter(|s| s.detected).count();
    let top5 = scenarios
        .iter()
        .filter(|s| s.rank.is_some_and(|r| r <= 5))
        .count();
    Report {
        detected,
        top5,
        breaches: breaches.len(),
        true_breaches,
        false_breaches,
        precision: ratio(true_breaches as f64, breaches.len() as f64),
        recall: ratio(detected as f64, scenarios.len() as f64),
        entity_days,
        false_breaches_per_1000_entity_days: ratio(
            false_breaches as f64 * 1000.0,
            entity_days as f64,
        ),
        scenarios,
        anomalies: 0,
        false_anomalies: 0,
        incidents: None,
    }
}

impl Report {
    /// Counts the anomalies, and those on no attacker during its attack.
    pub fn count_anomalies(&mut self, attacks: &[Attack], anomalies: &[Breach]) {
        self.anomalies = anomalies.len();
        self.false_anomalies = anomalies
            .iter()
            .filter(|a| attack_of(a, attacks).is_none())
            .count();
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<30} {:<9} {:>12} {:>9} {:>9}  entity",
            "scenario", "detected", "first after", "rank", "breaches"
        )?;
        for s in &self.scenarios {
            let after = s
                .time_to_first_breach_s
                .map(human_duration)
                .unwrap_or_else(|| "-".into());
            let rank = match (s.rank, s.ranked_entities) {
                (Some(r), Some(n)) => format!("{r}/{n}"),
                _ => "-".into(),
            };
            writeln!(
                f,
                "{:<30} {:<9} {:>12} {:>9} {:>9}  {}",
                s.scenario,
                if s.detected { "yes" } else { "NO" },
                after,
                rank,
                s.breaches,
                s.entity_key
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "scenarios detected: {}/{}; attacker in the top 5 of its day: {}/{}",
            self.detected,
            self.scenarios.len(),
            self.top5,
            self.scenarios.len()
        )?;
        writeln!(
            f,
            "breaches: {} ({} true, {} false); precision {:.3}, recall {:.3}",
            self.breaches, self.true_breaches, self.false_breaches, self.precision, self.recall
        )?;
        write!(
            f,
            "false breaches per 1,000 entity-days: {:.2} ({} entity-days)",
            self.false_breaches_per_1000_entity_days, self.entity_days
        )?;
        if self.anomalies > 0 {
            write!(
                f,
                "\nanomalies (unusual for a feature, not for an entity-day; evidence for incidents): {} ({} false)",
                self.anomalies, self.false_anomalies
            )?;
        }
        if let Some(incidents) = &self.incidents {
            write!(f, "\n\n{incidents}")?;
        }
        Ok(())
    }
}

/// `3h 20m`, `2d 4h`, `45s`.
fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn attack(name: &str, entity: &str, start: i64, end: i64) -> Attack {
        Attack {
            label: Label {
                scenario: name.into(),
                description: String::new(),
                entity_key: entity.into(),
                start: String::new(),
                end: String::new(),
                technique: String::new(),
            },
            start_ms: start,
            end_ms: end,
        }
    }

    fn breach(entity: &str, at: i64, score: f64) -> Breach {
        Breach {
            entity_key: entity.into(),
            at_ms: at,
            score,
            feature: "count(per = 1h)".into(),
            explanation: format!("{entity} at {at}"),
        }
    }

    #[test]
    fn attributes_breaches_ranks_and_counts_false_ones() {
        let day = 20 * DAY_MS;
        let attacks = vec![
            attack("scan", "ip:10.0.0.9", day + 2 * HOUR, day + 3 * HOUR),
            attack("missed", "user:x", day, day + HOUR),
        ];
        let breaches = vec![
            // Before the attack: false.
            breach("ip:10.0.0.9", day + HOUR, 0.9995),
            // Within it, and within the grace after it.
            breach("ip:10.0.0.9", day + 3 * HOUR, 0.99),
            breach("ip:10.0.0.9", day + 8 * HOUR, 0.99),
            // Past the grace: false.
            breach("ip:10.0.0.9", day + 10 * HOUR, 0.99),
            // Another entity that day, stronger than the attacker's combined score.
            breach("user:y", day + 5 * HOUR, 0.999_999_999_99),
            breach("user:z", day + 5 * HOUR, 0.5),
        ];
        let report = evaluate(&attacks, &breaches, 4000);
        let scan = &report.scenarios[0];
        assert!(scan.detected);
        assert_eq!(scan.breaches, 2);
        assert_eq!(scan.time_to_first_breach_s, Some(3600));
        assert_eq!(scan.rank, Some(2));
        assert_eq!(scan.ranked_entities, Some(3));
        assert!(!report.scenarios[1].detected);
        assert_eq!(report.scenarios[1].rank, None);
        assert_eq!((report.true_breaches, report.false_breaches), (2, 4));
        assert!((report.precision - 2.0 / 6.0).abs() < 1e-12);
        assert!((report.recall - 0.5).abs() < 1e-12);
        assert!((report.false_breaches_per_1000_entity_days - 1.0).abs() < 1e-12);
        assert_eq!(report.top5, 1);
        let text = report.to_string();
        assert!(text.contains("scenarios detected: 1/2"), "{text}");
        assert!(text.contains("missed"), "{text}");
    }

    fn incident(
        id: &str,
        entity: &str,
        at: i64,
        first: i64,
        last: i64,
        score: f64,
    ) -> IncidentVersion {
        IncidentVersion {
            id: id.into(),
            entity_key: entity.into(),
            at_ms: at,
            first_seen_ms: first,
            last_seen_ms: last,
            score,
            severity: if score >= 0.97 { "critical" } else { "high" }.into(),
            title: format!("{entity}: {id}"),
            related: Vec::new(),
        }
    }

    #[test]
    fn an_incident_belongs_to_an_attack_on_an_entity_its_evidence_was_about() {
        let day = 20 * DAY_MS;
        let attacks = vec![attack(
            "supplier",
            "email_domain:northwind.example",
            day,
            day + 3 * HOUR,
        )];
        let mut clicked = incident(
            "i1",
            "user:dana",
            day + HOUR,
            day + HOUR,
            day + 2 * HOUR,
            0.95,
        );
        clicked.related = vec!["user:dana".into(), "email_domain:northwind.example".into()];
        let unrelated = incident("i2", "user:lee", day + HOUR, day + HOUR, day + HOUR, 0.95);
        let report = evaluate_incidents(&attacks, &[clicked, unrelated], 1000, BTreeMap::new());
        assert!(report.scenarios[0].raised);
        assert_eq!((report.true_incidents, report.false_incidents), (1, 1));
    }

    #[test]
    fn incidents_count_once_per_id_and_belong_to_the_attack_they_overlap() {
        let day = 20 * DAY_MS;
        let attacks = vec![
            attack("scan", "ip:10.0.0.9", day + 2 * HOUR, day + 3 * HOUR),
            attack("missed", "user:x", day, day + HOUR),
        ];
        let versions = vec![
            // One incident in three versions: opened during the attack, raised later.
            incident(
                "i1",
                "ip:10.0.0.9",
                day + 2 * HOUR,
                day + 2 * HOUR,
                day + 2 * HOUR,
                0.92,
            ),
            incident(
                "i1",
                "ip:10.0.0.9",
                day + 4 * HOUR,
                day + 2 * HOUR,
                day + 4 * HOUR,
                0.98,
            ),
            incident(
                "i1",
                "ip:10.0.0.9",
                day + 30 * HOUR,
                day + 2 * HOUR,
                day + 4 * HOUR,
                0.98,
            ),
            // The attacker again, a day later: false.
            incident(
                "i2",
                "ip:10.0.0.9",
                day + 40 * HOUR,
                day + 40 * HOUR,
                day + 41 * HOUR,
                0.95,
            ),
            // The other attack's entity, before its attack: false.
            incident(
                "i3",
                "user:x",
                day - 10 * HOUR,
                day - 12 * HOUR,
                day - 10 * HOUR,
                0.91,
            ),
        ];
        let report = evaluate_incidents(
            &attacks,
            &versions,
            2000,
            BTreeMap::from([("a".to_string(), 4), ("b".to_string(), 3)]),
        );
        assert_eq!(report.incidents, 3);
        assert_eq!((report.true_incidents, report.false_incidents), (1, 2));
        assert_eq!(report.raised_for, 1);
        let scan = &report.scenarios[0];
        assert!(scan.raised);
        assert_eq!(scan.time_to_incident_s, Some(0));
        assert_eq!(
            scan.severity.as_deref(),
            Some("critical"),
            "its highest version"
        );
        assert!(!report.scenarios[1].raised);
        assert_eq!(report.false_by_severity.get("high"), Some(&2));
        assert!((report.false_incidents_per_1000_entity_days - 1.0).abs() < 1e-12);
        let text = report.to_string();
        assert!(
            text.contains("incidents raised for 1/2 scenarios"),
            "{text}"
        );
        assert!(text.contains("7 rule hits"), "{text}");
    }

    #[test]
    fn no_breaches_and_no_activity_give_zeros_not_nan() {
        let report = evaluate(&[], &[], 0);
        assert_eq!(report.precision, 0.0);
        assert_eq!(report.false_breaches_per_1000_entity_days, 0.0);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(12_000), "3h 20m");
        assert_eq!(human_duration(3 * 86_400 + 7200), "3d 2h");
    }
}
