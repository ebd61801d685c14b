//! `pipectl plan [DIR]`: compiles the directory locally and shows how it differs from
//! what the daemon runs: `+` added, `~` changed (with each attribute's old and new
//! value), `-` removed. Secrets are shown as `secret("name")`: a plan never holds
//! their values.
//!
//! Exit codes follow `terraform plan -detailed-exitcode`: 0 no changes, 2 changes,
//! 1 the daemon could not answer, 78 invalid pipeline files.

use super::{check, PathArgs};
use crate::control::api::{PlanRequest, PlanResponse};
use crate::control::client::{runtime, Client, ConnectArgs};
use crate::exit::Exit;
use crate::settings::Settings;
use hyper::Method;
use pipectl_core::topology::{ComponentChange, PlanDiff};
use pipectl_dsl::plan::Plan;

/// Exit code of `plan` when there are changes.
pub const CHANGES: u8 = 2;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    paths: PathArgs,

    #[command(flatten)]
    connect: ConnectArgs,

    /// Print the difference as JSON (for bots commenting on pull requests).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let checked = check(&args.paths)?;
    let client = Client::new(&args.connect, settings)?;
    let answer = runtime()?.block_on(ask(&client, &checked.plan))?;
    if args.json {
        let text = serde_json::to_string_pretty(&answer).map_err(Exit::runtime)?;
        println!("{text}");
    } else {
        print_diff(&answer.diff);
    }
    if answer.diff.is_empty() {
        Ok(())
    } else {
        Err(Exit::silent(CHANGES))
    }
}

/// Asks the daemon for the difference between what runs and `plan`.
pub async fn ask(client: &Client, plan: &Plan) -> Result<PlanResponse, Exit> {
    client
        .call(
            Method::POST,
            "/v1/plan",
            Some(&PlanRequest { plan: plan.clone() }),
        )
        .await
        .map_err(|e| e.into_exit())
}

/// Prints a diff for people, then a one-line total.
pub fn print_diff(diff: &PlanDiff) {
    if diff.is_empty() {
        println!("No changes: the daemon runs exactly these pipelines.");
        return;
    }
    for change in &diff.added {
        print_change('+', change);
    }
    for change in &diff.changed {
        print_change('~', change);
    }
    for change in &diff.removed {
        println!("  - {} ({} {})", change.id, change.kind, change.type_name);
    }
    println!(
        "Plan: {} to add, {} to change, {} to remove, {} unchanged.",
        diff.added.len(),
        diff.changed.len(),
        diff.removed.len(),
        diff.unchanged
    );
}

fn print_change(sign: char, change: &ComponentChange) {
    println!(
        "  {sign} {} ({} {})",
        change.id, change.kind, change.type_name
    );
    // An added component's kind and type are in its heading already.
    for attr in change
        .attrs
        .iter()
        .filter(|a| sign != '+' || a.name != "type")
    {
        match (&attr.before, &attr.after) {
            (Some(before), Some(after)) => println!("      {}: {before} -> {after}", attr.name),
            (None, Some(after)) if sign == '+' => println!("      {} = {after}", attr.name),
            (None, Some(after)) => println!("      + {} = {after}", attr.name),
            (Some(before), None) => println!("      - {} = {before}", attr.name),
            (None, None) => {}
        }
    }
}
