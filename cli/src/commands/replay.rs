//! `pipectl replay`: play-back. Re-runs archived events — NDJSON written by a `file`
//! sink, or documents in OpenSearch — through a pipeline in event-time order, to
//! reproduce an incident or to try a changed model on real history before applying it.
//!
//! The archive stands in for the components that produced it (by default the
//! `normalise` transforms). The stages below them run in process, one batch at a time,
//! in the archive's order, so two replays of the same archive and window give the same
//! breaches, hits and incidents; the models' windows and decay follow event time, not
//! the clock. The sinks and responders run for real (responders in `dry_run` unless
//! `--act`), so a replay can index into OpenSearch and propose actions. `--speed N`
//! plays N seconds of event time per second; the default is as fast as possible.

use super::opensearch::ConnectArgs;
use super::{check, PathArgs};
use crate::exit::Exit;
use crate::replay::archive::{self, Selection, Window};
use crate::replay::progress::{Progress, Style};
use crate::replay::split::{self, Cut, ARCHIVE};
use crate::replay::{feed, raw};
use crate::settings::Settings;
use crate::stages::{Stages, StateDir};
use pipectl_core::detect::sigma::time::{format_rfc3339, parse_rfc3339};
use pipectl_core::event::Event;
use pipectl_core::path::FieldPath;
use pipectl_core::secrets::SecretStore;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::topology::{self, RunOptions, RunSummary};
use pipectl_dsl::plan::{PipelinePlan, Plan};
use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    paths: PathArgs,

    /// Start of the event-time window, inclusive: RFC 3339 or a date (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME")]
    from: String,

    /// End of the window, exclusive: RFC 3339 or a date.
    #[arg(long, value_name = "TIME")]
    to: String,

    /// Play N seconds of event time per second (default: as fast as possible).
    #[arg(long, value_name = "N")]
    speed: Option<f64>,

    /// NDJSON archive files or directories (`*.ndjson`, `*.jsonl`, `*.json`, optionally
    /// gzipped) of normalised events, as a `file` sink writes them.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present_any = ["index", "source"],
        conflicts_with_all = ["index", "source"]
    )]
    archive: Vec<PathBuf>,

    /// A raw archive standing in for a source: the file of the records source NAME
    /// reads (vendor-native lines, optionally gzipped). Repeatable, one per source.
    #[arg(long, value_name = "NAME=PATH", conflicts_with_all = ["index", "stand_ins"])]
    source: Vec<String>,

    /// Read the archive from OpenSearch instead: a document type (`events`, ...) or an
    /// index pattern.
    #[arg(long, value_name = "INDEX")]
    index: Option<String>,

    /// Only the OpenSearch documents matching this query_string query.
    #[arg(long, value_name = "QUERY", requires = "index")]
    query: Option<String>,

    #[command(flatten)]
    connect: ConnectArgs,

    /// The pipeline to replay through, when the files define several.
    #[arg(long, value_name = "NAME")]
    pipeline: Option<String>,

    /// The components the archive stands in for (repeatable; default: the `normalise`
    /// transforms, or the sources when there are none).
    #[arg(long = "as", value_name = "COMPONENT")]
    stand_ins: Vec<String>,

    /// The field holding each archived event's time.
    #[arg(long, value_name = "FIELD", default_value = "@timestamp")]
    time_field: String,

    /// Let responders act as their policy says (default: they only record what they
    /// would do).
    #[arg(long)]
    act: bool,

    /// Keep the replay's state (models, correlations, responders' journals) in DIR
    /// (default: a fresh directory, removed afterwards, so nothing earlier leaks in).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// No progress on standard error.
    #[arg(long)]
    quiet: bool,

    /// Print the summary as JSON on standard output.
    #[arg(long)]
    json_summary: bool,
}

/// An output of the in-process part: component (or the archive) and port.
type OutputKey = (String, Option<String>);

/// Events waiting to be handed to the feeds, by output.
type Pending = HashMap<OutputKey, Vec<Event>>;

/// The sending end of a feed and the output it carries.
struct FeedSender {
    output: OutputKey,
    tx: mpsc::Sender<Vec<Event>>,
}

/// Events per in-process batch: the size the sources use by default.
const BATCH: usize = 512;

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let window = Window {
        from: parse_time(&args.from, "--from")?,
        to: parse_time(&args.to, "--to")?,
    };
    if window.from >= window.to {
        return Err(Exit::usage(format!(
            "--from {} is not before --to {}",
            args.from, args.to
        )));
    }
    if let Some(speed) = args.speed {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(Exit::usage(format!(
                "--speed {speed}: give a positive factor (60 plays a minute per second)"
            )));
        }
    }
    let time_field = FieldPath::parse(&args.time_field)
        .map_err(|e| Exit::usage(format!("--time-field {}: {e}", args.time_field)))?;
    let checked = check(&args.paths)?;
    let pipeline = choose_pipeline(&checked.plan, args.pipeline.as_deref())?;
    let raw_sources = args
        .source
        .iter()
        .map(|s| raw::parse_source(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Exit::usage)?;
    let stand_ins: Vec<(String, String)> = if raw_sources.is_empty() {
        let names = if args.stand_ins.is_empty() {
            split::default_stand_ins(pipeline)
        } else {
            args.stand_ins.clone()
        };
        if names.is_empty() {
            return Err(Exit::usage(format!(
                "pipeline `{}` has no source or normaliser for the archive to stand in for; name one with --as",
                pipeline.name
            )));
        }
        names
            .into_iter()
            .map(|n| (n, ARCHIVE.to_string()))
            .collect()
    } else {
        for (name, _) in &raw_sources {
            let is_source = pipeline
                .components
                .iter()
                .any(|c| &c.name == name && c.kind == pipectl_dsl::plan::ComponentKind::Source);
            if !is_source {
                return Err(Exit::usage(format!(
                    "--source {name}=...: pipeline `{}` has no source `{name}`",
                    pipeline.name
                )));
            }
        }
        raw_sources
            .iter()
            .map(|(n, _)| (n.clone(), split::own_root(n)))
            .collect()
    };
    let cut = split::cut(pipeline, &stand_ins, args.act).map_err(Exit::usage)?;
    let roots: Vec<String> = if raw_sources.is_empty() {
        vec![ARCHIVE.to_string()]
    } else {
        stand_ins.iter().map(|(_, root)| root.clone()).collect()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::runtime(format!("cannot start the async runtime: {e}")))?;
    let plan = Replay {
        window,
        time_field,
        pipeline,
        cut,
        roots,
        raw_sources,
    };
    runtime.block_on(replay(args, settings, plan))
}

/// What to replay through what.
struct Replay<'p> {
    window: Window,
    time_field: FieldPath,
    pipeline: &'p PipelinePlan,
    cut: Cut,
    /// The streams fed to the stages, by index ([`archive::Archived::root`]).
    roots: Vec<String>,
    /// `--source` archives, by source name.
    raw_sources: Vec<(String, PathBuf)>,
}

async fn replay(args: Args, settings: &Settings, plan: Replay<'_>) -> Result<(), Exit> {
    let Replay {
        window,
        time_field,
        pipeline,
        cut,
        roots,
        raw_sources,
    } = plan;
    let secrets = SecretStore::new(settings.secrets_dir.clone());
    let temporary;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temporary = StateDir::new("replay")?;
            temporary.path().to_path_buf()
        }
    };
    let selection = match &args.index {
        Some(index) => {
            let client = args
                .connect
                .client("OPENSEARCH_URL", "http://127.0.0.1:9200")?;
            let pattern = super::search::index_pattern(index);
            archive::read_opensearch(
                &client,
                &pattern,
                args.query.as_deref(),
                &args.time_field,
                window,
            )
            .await
            .map_err(Exit::runtime)?
        }
        None if !raw_sources.is_empty() => {
            let scratch = StateDir::new("replay-order")?;
            raw::read_sources(
                pipeline,
                &raw_sources,
                &time_field,
                window,
                scratch.path(),
                &secrets,
            )
            .map_err(Exit::runtime)?
        }
        None => {
            let files = archive::archive_files(&args.archive).map_err(Exit::usage)?;
            archive::read_files(&files, &time_field, window).map_err(Exit::runtime)?
        }
    };
    report_archive(&selection, window);
    if selection.events.is_empty() {
        return Err(Exit::runtime(format!(
            "no archived event has its {} in [{}, {})",
            args.time_field,
            format_rfc3339(window.from),
            format_rfc3339(window.to)
        )));
    }

    let mut stages = Stages::build(
        &cut.stages,
        &roots,
        None,
        &pipeline.name,
        &data_dir.join(&pipeline.name),
        &secrets,
    )?;

    // The real sinks and responders, each fed through a channel per output it reads.
    let mut senders: Vec<FeedSender> = Vec::new();
    for (output, name) in &cut.feeds {
        let (tx, rx) = mpsc::channel(4);
        feed::park(&pipeline.name, name, rx);
        senders.push(FeedSender {
            output: (output.component.clone(), output.port.clone()),
            tx,
        });
    }
    let (trigger, signal) = shutdown_pair();
    let graph = if cut.tail.components.is_empty() {
        None
    } else {
        let mut registry = crate::registry::registry();
        registry.extend([feed::FACTORY]);
        let mut options = RunOptions::new(data_dir.clone());
        options.secrets = SecretStore::new(settings.secrets_dir.clone());
        options.channel_capacity = settings.channel_capacity.max(1);
        let plan = Plan {
            pipelines: vec![cut.tail.clone()],
        };
        match topology::start(&plan, &registry, options, signal).await {
            Ok(graph) => Some(graph),
            Err(errors) => {
                for e in &errors {
                    eprintln!("error: {e}");
                }
                return Err(Exit::config_reported());
            }
        }
    };

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            super::run::wait_for_signal().await;
            eprintln!("\nstopping the replay: finishing what is in flight");
            interrupted.store(true, Ordering::Release);
        });
    }

    let style = if args.quiet {
        Style::Quiet
    } else if std::io::stderr().is_terminal() {
        Style::Bar
    } else {
        Style::Lines
    };
    let total = selection.events.len() as u64;
    let mut progress = Progress::new(total, style);
    let mut outputs: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    let first_at = selection.events[0].at;
    let mut replayed = 0u64;
    let mut last_at = first_at;
    let source: Arc<str> = Arc::from("replay");
    let mut events = selection.events.into_iter().peekable();
    let mut stopped_early = false;
    loop {
        if interrupted.load(Ordering::Acquire) {
            stopped_early = events.peek().is_some();
            break;
        }
        let mut batch: Vec<(usize, Event)> = Vec::with_capacity(BATCH);
        while let Some(next) = events.peek() {
            // A batch holds one root's run of events: a stage reading several of them
            // then sees them in event-time order, not grouped by where they came from.
            let other_root = batch.first().is_some_and(|(root, _)| *root != next.root);
            if batch.len() >= BATCH || other_root {
                break;
            }
            if let Some(speed) = args.speed {
                let due =
                    started + Duration::from_secs_f64((next.at - first_at) as f64 / 1000.0 / speed);
                if due > Instant::now() {
                    if !batch.is_empty() {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            let Some(next) = events.next() else { break };
            last_at = next.at;
            batch.push((next.root, Event::new(next.value, source.clone())));
        }
        if batch.is_empty() {
            break;
        }
        let n = batch.len() as u64;
        let mut pending: Pending = HashMap::new();
        for (root, event) in &batch {
            let key = (roots[*root].clone(), None);
            if senders.iter().any(|f| f.output == key) {
                pending.entry(key).or_default().push(event.clone());
            }
        }
        run_stages(
            &mut stages,
            batch,
            false,
            &mut outputs,
            &mut pending,
            &senders,
        );
        send(&senders, pending).await?;
        replayed += n;
        progress.advance(n, last_at);
    }
    // The end of the archive: stages flush what they hold back.
    let mut pending = HashMap::new();
    run_stages(
        &mut stages,
        Vec::new(),
        true,
        &mut outputs,
        &mut pending,
        &senders,
    );
    send(&senders, pending).await?;
    progress.finish();
    drop(senders);
    let tail = match graph {
        Some(graph) => {
            let result = graph.wait().await;
            drop(trigger);
            match result {
                Ok(summary) => Some(summary),
                Err(errors) => {
                    for e in &errors {
                        eprintln!("error: {e}");
                    }
                    return Err(Exit::silent(crate::exit::RUNTIME));
                }
            }
        }
        None => None,
    };
    let summary = Summary {
        pipeline: &pipeline.name,
        window,
        replayed,
        last_at,
        stopped_early,
        elapsed: started.elapsed(),
        outputs: &outputs,
        left_out: &cut.left_out,
        tail: tail.as_ref(),
        responders: cut
            .tail
            .components
            .iter()
            .filter(|c| c.kind == pipectl_dsl::plan::ComponentKind::Respond)
            .count(),
        acted: args.act,
    };
    if args.json_summary {
        println!("{}", summary.json());
    } else {
        eprint!("{}", summary.text());
    }
    Ok(())
}

/// Runs one batch through the in-process stages, counting what each emits and holding
/// what the feeds carry.
fn run_stages(
    stages: &mut Stages,
    batch: Vec<(usize, Event)>,
    finished: bool,
    outputs: &mut BTreeMap<String, u64>,
    pending: &mut Pending,
    senders: &[FeedSender],
) {
    stages.run(batch, finished, |plan, port, events| {
        if events.is_empty() {
            return;
        }
        let label = match port {
            Some(port) => format!("{}.{port}", plan.name),
            None => plan.name.clone(),
        };
        *outputs.entry(label).or_default() += events.len() as u64;
        if senders
            .iter()
            .any(|f| f.output.0 == plan.name && f.output.1.as_deref() == port)
        {
            pending
                .entry((plan.name.clone(), port.map(str::to_string)))
                .or_default()
                .extend(events.iter().cloned());
        }
    });
}

/// Hands each feed its events, waiting while a sink is behind (backpressure).
async fn send(senders: &[FeedSender], mut pending: Pending) -> Result<(), Exit> {
    for feed in senders {
        if let Some(events) = pending.remove(&feed.output) {
            if !events.is_empty() && feed.tx.send(events).await.is_err() {
                return Err(Exit::runtime(format!(
                    "the sinks reading `{}` stopped; see the errors above",
                    feed.output.0
                )));
            }
        }
    }
    Ok(())
}

/// RFC 3339, or a date meaning its midnight UTC.
fn parse_time(text: &str, flag: &str) -> Result<i64, Exit> {
    let text = text.trim();
    let parsed = if text.len() == 10 {
        parse_rfc3339(&format!("{text}T00:00:00Z"))
    } else {
        parse_rfc3339(text)
    };
    parsed.ok_or_else(|| {
        Exit::usage(format!(
            "{flag} {text}: give an RFC 3339 time (2026-10-01T08:00:00Z) or a date (2026-10-01)"
        ))
    })
}

fn choose_pipeline<'p>(plan: &'p Plan, name: Option<&str>) -> Result<&'p PipelinePlan, Exit> {
    match name {
        Some(name) => plan
            .pipelines
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                Exit::usage(format!(
                    "--pipeline {name}: the files define {}",
                    plan.pipelines
                        .iter()
                        .map(|p| format!("`{}`", p.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
        None => match plan.pipelines.as_slice() {
            [only] => Ok(only),
            [] => Err(Exit::usage("the files define no pipeline")),
            several => Err(Exit::usage(format!(
                "the files define {} pipelines ({}); choose one with --pipeline",
                several.len(),
                several
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

fn report_archive(selection: &Selection, window: Window) {
    eprintln!(
        "archive: {} records read, {} in [{}, {}), {} outside, {} without a time, {} unreadable",
        selection.read + selection.unreadable,
        selection.events.len(),
        format_rfc3339(window.from),
        format_rfc3339(window.to),
        selection.outside,
        selection.untimed,
        selection.unreadable
    );
    for example in &selection.unreadable_examples {
        eprintln!("  unreadable: {example}");
    }
}

struct Summary<'a> {
    pipeline: &'a str,
    window: Window,
    replayed: u64,
    last_at: i64,
    stopped_early: bool,
    elapsed: Duration,
    outputs: &'a BTreeMap<String, u64>,
    left_out: &'a [String],
    tail: Option<&'a RunSummary>,
    /// Responders in the replay, and whether they were let act.
    responders: usize,
    acted: bool,
}

impl Summary<'_> {
    fn text(&self) -> String {
        let mut text = format!(
            "replayed {} events through pipeline `{}` ({} to {}) in {:.1} s{}\n",
            self.replayed,
            self.pipeline,
            format_rfc3339(self.window.from),
            format_rfc3339(self.window.to),
            self.elapsed.as_secs_f64(),
            if self.stopped_early {
                format!(", stopped at event time {}", format_rfc3339(self.last_at))
            } else {
                String::new()
            }
        );
        if !self.outputs.is_empty() {
            text.push_str("emitted by the stages:\n");
            for (component, n) in self.outputs {
                text.push_str(&format!("  {component:<32} {n:>10}\n"));
            }
        }
        if !self.left_out.is_empty() {
            text.push_str(&format!(
                "not run (nothing the archive feeds reaches them): {}\n",
                self.left_out.join(", ")
            ));
        }
        if self.responders > 0 && !self.acted {
            text.push_str("responders ran in dry_run: they recorded what they would do (--act lets them act)\n");
        }
        if let Some(tail) = self.tail {
            text.push_str(&format!("{tail}\n"));
        }
        text
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "pipeline": self.pipeline,
            "from": format_rfc3339(self.window.from),
            "to": format_rfc3339(self.window.to),
            "replayed": self.replayed,
            "stopped_early": self.stopped_early,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "outputs": self.outputs,
            "left_out": self.left_out,
            "responders_acted": self.acted,
            "sinks": self.tail,
        })
    }
}
