//! The buffer's loops: a writer from the sink's input into the log, a reader from the
//! log into the sink's delivery loop, and the delivery loop itself, run together in
//! the sink's task (so stopping the sink stops all three).
//!
//! The writer acknowledges a source's events by dropping them once their records are
//! written (and synced, with `buffer_fsync = "batch"`); an event it could not write is
//! failed, so its source does not advance past it. The reader gives each batch it
//! hands over a fresh acknowledgement and advances the buffer's checkpoint over the
//! prefix of batches the destination accepted, in order; segments wholly before the
//! checkpoint are deleted, which frees room for the writer.

use super::recover::{self, Recovered};
use super::wal::{self, Pos, ReadRecord, SegmentReader, SegmentWriter, FRAME_OVERHEAD, HEADER_LEN};
use super::{BufferConfig, Fsync, WhenFull};
use crate::io::{attach_ack, BatchInput};
use pipectl_core::ack::{AckReceiver, AckToken, BatchStatus};
use pipectl_core::component::ComponentError;
use pipectl_core::event::{Batch, Event};
use pipectl_core::metrics::ComponentCounters;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// Events per batch handed to the sink, at most.
const READ_EVENTS: usize = 1000;
/// Payload bytes per batch handed to the sink, at most.
const READ_BYTES: usize = 4 << 20;
/// Frames gathered before one write, at most.
const WRITE_BYTES: usize = 4 << 20;
/// How often the checkpoint is written while the reader stays in one segment.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Batches waiting between the reader and the sink.
const HANDOFF: usize = 2;
/// A fallback poll for the notifications (a missed wake-up costs this much, no more).
const POLL: Duration = Duration::from_millis(20);

/// The sink's view of the buffer: the batches read back from the log.
pub struct BufferedInput {
    rx: mpsc::Receiver<Batch>,
}

impl BatchInput for BufferedInput {
    async fn next_batch(&mut self) -> Option<Batch> {
        self.rx.recv().await
    }
}

impl Drop for BufferedInput {
    /// Batches the sink never took are not delivered: fail them, so the reader does
    /// not advance its checkpoint past them.
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(batch) = self.rx.try_recv() {
            batch.iter().for_each(Event::fail_delivery);
        }
    }
}

struct State {
    segments: BTreeMap<u64, u64>,
    total: u64,
    /// The end of what the writer has written.
    write: Pos,
    /// The writer is done (its input ended, it failed, or the sink stopped).
    closed: bool,
    failed: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    data: Notify,
    space: Notify,
    stop: AtomicBool,
    stop_notify: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves sizes that are still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.stop_notify.notify_waiters();
        self.space.notify_waiters();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    async fn wait_stop(&self) {
        while !self.stopped() {
            let _ = tokio::time::timeout(POLL * 5, self.stop_notify.notified()).await;
        }
    }

    fn close(&self, failed: Option<String>) {
        let mut state = self.lock();
        state.closed = true;
        if failed.is_some() {
            state.failed = failed;
        }
        drop(state);
        self.data.notify_one();
    }
}

/// Events taken from the input whose records are not yet durable. Dropped without
/// [`Unwritten::written`] (an error, the sink stopping), they are failed.
#[derive(Default)]
struct Unwritten(Vec<Event>);

impl Unwritten {
    fn written(&mut self) {
        // Dropping the events acknowledges this copy of each.
        self.0.clear();
    }
}

impl Drop for Unwritten {
    fn drop(&mut self) {
        self.0.iter().for_each(Event::fail_delivery);
    }
}

/// Where a buffered sink runs and reports.
pub struct Buffered {
    pub config: BufferConfig,
    pub name: Arc<str>,
    pub counters: Arc<ComponentCounters>,
    /// Once the input has ended, how long the reader keeps feeding the sink before it
    /// stops and leaves the rest in the buffer for the next start (`None`: until the
    /// buffer is empty).
    pub drain: Option<Duration>,
}

impl Buffered {
    fn error(&self, message: String) -> ComponentError {
        ComponentError {
            component: self.name.to_string(),
            message,
        }
    }

    /// Runs `deliver` (the sink's loop) behind the buffer until the input has ended
    /// and what could be delivered is delivered.
    pub async fn run<I, F, Fut>(self, input: I, deliver: F) -> Result<(), ComponentError>
    where
        I: BatchInput,
        F: FnOnce(BufferedInput) -> Fut,
        Fut: Future<Output = Result<(), ComponentError>>,
    {
        let dir = self.config.dir.clone();
        let segment_size = self.config.segment_size();
        let opened = tokio::task::spawn_blocking(move || {
            let recovered = recover::open(&dir)?;
            let writer = SegmentWriter::create(&dir, recovered.next_id, segment_size)
                .map_err(|e| format!("cannot start a segment in {}: {e}", dir.display()))?;
            Ok::<_, String>((recovered, writer))
        })
        .await;
        let (recovered, writer) = match opened {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(self.error(e)),
            Err(e) => return Err(self.error(format!("the buffer task failed: {e}"))),
        };
        let Recovered {
            mut segments,
            resume,
            lock,
            ..
        } = recovered;
        segments.insert(writer.id, writer.size);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                total: segments.values().sum(),
                segments,
                write: Pos {
                    segment: writer.id,
                    offset: writer.size,
                },
                closed: false,
                failed: None,
            }),
            data: Notify::new(),
            space: Notify::new(),
            stop: AtomicBool::new(false),
            stop_notify: Notify::new(),
        });
        let (tx, rx) = mpsc::channel(HANDOFF);
        let this = &self;
        let (written, read, delivered) = tokio::join!(
            this.write_loop(input, writer, &shared),
            this.read_loop(resume, tx, &shared),
            async {
                let result = deliver(BufferedInput { rx }).await;
                shared.stop();
                result
            }
        );
        drop(lock);
        delivered?;
        written?;
        read
    }

    async fn write_loop<I: BatchInput>(
        &self,
        mut input: I,
        writer: SegmentWriter,
        shared: &Shared,
    ) -> Result<(), ComponentError> {
        let mut writer = Some(writer);
        let mut dirty = false;
        let interval = match self.config.fsync {
            Fsync::Batch => None,
            Fsync::Interval(every) => Some(every),
        };
        let mut next_sync = Instant::now() + interval.unwrap_or(Duration::from_secs(3600));
        let mut full_since: Option<Instant> = None;
        let result = loop {
            let batch = tokio::select! {
                biased;
                () = shared.wait_stop() => break Ok(()),
                () = tokio::time::sleep_until(next_sync), if interval.is_some() && dirty => {
                    if let Err(e) = with_writer(&mut writer, SegmentWriter::sync).await {
                        break Err(self.error(format!("cannot sync the buffer {}: {e}", self.config.dir.display())));
                    }
                    dirty = false;
                    next_sync = Instant::now() + interval.unwrap_or_default();
                    continue;
                }
                batch = input.next_batch() => batch,
            };
            let Some(batch) = batch else { break Ok(()) };
            match self
                .write_batch(batch, &mut writer, shared, &mut full_since)
                .await
            {
                Ok(wrote) => dirty |= wrote && interval.is_some(),
                Err(e) => break Err(e),
            }
        };
        if dirty && result.is_ok() {
            if let Err(e) = with_writer(&mut writer, SegmentWriter::sync).await {
                let e = self.error(format!(
                    "cannot sync the buffer {}: {e}",
                    self.config.dir.display()
                ));
                shared.close(Some(e.message.clone()));
                return Err(e);
            }
        }
        shared.close(result.as_ref().err().map(|e| e.message.clone()));
        result
    }

    /// Writes one batch's records; returns whether anything was written.
    async fn write_batch(
        &self,
        batch: Batch,
        writer: &mut Option<SegmentWriter>,
        shared: &Shared,
        full_since: &mut Option<Instant>,
    ) -> Result<bool, ComponentError> {
        let max = self.config.max_size;
        let mut pending = Unwritten::default();
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut frame_bytes = 0u64;
        let mut wrote = false;
        let mut dropped = 0u64;
        let mut events = batch.into_iter();
        'events: while let Some(event) = events.next() {
            let mut payload = Vec::new();
            wal::encode_event(&event, &mut payload);
            let mut frame = Vec::with_capacity(payload.len() + FRAME_OVERHEAD as usize);
            wal::encode_frame(&payload, &mut frame);
            let need = frame.len() as u64;
            loop {
                let used = shared.lock().total + frame_bytes;
                // A record larger than the whole buffer still goes in, alone.
                if used + need <= max || used == 0 {
                    break;
                }
                if !frames.is_empty() {
                    self.flush(&mut frames, &mut frame_bytes, &mut pending, writer, shared)
                        .await?;
                    wrote = true;
                    continue;
                }
                match self.config.when_full {
                    WhenFull::DropNewest => {
                        dropped += 1;
                        // Dropped on purpose, as configured: the event counts as handled.
                        drop(event);
                        continue 'events;
                    }
                    WhenFull::Block => {
                        if full_since.is_none() {
                            *full_since = Some(Instant::now());
                            tracing::warn!(
                                component = %self.name,
                                buffer = %self.config.dir.display(),
                                max_size = max,
                                "buffer full: waiting for the destination to take records (the sources slow down)"
                            );
                        }
                        if shared.stopped() {
                            pending.0.push(event);
                            pending.0.extend(events);
                            return Err(
                                self.error("the sink stopped while its buffer was full".into())
                            );
                        }
                        let _ = tokio::time::timeout(POLL * 5, shared.space.notified()).await;
                    }
                }
            }
            if let Some(since) = full_since.take() {
                tracing::info!(component = %self.name, waited_ms = since.elapsed().as_millis() as u64, "buffer has room again");
            }
            frame_bytes += need;
            frames.push(frame);
            pending.0.push(event);
            if frame_bytes >= WRITE_BYTES as u64 {
                self.flush(&mut frames, &mut frame_bytes, &mut pending, writer, shared)
                    .await?;
                wrote = true;
            }
        }
        if !frames.is_empty() {
            self.flush(&mut frames, &mut frame_bytes, &mut pending, writer, shared)
                .await?;
            wrote = true;
        }
        if dropped > 0 {
            self.counters.add_dropped(dropped);
            tracing::warn!(component = %self.name, dropped, buffer = %self.config.dir.display(), "buffer full: events dropped (buffer_when_full = \"drop_newest\")");
        }
        Ok(wrote)
    }

    /// Writes the gathered frames (syncing with `buffer_fsync = "batch"`), publishes
    /// them to the reader, and acknowledges their events.
    async fn flush(
        &self,
        frames: &mut Vec<Vec<u8>>,
        frame_bytes: &mut u64,
        pending: &mut Unwritten,
        writer: &mut Option<SegmentWriter>,
        shared: &Shared,
    ) -> Result<(), ComponentError> {
        let batch = std::mem::take(frames);
        *frame_bytes = 0;
        let sync = self.config.fsync == Fsync::Batch;
        let sizes = with_writer(writer, move |w| {
            let mut sizes = Vec::new();
            let mut chunk = Vec::new();
            for frame in &batch {
                if w.must_roll(frame.len() as u64 + chunk.len() as u64) && !chunk.is_empty() {
                    w.write(&chunk)?;
                    chunk.clear();
                }
                if w.must_roll(frame.len() as u64) {
                    sizes.push((w.id, w.size));
                    w.roll()?;
                }
                chunk.extend_from_slice(frame);
            }
            w.write(&chunk)?;
            if sync {
                w.sync()?;
            }
            sizes.push((w.id, w.size));
            Ok(sizes)
        })
        .await
        .map_err(|e| {
            let message = format!(
                "cannot write to the buffer {}: {e}",
                self.config.dir.display()
            );
            self.error(message)
        })?;
        {
            let mut state = shared.lock();
            for (id, size) in &sizes {
                state.segments.insert(*id, *size);
            }
            state.total = state.segments.values().sum();
            if let Some((id, size)) = sizes.last() {
                state.write = Pos {
                    segment: *id,
                    offset: *size,
                };
            }
        }
        shared.data.notify_one();
        pending.written();
        Ok(())
    }

    async fn read_loop(
        &self,
        resume: Pos,
        tx: mpsc::Sender<Batch>,
        shared: &Shared,
    ) -> Result<(), ComponentError> {
        let dir = self.config.dir.clone();
        let mut tx = Some(tx);
        let mut pos = resume;
        let mut committed = resume;
        let mut saved = resume;
        let mut last_save = Instant::now();
        let mut reader: Option<SegmentReader> = None;
        let mut inflight: VecDeque<(AckReceiver, Pos)> = VecDeque::new();
        let mut frozen = false;
        let mut closed_at: Option<Instant> = None;
        loop {
            while let Some((ack, _)) = inflight.front_mut() {
                let Some(status) = ack.try_status() else {
                    break;
                };
                let end = inflight.pop_front().map_or(committed, |(_, end)| end);
                match status {
                    BatchStatus::Delivered if !frozen => committed = end,
                    BatchStatus::Delivered => {}
                    BatchStatus::Failed => {
                        if !frozen {
                            tracing::error!(component = %self.name, segment = committed.segment, offset = committed.offset, "a batch from the buffer was not delivered; the buffer keeps it (and what follows) for the next start");
                        }
                        frozen = true;
                    }
                }
            }
            let finishing = tx.is_none() && inflight.is_empty();
            if committed != saved
                && (committed.segment != saved.segment
                    || last_save.elapsed() >= CHECKPOINT_EVERY
                    || finishing)
            {
                self.save(committed, shared).await?;
                saved = committed;
                last_save = Instant::now();
            }
            if finishing {
                return Ok(());
            }
            let (write, closed, failed, segments_after) = {
                let state = shared.lock();
                let next = state
                    .segments
                    .range(pos.segment + 1..)
                    .next()
                    .map(|(id, _)| *id);
                let limit = if pos.segment == state.write.segment {
                    state.write.offset
                } else {
                    state.segments.get(&pos.segment).copied().unwrap_or(0)
                };
                (
                    state.write,
                    state.closed,
                    state.failed.is_some(),
                    (next, limit),
                )
            };
            if tx.is_some() && (shared.stopped() || failed) {
                tx = None;
            }
            if closed && pos >= write {
                tx = None;
            }
            if let (Some(drain), true) = (self.drain, closed) {
                let since = *closed_at.get_or_insert_with(Instant::now);
                if tx.is_some() && since.elapsed() >= drain {
                    tracing::warn!(component = %self.name, buffer = %dir.display(), "the input ended and the destination did not take everything within the drain timeout; the rest stays in the buffer and is delivered at the next start");
                    tx = None;
                }
            }
            let Some(sender) = tx.clone() else {
                tokio::time::sleep(POLL).await;
                continue;
            };
            if pos >= write {
                let _ = tokio::time::timeout(POLL, shared.data.notified()).await;
                continue;
            }
            let (next, limit) = segments_after;
            if pos.offset >= limit {
                match next {
                    Some(id) => {
                        pos = Pos {
                            segment: id,
                            offset: HEADER_LEN,
                        };
                        // Once everything before is accepted, the checkpoint moves into
                        // the next segment and this one can be deleted.
                        inflight.push_back((settled(), pos));
                    }
                    None => {
                        let _ = tokio::time::timeout(POLL, shared.data.notified()).await;
                    }
                }
                continue;
            }
            let permit = tokio::select! {
                permit = sender.reserve() => match permit {
                    Ok(permit) => permit,
                    Err(_) => {
                        tx = None;
                        continue;
                    }
                },
                () = tokio::time::sleep(POLL * 5) => continue,
            };
            let segment = pos.segment;
            let offset = pos.offset;
            let mut current = reader.take().filter(|r| r.id == segment);
            let dir2 = dir.clone();
            let read = tokio::task::spawn_blocking(move || {
                let mut r = match current.take() {
                    Some(r) => r,
                    None => SegmentReader::open(&dir2, segment)?,
                };
                let got = r.read(offset, limit, READ_EVENTS, READ_BYTES);
                got.map(|(records, end)| (r, records, end))
            })
            .await
            .map_err(|e| self.error(format!("the buffer task failed: {e}")))?;
            let (r, records, end) = read.map_err(|e| {
                self.error(format!(
                    "cannot read the buffer {}: {e}; a restart moves damaged records aside",
                    dir.display()
                ))
            })?;
            reader = Some(r);
            pos.offset = end;
            let mut batch = Vec::with_capacity(records.len());
            for record in records {
                match record {
                    ReadRecord::Event(event) => batch.push(event),
                    ReadRecord::Undecodable {
                        at,
                        payload,
                        reason,
                    } => {
                        self.quarantine_record(at, payload, &reason).await;
                    }
                }
            }
            let ack = if batch.is_empty() {
                settled()
            } else {
                attach_ack(&mut batch)
            };
            inflight.push_back((ack, pos));
            if !batch.is_empty() {
                permit.send(batch);
            }
        }
    }

    /// Writes the checkpoint and deletes the segments wholly before it.
    async fn save(&self, committed: Pos, shared: &Shared) -> Result<(), ComponentError> {
        let dir = self.config.dir.clone();
        let old: Vec<(u64, u64)> = shared
            .lock()
            .segments
            .range(..committed.segment)
            .map(|(id, size)| (*id, *size))
            .collect();
        let removed = tokio::task::spawn_blocking(move || {
            wal::write_checkpoint(&dir, committed)?;
            let mut removed = Vec::new();
            for (id, _) in old {
                let path = dir.join(wal::segment_name(id));
                match std::fs::remove_file(&path) {
                    Ok(()) => removed.push(id),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => removed.push(id),
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, std::io::Error>(removed)
        })
        .await
        .map_err(|e| self.error(format!("the buffer task failed: {e}")))?
        .map_err(|e| {
            self.error(format!(
                "cannot update the buffer {}: {e}",
                self.config.dir.display()
            ))
        })?;
        if !removed.is_empty() {
            let mut state = shared.lock();
            for id in removed {
                state.segments.remove(&id);
            }
            state.total = state.segments.values().sum();
            drop(state);
            shared.space.notify_one();
        }
        Ok(())
    }

    async fn quarantine_record(&self, at: Pos, payload: Vec<u8>, reason: &str) {
        let target: PathBuf = wal::quarantine_path(&self.config.dir, at.segment, at.offset);
        let write_to = target.clone();
        let written = tokio::task::spawn_blocking(move || {
            if let Some(parent) = write_to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&write_to, &payload)
        })
        .await;
        self.counters.add_errored(1);
        match written {
            Ok(Ok(())) => {
                tracing::error!(component = %self.name, segment = at.segment, offset = at.offset, quarantine = %target.display(), "buffer: a record cannot be decoded ({reason}); moved aside")
            }
            _ => {
                tracing::error!(component = %self.name, segment = at.segment, offset = at.offset, "buffer: a record cannot be decoded ({reason}) nor moved aside; skipped")
            }
        }
    }
}

/// An acknowledgement that is already settled (a position with nothing to deliver).
fn settled() -> AckReceiver {
    let (token, ack) = AckToken::new();
    drop(token);
    ack
}

/// Runs `f` on the writer in the blocking pool (file I/O must not stall the runtime).
async fn with_writer<T: Send + 'static>(
    writer: &mut Option<SegmentWriter>,
    f: impl FnOnce(&mut SegmentWriter) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let Some(mut w) = writer.take() else {
        return Err(std::io::Error::other(
            "the buffer writer was lost after an earlier failure",
        ));
    };
    let done = tokio::task::spawn_blocking(move || {
        let result = f(&mut w);
        (w, result)
    })
    .await
    .map_err(|e| std::io::Error::other(format!("the buffer task failed: {e}")))?;
    *writer = Some(done.0);
    done.1
}
