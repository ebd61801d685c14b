//! `mode = "scan"`: a bucket prefix listed in key order (`ListObjectsV2` with
//! `start-after`), polled for new keys.
//!
//! The position is the last key whose events every sink acknowledged, committed in key
//! order (a later object's acknowledgement waits for the earlier ones) and written to
//! the checkpoint in the component's data directory's state store.
//! A restart lists after it: nothing acknowledged is read twice, nothing
//! unacknowledged is lost. After a failed batch the position stays before it for the
//! rest of the run, so the object is read again after a restart.
//!
//! A bad object (corrupt gzip, invalid JSON, no `Records`, access denied...) is logged
//! with its key and reason, counted as errored and passed over: there is no queue to
//! leave it on, and stopping there would stop every later object. A transient failure
//! (network, throttling, S3 5xx) is not passed over: the listing is taken up again
//! after the last object handled, a little later.

use super::{
    emit, pause, read_object, LogFormat, ObjectError, ObjectStats, Pending, S3LogSource,
    ERROR_PAUSE, SHUTDOWN_GRACE,
};
use crate::aws::s3::S3;
use crate::checkpoint::CheckpointStore;
use crate::io::BatchOutput;
use crate::sources::{Halt, Run};
use pipectl_core::component::ComponentError;
use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

/// What is listed.
pub(super) struct Place<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub poll_interval: Duration,
}

/// Objects sent but not yet acknowledged before listing pauses for the oldest.
const MAX_PENDING: usize = 256;
/// How often, at most, the checkpoint is written while running.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// The persisted position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    bucket: String,
    prefix: String,
    /// The last key acknowledged (or passed over).
    after: String,
}

/// Reads and writes the scan's checkpoint.
struct Store {
    file: CheckpointStore,
    bucket: String,
    prefix: String,
    current: Option<String>,
    dirty: bool,
    last_write: Option<Instant>,
}

impl Store {
    fn new(data_dir: &Path, place: &Place<'_>) -> Store {
        Store {
            file: CheckpointStore::new(data_dir),
            bucket: place.bucket.to_string(),
            prefix: place.prefix.to_string(),
            current: None,
            dirty: false,
            last_write: None,
        }
    }

    /// The stored position for this bucket and prefix; another's, or an unreadable
    /// one, is ignored with a warning (listing then starts at the prefix's first key).
    async fn load(&self) -> Option<String> {
        match self.file.load::<Checkpoint>().await {
            Some(cp) if cp.bucket == self.bucket && cp.prefix == self.prefix => Some(cp.after),
            Some(cp) => {
                tracing::info!(old_bucket = %cp.bucket, old_prefix = %cp.prefix, "the checkpoint is for another bucket or prefix; starting without it");
                None
            }
            None => None,
        }
    }

    fn commit(&mut self, key: String) {
        if self.current.as_ref() != Some(&key) {
            self.current = Some(key);
            self.dirty = true;
        }
    }

    /// Writes the position if it changed and the last write is old enough (or `force`).
    async fn persist(&mut self, force: bool) -> std::io::Result<()> {
        let due = force
            || self
                .last_write
                .is_none_or(|t| t.elapsed() >= CHECKPOINT_INTERVAL);
        let Some(after) = self.current.clone().filter(|_| self.dirty && due) else {
            return Ok(());
        };
        let checkpoint = Checkpoint {
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            after,
        };
        if let Some(dir) = self.file.path().parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        self.file.save(&checkpoint).await?;
        self.dirty = false;
        self.last_write = Some(Instant::now());
        Ok(())
    }
}

/// The scan's state between calls.
struct Scan<'a, F, O> {
    source: &'a S3LogSource<F>,
    run: Run<O>,
    s3: S3,
    place: Place<'a>,
    store: Store,
    /// Objects handled, oldest first, with what they sent.
    pending: VecDeque<(String, Pending)>,
    /// A batch failed: the position stays before it for the rest of the run.
    frozen: bool,
}

pub(super) async fn run<F: LogFormat, O: BatchOutput>(
    source: &S3LogSource<F>,
    run: Run<O>,
    place: Place<'_>,
    s3: S3,
) -> Result<(), ComponentError> {
    let store = Store::new(&source.data_dir, &place);
    let mut scan = Scan {
        source,
        run,
        s3,
        place,
        store,
        pending: VecDeque::new(),
        frozen: false,
    };
    let halt = match scan.list().await {
        Ok(never) => match never {},
        Err(halt) => halt,
    };
    scan.finish(halt).await
}

impl<F: LogFormat, O: BatchOutput> Scan<'_, F, O> {
    /// Lists and reads until shutdown, a permanent failure, or nobody listening.
    async fn list(&mut self) -> Result<std::convert::Infallible, Halt> {
        let mut after = self.store.load().await;
        if let Some(key) = &after {
            self.store.commit(key.clone());
            self.store.dirty = false;
        }
        let mut continuation: Option<String> = None;
        loop {
            let listed = tokio::select! {
                biased;
                _ = self.run.shutdown.wait() => return Err(Halt::Shutdown),
                listed = self.s3.list_objects(
                    self.place.bucket,
                    self.place.prefix,
                    // A continuation token carries the position itself.
                    if continuation.is_some() { None } else { after.as_deref() },
                    continuation.as_deref(),
                ) => listed,
            };
            let page = match listed {
                Ok(page) => page,
                Err(e) if e.is_transient() => {
                    tracing::warn!(source = %self.run.name, error = %e, "cannot list objects; trying again");
                    continuation = None;
                    pause(&mut self.run, ERROR_PAUSE).await?;
                    continue;
                }
                Err(e) => return Err(Halt::Failed(self.run.error(e.to_string()))),
            };
            let mut interrupted = false;
            for key in page.keys {
                if !self.object(&key).await? {
                    interrupted = true;
                    break;
                }
                after = Some(key);
            }
            self.settle().await?;
            if interrupted {
                continuation = None;
                pause(&mut self.run, ERROR_PAUSE).await?;
                continue;
            }
            continuation = page.continuation;
            if continuation.is_none() {
                self.persist(true).await?;
                pause(&mut self.run, self.place.poll_interval).await?;
            }
        }
    }

    /// Handles one listed key; `false` if it could not be read for now.
    async fn object(&mut self, key: &str) -> Result<bool, Halt> {
        let stats = &self.source.stats;
        let mut acks = Vec::new();
        if stats.admit(F::classify(key)) {
            let config = &self.source.config;
            match read_object::<F, O>(&self.s3, &mut self.run, config, self.place.bucket, key)
                .await?
            {
                Ok(events) => {
                    ObjectStats::bump(&stats.objects_read);
                    acks = emit(&mut self.run, events, config.batch_size).await?;
                }
                Err(ObjectError::Transient(e)) => {
                    tracing::warn!(source = %self.run.name, error = %e, "cannot read an object now; trying again");
                    return Ok(false);
                }
                Err(ObjectError::Bad(reason)) => {
                    tracing::error!(
                        source = %self.run.name,
                        bucket = self.place.bucket,
                        key,
                        reason,
                        "a bad {}; passed over",
                        F::WHAT
                    );
                    ObjectStats::bump(&stats.bad_objects);
                    self.run.counters.add_errored(1);
                }
            }
        }
        self.pending
            .push_back((key.to_string(), Pending::new(acks)));
        if self.pending.len() >= MAX_PENDING {
            self.wait_oldest().await?;
        }
        self.settle().await?;
        Ok(true)
    }

    /// Commits the acknowledged prefix of handled objects; writes the checkpoint when due.
    async fn settle(&mut self) -> Result<(), Halt> {
        while let Some((_, front)) = self.pending.front_mut() {
            if !front.poll() {
                break;
            }
            if let Some((key, done)) = self.pending.pop_front() {
                self.record(key, !done.failed);
            }
        }
        self.persist(false).await
    }

    async fn wait_oldest(&mut self) -> Result<(), Halt> {
        let Some((key, pending)) = self.pending.pop_front() else {
            return Ok(());
        };
        tokio::select! {
            biased;
            _ = self.run.shutdown.wait() => {
                // Its fate is now unknown: nothing after it may be committed either.
                self.frozen = true;
                Err(Halt::Shutdown)
            }
            delivered = pending.wait() => {
                self.record(key, delivered);
                Ok(())
            }
        }
    }

    fn record(&mut self, key: String, delivered: bool) {
        if !delivered && !self.frozen {
            tracing::error!(
                source = %self.run.name,
                bucket = self.place.bucket,
                key,
                "a batch could not be delivered; the position stays before it and it is read again after a restart"
            );
            self.frozen = true;
        }
        if !self.frozen {
            self.store.commit(key);
        }
    }

    async fn persist(&mut self, force: bool) -> Result<(), Halt> {
        self.store.persist(force).await.map_err(|e| {
            Halt::Failed(self.run.error(format!(
                "cannot write the checkpoint {}: {e}",
                self.store.file.path().display()
            )))
        })
    }

    /// Closes the output, waits (a while) for what is in flight and writes the position.
    async fn finish(self, halt: Halt) -> Result<(), ComponentError> {
        let Scan {
            run,
            mut store,
            mut pending,
            mut frozen,
            place,
            ..
        } = self;
        let Run { out, name, .. } = run;
        drop(out);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while let Some((key, p)) = pending.pop_front() {
            if matches!(halt, Halt::Closed) {
                break;
            }
            match tokio::time::timeout_at(deadline, p.wait()).await {
                Ok(true) if !frozen => store.commit(key),
                Ok(true) => {}
                Ok(false) => frozen = true,
                Err(_) => {
                    tracing::warn!(
                        source = %name,
                        bucket = place.bucket,
                        unacknowledged = pending.len() + 1,
                        "stopping before every object was acknowledged; they will be read again"
                    );
                    break;
                }
            }
        }
        store.persist(true).await.map_err(|e| ComponentError {
            component: name.to_string(),
            message: format!(
                "cannot write the checkpoint {}: {e}",
                store.file.path().display()
            ),
        })?;
        halt.into_result()
    }
}
