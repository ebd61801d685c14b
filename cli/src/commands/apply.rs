//! `pipectl apply [DIR]`: shows the plan, asks for confirmation (on a terminal; refuses
//! without `--auto-approve` when stdin is not one), and has the daemon apply it
//! atomically: only changed components restart, and if any fails to build nothing
//! changes. Records the directory's git commit (and whether the tree was dirty), who
//! applied and when.

use super::{check, PathArgs};
use crate::control::api::{ApplyRequest, ApplyResponse, Origin};
use crate::control::client::{runtime, who, CallError, Client, ConnectArgs};
use crate::exit::Exit;
use crate::settings::Settings;
use hyper::{Method, StatusCode};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    paths: PathArgs,

    #[command(flatten)]
    connect: ConnectArgs,

    /// Apply without asking.
    #[arg(long)]
    auto_approve: bool,

    /// Who applies, for the history (default: the OS user).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let checked = check(&args.paths)?;
    let client = Client::new(&args.connect, settings)?;
    let runtime = runtime()?;
    let answer = runtime.block_on(super::plan::ask(&client, &checked.plan))?;
    super::plan::print_diff(&answer.diff);
    if answer.diff.is_empty() {
        return Ok(());
    }
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            return Err(Exit::usage(
                "refusing to apply without confirmation: stdin is not a terminal (pass --auto-approve)",
            ));
        }
        print!("Apply these changes? Only `yes` is accepted: ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(Exit::runtime)?;
        if line.trim() != "yes" {
            eprintln!("Apply cancelled; nothing changed.");
            return Err(Exit::silent(crate::exit::RUNTIME));
        }
    }
    let directory = args.paths.paths.first().cloned().unwrap_or_default();
    let request = ApplyRequest {
        plan: checked.plan,
        origin: origin(&directory, args.by.as_deref()),
        expected_revision: Some(answer.revision.unwrap_or(0)),
    };
    let result: Result<ApplyResponse, CallError> =
        runtime.block_on(client.call(Method::POST, "/v1/apply", Some(&request)));
    match result {
        Ok(done) => {
            report(&done);
            Ok(())
        }
        Err(CallError::Refused(StatusCode::UNPROCESSABLE_ENTITY, body)) => {
            for d in &body.diagnostics {
                eprintln!("error: {d}");
            }
            eprintln!("error: {}", body.error);
            Err(Exit::config_reported())
        }
        Err(e) => Err(e.into_exit()),
    }
}

/// Prints what an apply or rollback did.
pub fn report(done: &ApplyResponse) {
    match (&done.report, done.revision) {
        (Some(report), Some(revision)) => {
            println!(
                "Applied revision {revision}: {} added, {} changed, {} removed.",
                report.diff.added.len(),
                report.diff.changed.len(),
                report.diff.removed.len()
            );
            for e in &report.drain_errors {
                eprintln!("warning: {e}");
            }
        }
        _ => println!("No changes; nothing applied."),
    }
}

/// Where the plan comes from: the directory, its git commit and dirtiness.
fn origin(path: &Path, by: Option<&str>) -> Origin {
    let dir: PathBuf = if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    };
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]);
    let dirty = commit
        .as_ref()
        .and_then(|_| git(&["status", "--porcelain", "--", "."]))
        .map(|changes| !changes.is_empty());
    Origin {
        directory: Some(
            std::fs::canonicalize(&dir)
                .unwrap_or(dir)
                .display()
                .to_string(),
        ),
        commit,
        dirty,
        by: who(by),
    }
}
