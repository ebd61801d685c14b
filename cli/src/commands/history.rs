//! `pipectl history`: every applied revision, oldest first.

use crate::control::api::{Origin, RevisionSummary};
use crate::control::client::{runtime, Client, ConnectArgs};
use crate::exit::Exit;
use crate::settings::Settings;
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let client = Client::new(&args.connect, settings)?;
    let revisions: Vec<RevisionSummary> = runtime()?
        .block_on(client.call(Method::GET, "/v1/history", None::<&()>))
        .map_err(|e| e.into_exit())?;
    if revisions.is_empty() {
        println!("no revision applied");
    }
    for r in &revisions {
        let action = match r.rollback_to {
            Some(to) => format!("rollback to {to}"),
            None => r.action.clone(),
        };
        println!(
            "{:>4}  {}  {:<16}  {:<12}  +{} ~{} -{}{}",
            r.revision,
            r.applied_at,
            action,
            r.origin.by,
            r.added,
            r.changed,
            r.removed,
            commit_note(&r.origin)
        );
    }
    Ok(())
}

/// `  commit abc123 (dirty)` when the applied directory was in git.
pub fn commit_note(origin: &Origin) -> String {
    match (&origin.commit, origin.dirty) {
        (Some(commit), Some(true)) => format!("  commit {commit} (dirty)"),
        (Some(commit), _) => format!("  commit {commit}"),
        (None, _) => "  (not in git)".to_string(),
    }
}
