//! The life of one bulk request: send, read the per-item verdicts, retry what was
//! refused for now, dead-letter what was refused for good, until every document is
//! settled.
//!
//! - Nothing answers, or the whole request gets 429/5xx: wait (exponential backoff with
//!   jitter, `Retry-After` honoured) and send it all again — for ever while the input
//!   is open. The request keeps its concurrency slot meanwhile, so the sink stops
//!   taking input and backpressure holds the sources: nothing is dropped and memory
//!   stays bounded.
//! - Items refused with 429/5xx are sent again, alone; accepted ones are acknowledged
//!   at once. Items refused for good (400-class mapping and parse errors, a blocked or
//!   missing index) go to the dead-letter index, then are acknowledged.
//! - HTTP 413: the batch is split in halves; a single document too large for the
//!   cluster is dead-lettered.
//! - 401, 403 and other 4xx answers to the whole request are configuration errors:
//!   the sink stops with the reason, and its events are failed back to their sources.
//! - Once the input has ended, a request still failing after `drain_timeout` writes
//!   the rest to the local dead-letter file (see `deadletter`).

use super::bulk::{self, BulkOutcome, ItemOutcome};
use super::client::{check_cluster, Client, ClientError};
use super::deadletter::{record, record_id, DeadLetterFile, Origin};
use super::encode::{BulkBatch, Item, Pending, Rejection};
use super::retry::Backoff;
use super::routing::IndexPattern;
use super::setup::{install, SetupOptions};
use super::time::{civil_from_ms, now_ms};
use crate::sources::Throttle;
use bytes::Bytes;
use futures::future::BoxFuture;
use pipectl_core::component::ComponentError;
use pipectl_core::metrics::ComponentCounters;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Which index a request writes: a pipectl index, or the dead-letter index (whose
/// refusals go to the local file instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Primary,
    DeadLetter,
}

/// What every request of one sink shares.
pub struct Delivery {
    pub client: Client,
    /// `pipeline.component`, for errors.
    pub name: Arc<str>,
    pub origin: Origin,
    pub counters: Arc<ComponentCounters>,
    pub compress: bool,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub drain_timeout: Duration,
    pub deadletter_index: IndexPattern,
    pub deadletter_file: DeadLetterFile,
    pub setup_templates: bool,
    /// When the input ended: from then on, `drain_timeout` bounds the retries.
    draining: OnceLock<Instant>,
    /// Documents written to the dead-letter file because the drain deadline passed.
    abandoned: AtomicU64,
    /// The start-up check (and template setup) has passed.
    ready: tokio::sync::OnceCell<()>,
    warnings: Mutex<Throttle>,
}

/// Why the sink cannot go on.
type Fatal = ComponentError;

impl Delivery {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        name: Arc<str>,
        origin: Origin,
        counters: Arc<ComponentCounters>,
        compress: bool,
        backoff: (Duration, Duration),
        drain_timeout: Duration,
        deadletter_index: IndexPattern,
        deadletter_file: DeadLetterFile,
        setup_templates: bool,
    ) -> Delivery {
        Delivery {
            client,
            name,
            origin,
            counters,
            compress,
            initial_backoff: backoff.0,
            max_backoff: backoff.1,
            drain_timeout,
            deadletter_index,
            deadletter_file,
            setup_templates,
            draining: OnceLock::new(),
            abandoned: AtomicU64::new(0),
            ready: tokio::sync::OnceCell::new(),
            warnings: Mutex::new(Throttle::new()),
        }
    }

    fn fatal(&self, message: String) -> Fatal {
        ComponentError {
            component: self.name.to_string(),
            message,
        }
    }

    /// The input has ended: retries are bounded by `drain_timeout` from now on.
    pub fn start_draining(&self) {
        let _ = self.draining.set(Instant::now());
    }

    /// After the input ended and everything settled: an error if documents had to be
    /// left in the dead-letter file for want of a cluster, so a finite run that could
    /// not deliver does not look like a success (the documents are safe on disk).
    pub fn finish(&self) -> Result<(), Fatal> {
        match self.abandoned.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => Err(self.fatal(format!(
                "{n} document(s) could not be delivered to OpenSearch at {} within drain_timeout; they are in the dead-letter file {}",
                self.client.url(),
                self.deadletter_file.path().display()
            ))),
        }
    }

    /// Past the drain deadline: failing requests go to the dead-letter file.
    fn given_up(&self) -> bool {
        self.draining
            .get()
            .is_some_and(|since| since.elapsed() >= self.drain_timeout)
    }

    /// Waits before a retry, but not past the drain deadline.
    async fn pause(&self, delay: Duration) {
        let delay = match self.draining.get() {
            Some(since) => delay.min(self.drain_timeout.saturating_sub(since.elapsed())),
            None => delay,
        };
        tokio::time::sleep(delay).await;
    }

    fn warn(&self, message: &str, waiting: usize, delay: Duration) {
        let allowed = self
            .warnings
            .lock()
            .map(|mut t| t.allow())
            .unwrap_or(Some(0));
        if let Some(suppressed) = allowed {
            tracing::warn!(
                component = %self.name,
                documents = waiting,
                retry_in_ms = delay.as_millis() as u64,
                similar_warnings_suppressed = suppressed,
                "{message}; retrying, nothing is dropped"
            );
        }
    }

    /// The start-up check and template setup, done once before the first request:
    /// `Ok(None)` ready, `Ok(Some(reason))` not yet (unreachable, starting), `Err`
    /// never (wrong credentials, not OpenSearch 2.x, templates refused).
    pub async fn ensure_ready(&self) -> Result<Option<String>, Fatal> {
        let result = self
            .ready
            .get_or_try_init(|| async {
                let info = check_cluster(&self.client).await.map_err(|e| (e.is_transient(), e.to_string()))?;
                tracing::info!(
                    component = %self.name,
                    url = %self.client.url(),
                    version = %info.version,
                    cluster = %info.cluster_name,
                    "connected to OpenSearch"
                );
                if self.setup_templates {
                    let steps = install(&self.client, &SetupOptions::default()).await.map_err(|e| {
                        (
                            e.is_transient(),
                            format!("installing the index templates: {e} (set `setup_templates = false` if this user may not manage templates, and run `pipectl opensearch setup` as one who may)"),
                        )
                    })?;
                    for step in steps {
                        tracing::info!(component = %self.name, "{} {}: {}", step.what, step.name, step.outcome);
                    }
                }
                Ok::<(), (bool, String)>(())
            })
            .await;
        match result {
            Ok(()) => Ok(None),
            Err((true, reason)) => Ok(Some(reason)),
            Err((false, reason)) => Err(self.fatal(reason)),
        }
    }

    /// Settles every document of `batch`.
    pub fn deliver(&self, batch: BulkBatch, lane: Lane) -> BoxFuture<'_, Result<(), Fatal>> {
        Box::pin(self.deliver_inner(batch, lane))
    }

    async fn deliver_inner(&self, mut batch: BulkBatch, lane: Lane) -> Result<(), Fatal> {
        let mut backoff = Backoff::new(self.initial_backoff, self.max_backoff);
        loop {
            if batch.is_empty() {
                return Ok(());
            }
            if self.given_up() {
                return self.abandon(batch, lane).await;
            }
            if let Some(reason) = self.ensure_ready().await? {
                let delay = backoff.next_delay(None);
                self.warn(&reason, batch.len(), delay);
                self.pause(delay).await;
                continue;
            }
            for item in &mut batch.items {
                item.attempts += 1;
            }
            let (body, sent) = match self.encode_body(std::mem::take(&mut batch.body)).await {
                Ok(pair) => pair,
                Err(e) => return Err(self.fail_all(batch, e)),
            };
            batch.body = body;
            self.counters.add_bytes_out(sent.len() as u64);
            let outcome = match bulk::send(&self.client, sent, self.compress, batch.len()).await {
                Ok(outcome) => outcome,
                Err(ClientError::Unreachable { url, reason }) => {
                    let delay = backoff.next_delay(None);
                    self.warn(
                        &format!("cannot reach OpenSearch at {url}: {reason}"),
                        batch.len(),
                        delay,
                    );
                    self.mark_failed(&mut batch);
                    self.pause(delay).await;
                    continue;
                }
                Err(other) => return Err(self.fail_all(batch, other.to_string())),
            };
            if backoff.failures() > 0 {
                tracing::info!(component = %self.name, failures = backoff.failures(), "OpenSearch accepted a request again");
            }
            match outcome {
                BulkOutcome::AllDone => {
                    self.settle(batch.items, lane);
                    return Ok(());
                }
                BulkOutcome::Items(verdicts) => {
                    batch = self.sort_items(batch, verdicts, lane).await?;
                    if !batch.is_empty() {
                        let delay = backoff.next_delay(None);
                        self.warn(
                            "OpenSearch refused documents under load (HTTP 429/5xx)",
                            batch.len(),
                            delay,
                        );
                        self.pause(delay).await;
                    }
                }
                BulkOutcome::Transient {
                    status,
                    reason,
                    retry_after,
                } => {
                    let delay = backoff.next_delay(retry_after);
                    self.warn(
                        &format!("OpenSearch answered HTTP {status}: {reason}"),
                        batch.len(),
                        delay,
                    );
                    self.mark_failed(&mut batch);
                    self.pause(delay).await;
                }
                BulkOutcome::TooLarge => return self.split(batch, lane).await,
                BulkOutcome::Fatal { status, reason } => {
                    let hint = match status {
                        401 => " (check `username` and `password`)",
                        403 => " (the user may not write these indices)",
                        _ => "",
                    };
                    let message = format!(
                        "OpenSearch refused the bulk request with HTTP {status}{hint}: {reason}"
                    );
                    return Err(self.fail_all(batch, message));
                }
            }
        }
    }

    /// gzips the body off the async threads (when enabled); returns the body back and
    /// what to send.
    async fn encode_body(&self, body: Vec<u8>) -> Result<(Vec<u8>, Bytes), String> {
        if !self.compress {
            let sent = Bytes::copy_from_slice(&body);
            return Ok((body, sent));
        }
        tokio::task::spawn_blocking(move || {
            let packed = bulk::gzip(&body);
            (body, Bytes::from(packed))
        })
        .await
        .map_err(|e| format!("compressing a bulk body failed: {e}"))
    }

    fn mark_failed(&self, batch: &mut BulkBatch) {
        let now = now_ms();
        for item in &mut batch.items {
            item.first_failed.get_or_insert(now);
        }
    }

    /// Counts and acknowledges settled items.
    fn settle(&self, items: Vec<Item>, lane: Lane) {
        let n = items.len() as u64;
        for item in items {
            item.ack.delivered();
        }
        match lane {
            Lane::Primary => self.counters.add_out(n),
            Lane::DeadLetter => self.counters.add_errored(n),
        }
    }

    /// Fails the batch's events back to their sources and describes the failure.
    fn fail_all(&self, batch: BulkBatch, message: String) -> Fatal {
        self.counters.add_dropped(batch.len() as u64);
        // Dropping the items fails their acknowledgements.
        drop(batch);
        self.fatal(message)
    }

    /// Applies per-item verdicts: acknowledges accepted items, dead-letters rejected
    /// ones, and returns the batch of those to send again.
    async fn sort_items(
        &self,
        mut batch: BulkBatch,
        verdicts: Vec<ItemOutcome>,
        lane: Lane,
    ) -> Result<BulkBatch, Fatal> {
        let now = now_ms();
        let mut done = Vec::new();
        let mut retry = Vec::new();
        let mut rejected = Vec::new();
        let items = std::mem::take(&mut batch.items);
        for (mut item, verdict) in items.into_iter().zip(verdicts) {
            match verdict {
                ItemOutcome::Done => done.push(item),
                ItemOutcome::Retry { .. } => {
                    item.first_failed.get_or_insert(now);
                    retry.push(item);
                }
                ItemOutcome::Reject {
                    status,
                    error_type,
                    reason,
                } => {
                    let document = batch.document(&item).to_vec();
                    rejected.push(Rejection::from_item(
                        item,
                        &document,
                        Some(status),
                        &error_type,
                        reason,
                        now,
                    ));
                }
            }
        }
        self.settle(done, lane);
        if !rejected.is_empty() {
            match lane {
                Lane::Primary => self.dead_letter(rejected).await?,
                Lane::DeadLetter => {
                    // The record is the rejected "document": it goes to the file as is.
                    let reason = rejected
                        .first()
                        .map(|r| format!("{}: {}", r.error_type, r.reason))
                        .unwrap_or_default();
                    tracing::error!(component = %self.name, records = rejected.len(), file = %self.deadletter_file.path().display(), "the dead-letter index refused records ({reason}); writing them to the dead-letter file");
                    let lines = rejected.into_iter().map(|r| (r.ack, r.document)).collect();
                    self.write_file(lines).await?;
                }
            }
        }
        Ok(batch.subset(retry))
    }

    /// Sends rejections to the dead-letter index (and from there, if refused, to the file).
    pub async fn dead_letter(&self, rejections: Vec<Rejection>) -> Result<(), Fatal> {
        let Some(first) = rejections.first() else {
            return Ok(());
        };
        let now = now_ms();
        let index: Arc<str> = Arc::from(self.deadletter_index.render(Some(civil_from_ms(now))));
        tracing::warn!(
            component = %self.name,
            documents = rejections.len(),
            index = %index,
            first_error = %first.error_type,
            first_reason = %first.reason,
            "documents refused for good; writing them to the dead-letter index"
        );
        let mut batch = BulkBatch::default();
        let mut action = Vec::with_capacity(128);
        for rejection in rejections {
            let id = record_id(&rejection);
            let line = record(&rejection, &self.origin, &id, now);
            action.clear();
            action.extend_from_slice(b"{\"index\":{\"_index\":");
            pipectl_core::json::write_str(&index, &mut action);
            action.extend_from_slice(b",\"_id\":");
            pipectl_core::json::write_str(&id, &mut action);
            action.extend_from_slice(b"}}");
            let item = Item::new(
                rejection.ack,
                rejection.source,
                Arc::clone(&index),
                "deadletter",
                id,
            );
            batch.push_lines(item, &action, &line);
        }
        self.deliver(batch, Lane::DeadLetter).await
    }

    /// The drain deadline passed: writes what is left to the dead-letter file.
    async fn abandon(&self, batch: BulkBatch, lane: Lane) -> Result<(), Fatal> {
        let now = now_ms();
        let reason = format!(
            "OpenSearch at {} did not accept the document within drain_timeout ({}s) after the input ended",
            self.client.url(),
            self.drain_timeout.as_secs()
        );
        tracing::error!(
            component = %self.name,
            documents = batch.len(),
            file = %self.deadletter_file.path().display(),
            "{reason}; writing the documents to the dead-letter file"
        );
        let mut lines = Vec::with_capacity(batch.len());
        let mut batch = batch;
        self.abandoned
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for item in std::mem::take(&mut batch.items) {
            let document = batch.document(&item).to_vec();
            match lane {
                // Dead-letter records are already what the file holds.
                Lane::DeadLetter => lines.push((item.ack, document)),
                Lane::Primary => {
                    let rejection = Rejection::from_item(
                        item,
                        &document,
                        None,
                        "unreachable",
                        reason.clone(),
                        now,
                    );
                    let id = record_id(&rejection);
                    let line = record(&rejection, &self.origin, &id, now);
                    lines.push((rejection.ack, line));
                }
            }
        }
        self.write_file(lines).await
    }

    /// A batch too large for the cluster: halves, or a single document dead-lettered.
    async fn split(&self, mut batch: BulkBatch, lane: Lane) -> Result<(), Fatal> {
        if batch.len() > 1 {
            let mut items = std::mem::take(&mut batch.items);
            let second = items.split_off(items.len() / 2);
            let (a, b) = (batch.subset(items), batch.subset(second));
            drop(batch);
            self.deliver(a, lane).await?;
            return self.deliver(b, lane).await;
        }
        let now = now_ms();
        let reason =
            "the document is larger than the cluster's http.max_content_length".to_string();
        let mut lines = Vec::new();
        let mut rejections = Vec::new();
        for item in std::mem::take(&mut batch.items) {
            let document = batch.document(&item).to_vec();
            match lane {
                Lane::DeadLetter => lines.push((item.ack, document)),
                Lane::Primary => rejections.push(Rejection::from_item(
                    item,
                    &document,
                    Some(413),
                    "request_too_large",
                    reason.clone(),
                    now,
                )),
            }
        }
        self.dead_letter(rejections).await?;
        self.write_file(lines).await
    }

    /// Appends records to the dead-letter file, then acknowledges their events.
    async fn write_file(&self, lines: Vec<(Pending, Vec<u8>)>) -> Result<(), Fatal> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut text = Vec::with_capacity(lines.iter().map(|(_, l)| l.len() + 1).sum());
        for (_, line) in &lines {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        let n = lines.len() as u64;
        match self.deadletter_file.append(text).await {
            Ok(()) => {
                for (ack, _) in lines {
                    ack.delivered();
                }
                self.counters.add_errored(n);
                Ok(())
            }
            Err(e) => {
                self.counters.add_dropped(n);
                // Dropping `lines` fails the events back to their sources.
                Err(self.fatal(format!(
                    "cannot write the dead-letter file {}: {e}",
                    self.deadletter_file.path().display()
                )))
            }
        }
    }
}
