//! `pipectl rules check PATHS`: loads a Sigma rule tree the way `detect sigma` does and
//! reports what loaded and what was refused, each refusal with its file and reason.
//!
//! Exit codes: 0 when every rule loads, 1 when some were refused, 78 when the paths
//! hold no rules (or cannot be read).

use super::plural;
use crate::exit::{Exit, CONFIG, RUNTIME};
use pipectl_core::detect::sigma::loader;
use pipectl_core::detect::sigma::modifiers::Placeholders;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Load rules (files, directories, globs) and report loaded and refused rules.
    /// Exit 0 when all load, 1 when some are refused, 78 when the paths hold no rules.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Rule files, directories (searched for *.yml, *.yaml) or globs.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,

    /// Values for an `expand` placeholder, as NAME=VALUE (repeat for more values).
    #[arg(long = "placeholder", value_name = "NAME=VALUE")]
    placeholders: Vec<String>,

    /// Print only the counts and the summary by reason, not each refusal.
    #[arg(long)]
    summary: bool,
}

pub fn run(args: Args) -> Result<(), Exit> {
    match args.command {
        Command::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> Result<(), Exit> {
    let mut placeholders = Placeholders::new();
    for p in &args.placeholders {
        let (name, value) = p
            .split_once('=')
            .ok_or_else(|| Exit::usage(format!("--placeholder `{p}` is not NAME=VALUE")))?;
        placeholders
            .entry(name.trim_matches('%').to_string())
            .or_default()
            .push(value.to_string());
    }
    let paths: Vec<String> = args
        .paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let loaded = loader::load(&paths, &[], &placeholders).map_err(|e| {
        eprintln!("error: {e}");
        Exit::silent(CONFIG)
    })?;
    let refused = loaded.refusals.len();
    if loaded.loaded() + refused == 0 {
        eprintln!(
            "error: no Sigma rules (*.yml, *.yaml) found in {}",
            paths.join(", ")
        );
        return Err(Exit::silent(CONFIG));
    }
    if !args.summary {
        for r in &loaded.refusals {
            let title = if r.title.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.title)
            };
            println!("refused {}{title}: {}", r.file, r.reason);
        }
    }
    println!(
        "{} file{}: loaded {} rule{} ({} detection{}, {} correlation{}), refused {refused}",
        loaded.files,
        plural(loaded.files),
        loaded.loaded(),
        plural(loaded.loaded()),
        loaded.detections.len(),
        plural(loaded.detections.len()),
        loaded.correlations.len(),
        plural(loaded.correlations.len()),
    );
    if refused == 0 {
        return Ok(());
    }
    println!("refused by reason:");
    for (feature, n) in loaded.refusals_by_feature() {
        println!("{n:>7}  {feature}");
    }
    Err(Exit::silent(RUNTIME))
}
