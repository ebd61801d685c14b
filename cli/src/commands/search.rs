//! `pipectl search 'QUERY'`: a quick look at what pipectl indexed, without Dashboards.
//!
//! The query is OpenSearch's `query_string` syntax (`user.name:alice AND
//! event.action:CreateAccessKey`, `entity.key:"user:it.manager"`, or just words),
//! filtered to the last `--since` and sorted newest first. The default output is a
//! compact table (time, type, the fields that say most about each document type);
//! `--json` prints one hit per line for tools.

use super::opensearch::ConnectArgs;
use crate::exit::Exit;
use pipectl_connectors::sinks::opensearch::client::Request;
use serde_json::{json, Value};
use std::time::Duration;

/// Document types and their index patterns (docs/schema.md).
const TYPES: [&str; 8] = [
    "events",
    "breaches",
    "anomalies",
    "hits",
    "incidents",
    "entities",
    "actions",
    "deadletter",
];

/// The fields a table row shows, per type, in order.
fn summary_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "incidents" => &[
            "incident.severity",
            "incident.score",
            "incident.status",
            "entity.key",
            "incident.title",
        ],
        "breaches" | "anomalies" => &[
            "pipectl.breach.score",
            "entity.key",
            "pipectl.breach.feature",
            "pipectl.breach.explanation",
        ],
        "hits" => &["rule.level", "rule.name", "entity.key", "event.action"],
        "actions" => &[
            "pipectl.action.status",
            "pipectl.action.name",
            "pipectl.action.target.id",
            "entity.key",
        ],
        "entities" => &[
            "entity.key",
            "pipectl.profile.threat_score",
            "pipectl.profile.confidence",
        ],
        "deadletter" => &[
            "pipectl.deadletter.error_type",
            "pipectl.deadletter.index",
            "pipectl.deadletter.reason",
        ],
        _ => &[
            "event.action",
            "event.outcome",
            "user.name",
            "source.ip",
            "entity.key",
            "message",
        ],
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The query, in query_string syntax (`*` for everything).
    #[arg(value_name = "QUERY", default_value = "*")]
    query: String,
    /// What to search: events, incidents, breaches, hits, actions, entities,
    /// deadletter, all, or an index pattern.
    #[arg(long, value_name = "INDEX", default_value = "all")]
    index: String,
    /// How far back, e.g. 24h, 7d; `all` for no time limit.
    #[arg(long, value_name = "AGE", default_value = "24h")]
    since: String,
    /// How many hits to show.
    #[arg(long, value_name = "N", default_value_t = 20)]
    size: u32,
    /// One JSON object per hit (`_index`, `_id`, `_source`) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// The index pattern `--index` stands for.
pub fn index_pattern(index: &str) -> String {
    match index {
        "all" => "pipectl-*".to_string(),
        t if TYPES.contains(&t) => format!("pipectl-{t}-*"),
        other => other.to_string(),
    }
}

/// The document type an index holds (`pipectl-incidents-2026.10` → `incidents`).
fn kind_of(index: &str) -> &str {
    index
        .strip_prefix("pipectl-")
        .and_then(|rest| TYPES.iter().find(|t| rest.starts_with(&format!("{t}-"))))
        .copied()
        .unwrap_or("events")
}

/// The search request body.
pub fn request_body(query: &str, since: Option<Duration>, size: u32) -> Value {
    let mut filter = Vec::new();
    if let Some(age) = since {
        filter.push(json!({"range": {"@timestamp": {"gte": format!("now-{}s", age.as_secs())}}}));
    }
    json!({
        "size": size,
        "track_total_hits": true,
        "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
        "query": {"bool": {
            "must": [{"query_string": {"query": query, "lenient": true}}],
            "filter": filter,
        }},
    })
}

pub fn run(args: Args) -> Result<(), Exit> {
    let since = match args.since.as_str() {
        "all" => None,
        text => match pipectl_dsl::literal::parse_number(text) {
            Ok(pipectl_dsl::literal::Number::Duration(ms)) if ms > 0 => {
                Some(Duration::from_millis(ms))
            }
            _ => {
                return Err(Exit::usage(format!(
                    "--since `{text}` is not a duration such as 24h or 7d, nor `all`"
                )))
            }
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(search(args, since))
}

async fn search(args: Args, since: Option<Duration>) -> Result<(), Exit> {
    let client = args.connect.opensearch()?;
    let pattern = index_pattern(&args.index);
    let path = format!("/{pattern}/_search");
    let body = request_body(&args.query, since, args.size);
    let request = Request::post(&path)
        .query("ignore_unavailable", "true")
        .query("allow_no_indices", "true")
        .json(body.to_string());
    let reply = client.send(request).await.map_err(Exit::runtime)?;
    if !reply.is_success() {
        let message = format!(
            "search failed with HTTP {}: {}",
            reply.status,
            reply.error_reason()
        );
        return Err(if reply.status == 400 {
            Exit::usage(message)
        } else {
            Exit::runtime(message)
        });
    }
    let answer = reply.json().map_err(Exit::runtime)?;
    let hits = answer
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if args.json {
        for hit in &hits {
            let line =
                json!({"_index": hit["_index"], "_id": hit["_id"], "_source": hit["_source"]});
            println!("{line}");
        }
        return Ok(());
    }
    let total = answer
        .pointer("/hits/total/value")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let window = since.map_or("all time".to_string(), |d| {
        format!("the last {}", super::opensearch::human(d))
    });
    println!(
        "{total} hit{} in {pattern} over {window}{}",
        if total == 1 { "" } else { "s" },
        if (hits.len() as u64) < total {
            format!(", newest {} shown", hits.len())
        } else {
            String::new()
        }
    );
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(160)
        .max(60);
    for hit in &hits {
        println!("{}", row(hit, width));
    }
    Ok(())
}

/// One table line: time, type, and the type's telling fields as `field=value`.
pub fn row(hit: &Value, width: usize) -> String {
    let source = &hit["_source"];
    let index = hit["_index"].as_str().unwrap_or_default();
    let kind = kind_of(index);
    let time = source["@timestamp"].as_str().unwrap_or("-");
    let mut line = format!("{time:<24}  {kind:<10}");
    for field in summary_fields(kind) {
        let value = field.split('.').try_fold(source, |v, key| v.get(key));
        let Some(value) = value.filter(|v| !v.is_null()) else {
            continue;
        };
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let short = field.rsplit('.').next().unwrap_or(field);
        line.push_str(&format!(
            "  {short}={}",
            text.replace(['\n', '\r', '\t'], " ")
        ));
    }
    if line.chars().count() > width {
        line = line.chars().take(width.saturating_sub(1)).collect();
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_stand_for_patterns() {
        assert_eq!(index_pattern("incidents"), "pipectl-incidents-*");
        assert_eq!(index_pattern("all"), "pipectl-*");
        assert_eq!(index_pattern("logs-*"), "logs-*");
        assert_eq!(kind_of("pipectl-deadletter-2026.01.01"), "deadletter");
        assert_eq!(kind_of("other"), "events");
    }

    #[test]
    fn the_body_filters_by_time_and_sorts_newest_first() {
        let body = request_body("user.name:alice", Some(Duration::from_secs(86_400)), 5);
        assert_eq!(body["size"], 5);
        assert_eq!(
            body["query"]["bool"]["must"][0]["query_string"]["query"],
            "user.name:alice"
        );
        assert_eq!(
            body["query"]["bool"]["filter"][0]["range"]["@timestamp"]["gte"],
            "now-86400s"
        );
        assert_eq!(body["sort"][0]["@timestamp"]["order"], "desc");
        assert!(request_body("*", None, 5)["query"]["bool"]["filter"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rows_show_the_types_telling_fields() {
        let hit = json!({"_index": "pipectl-incidents-2026.10", "_source": {
            "@timestamp": "2026-10-03T23:02:19Z",
            "incident": {"severity": "critical", "score": 0.96, "title": "Data sent home\nby it.manager"},
            "entity": {"key": "user:it.manager"}}});
        let line = row(&hit, 200);
        assert_eq!(
            line,
            "2026-10-03T23:02:19Z      incidents   severity=critical  score=0.96  key=user:it.manager  title=Data sent home by it.manager"
        );
        assert!(row(&hit, 60).ends_with('…'));
        assert_eq!(row(&hit, 60).chars().count(), 60);
    }
}
