//! `pipectl`: the command-line edge of pipectl.
//!
//! Exit codes (documented in `pipectl --help` and README): 0 success, 1 runtime
//! failure, 2 usage error, 78 invalid configuration (EX_CONFIG from sysexits.h), and for
//! `fmt --check` 1 when a file is not formatted.

mod commands;
mod control;
mod exit;
mod registry;
mod replay;
mod settings;
mod stages;

use clap::{Parser, Subcommand};
use exit::Exit;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: events are trees of many small allocations made and freed on different
/// worker threads, where it is markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A self-learning security pipeline for cloud and SaaS estates.
#[derive(Parser)]
#[command(
    name = "pipectl",
    version,
    about,
    after_help = "Exit codes: 0 ok, 1 runtime failure (or unformatted files with `fmt --check`), 2 usage (and, for `plan`, changes to apply), 78 invalid configuration."
)]
struct Cli {
    /// Settings file (default: ./pipectl.toml if present). Settings layer as
    /// pipectl.toml < PIPECTL_* environment < flags.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log filter, e.g. `info`, `debug`, `pipectl_connectors=trace`.
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check pipeline files and report every error; prints a one-line summary.
    Validate(commands::validate::Args),
    /// Rewrite pipeline files in the canonical layout (or check that they are).
    Fmt(commands::fmt::Args),
    /// Run the `test` blocks of pipeline files: given events in, expectations on any
    /// component's output checked (exit 1 when a test fails).
    Test(commands::test::Args),
    /// Run pipelines in the foreground until their sources end or a signal arrives.
    Run(commands::run::Args),
    /// The daemon: runs the applied pipelines and answers the control API (HTTP/JSON on
    /// 127.0.0.1, bearer token in <data_dir>/control.token).
    Serve(commands::serve::Args),
    /// Show how pipeline files differ from what the daemon runs (exit 0 no changes,
    /// 2 changes, as terraform's -detailed-exitcode).
    Plan(commands::plan::Args),
    /// Apply pipeline files to the daemon: only changed components restart; nothing
    /// changes if any fails to build.
    Apply(commands::apply::Args),
    /// The daemon's running revision, components and counters.
    Status(commands::status::Args),
    /// The daemon's applied revisions.
    History(commands::history::Args),
    /// Apply an earlier revision again (default: the one before the running one).
    Rollback(commands::rollback::Args),
    /// A live sample of the events leaving a component of the daemon.
    Tap(commands::tap::Args),
    /// Play archived events (NDJSON archives or OpenSearch) through a pipeline in event
    /// time, deterministically, with a progress bar: to reproduce an incident or try a
    /// changed model on history.
    Replay(Box<commands::replay::Args>),
    /// The indexed incidents, most severe first, with entity, score, explanation and
    /// response; `--labels` scores them against a scenario's labelled attacks.
    Report(commands::report::Args),
    /// Print the pipeline graph in Graphviz DOT.
    Graph(commands::graph::Args),
    /// Write (or check) the component reference generated from the catalogue.
    Reference(commands::reference::Args),
    /// Set up OpenSearch for pipectl (templates, retention) and prune old indices.
    Opensearch(commands::opensearch::Args),
    /// Install or export pipectl's OpenSearch Dashboards objects.
    Dashboards(commands::dashboards::Args),
    /// Search what pipectl indexed in OpenSearch.
    Search(commands::search::Args),
    /// Check Sigma rules: `rules check PATHS` reports loaded and refused rules (exit 1
    /// when some are refused, 78 when the paths hold none).
    Rules(commands::rules::Args),
    /// Response actions: `actions list`, `approve ID`, `deny ID`, `revert ID`, `keep ID`
    /// (through the responders' files under the data directory).
    Actions(commands::actions::Args),
    /// Evaluate model stages: `models evaluate --data DIR` scores a pipeline's model on
    /// a generated scenario with labelled attacks (exit 1 when one goes undetected).
    Models(commands::models::Args),
    /// Sinks' disk buffers: `buffer inspect|verify|repair PATH` (a buffer directory or
    /// the data directory); verify exits 1 naming each damaged record.
    Buffer(commands::buffer::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = settings::Settings::load(cli.config.as_deref(), cli.log.as_deref())
        .map_err(Exit::usage)
        .and_then(|settings| {
            settings::init_logging(&settings);
            match cli.command {
                Command::Validate(args) => commands::validate::run(args),
                Command::Fmt(args) => commands::fmt::run(args),
                Command::Test(args) => commands::test::run(args),
                Command::Run(args) => commands::run::run(args, &settings),
                Command::Serve(args) => commands::serve::run(args, &settings),
                Command::Plan(args) => commands::plan::run(args, &settings),
                Command::Apply(args) => commands::apply::run(args, &settings),
                Command::Status(args) => commands::status::run(args, &settings),
                Command::History(args) => commands::history::run(args, &settings),
                Command::Rollback(args) => commands::rollback::run(args, &settings),
                Command::Tap(args) => commands::tap::run(args, &settings),
                Command::Replay(args) => commands::replay::run(*args, &settings),
                Command::Report(args) => commands::report::run(args),
                Command::Graph(args) => commands::graph::run(args),
                Command::Reference(args) => commands::reference::run(args),
                Command::Opensearch(args) => commands::opensearch::run(args),
                Command::Dashboards(args) => commands::dashboards::run(args),
                Command::Search(args) => commands::search::run(args),
                Command::Rules(args) => commands::rules::run(args),
                Command::Models(args) => commands::models::run(args),
                Command::Actions(args) => commands::actions::run(args, &settings),
                Command::Buffer(args) => commands::buffer::run(args),
            }
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(exit) => exit.report(),
    }
}
