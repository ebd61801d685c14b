//! `pipectl status`: the revision that runs and every component with its counters,
//! the batches waiting in its input (`queued`: how far it is behind), the apply that
//! started it (`rev`), its restarts and its live taps.

use crate::control::api::StatusResponse;
use crate::control::client::{runtime, Client, ConnectArgs};
use crate::exit::Exit;
use crate::settings::Settings;
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,

    /// Print the daemon's JSON answer instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let client = Client::new(&args.connect, settings)?;
    let bytes = runtime()?
        .block_on(client.call_raw(Method::GET, "/v1/status", None::<&()>))
        .map_err(|e| e.into_exit())?;
    if args.json {
        println!("{}", String::from_utf8_lossy(&bytes));
        return Ok(());
    }
    let status: StatusResponse = serde_json::from_slice(&bytes)
        .map_err(|e| Exit::runtime(format!("the daemon's answer is not understood: {e}")))?;
    match &status.revision {
        Some(r) => println!(
            "revision {} ({}) applied {} by {}{}",
            r.revision,
            r.action,
            r.applied_at,
            r.origin.by,
            super::history::commit_note(&r.origin)
        ),
        None => println!("no revision applied"),
    }
    if let Some(e) = &status.last_error {
        println!("last error: {e}");
    }
    println!("up {}s", status.uptime_seconds);
    let width = status
        .components
        .iter()
        .map(|c| c.id.to_string().len())
        .chain([9])
        .max()
        .unwrap_or(9);
    println!(
        "{:<width$}  {:<9}  {:>10}  {:>10}  {:>10}  {:>10}  {:>6}  {:>4}  {:>8}  {:>4}  state",
        "component", "kind", "in", "out", "dropped", "errored", "queued", "rev", "restarts", "taps"
    );
    for c in &status.components {
        println!(
            "{:<width$}  {:<9}  {:>10}  {:>10}  {:>10}  {:>10}  {:>6}  {:>4}  {:>8}  {:>4}  {}",
            c.id.to_string(),
            c.kind.keyword(),
            c.counters.events_in,
            c.counters.events_out,
            c.counters.events_dropped,
            c.counters.events_errored,
            c.queued_batches,
            c.generation,
            c.restarts,
            c.taps,
            if c.running { "running" } else { "ended" }
        );
    }
    Ok(())
}
