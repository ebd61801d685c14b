//! `pipectl run`: compile and run pipelines in the foreground.
//!
//! Finite runs (every source ends: files read once, stdin) drain and exit 0 with a
//! summary. SIGINT or SIGTERM stops the sources; everything in flight drains before
//! exit. A second signal exits at once.

use super::{check, PathArgs};
use crate::exit::Exit;
use crate::settings::Settings;
use pipectl_core::secrets::SecretStore;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{self, RunOptions};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    paths: PathArgs,

    /// Where checkpoints and state live (overrides the `data_dir` setting).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Print the final summary as JSON on stdout instead of a table on stderr.
    #[arg(long)]
    json_summary: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let checked = check(&args.paths)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder
        .build()
        .map_err(|e| Exit::runtime(format!("cannot start the async runtime: {e}")))?;
    let mut options = RunOptions::new(args.data_dir.unwrap_or_else(|| settings.data_dir.clone()));
    options.secrets = SecretStore::new(settings.secrets_dir.clone());
    options.channel_capacity = settings.channel_capacity.max(1);
    let registry = crate::registry::registry();
    runtime.block_on(async move {
        let (trigger, signal) = shutdown_pair();
        let graph = match topology::start(&checked.plan, &registry, options, signal).await {
            Ok(graph) => graph,
            Err(errors) => {
                for e in &errors {
                    eprintln!("error: {e}");
                }
                return Err(Exit::config_reported());
            }
        };
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: draining in-flight events (signal again to exit now)");
            trigger.trigger();
            wait_for_signal().await;
            eprintln!("second signal: exiting without draining");
            std::process::exit(crate::exit::RUNTIME as i32);
        });
        match graph.wait().await {
            Ok(summary) => {
                if args.json_summary {
                    match serde_json::to_string(&summary) {
                        Ok(text) => println!("{text}"),
                        Err(e) => return Err(Exit::runtime(e)),
                    }
                } else {
                    eprintln!("{summary}");
                }
                Ok(())
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("error: {e}");
                }
                Err(Exit::silent(crate::exit::RUNTIME))
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
