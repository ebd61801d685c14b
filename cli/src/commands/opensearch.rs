//! `pipectl opensearch setup|prune`: install pipectl's index templates and retention
//! policy, and delete time-partitioned indices older than a cut-off (for clusters
//! without the ISM plugin, such as the local node).

use crate::exit::Exit;
use pipectl_connectors::sinks::opensearch::client::{
    check_cluster, Client, ConnectOptions, Request,
};
use pipectl_connectors::sinks::opensearch::setup::{install, Outcome, SetupOptions};
use pipectl_connectors::sinks::opensearch::time::{now_ms, parse_rfc3339};
use pipectl_core::secrets::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// Where OpenSearch is and how to log in. The password is read from
/// `OPENSEARCH_PASSWORD` only: a flag would show in the process list.
#[derive(clap::Args, Clone)]
pub struct ConnectArgs {
    /// OpenSearch URL [default: $OPENSEARCH_URL, else http://127.0.0.1:9200].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Basic-auth user [default: $OPENSEARCH_USERNAME]; the password comes from
    /// $OPENSEARCH_PASSWORD.
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// PEM file of the CA that signed the server's certificate.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Accept any TLS certificate (labs only).
    #[arg(long)]
    pub insecure: bool,
}

impl ConnectArgs {
    /// A client for the URL given, or `$<url_env>`, or `default_url`.
    pub fn client(&self, url_env: &str, default_url: &str) -> Result<Client, Exit> {
        let url = self
            .url
            .clone()
            .or_else(|| std::env::var(url_env).ok().filter(|u| !u.trim().is_empty()))
            .unwrap_or_else(|| default_url.to_string());
        let mut options = ConnectOptions::new(url);
        options.username = self
            .username
            .clone()
            .or_else(|| std::env::var("OPENSEARCH_USERNAME").ok());
        options.password = std::env::var("OPENSEARCH_PASSWORD").ok().map(Secret::new);
        options.ca_file = self.ca_file.clone();
        options.insecure_skip_verify = self.insecure;
        if self.insecure {
            eprintln!("warning: --insecure: the server's certificate is not checked");
        }
        Client::new(&options).map_err(Exit::usage)
    }

    /// A client for OpenSearch.
    pub fn opensearch(&self) -> Result<Client, Exit> {
        self.client("OPENSEARCH_URL", "http://127.0.0.1:9200")
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Install the index templates (and the ISM retention policy when the plugin is
    /// present), idempotently; prints what it did.
    Setup(SetupArgs),
    /// Delete pipectl-*-YYYY.MM.DD / -YYYY.MM indices whose whole period is older than
    /// a cut-off (retention without ISM).
    Prune(PruneArgs),
}

#[derive(clap::Args)]
struct SetupArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Replicas of every pipectl index (0 suits a single node).
    #[arg(long, value_name = "N")]
    replicas: Option<u32>,
    /// Age after which ISM deletes an index, e.g. 30d (with ISM only).
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    retention: Option<u64>,
}

#[derive(clap::Args)]
struct PruneArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Delete indices whose period ended more than this long ago, e.g. 30d.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    older_than: Duration,
    /// Only list what would be deleted.
    #[arg(long)]
    dry_run: bool,
    /// Which indices to consider.
    #[arg(long, value_name = "PATTERN", default_value = "pipectl-*")]
    pattern: String,
}

/// A duration in the pipeline language's units (`30d`, `12h`), longer than zero.
fn parse_age(text: &str) -> Result<Duration, String> {
    match pipectl_dsl::literal::parse_number(text.trim()) {
        Ok(pipectl_dsl::literal::Number::Duration(ms)) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "`{text}` is not a duration such as 30d, 12h or 90m"
        )),
    }
}

/// Whole days (`30d`).
fn parse_days(text: &str) -> Result<u64, String> {
    let age = parse_age(text)?;
    let days = age.as_secs() / 86_400;
    if days == 0 || age.as_secs() % 86_400 != 0 {
        return Err(format!(
            "`{text}` is not a whole number of days such as 30d"
        ));
    }
    Ok(days)
}

pub fn run(args: Args) -> Result<(), Exit> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::runtime(format!("cannot start the async runtime: {e}")))?;
    match args.command {
        Sub::Setup(a) => runtime.block_on(setup(a)),
        Sub::Prune(a) => runtime.block_on(prune(a)),
    }
}

async fn setup(args: SetupArgs) -> Result<(), Exit> {
    let client = args.connect.opensearch()?;
    let info = check_cluster(&client).await.map_err(Exit::runtime)?;
    println!(
        "OpenSearch {} at {} (cluster {})",
        info.version,
        client.url(),
        info.cluster_name
    );
    let options = SetupOptions {
        replicas: args.replicas,
        retention_days: args.retention,
    };
    let steps = install(&client, &options).await.map_err(Exit::runtime)?;
    let mut failed = 0;
    for step in &steps {
        println!("{} {}: {}", step.what, step.name, step.outcome);
        if matches!(step.outcome, Outcome::Failed(_)) {
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(Exit::runtime(format!("{failed} step(s) failed")));
    }
    Ok(())
}

/// A duration as people write it: `36h`, `7d`, `90m`.
pub fn human(d: Duration) -> String {
    match d.as_secs() {
        s if s % 86_400 == 0 && s >= 2 * 86_400 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// When the period an index name covers ends (`-YYYY.MM.DD`: the next day;
/// `-YYYY.MM`: the first of the next month), in Unix milliseconds. `None` for names
/// without such a date, which prune never touches.
pub fn period_end_ms(index: &str) -> Option<i64> {
    let (_, date) = index.rsplit_once('-')?;
    let parts: Vec<&str> = date.split('.').collect();
    let number = |s: &str, len: usize| -> Option<u32> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match parts.as_slice() {
        [y, m, d] => {
            let (y, m, d) = (number(y, 4)?, number(m, 2)?, number(d, 2)?);
            let start = parse_rfc3339(&format!("{y:04}-{m:02}-{d:02}"))?;
            Some(start + 86_400_000)
        }
        [y, m] => {
            let (y, m) = (number(y, 4)?, number(m, 2)?);
            if !(1..=12).contains(&m) {
                return None;
            }
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            parse_rfc3339(&format!("{ny:04}-{nm:02}-01"))
        }
        _ => None,
    }
}

async fn prune(args: PruneArgs) -> Result<(), Exit> {
    let client = args.connect.opensearch()?;
    let path = format!("/_cat/indices/{}", args.pattern);
    let reply = client
        .send(
            Request::get(&path)
                .query("format", "json")
                .query("h", "index,docs.count,store.size"),
        )
        .await
        .map_err(Exit::runtime)?;
    if reply.status == 404 {
        println!("no indices match {}", args.pattern);
        return Ok(());
    }
    if !reply.is_success() {
        return Err(Exit::runtime(format!(
            "listing {} failed with HTTP {}: {}",
            args.pattern,
            reply.status,
            reply.error_reason()
        )));
    }
    let listed = reply.json().map_err(Exit::runtime)?;
    let mut indices: Vec<(String, String, String)> = listed
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    let name = r.get("index")?.as_str()?.to_string();
                    let text =
                        |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_string();
                    Some((name, text("docs.count"), text("store.size")))
                })
                .collect()
        })
        .unwrap_or_default();
    indices.sort();
    let cutoff = now_ms() - i64::try_from(args.older_than.as_millis()).unwrap_or(i64::MAX);
    let mut undated = 0;
    let mut chosen = Vec::new();
    for (name, docs, size) in indices {
        match period_end_ms(&name) {
            None => undated += 1,
            Some(end) if end <= cutoff => chosen.push((name, docs, size)),
            Some(_) => {}
        }
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut failures = 0;
    for (name, docs, size) in &chosen {
        if !args.dry_run {
            let path = format!("/{name}");
            let reply = client
                .send(Request::delete(&path))
                .await
                .map_err(Exit::runtime)?;
            if !reply.is_success() && reply.status != 404 {
                eprintln!(
                    "error: deleting {name}: HTTP {}: {}",
                    reply.status,
                    reply.error_reason()
                );
                failures += 1;
                continue;
            }
        }
        println!("{verb} {name} ({docs} documents, {size})");
    }
    println!(
        "{} {} of the indices matching {} (periods ended over {} ago); {undated} without a date in their name left alone",
        verb,
        chosen.len() - failures,
        args.pattern,
        human(args.older_than)
    );
    if failures > 0 {
        return Err(Exit::runtime(format!(
            "{failures} index deletion(s) failed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_end_after_their_day_or_month() {
        let day = parse_rfc3339("2026-01-16").unwrap();
        assert_eq!(period_end_ms("pipectl-events-2026.01.15"), Some(day));
        assert_eq!(period_end_ms("pipectl-events-lab-2026.01.15"), Some(day));
        assert_eq!(
            period_end_ms("pipectl-incidents-2026.12"),
            parse_rfc3339("2027-01-01")
        );
        assert_eq!(
            period_end_ms("pipectl-incidents-2026.02"),
            parse_rfc3339("2026-03-01")
        );
        for undated in [
            "pipectl-events",
            "pipectl-events-2026.13",
            "pipectl-x-2026.02.30",
            "pipectl-x-26.01.01",
            "other",
        ] {
            assert_eq!(period_end_ms(undated), None, "{undated}");
        }
    }

    #[test]
    fn ages_and_days_parse_in_the_languages_units() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(90 * 60)));
        assert!(parse_age("0d").is_err());
        assert!(parse_age("soon").is_err());
        assert_eq!(parse_days("7d"), Ok(7));
        assert!(parse_days("36h").is_err());
        assert_eq!(human(Duration::from_secs(86_400)), "24h");
        assert_eq!(human(Duration::from_secs(30 * 86_400)), "30d");
    }
}
