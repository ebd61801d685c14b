//! `pipectl actions`: the operator's side of response (docs/response.md).
//!
//! There is no daemon yet, so the channel is the responders' own files under the data
//! directory (`<data_dir>/<pipeline>/<component>/`): `list` reads each responder's
//! journal (`actions/*.json`), and `approve`, `deny`, `revert` and `keep` leave a
//! decision file (`decisions/*.json`) that the running responder (`pipectl run`) applies
//! within its `poll_interval` — or the next run does, if none is running. The journal
//! is rewritten atomically, so reading it while a pipeline runs is safe.

use crate::exit::Exit;
use crate::settings::Settings;
use pipectl_connectors::respond::audit::document_json;
use pipectl_connectors::respond::journal::{discover, ActionRecord, Decision, Journal};
use pipectl_core::detect::sigma::time::format_rfc3339;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The data directory of `pipectl run` (overrides the `data_dir` setting).
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,

    /// Only responders of this pipeline.
    #[arg(long, value_name = "NAME", global = true)]
    pipeline: Option<String>,

    /// Only this responder component.
    #[arg(long, value_name = "NAME", global = true)]
    component: Option<String>,

    #[command(subcommand)]
    command: Command,
}

/// A decision about one action.
#[derive(clap::Args)]
struct DecideArgs {
    /// The action id (`pipectl.action.id`), or a unique prefix of at least 6 characters.
    id: String,

    /// Who decides (default: the OS user).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,

    /// A note kept in the action's history.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List the actions of every responder, newest first.
    List {
        /// Only actions in this status (`pending_approval`, `succeeded`, ...).
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Print each action's audit document as one JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Approve a queued action (`confirm` mode): the responder acts.
    Approve(DecideArgs),
    /// Deny a queued action: nothing is done.
    Deny(DecideArgs),
    /// Undo an executed action now, with the state captured before it.
    Revert(DecideArgs),
    /// Make an executed action permanent: it is not reverted when it expires.
    Keep(DecideArgs),
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.clone());
    let journals: Vec<(String, String, Journal)> = discover(&data_dir)
        .into_iter()
        .filter(|(p, c, _)| {
            args.pipeline.as_ref().is_none_or(|want| want == p)
                && args.component.as_ref().is_none_or(|want| want == c)
        })
        .collect();
    match args.command {
        Command::List { status, json } => list(&journals, status.as_deref(), json),
        Command::Approve(d) => decide(&journals, d, "approve"),
        Command::Deny(d) => decide(&journals, d, "deny"),
        Command::Revert(d) => decide(&journals, d, "revert"),
        Command::Keep(d) => decide(&journals, d, "keep"),
    }
}

fn load(journal: &Journal) -> Result<Vec<ActionRecord>, Exit> {
    journal
        .load_all()
        .map_err(|e| Exit::runtime(format!("cannot read the action journal: {e}")))
}

fn list(
    journals: &[(String, String, Journal)],
    status: Option<&str>,
    json: bool,
) -> Result<(), Exit> {
    let mut records = Vec::new();
    for (_, _, journal) in journals {
        let waiting: Vec<String> = journal
            .pending_decisions()
            .map(|d| d.into_iter().map(|(_, d)| d.action_id).collect())
            .unwrap_or_default();
        for record in load(journal)? {
            if status.is_none_or(|s| s == record.status) {
                let decided = waiting.contains(&record.id);
                records.push((record, decided));
            }
        }
    }
    records.sort_by(|a, b| {
        b.0.requested_at
            .cmp(&a.0.requested_at)
            .then(a.0.id.cmp(&b.0.id))
    });
    if json {
        for (record, _) in &records {
            println!("{}", document_json(record));
        }
        return Ok(());
    }
    if records.is_empty() {
        eprintln!("no actions");
        return Ok(());
    }
    println!(
        "{:<32}  {:<16}  {:<22}  {:<24}  {:<20}  {:<20}  REASON",
        "ID", "STATUS", "ACTION", "TARGET", "RESPONDER", "EXPIRES"
    );
    for (record, decided) in &records {
        let status = if *decided {
            format!("{}*", record.status)
        } else {
            record.status.clone()
        };
        let expires = match (record.expires_at, record.permanent) {
            (_, true) => "permanent".to_string(),
            (Some(at), false) => format_rfc3339(at),
            (None, false) => "-".to_string(),
        };
        println!(
            "{:<32}  {:<16}  {:<22}  {:<24}  {:<20}  {:<20}  {}",
            record.id,
            status,
            record.name,
            shorten(&record.target.id, 24),
            shorten(&format!("{}/{}", record.pipeline, record.responder), 20),
            expires,
            shorten(&record.reason, 80)
        );
    }
    if records.iter().any(|(_, d)| *d) {
        println!("* a decision is waiting for the responder to apply it");
    }
    Ok(())
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Finds the action by id or unique prefix, checks the decision fits its status, and
/// leaves the decision for its responder.
fn decide(
    journals: &[(String, String, Journal)],
    args: DecideArgs,
    verb: &str,
) -> Result<(), Exit> {
    if args.id.len() < 6 {
        return Err(Exit::usage(
            "give the action id, or at least its first 6 characters",
        ));
    }
    let mut found: Vec<(&Journal, ActionRecord)> = Vec::new();
    for (_, _, journal) in journals {
        for record in load(journal)? {
            if record.id.starts_with(&args.id) {
                found.push((journal, record));
            }
        }
    }
    let (journal, record) = match found.len() {
        0 => {
            return Err(Exit::usage(format!(
                "no action `{}` (see `pipectl actions list`; --data-dir?)",
                args.id
            )))
        }
        1 => found.remove(0),
        n => {
            return Err(Exit::usage(format!(
                "`{}` matches {n} actions; give more of the id",
                args.id
            )))
        }
    };
    let fits = match verb {
        "approve" | "deny" => record.status == "pending_approval",
        // A failed action may have changed part of the state: with the state
        // captured before it, it can be put back too.
        "revert" => {
            record.revert.reversible
                && record.revert.state.is_some()
                && matches!(
                    record.status.as_str(),
                    "succeeded" | "failed" | "revert_failed"
                )
        }
        _ => record.revert.reversible && record.status == "succeeded" && !record.permanent,
    };
    if !fits {
        let why = if matches!(verb, "revert" | "keep") && !record.revert.reversible {
            format!(
                "{} cannot be undone (the provider offers no way back)",
                record.name
            )
        } else {
            format!("its status is `{}`", record.status)
        };
        return Err(Exit::usage(format!(
            "cannot {verb} action {}: {why}",
            record.id
        )));
    }
    let by = args.by.unwrap_or_else(os_user);
    let decision = Decision {
        action_id: record.id.clone(),
        verb: verb.to_string(),
        by: by.clone(),
        at: pipectl_core::event::now_ns() / 1_000_000,
        comment: args.comment,
    };
    journal
        .submit(&decision)
        .map_err(|e| Exit::runtime(format!("cannot leave the decision: {e}")))?;
    println!(
        "{verb} of {} {} on {} recorded for responder {}/{} (by {by}); the running pipeline applies it within its poll interval, or the next `pipectl run` does",
        record.name, record.id, record.target.id, record.pipeline, record.responder
    );
    Ok(())
}

/// Who runs this command, for the audit record.
fn os_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}
