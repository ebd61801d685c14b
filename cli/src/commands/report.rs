//! `pipectl report`: the incidents pipectl indexed, most severe first, each with its
//! entity, score, the sentence that explains it and the response taken or proposed —
//! what a person reads first in the morning, and what the quickstart ends with.
//!
//! With `--labels` (a scenario's `labels.json`) the incidents are also scored against
//! the labelled attacks the way `pipectl models evaluate` scores them: which attacks
//! drew an incident, and how many incidents concern no attack (false incidents, also
//! per 1,000 entity-days of the indexed events).

use super::models::score::{evaluate_incidents, IncidentReport, IncidentVersion};
use super::opensearch::ConnectArgs;
use crate::exit::Exit;
use pipectl_connectors::sinks::opensearch::client::{Client, Request};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Score the incidents against a scenario's labelled attacks (labels.json).
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// How many incidents to show in full (the counts cover them all).
    #[arg(long, value_name = "N", default_value_t = 15)]
    top: usize,
    /// The report as JSON on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// At most this many incidents and actions are read (the report is a summary; search
/// goes further).
const MAX_DOCS: u32 = 10_000;

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "informational"];

pub fn run(args: Args) -> Result<(), Exit> {
    let client = args
        .connect
        .client("OPENSEARCH_URL", "http://127.0.0.1:9200")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(report(args, client))
}

/// One incident as the report shows it.
struct Incident {
    doc: Value,
    actions: Vec<Value>,
}

impl Incident {
    fn text(&self, path: &str) -> &str {
        self.doc.pointer(path).and_then(Value::as_str).unwrap_or("")
    }
    fn score(&self) -> f64 {
        self.doc
            .pointer("/incident/score")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    }
    fn severity_rank(&self) -> usize {
        let severity = self.text("/incident/severity");
        SEVERITIES
            .iter()
            .position(|s| *s == severity)
            .unwrap_or(SEVERITIES.len())
    }
}

async fn report(args: Args, client: Client) -> Result<(), Exit> {
    let incidents = search(&client, "pipectl-incidents-*", json!({"match_all": {}})).await?;
    let actions = search(&client, "pipectl-actions-*", json!({"match_all": {}})).await?;
    let mut by_incident: HashMap<String, Vec<Value>> = HashMap::new();
    for action in actions {
        if let Some(id) = action
            .pointer("/pipectl/action/incident_id")
            .and_then(Value::as_str)
        {
            by_incident.entry(id.to_string()).or_default().push(action);
        }
    }
    let mut list: Vec<Incident> = incidents
        .into_iter()
        .map(|doc| {
            let id = doc
                .pointer("/incident/id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            Incident {
                actions: by_incident.remove(&id).unwrap_or_default(),
                doc,
            }
        })
        .collect();
    list.sort_by(|a, b| {
        a.severity_rank()
            .cmp(&b.severity_rank())
            .then(b.score().total_cmp(&a.score()))
            .then_with(|| a.text("/incident/id").cmp(b.text("/incident/id")))
    });
    let scored = match &args.labels {
        Some(path) => Some(score(&client, path, &list).await?),
        None => None,
    };
    if args.json {
        let out = json!({
            "incidents": list.iter().map(|i| json!({
                "incident": i.doc.get("incident"),
                "entity": i.doc.get("entity"),
                "actions": i.actions.iter().map(|a| a.pointer("/pipectl/action")).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "labels": scored,
        });
        println!("{out}");
        return Ok(());
    }
    print!("{}", render(&list, args.top));
    if let Some(scored) = scored {
        println!();
        println!(
            "Against the labelled attacks ({}):",
            args.labels
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        print!("{scored}");
    }
    Ok(())
}

/// The text report.
fn render(list: &[Incident], top: usize) -> String {
    let mut out = String::new();
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for i in list {
        *counts.entry(i.severity_rank()).or_default() += 1;
    }
    let by_severity: Vec<String> = counts
        .iter()
        .map(|(rank, n)| format!("{n} {}", SEVERITIES.get(*rank).unwrap_or(&"unrated")))
        .collect();
    out.push_str(&format!(
        "{} incidents{}\n",
        list.len(),
        if by_severity.is_empty() {
            String::new()
        } else {
            format!(": {}", by_severity.join(", "))
        }
    ));
    for i in list.iter().take(top) {
        out.push('\n');
        out.push_str(&format!(
            "[{}] {:.2}  {}  {} .. {}\n",
            i.text("/incident/severity"),
            i.score(),
            i.text("/entity/key"),
            i.text("/incident/first_seen"),
            i.text("/incident/last_seen"),
        ));
        out.push_str(&format!("  {}\n", i.text("/incident/title")));
        let related: Vec<&str> = i
            .doc
            .pointer("/related/entities")
            .and_then(Value::as_array)
            .map(|items| items.iter().skip(1).filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !related.is_empty() {
            out.push_str(&format!("  also about: {}\n", related.join(", ")));
        }
        out.push_str(&format!(
            "  why: {}\n",
            first_sentences(i.text("/incident/explanation"), 320)
        ));
        if i.actions.is_empty() {
            out.push_str("  response: none proposed (no responder matched)\n");
        }
        for a in &i.actions {
            let field = |p: &str| {
                a.pointer(&format!("/pipectl/action/{p}"))
                    .and_then(Value::as_str)
                    .unwrap_or("-")
            };
            out.push_str(&format!(
                "  response: {} {} on {} ({} mode): {}\n",
                field("provider"),
                field("name"),
                a.pointer("/pipectl/action/target/id")
                    .and_then(Value::as_str)
                    .unwrap_or("-"),
                field("mode"),
                field("status"),
            ));
        }
    }
    if list.len() > top {
        out.push_str(&format!(
            "\n... and {} more (pipectl search --index incidents --since all)\n",
            list.len() - top
        ));
    }
    out
}

/// The start of a text, cut at a sentence end within `max` characters when it can be.
fn first_sentences(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    match cut.rfind(". ") {
        Some(end) if end > max / 3 => cut[..=end].to_string(),
        _ => format!("{cut}…"),
    }
}

/// Scores the incidents against the labels; entity-days come from the indexed events.
async fn score(
    client: &Client,
    path: &std::path::Path,
    list: &[Incident],
) -> Result<IncidentReport, Exit> {
    let attacks = super::models::read_labels(path)?;
    let versions: Vec<IncidentVersion> = list
        .iter()
        .filter_map(|i| super::models::incident_of(&pipectl_core::json::from_serde(i.doc.clone())))
        .collect();
    let entity_days = entity_days(client).await?;
    let hits = hits_by_rule(client).await?;
    Ok(evaluate_incidents(&attacks, &versions, entity_days, hits))
}

/// Rule hits indexed, by rule name.
async fn hits_by_rule(client: &Client) -> Result<BTreeMap<String, u64>, Exit> {
    let body = json!({
        "size": 0,
        "aggs": {"rules": {"terms": {"field": "rule.name", "size": 1000}}}
    });
    let reply = send(client, "/pipectl-hits-*/_search", body).await?;
    Ok(reply
        .pointer("/aggregations/rules/buckets")
        .and_then(Value::as_array)
        .map(|buckets| {
            buckets
                .iter()
                .filter_map(|b| {
                    Some((
                        b.get("key")?.as_str()?.to_string(),
                        b.get("doc_count")?.as_u64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Distinct entities per day of the indexed events, summed.
async fn entity_days(client: &Client) -> Result<u64, Exit> {
    let body = json!({
        "size": 0,
        "aggs": {"days": {
            "date_histogram": {"field": "@timestamp", "calendar_interval": "1d"},
            "aggs": {"entities": {"cardinality": {"field": "entity.key", "precision_threshold": 40000}}}
        }}
    });
    let reply = send(client, "/pipectl-events-*/_search", body).await?;
    Ok(reply
        .pointer("/aggregations/days/buckets")
        .and_then(Value::as_array)
        .map(|days| {
            days.iter()
                .filter_map(|d| d.pointer("/entities/value").and_then(Value::as_u64))
                .sum()
        })
        .unwrap_or(0))
}

async fn search(client: &Client, index: &str, query: Value) -> Result<Vec<Value>, Exit> {
    let body = json!({"size": MAX_DOCS, "query": query});
    let reply = send(client, &format!("/{index}/_search"), body).await?;
    Ok(reply
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .map(|hits| {
            hits.iter()
                .filter_map(|h| h.get("_source").cloned())
                .collect()
        })
        .unwrap_or_default())
}

async fn send(client: &Client, path: &str, body: Value) -> Result<Value, Exit> {
    let request = Request::post(path)
        .query("ignore_unavailable", "true")
        .query("allow_no_indices", "true")
        .json(body.to_string());
    let reply = client
        .send(request)
        .await
        .map_err(|e| Exit::runtime(format!("OpenSearch at {}: {e}", client.url())))?;
    if !reply.is_success() {
        return Err(Exit::runtime(format!(
            "OpenSearch at {} refused the search: {}",
            client.url(),
            reply.error_reason()
        )));
    }
    reply.json().map_err(Exit::runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(severity: &str, score: f64, key: &str) -> Incident {
        Incident {
            doc: json!({
                "entity": {"key": key},
                "incident": {"id": key, "severity": severity, "score": score,
                    "title": format!("{key}: something new"),
                    "explanation": "First sentence here. Second sentence that goes on.",
                    "first_seen": "2026-09-14T10:00:00Z", "last_seen": "2026-09-14T11:00:00Z"}
            }),
            actions: Vec::new(),
        }
    }

    #[test]
    fn counts_by_severity_and_shows_the_response() {
        let mut high = incident("high", 0.9, "user:a");
        high.actions.push(json!({"pipectl": {"action": {
            "provider": "aws", "name": "disable_access_keys", "mode": "autonomous",
            "status": "succeeded", "target": {"id": "AKIA1"}}}}));
        let list = vec![
            high,
            incident("medium", 0.6, "user:b"),
            incident("medium", 0.5, "user:c"),
        ];
        let text = render(&list, 2);
        assert!(
            text.starts_with("3 incidents: 1 high, 2 medium\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "response: aws disable_access_keys on AKIA1 (autonomous mode): succeeded"
            ),
            "{text}"
        );
        assert!(text.contains("response: none proposed"), "{text}");
        assert!(text.contains("... and 1 more"), "{text}");
        assert!(!text.contains("also about"), "{text}");
    }

    #[test]
    fn names_the_sender_an_incident_is_also_about() {
        let mut clicked = incident("high", 0.93, "user:ana");
        clicked.doc["related"] =
            json!({"entities": ["user:ana", "email_domain:northwind.example"]});
        let text = render(&[clicked], 5);
        assert!(
            text.contains("  also about: email_domain:northwind.example\n"),
            "{text}"
        );
    }

    #[test]
    fn long_explanations_end_at_a_sentence() {
        let text = "One thing happened here. ".repeat(30);
        let short = first_sentences(&text, 100);
        assert!(short.ends_with('.'), "{short}");
        assert!(short.len() <= 100);
    }
}
