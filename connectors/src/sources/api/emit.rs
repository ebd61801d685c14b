//! Sending API records downstream and moving each stream's cursor only once they are
//! acknowledged.
//!
//! A source reads one or more *streams* (Okta's log, one Office 365 content type, one
//! Graph endpoint), each with its own cursor, all kept in one checkpoint file. The
//! cursor that follows a page travels with the page's batches; it becomes the stream's
//! checkpoint only when those batches and every batch sent before them have been
//! accepted by every sink. A batch that fails freezes its stream's checkpoint before it
//! (read again after a restart), as the `file` source does. Records that are not JSON
//! objects are still emitted, never dropped: `message` holds their JSON text and
//! `pipectl.error` says why, the shape the `errors` outputs use; they count as errored.

use super::super::{Halt, Run};
use super::client::ApiClient;
use crate::checkpoint::CheckpointStore;
use crate::io::{attach_ack, BatchOutput};
use pipectl_core::ack::{AckReceiver, BatchStatus};
use pipectl_core::component::ComponentError;
use pipectl_core::event::{Batch, Event};
use pipectl_core::value::{Map, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Events per batch: pages and content blobs can be large.
const MAX_BATCH: usize = 1000;
/// Batches in flight before reading waits for the oldest acknowledgement.
const MAX_PENDING: usize = 256;
/// How often, at most, the checkpoint is written while running.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// How long a stopping source waits for in-flight batches to be acknowledged.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The checkpoint file's content: each stream's cursor, in the source's own shape.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Cursors {
    streams: BTreeMap<String, serde_json::Value>,
}

/// A sent batch waiting for its acknowledgement.
struct Pending {
    stream: Arc<str>,
    /// `None` for a cursor move that carried no records: it commits in its turn.
    ack: Option<AckReceiver>,
    /// The stream's cursor once this batch is delivered (on the last batch of a page).
    commit: Option<serde_json::Value>,
}

/// The acknowledgement bookkeeping: what was sent, what is committed, what is on disk.
struct Ledger {
    name: Arc<str>,
    file: CheckpointStore,
    cursors: Cursors,
    pending: VecDeque<Pending>,
    /// Streams with a failed batch: their checkpoints stay before it.
    frozen: BTreeSet<Arc<str>>,
    dirty: bool,
    last_write: Option<Instant>,
}

impl Ledger {
    /// Commits the acknowledged prefix of sent batches.
    fn commit_acknowledged(&mut self) {
        while let Some(front) = self.pending.front_mut() {
            let status = match front.ack.as_mut() {
                None => BatchStatus::Delivered,
                Some(ack) => match ack.try_status() {
                    Some(status) => status,
                    None => break,
                },
            };
            if let Some(p) = self.pending.pop_front() {
                self.record(status, p.stream, p.commit);
            }
        }
    }

    fn record(&mut self, status: BatchStatus, stream: Arc<str>, commit: Option<serde_json::Value>) {
        if self.frozen.contains(&stream) {
            return;
        }
        match (status, commit) {
            (BatchStatus::Delivered, Some(cursor)) => {
                self.cursors.streams.insert(stream.to_string(), cursor);
                self.dirty = true;
            }
            (BatchStatus::Delivered, None) => {}
            (BatchStatus::Failed, _) => {
                tracing::error!(source = %self.name, stream = %stream, "a batch could not be delivered; the stream's checkpoint stays before it and it is read again after a restart");
                self.frozen.insert(stream);
            }
        }
    }

    /// Writes the checkpoint if it changed and the last write is old enough (or
    /// `force`).
    async fn persist(&mut self, force: bool) -> Result<(), ComponentError> {
        let due = force
            || self
                .last_write
                .is_none_or(|t| t.elapsed() >= CHECKPOINT_INTERVAL);
        if !self.dirty || !due {
            return Ok(());
        }
        self.file
            .save(&self.cursors)
            .await
            .map_err(|e| ComponentError {
                component: self.name.to_string(),
                message: format!(
                    "cannot write the checkpoint {}: {e}",
                    self.file.path().display()
                ),
            })?;
        self.dirty = false;
        self.last_write = Some(Instant::now());
        Ok(())
    }
}

/// A source's way out, with acknowledgement-gated cursors.
pub(crate) struct Emitter<O> {
    run: Run<O>,
    ledger: Ledger,
}

impl<O: BatchOutput> Emitter<O> {
    /// Opens the checkpoint in `data_dir` (none yet, or unreadable: every stream starts
    /// fresh).
    pub async fn open(run: Run<O>, data_dir: &Path) -> Emitter<O> {
        let file = CheckpointStore::new(data_dir);
        let cursors = file.load::<Cursors>().await.unwrap_or_default();
        let ledger = Ledger {
            name: Arc::clone(&run.name),
            file,
            cursors,
            pending: VecDeque::new(),
            frozen: BTreeSet::new(),
            dirty: false,
            last_write: None,
        };
        Emitter { run, ledger }
    }

    /// The stream's checkpointed cursor; one that no longer decodes is ignored (with a
    /// warning) and the stream starts fresh.
    pub fn cursor<C: DeserializeOwned>(&self, stream: &str) -> Option<C> {
        let value = self.ledger.cursors.streams.get(stream)?;
        match serde_json::from_value(value.clone()) {
            Ok(cursor) => Some(cursor),
            Err(e) => {
                tracing::warn!(source = %self.run.name, stream, error = %e, "the stream's checkpoint does not decode; starting it afresh");
                None
            }
        }
    }

    /// A failure of this component.
    pub fn error(&self, message: impl Into<String>) -> ComponentError {
        self.run.error(message)
    }

    pub fn name(&self) -> &Arc<str> {
        &self.run.name
    }

    /// Counts records known to be lost upstream (content the API no longer has).
    pub fn count_errored(&self, n: u64) {
        self.run.counters.add_errored(n);
    }

    /// Sends `records` as events; `cursor` becomes the stream's checkpoint once they,
    /// and everything sent before them, are acknowledged. With no records the cursor
    /// still moves, in its turn.
    pub async fn emit<C: Serialize>(
        &mut self,
        stream: &str,
        records: Vec<Value>,
        cursor: &C,
    ) -> Result<(), Halt> {
        let commit = serde_json::to_value(cursor).map_err(|e| {
            Halt::Failed(
                self.run
                    .error(format!("cannot encode the cursor of `{stream}`: {e}")),
            )
        })?;
        let stream: Arc<str> = Arc::from(stream);
        if records.is_empty() {
            self.ledger.pending.push_back(Pending {
                stream,
                ack: None,
                commit: Some(commit),
            });
            return self.settle().await;
        }
        let chunks = records.len().div_ceil(MAX_BATCH);
        let mut records = records.into_iter();
        for chunk in 0..chunks {
            let batch: Batch = records
                .by_ref()
                .take(MAX_BATCH)
                .map(|record| self.event(record))
                .collect();
            let last = chunk + 1 == chunks;
            self.send(Arc::clone(&stream), batch, last.then(|| commit.clone()))
                .await?;
        }
        self.settle().await
    }

    /// The error records of the records `client` held back since last asked (over an
    /// input limit, or not JSON), each saying which request's page it was on and
    /// why; counted as errored. Sources add them to the page's records, so they are
    /// delivered, and the cursor moves past them, like any other record.
    pub fn rejected(&self, client: &mut ApiClient) -> Vec<Value> {
        client
            .take_rejected()
            .into_iter()
            .map(|(target, rejected)| {
                self.run.counters.add_errored(1);
                rejected.error_record(&self.run.name, &target)
            })
            .collect()
    }

    /// One record as an event; a record that is not an object is wrapped and flagged.
    fn event(&self, record: Value) -> Event {
        let value = match record {
            object @ Value::Object(_) => object,
            other => {
                let reason = format!("the API returned {}, not an object", other.type_name());
                self.error_record(&pipectl_core::json::to_string(&other), &reason)
            }
        };
        Event::new(value, Arc::clone(&self.run.name))
    }

    /// A record that could not be read (a ragged CSV row), in the shape of the `errors`
    /// outputs: `message` holds its text and `pipectl.error` says why. Counted as
    /// errored; emitted rather than dropped.
    pub fn error_record(&self, text: &str, reason: &str) -> Value {
        self.run.counters.add_errored(1);
        let mut error = Map::with_capacity(2);
        error.push("component", Value::from(self.run.name.as_ref()));
        error.push("message", Value::from(reason));
        let mut pipectl = Map::with_capacity(1);
        pipectl.push("error", Value::Object(error));
        let mut wrapper = Map::with_capacity(2);
        wrapper.push("message", Value::from(text));
        wrapper.push("pipectl", Value::Object(pipectl));
        Value::Object(wrapper)
    }

    async fn send(
        &mut self,
        stream: Arc<str>,
        mut batch: Batch,
        commit: Option<serde_json::Value>,
    ) -> Result<(), Halt> {
        let ack = attach_ack(&mut batch);
        self.run.out.send_batch(batch).await?;
        self.ledger.pending.push_back(Pending {
            stream,
            ack: Some(ack),
            commit,
        });
        if self.ledger.pending.len() >= MAX_PENDING {
            self.wait_oldest().await?;
        }
        Ok(())
    }

    /// Runs `work` unless shutdown is requested first.
    pub async fn until_shutdown<F: Future>(&mut self, work: F) -> Result<F::Output, Halt> {
        tokio::select! {
            biased;
            _ = self.run.shutdown.wait() => Err(Halt::Shutdown),
            output = work => Ok(output),
        }
    }

    /// Waits `interval` (committing acknowledgements as they come), or returns on
    /// shutdown.
    pub async fn pause(&mut self, interval: Duration) -> Result<(), Halt> {
        let deadline = Instant::now() + interval;
        loop {
            self.settle().await?;
            let wake = deadline.min(Instant::now() + CHECKPOINT_INTERVAL);
            self.until_shutdown(tokio::time::sleep_until(wake)).await?;
            if Instant::now() >= deadline {
                return self.settle().await;
            }
        }
    }

    /// Commits the acknowledged prefix of sent batches and writes the checkpoint when
    /// due.
    pub async fn settle(&mut self) -> Result<(), Halt> {
        self.ledger.commit_acknowledged();
        self.ledger.persist(false).await.map_err(Halt::Failed)
    }

    async fn wait_oldest(&mut self) -> Result<(), Halt> {
        let Some(p) = self.ledger.pending.pop_front() else {
            return Ok(());
        };
        let status = match p.ack {
            None => BatchStatus::Delivered,
            Some(ack) => match self.until_shutdown(ack.wait()).await {
                Ok(status) => status,
                Err(halt) => {
                    // Its fate is unknown: nothing of its stream may be committed after it.
                    self.ledger.frozen.insert(p.stream);
                    return Err(halt);
                }
            },
        };
        self.ledger.record(status, p.stream, p.commit);
        Ok(())
    }

    /// Closes the output (the graph drains), waits a grace period for in-flight
    /// batches, writes the final checkpoint and returns the run's result.
    pub async fn finish(self, halt: Halt) -> Result<(), ComponentError> {
        let Emitter { run, mut ledger } = self;
        drop(run.out);
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while let Some(p) = ledger.pending.pop_front() {
            let status = match p.ack {
                None => BatchStatus::Delivered,
                Some(ack) => match tokio::time::timeout_at(deadline, ack.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        tracing::warn!(source = %run.name, unacknowledged = ledger.pending.len() + 1, "stopping before every batch was acknowledged; they will be read again");
                        break;
                    }
                },
            };
            ledger.record(status, p.stream, p.commit);
        }
        ledger.persist(true).await?;
        halt.into_result()
    }
}
