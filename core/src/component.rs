//! The contract between the runtime and every component.
//!
//! A component type is a [`Factory`]: its catalogue entry (the attributes the language
//! checks) and a `build` function that turns a checked [`ComponentPlan`] into a running
//! part. Sources and sinks own their loop (`run`); transforms are synchronous functions
//! over batches so the runtime can drive them, fuse them and count for them.

use crate::event::{Batch, Event};
use crate::metrics::ComponentCounters;
use crate::secrets::SecretStore;
use crate::shutdown::ShutdownSignal;
use crate::topology::{Fanout, SendError};
use futures::future::BoxFuture;
use pipectl_dsl::catalogue::ComponentSpec;
use pipectl_dsl::plan::ComponentPlan;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A failure while building a component from its plan (bad env value, unreadable
/// file...). Says which component and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{component} ({origin}): {message}")]
pub struct BuildError {
    pub component: String,
    pub origin: String,
    pub message: String,
}

impl BuildError {
    pub fn new(plan: &ComponentPlan, message: impl Into<String>) -> BuildError {
        BuildError {
            component: plan.name.clone(),
            origin: plan.origin.clone(),
            message: message.into(),
        }
    }
}

/// A failure of a running component; the runtime reports it and the run exits 1.
#[derive(Debug, thiserror::Error)]
#[error("{component}: {message}")]
pub struct ComponentError {
    pub component: String,
    pub message: String,
}

/// What a build function needs besides the plan.
pub struct BuildContext<'a> {
    pub pipeline: &'a str,
    /// Where components keep checkpoints and state, created by the runtime.
    pub data_dir: PathBuf,
    pub secrets: &'a SecretStore,
}

/// A built component, ready to be wired.
pub enum Built {
    Source(Box<dyn Source>),
    Transform(Box<dyn Transform>),
    Sink(Box<dyn Sink>),
    /// A consumer that also produces, with its own async loop (see [`AsyncStage`]).
    Stage(Box<dyn AsyncStage>),
}

/// A component type: its catalogue entry and how to build it.
#[derive(Clone, Copy)]
pub struct Factory {
    pub spec: &'static ComponentSpec,
    pub build: fn(&ComponentPlan, &BuildContext<'_>) -> Result<Built, BuildError>,
}

/// A producer of events. It runs until its input ends (finite sources) or the shutdown
/// signal fires, then returns; dropping its output closes the downstream channels.
pub trait Source: Send {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>>;
}

/// Everything a running source uses.
pub struct SourceContext {
    pub name: Arc<str>,
    pub out: SourceOutput,
    pub shutdown: ShutdownSignal,
    pub counters: Arc<ComponentCounters>,
}

/// A source's way out: sends batches to every consumer, waiting while any is full
/// (backpressure), and counts what leaves.
pub struct SourceOutput {
    pub(crate) fanout: Fanout,
    pub(crate) counters: Arc<ComponentCounters>,
}

impl SourceOutput {
    /// Sends one batch downstream. Fails only when every consumer has gone away.
    pub async fn send(&mut self, batch: Batch) -> Result<(), SendError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.counters.add_out(batch.len() as u64);
        self.fanout.send(batch).await
    }
}

/// A synchronous step over batches: filter, reshape, route, enrich.
pub trait Transform: Send {
    /// Processes one batch, pushing results to `out`.
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput);

    /// Called once when every input has ended, for transforms that hold events back
    /// (windows, aggregations).
    fn finish(&mut self, _out: &mut TransformOutput) {}
}

/// Where a transform puts its results: the default output and named ports.
#[derive(Default)]
pub struct TransformOutput {
    pub(crate) default: Vec<Event>,
    /// Indexed like the component plan's `outputs` list.
    pub(crate) named: Vec<(String, Vec<Event>)>,
    pub(crate) dropped: u64,
    pub(crate) errored: u64,
}

impl TransformOutput {
    /// An output with the given named ports (the plan's `outputs`).
    pub fn new(ports: &[String]) -> TransformOutput {
        TransformOutput {
            default: Vec::new(),
            named: ports.iter().map(|p| (p.clone(), Vec::new())).collect(),
            dropped: 0,
            errored: 0,
        }
    }

    /// Emits to the default output.
    pub fn push(&mut self, event: Event) {
        self.default.push(event);
    }

    /// Emits to a named port; an unknown port counts the event as dropped (the checker
    /// guarantees ports exist, so this only guards against a component bug).
    pub fn push_to(&mut self, port: &str, event: Event) {
        match self.named.iter_mut().find(|(p, _)| p == port) {
            Some((_, events)) => events.push(event),
            None => self.dropped += 1,
        }
    }

    /// Takes what was emitted so far — the default output and each named port — and
    /// leaves them empty. For callers that drive a transform outside the runtime
    /// (model evaluation, pipeline tests).
    pub fn take(&mut self) -> (Vec<Event>, Vec<(String, Vec<Event>)>) {
        let named = self
            .named
            .iter_mut()
            .map(|(port, events)| (port.clone(), std::mem::take(events)))
            .collect();
        (std::mem::take(&mut self.default), named)
    }

    /// Counts an event dropped on purpose (e.g. by a filter).
    pub fn drop_event(&mut self, _event: Event) {
        self.dropped += 1;
    }

    /// Sends an event that already carries its reason under `pipectl.error` (a
    /// source's error record: a line over `max_line_length`, a corrupt gzip) to the
    /// `errors` port unchanged, so the first reason is kept; counted as errored.
    pub fn forward_error(&mut self, event: Event) {
        self.errored += 1;
        self.push_to("errors", event);
    }

    /// Sends an event to the `errors` port with the reason recorded under
    /// `pipectl.error`; counted as errored.
    pub fn push_error(&mut self, component: &str, mut event: Event, reason: &str) {
        let path = crate::path::FieldPath::new(vec![
            crate::path::PathSegment::Key("pipectl".into()),
            crate::path::PathSegment::Key("error".into()),
        ]);
        let mut detail = crate::value::Map::with_capacity(2);
        detail.push("component", crate::value::Value::from(component));
        detail.push("message", crate::value::Value::from(reason));
        if let Err(value) = event
            .value
            .insert_path(&path, crate::value::Value::Object(detail))
        {
            // The root is not an object: wrap it so the reason is never lost.
            let mut wrapper = crate::value::Map::with_capacity(2);
            wrapper.push(
                "message",
                crate::value::Value::from(crate::json::to_string(&event.value)),
            );
            event.value = crate::value::Value::Object(wrapper);
            let _ = event.value.insert_path(&path, value);
        }
        self.errored += 1;
        self.push_to("errors", event);
    }
}

/// A step that reads events and writes events with its own async loop, for components
/// that call out or keep time (responders: provider API calls, expiry timers, an
/// operator's approvals arriving between batches) and so cannot be a synchronous
/// [`Transform`]. It runs until its input is closed; it offers only its default output.
pub trait AsyncStage: Send {
    fn run(self: Box<Self>, ctx: StageContext) -> BoxFuture<'static, Result<(), ComponentError>>;
}

/// Everything a running [`AsyncStage`] uses: its input like a sink's, its output like a
/// source's (sending waits while a consumer is full).
pub struct StageContext {
    pub name: Arc<str>,
    pub input: SinkInput,
    pub out: SourceOutput,
    pub counters: Arc<ComponentCounters>,
}

/// A consumer of events. It runs until its input is closed (every upstream is done) and
/// everything received has been delivered or dead-lettered.
pub trait Sink: Send {
    fn run(self: Box<Self>, ctx: SinkContext) -> BoxFuture<'static, Result<(), ComponentError>>;
}

/// Everything a running sink uses.
pub struct SinkContext {
    pub name: Arc<str>,
    pub input: SinkInput,
    pub counters: Arc<ComponentCounters>,
}

/// A sink's input: batches from every upstream, counted as they arrive.
pub struct SinkInput {
    pub(crate) rx: mpsc::Receiver<Batch>,
    pub(crate) counters: Arc<ComponentCounters>,
}

impl SinkInput {
    /// The next batch, or `None` once every upstream has finished.
    pub async fn recv(&mut self) -> Option<Batch> {
        let batch = self.rx.recv().await?;
        self.counters.add_in(batch.len() as u64);
        Some(batch)
    }
}

impl Drop for SinkInput {
    /// A sink that stops before its input ends (a failure, a panic, an early return)
    /// leaves batches nobody will deliver: fail them, so no source advances past them.
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(batch) = self.rx.try_recv() {
            batch.iter().for_each(Event::fail_delivery);
        }
    }
}
