//! Sigma documents (YAML) to rule ASTs: detection rules and correlation rules, with a
//! precise [`Reason`] naming the feature whenever a document cannot be used.

use super::condition::{self, Cond};
use super::modifiers::{field_spec, scalar_text, FieldSpec, Placeholders};
use super::time::parse_timespan;
use std::fmt;
use std::sync::Arc;
use yaml_rust2::{Yaml, YamlLoader};

/// Why a rule was refused: `feature` is the short name used to group refusals in
/// reports (`unknown modifier `foo``), `detail` the full sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub feature: String,
    pub detail: String,
}

impl Reason {
    pub fn new(feature: impl Into<String>, detail: impl Into<String>) -> Reason {
        Reason {
            feature: feature.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Severity of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn parse(word: &str) -> Option<Level> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// The default weight a hit of this level carries for the correlator.
    pub fn score(self) -> f64 {
        match self {
            Level::Informational => 0.1,
            Level::Low => 0.25,
            Level::Medium => 0.5,
            Level::High => 0.75,
            Level::Critical => 0.9,
        }
    }
}

/// The `logsource` of a rule (lowercased).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Logsource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

impl Logsource {
    /// `product/service` (or `product/category`), as `rule.category` carries it.
    pub fn label(&self) -> String {
        let parts: Vec<&str> = [&self.product, &self.service, &self.category]
            .iter()
            .filter_map(|p| p.as_deref())
            .collect();
        parts.join("/")
    }
}

/// What every rule carries besides its logic.
#[derive(Debug, Clone, Default)]
pub struct RuleMeta {
    /// The `id`, or a name derived from the file and title when absent.
    pub id: String,
    pub name: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub status: Option<String>,
    pub level: Option<Level>,
    pub tags: Vec<String>,
    pub author: Option<String>,
    pub references: Vec<String>,
    /// `modified`, else `date`.
    pub version: Option<String>,
    pub logsource: Logsource,
    /// The file the rule came from.
    pub file: String,
}

/// A single-event detection rule.
#[derive(Debug, Clone)]
pub struct DetectionRule {
    pub meta: Arc<RuleMeta>,
    /// Search identifiers in file order; each an OR of AND-ed field specs.
    pub searches: Vec<(String, Vec<Vec<FieldSpec>>)>,
    pub condition: Cond,
}

/// The correlation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    ValueSum,
    ValueAvg,
    Temporal,
    TemporalOrdered,
}

impl CorrelationType {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::ValueSum => "value_sum",
            CorrelationType::ValueAvg => "value_avg",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// A correlation `condition`: every bound must hold (a range is two bounds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountCondition {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub eq: Option<f64>,
    pub neq: Option<f64>,
    /// `field` for value_count, value_sum and value_avg.
    pub field: Vec<String>,
}

impl CountCondition {
    pub fn holds(&self, n: f64) -> bool {
        self.gt.is_none_or(|b| n > b)
            && self.gte.is_none_or(|b| n >= b)
            && self.lt.is_none_or(|b| n < b)
            && self.lte.is_none_or(|b| n <= b)
            && self.eq.is_none_or(|b| n == b)
            && self.neq.is_none_or(|b| n != b)
    }

    /// Whether more events can only keep the condition true (only lower bounds), so
    /// it can fire as soon as it holds; otherwise it is judged when a window closes.
    pub fn is_monotone(&self) -> bool {
        self.lt.is_none() && self.lte.is_none() && self.eq.is_none() && self.neq.is_none()
    }
}

/// A correlation rule.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    pub meta: Arc<RuleMeta>,
    pub kind: CorrelationType,
    /// Referenced rules by id or name.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    pub timespan_text: String,
    pub condition: CountCondition,
    /// alias → (rule name or id → field).
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    /// Whether the referenced rules also report their own hits.
    pub generate: bool,
}

/// One YAML document of a rule file.
#[derive(Debug, Clone)]
pub enum Document {
    Detection(DetectionRule),
    Correlation(CorrelationRule),
}

/// One document's outcome: a rule, or its refusal (with whatever was known of it).
pub type Parsed = Result<Document, Box<(RuleMeta, Reason)>>;

/// Parses every document of a rule file.
pub fn parse_file(file: &str, text: &str, placeholders: &Placeholders) -> Vec<Parsed> {
    if let Some(line) = too_deep(text) {
        let meta = RuleMeta {
            file: file.to_string(),
            ..RuleMeta::default()
        };
        let reason = Reason::new(
            "YAML nested too deeply",
            format!("line {line} nests deeper than any rule needs ({MAX_INDENT} columns of indentation or list markers)"),
        );
        return vec![Err(Box::new((meta, reason)))];
    }
    let docs = match YamlLoader::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => {
            let meta = RuleMeta {
                file: file.to_string(),
                ..RuleMeta::default()
            };
            return vec![Err(Box::new((
                meta,
                Reason::new("invalid YAML", format!("invalid YAML: {e}")),
            )))];
        }
    };
    let multi = docs.len() > 1;
    docs.iter()
        .enumerate()
        .filter(|(_, d)| !matches!(d, Yaml::Null))
        .map(|(i, d)| parse_document(file, if multi { Some(i) } else { None }, d, placeholders))
        .collect()
}

/// Indentation (spaces and `- ` markers) beyond which a document is refused before
/// parsing: the YAML parser recurses per level, and no rule nests anywhere near this.
const MAX_INDENT: usize = 256;

/// The first line (1-based) indented deeper than [`MAX_INDENT`].
fn too_deep(text: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let depth = line
                .bytes()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'-'))
                .count();
            depth > MAX_INDENT
        })
        .map(|i| i + 1)
}

fn key<'a>(map: &'a yaml_rust2::yaml::Hash, name: &str) -> Option<&'a Yaml> {
    map.get(&Yaml::String(name.to_string()))
}

fn text_of(map: &yaml_rust2::yaml::Hash, name: &str) -> Option<String> {
    key(map, name).and_then(scalar_text)
}

fn strings_of(map: &yaml_rust2::yaml::Hash, name: &str) -> Vec<String> {
    match key(map, name) {
        Some(Yaml::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(v) => scalar_text(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn meta_of(file: &str, index: Option<usize>, map: &yaml_rust2::yaml::Hash) -> RuleMeta {
    let title = text_of(map, "title").unwrap_or_default();
    let lower = |k: &str| {
        key(map, "logsource")
            .and_then(Yaml::as_hash)
            .and_then(|ls| text_of(ls, k))
            .map(|s| s.to_ascii_lowercase())
    };
    let id = text_of(map, "id").unwrap_or_else(|| match index {
        Some(i) => format!("{file}#{i}"),
        None => file.to_string(),
    });
    RuleMeta {
        id,
        name: text_of(map, "name"),
        title,
        description: text_of(map, "description").map(|d| d.trim().to_string()),
        status: text_of(map, "status").map(|s| s.to_ascii_lowercase()),
        level: text_of(map, "level").and_then(|l| Level::parse(&l)),
        tags: strings_of(map, "tags"),
        author: text_of(map, "author"),
        references: strings_of(map, "references"),
        version: text_of(map, "modified").or_else(|| text_of(map, "date")),
        logsource: Logsource {
            product: lower("product"),
            category: lower("category"),
            service: lower("service"),
        },
        file: file.to_string(),
    }
}

fn parse_document(
    file: &str,
    index: Option<usize>,
    doc: &Yaml,
    placeholders: &Placeholders,
) -> Parsed {
    let Some(map) = doc.as_hash() else {
        let meta = RuleMeta {
            file: file.to_string(),
            ..RuleMeta::default()
        };
        return Err(Box::new((
            meta,
            Reason::new("not a mapping", "the document is not a YAML mapping"),
        )));
    };
    let meta = meta_of(file, index, map);
    let fail = |reason: Reason| Err(Box::new((meta.clone(), reason)));
    if text_of(map, "action").is_some() {
        return fail(Reason::new(
            "rule collection (`action`)",
            "the Sigma 1 rule-collection form (`action: global/reset/repeat`) is not supported; write one document per rule",
        ));
    }
    if meta.title.is_empty() {
        return fail(Reason::new("missing title", "the rule has no `title`"));
    }
    if meta.status.as_deref() == Some("unsupported") {
        return fail(Reason::new(
            "status `unsupported`",
            "the rule declares `status: unsupported`: it cannot be used as written",
        ));
    }
    if let Some(level) = text_of(map, "level") {
        if Level::parse(&level).is_none() {
            return fail(Reason::new(
                "unknown level",
                format!("unknown level `{level}`"),
            ));
        }
    }
    if let Some(corr) = key(map, "correlation") {
        return parse_correlation(meta.clone(), map, corr)
            .map(Document::Correlation)
            .map_err(|r| Box::new((meta, r)));
    }
    if key(map, "filter").is_some() && key(map, "detection").is_none() {
        return fail(Reason::new(
            "Sigma filter document",
            "Sigma filter documents (global filters) are not supported; put the exclusion in the rule",
        ));
    }
    if key(map, "logsource").and_then(Yaml::as_hash).is_none() {
        return fail(Reason::new(
            "missing logsource",
            "the rule has no `logsource` mapping",
        ));
    }
    let Some(detection) = key(map, "detection").and_then(Yaml::as_hash) else {
        return fail(Reason::new(
            "missing detection",
            "the rule has no `detection` mapping",
        ));
    };
    parse_detection(meta.clone(), detection, placeholders)
        .map(Document::Detection)
        .map_err(|r| Box::new((meta, r)))
}

fn parse_detection(
    meta: RuleMeta,
    detection: &yaml_rust2::yaml::Hash,
    placeholders: &Placeholders,
) -> Result<DetectionRule, Reason> {
    let mut searches = Vec::new();
    let mut condition_texts = Vec::new();
    for (k, v) in detection {
        let Some(name) = scalar_text(k) else {
            return Err(Reason::new(
                "non-text search identifier",
                "a search identifier is not text",
            ));
        };
        match name.as_str() {
            "condition" => match v {
                Yaml::Array(items) => condition_texts.extend(items.iter().filter_map(scalar_text)),
                other => condition_texts.extend(scalar_text(other)),
            },
            "timeframe" => return Err(Reason::new(
                "`timeframe` in detection",
                "`timeframe` belongs to the obsolete aggregation syntax; use a correlation rule",
            )),
            _ => searches.push((name.clone(), parse_search(&name, v, placeholders)?)),
        }
    }
    if condition_texts.is_empty() {
        return Err(Reason::new(
            "missing condition",
            "the detection has no `condition`",
        ));
    }
    let names: Vec<String> = searches.iter().map(|(n, _)| n.clone()).collect();
    let mut conds = Vec::new();
    for text in &condition_texts {
        let cond = condition::parse(text, &names).map_err(|e| {
            let feature = if e.contains("aggregation") {
                "aggregation in condition".to_string()
            } else if e.contains("near") {
                "`near` in condition".to_string()
            } else {
                "invalid condition".to_string()
            };
            Reason::new(feature, format!("condition `{text}`: {e}"))
        })?;
        conds.push(cond);
    }
    let condition = if conds.len() == 1 {
        conds.remove(0)
    } else {
        Cond::Or(conds)
    };
    Ok(DetectionRule {
        meta: Arc::new(meta),
        searches,
        condition,
    })
}

/// A search identifier's value: a map (AND of fields), a list of maps (OR), a list of
/// strings (keywords, OR) or a single keyword.
fn parse_search(
    name: &str,
    v: &Yaml,
    placeholders: &Placeholders,
) -> Result<Vec<Vec<FieldSpec>>, Reason> {
    match v {
        Yaml::Hash(map) => Ok(vec![parse_map(map, placeholders)?]),
        Yaml::Array(items) => {
            let mut alternatives = Vec::new();
            let mut keywords = Vec::new();
            for item in items {
                match item {
                    Yaml::Hash(map) => alternatives.push(parse_map(map, placeholders)?),
                    Yaml::Array(_) => {
                        return Err(Reason::new(
                            "nested list in search",
                            format!("search `{name}` holds a list inside a list"),
                        ))
                    }
                    scalar => keywords.push(scalar.clone()),
                }
            }
            if !keywords.is_empty() {
                alternatives.push(vec![field_spec("", &keywords, placeholders)?]);
            }
            if alternatives.is_empty() {
                return Err(Reason::new(
                    "empty search",
                    format!("search `{name}` is an empty list"),
                ));
            }
            Ok(alternatives)
        }
        Yaml::String(_) | Yaml::Integer(_) | Yaml::Real(_) => Ok(vec![vec![field_spec(
            "",
            std::slice::from_ref(v),
            placeholders,
        )?]]),
        _ => Err(Reason::new(
            "empty search",
            format!("search `{name}` has no value"),
        )),
    }
}

fn parse_map(
    map: &yaml_rust2::yaml::Hash,
    placeholders: &Placeholders,
) -> Result<Vec<FieldSpec>, Reason> {
    let mut specs = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = scalar_text(k).unwrap_or_default();
        let values: Vec<Yaml> = match v {
            Yaml::Array(items) => items.clone(),
            Yaml::Hash(_) => {
                return Err(Reason::new(
                    "map as field value",
                    format!("`{key}` has a map as its value; Sigma values are scalars or lists"),
                ))
            }
            other => vec![other.clone()],
        };
        specs.push(field_spec(&key, &values, placeholders)?);
    }
    if specs.is_empty() {
        return Err(Reason::new("empty search", "a selection map is empty"));
    }
    Ok(specs)
}

fn parse_correlation(
    meta: RuleMeta,
    top: &yaml_rust2::yaml::Hash,
    corr: &Yaml,
) -> Result<CorrelationRule, Reason> {
    let Some(map) = corr.as_hash() else {
        return Err(Reason::new(
            "invalid correlation",
            "`correlation` is not a mapping",
        ));
    };
    let kind_text = text_of(map, "type").unwrap_or_default();
    let kind = match kind_text.as_str() {
        "event_count" => CorrelationType::EventCount,
        "value_count" => CorrelationType::ValueCount,
        "value_sum" => CorrelationType::ValueSum,
        "value_avg" => CorrelationType::ValueAvg,
        "temporal" => CorrelationType::Temporal,
        "temporal_ordered" => CorrelationType::TemporalOrdered,
        "" => return Err(Reason::new("correlation without type", "the correlation has no `type`")),
        other => {
            return Err(Reason::new(
                format!("correlation type `{other}`"),
                format!("the correlation type `{other}` is not supported (event_count, value_count, value_sum, value_avg, temporal, temporal_ordered are)"),
            ))
        }
    };
    let rules = strings_of(map, "rules");
    if rules.is_empty() {
        return Err(Reason::new(
            "correlation without rules",
            "the correlation has no `rules`",
        ));
    }
    let group_by = strings_of(map, "group-by");
    let timespan_text = text_of(map, "timespan")
        .or_else(|| text_of(map, "timeframe"))
        .unwrap_or_default();
    let timespan_ms = parse_timespan(&timespan_text).ok_or_else(|| {
        Reason::new(
            "invalid timespan",
            format!("the correlation timespan `{timespan_text}` is not a number followed by s, m, h or d"),
        )
    })?;
    let mut condition = CountCondition::default();
    match key(map, "condition") {
        Some(Yaml::Hash(c)) => {
            for (k, v) in c {
                let k = scalar_text(k).unwrap_or_default();
                if k == "field" {
                    condition.field = match v {
                        Yaml::Array(items) => items.iter().filter_map(scalar_text).collect(),
                        other => scalar_text(other).into_iter().collect(),
                    };
                    continue;
                }
                let n = scalar_text(v)
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .ok_or_else(|| {
                        Reason::new(
                            "invalid correlation condition",
                            format!("condition `{k}` needs a number"),
                        )
                    })?;
                let slot = match k.as_str() {
                    "gt" => &mut condition.gt,
                    "gte" => &mut condition.gte,
                    "lt" => &mut condition.lt,
                    "lte" => &mut condition.lte,
                    "eq" => &mut condition.eq,
                    "neq" => &mut condition.neq,
                    other => {
                        return Err(Reason::new(
                            "invalid correlation condition",
                            format!("unknown correlation condition operator `{other}`"),
                        ))
                    }
                };
                *slot = Some(n);
            }
        }
        Some(_) => {
            return Err(Reason::new(
                "invalid correlation condition",
                "the correlation `condition` is not a mapping",
            ))
        }
        None => {}
    }
    let has_bound = condition
        != CountCondition {
            field: condition.field.clone(),
            ..CountCondition::default()
        };
    match kind {
        CorrelationType::Temporal | CorrelationType::TemporalOrdered if !has_bound => {
            condition.gte = Some(rules.len() as f64);
        }
        CorrelationType::Temporal | CorrelationType::TemporalOrdered => {}
        _ if !has_bound => {
            return Err(Reason::new(
                "correlation without condition",
                format!("a {} correlation needs a `condition`", kind.as_str()),
            ))
        }
        _ => {}
    }
    if matches!(
        kind,
        CorrelationType::ValueCount | CorrelationType::ValueSum | CorrelationType::ValueAvg
    ) && condition.field.is_empty()
    {
        return Err(Reason::new(
            "correlation without field",
            format!("a {} correlation needs `condition.field`", kind.as_str()),
        ));
    }
    let mut aliases = Vec::new();
    if let Some(Yaml::Hash(a)) = key(map, "aliases") {
        for (alias, per_rule) in a {
            let alias = scalar_text(alias).unwrap_or_default();
            let Some(per_rule) = per_rule.as_hash() else {
                return Err(Reason::new(
                    "invalid alias",
                    format!("alias `{alias}` is not a mapping of rule to field"),
                ));
            };
            let fields = per_rule
                .iter()
                .filter_map(|(r, f)| Some((scalar_text(r)?, scalar_text(f)?)))
                .collect();
            aliases.push((alias, fields));
        }
    }
    let generate = key(map, "generate")
        .or_else(|| key(top, "generate"))
        .and_then(Yaml::as_bool)
        .unwrap_or(false);
    Ok(CorrelationRule {
        meta: Arc::new(meta),
        kind,
        rules,
        group_by,
        timespan_ms,
        timespan_text,
        condition,
        aliases,
        generate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Reason {
        match parse_file("t.yml", text, &Placeholders::new()).remove(0) {
            Ok(_) => panic!("expected a refusal"),
            Err(e) => e.1,
        }
    }

    #[test]
    fn hostile_documents_are_refused_not_crashed_on() {
        let deep_blocks: String = (0..3000)
            .map(|i| format!("{}a{i}:\n", "  ".repeat(i + 2)))
            .collect();
        let text =
            format!("title: x\nlogsource: {{product: a}}\ndetection:\n  sel:\n{deep_blocks}");
        assert_eq!(reason(&text).feature, "YAML nested too deeply");
        let dashes = format!("title: x\ndetection:\n  sel:\n{}x\n", "- ".repeat(5000));
        assert_eq!(reason(&dashes).feature, "YAML nested too deeply");
        assert_eq!(reason("title: [unclosed\n").feature, "invalid YAML");
        assert_eq!(reason("- just\n- a list\n").feature, "not a mapping");
    }

    #[test]
    fn correlation_documents_parse_with_defaults() {
        let text = "title: c\nid: c1\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: user\n  timespan: 5m\n";
        let Ok(Document::Correlation(c)) =
            parse_file("t.yml", text, &Placeholders::new()).remove(0)
        else {
            panic!("a correlation");
        };
        assert_eq!(c.group_by, ["user"]);
        assert_eq!(c.timespan_ms, 300_000);
        assert_eq!(
            c.condition.gte,
            Some(2.0),
            "temporal defaults to every rule"
        );
        assert!(!c.generate);
        let bad =
            "title: c\ncorrelation:\n  type: value_percentile\n  rules: [a]\n  timespan: 5m\n";
        assert_eq!(reason(bad).feature, "correlation type `value_percentile`");
        let no_field = "title: c\ncorrelation:\n  type: value_count\n  rules: [a]\n  timespan: 5m\n  condition: {gte: 3}\n";
        assert_eq!(reason(no_field).feature, "correlation without field");
        let bad_span = "title: c\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: soon\n  condition: {gte: 3}\n";
        assert_eq!(reason(bad_span).feature, "invalid timespan");
    }
}
