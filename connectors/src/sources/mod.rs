//! Sources: components that produce events.
//!
//! Line-oriented sources (`file`, `stdin`) emit `{"message": "<line>"}` events and
//! leave decoding to the `parse` transform; `http` decodes its JSON bodies and `syslog`
//! its messages, since their framing is part of the protocol. `cloudtrail` emits each
//! CloudTrail record as it is and `vpc_flow` each flow log line as a `message`, both
//! read from S3 ([`s3_logs`]); the SaaS and cloud API sources (`azure_activity`, `okta`, `office365`, `graph`,
//! `google_workspace`, `salesforce`, `box`, `dropbox`, built on `api`) emit the
//! vendor's records unchanged. All leave mapping to the schema to the `normalise`
//! transform.

pub(crate) mod api;
pub mod azure_activity;
pub mod box_events;
pub mod cloudtrail;
pub mod dropbox;
pub mod file;
pub mod google_workspace;
pub mod graph;
pub mod http;
pub mod office365;
pub mod okta;
pub mod s3_logs;
pub mod salesforce;
pub mod stdin;
pub mod syslog;
pub mod vpc_flow;

use crate::io::{BatchOutput, Closed};
use crate::lines::decode_line;
use pipectl_core::component::{ComponentError, SourceContext, SourceOutput};
use pipectl_core::event::{Batch, Event};
use pipectl_core::metrics::ComponentCounters;
use pipectl_core::shutdown::ShutdownSignal;
use pipectl_core::value::{Map, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A running source's surroundings, generic over where batches go so the loops can be
/// driven by tests with a plain channel.
pub(crate) struct Run<O> {
    pub name: Arc<str>,
    pub out: O,
    pub shutdown: ShutdownSignal,
    pub counters: Arc<ComponentCounters>,
}

impl Run<SourceOutput> {
    pub fn from_context(ctx: SourceContext) -> Run<SourceOutput> {
        Run {
            name: ctx.name,
            out: ctx.out,
            shutdown: ctx.shutdown,
            counters: ctx.counters,
        }
    }
}

impl<O: BatchOutput> Run<O> {
    /// A failure of this component.
    pub fn error(&self, message: impl Into<String>) -> ComponentError {
        ComponentError {
            component: self.name.to_string(),
            message: message.into(),
        }
    }
}

/// Why a source loop stopped early.
#[derive(Debug)]
pub(crate) enum Halt {
    /// Shutdown was requested.
    Shutdown,
    /// Every consumer went away (a downstream failure, reported by that component).
    Closed,
    Failed(ComponentError),
}

impl From<Closed> for Halt {
    fn from(_: Closed) -> Halt {
        Halt::Closed
    }
}

impl From<ComponentError> for Halt {
    fn from(e: ComponentError) -> Halt {
        Halt::Failed(e)
    }
}

impl Halt {
    /// The run's result: stopping on request or after a downstream failure is not this
    /// source's error.
    pub fn into_result(self) -> Result<(), ComponentError> {
        match self {
            Halt::Shutdown | Halt::Closed => Ok(()),
            Halt::Failed(e) => Err(e),
        }
    }
}

/// Collects `{"message": line}` events into batches of a fixed size.
pub(crate) struct LineBatcher {
    source: Arc<str>,
    batch: Batch,
    batch_size: usize,
    /// Lines whose invalid UTF-8 was replaced with U+FFFD.
    pub replaced_utf8: u64,
}

impl LineBatcher {
    pub fn new(source: Arc<str>, batch_size: usize) -> LineBatcher {
        LineBatcher {
            source,
            batch: Vec::with_capacity(batch_size),
            batch_size,
            replaced_utf8: 0,
        }
    }

    /// Adds a line; returns whether the batch is full.
    pub fn push(&mut self, line: &[u8]) -> bool {
        let (text, replaced) = decode_line(line);
        if replaced {
            self.replaced_utf8 += 1;
        }
        self.batch
            .push(Event::from_message(&text, Arc::clone(&self.source)));
        self.batch.len() >= self.batch_size
    }

    /// Adds the error record of a line longer than `max` bytes that was skipped
    /// (see [`too_long_record`]); returns whether the batch is full. The caller counts
    /// it as errored.
    pub fn push_too_long(&mut self, skipped: &Skipped<'_>) -> bool {
        let value = too_long_record(&self.source, skipped);
        self.batch.push(Event::new(value, Arc::clone(&self.source)));
        self.batch.len() >= self.batch_size
    }

    /// Adds an error record built by the caller; returns whether the batch is full.
    pub fn push_error(&mut self, value: Value) -> bool {
        self.batch.push(Event::new(value, Arc::clone(&self.source)));
        self.batch.len() >= self.batch_size
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The collected batch, leaving an empty one with the same capacity.
    pub fn take(&mut self) -> Batch {
        std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size))
    }
}

/// A line skipped for being longer than `max_line_length`.
pub(crate) struct Skipped<'a> {
    /// The file it was in (none for standard input).
    pub file: Option<&'a Path>,
    /// Its first byte's offset in the stream, and the offset just past its newline.
    pub start: u64,
    pub end: u64,
    /// Its first bytes, as the splitter kept them.
    pub head: &'a [u8],
    /// The limit it broke.
    pub max: usize,
}

/// The dead-letter record of a skipped line, in the shape of the `errors` outputs:
/// `message` holds the line's first bytes (invalid UTF-8 replaced), `pipectl.error`
/// says why, and `log.offset` (with `log.file.path`) says where to find the whole line.
pub(crate) fn too_long_record(component: &str, skipped: &Skipped<'_>) -> Value {
    let reason = format!(
        "line at bytes {}..{} is longer than max_line_length ({} bytes): skipped; `message` holds its first {} bytes",
        skipped.start,
        skipped.end,
        skipped.max,
        skipped.head.len()
    );
    let mut record = error_record(component, &decode_line(skipped.head).0, &reason);
    let mut log = Map::with_capacity(2);
    log.push(
        "offset",
        Value::Int(i64::try_from(skipped.start).unwrap_or(i64::MAX)),
    );
    if let Some(path) = skipped.file {
        let mut file = Map::with_capacity(1);
        file.push("path", Value::from(path.to_string_lossy().as_ref()));
        log.push("file", Value::Object(file));
    }
    if let Value::Object(map) = &mut record {
        map.push("log", Value::Object(log));
    }
    record
}

/// A record that could not be read, in the shape of the `errors` outputs of
/// transforms: `message` holds its text and `pipectl.error` says why
/// (`{component, message}`). Sources emit it in place of the record rather than
/// dropping it.
pub(crate) fn error_record(component: &str, text: &str, reason: &str) -> Value {
    let mut error = Map::with_capacity(2);
    error.push("component", Value::from(component));
    error.push("message", Value::from(reason));
    let mut pipectl = Map::with_capacity(1);
    pipectl.push("error", Value::Object(error));
    let mut wrapper = Map::with_capacity(3);
    wrapper.push("message", Value::from(text));
    wrapper.push("pipectl", Value::Object(pipectl));
    Value::Object(wrapper)
}

/// Passes batches from many producer tasks (connections) to the one task owning the
/// output. Ends, closing the output, once every sender is gone; if every consumer has
/// gone away, what is still queued is marked failed.
pub(crate) async fn forward<O: BatchOutput>(mut out: O, mut batches: mpsc::Receiver<Batch>) {
    while let Some(batch) = batches.recv().await {
        if out.send_batch(batch).await.is_err() {
            batches.close();
            while let Ok(batch) = batches.try_recv() {
                batch.iter().for_each(Event::fail_delivery);
            }
            return;
        }
    }
}

/// Limits a repeated warning (a flood of bad messages from one peer) to one per
/// interval, telling how many were suppressed in between.
pub(crate) struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    const INTERVAL: Duration = Duration::from_secs(10);

    pub fn new() -> Throttle {
        Throttle {
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(suppressed since the last warning)` when a warning may be logged now.
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Throttle::INTERVAL)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_allows_one_warning_per_interval() {
        let mut t = Throttle::new();
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        t.last = Some(Instant::now() - Throttle::INTERVAL);
        assert_eq!(t.allow(), Some(2));
    }
}
